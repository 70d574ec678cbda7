import Segments

/// Routes the rows of bronze batches: for each row, the first of the pipeline's quarantine
/// reasons it meets (index 0 is the built-in `malformed_row`: a ragged or non-UTF-8
/// record, every feed column null and `_rescued` set; then each expectation in order,
/// failed when it is false or null; then, for a row that passed them, silver's overflow
/// reason when one of its silver columns does not fit its type), or `valid`. The silver
/// columns of the batch are left in `columns`.
///
/// ```
///   bronze batch ──> ScopeEvaluator: lookups, expectation kernels ──> first reason per row
///                                    silver column kernels ─────────> columns
/// ```
/// Built with `only`, it skips the expectations and computes just those silver columns
/// (and what they need) from the bronze columns in `inputColumns`.
public final class ExpectationRouter {
    public static let valid: UInt8 = 0xFF

    let evaluator: ScopeEvaluator
    let expectations: Int
    let feedColumns: Int
    let rescuedColumn: Int
    let overflows: OverflowRows
    let overflowReason: UInt8?
    /// The silver columns of the last batch (valid only for its valid rows, and only
    /// those asked for).
    public var columns: [ColumnVector] { evaluator.columns }
    /// The bronze columns `project` reads, in the order it takes them.
    public var inputColumns: [Int] { evaluator.inputColumns }

    /// - Parameters:
    ///   - references: the pipeline's reference tables in memory, by name.
    ///   - only: silver columns to compute without routing (for `project`); nil routes.
    public init(pipeline: CheckedPipeline, references: [String: LookupTable], capacity: Int, only: [Int]? = nil) throws {
        let overflows = OverflowRows(capacity: capacity)
        self.overflows = overflows
        evaluator = try ScopeEvaluator(scope: pipeline.silverScope, lookups: pipeline.silverLookups, columns: pipeline.silverColumns,
                                       conditions: pipeline.expectations.map(\.expr), references: references, capacity: capacity,
                                       wanted: only, wantedConditions: only == nil ? nil : [], overflows: overflows)
        expectations = only == nil ? pipeline.expectations.count : 0
        overflowReason = pipeline.overflowReason.map(UInt8.init)
        feedColumns = pipeline.file.facts.columns.count
        rescuedColumn = feedColumns + FeedLayout.lineageFields.count - 1
    }

    /// Routes rows `0..<n` of `bronze` (a batch of all of bronze's columns): `out[r]` is
    /// the reason index of row r in the pipeline's `reasons`, or `valid`.
    public func route(_ bronze: [ColumnVector], rows n: Int, into out: UnsafeMutablePointer<UInt8>) throws {
        try evaluator.bind(bronze, rows: n, full: true)
        for r in 0..<n { out[r] = Self.valid }
        // Malformed: no feed column set, _rescued set; 64 rows at a time.
        let rescued = bronze[rescuedColumn]
        for w in 0..<((n + 63) / 64) {
            var anySet: UInt64 = 0
            for c in 0..<feedColumns { anySet |= bronze[c].validityWord(w) }
            var malformed = ~anySet & rescued.validityWord(w)
            while malformed != 0 {
                let r = w * 64 + malformed.trailingZeroBitCount
                if r < n { out[r] = 0 }
                malformed &= malformed - 1
            }
        }
        for k in 0..<expectations {
            let result = try evaluator.condition(k, rows: n)
            let reason = UInt8(k + 1)
            for r in 0..<n where out[r] == Self.valid && (result.isNull(r) || !result.bool(r)) { out[r] = reason }
        }
        // Silver's columns; a value that does not fit is noted (null), and matters only
        // on a row that passed every expectation.
        overflows.reset(rows: n)
        try evaluator.evaluateColumns(rows: n)
        if overflows.count > 0 {
            for r in 0..<n where out[r] == Self.valid && overflows.flags[r] {
                guard let reason = overflowReason else {
                    throw EvaluationError(row: r, message: "a silver column of this row does not fit its type; name a quarantine reason for such rows with silver's overflow key, or fix the row")
                }
                out[r] = reason
            }
        }
    }

    /// Computes the silver columns asked for (`only`) for rows `0..<n` of `batch`, the
    /// bronze columns of `inputColumns` in that order; a value that does not fit is null.
    public func project(_ batch: [ColumnVector], rows n: Int) throws {
        try evaluator.bind(batch, rows: n)
        overflows.reset(rows: n)
        try evaluator.evaluateColumns(rows: n)
    }
}
