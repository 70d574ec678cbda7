import Segments

/// Routes the rows of bronze batches: for each row, the first of the pipeline's quarantine
/// reasons it meets (index 0 is the built-in `malformed_row`: a ragged or non-UTF-8
/// record, every feed column null and `_rescued` set; then each expectation in order,
/// failed when it is false or null; then, for a row that passed them, silver's overflow
/// reason when one of its silver columns does not fit its type), or `valid`. The silver
/// columns of the batch are left in `columns`.
///
/// ```
///   bronze batch ──> lookup keys ──> lookup rows gathered into slots ──┐
///        │                                                             ▼
///        └──────────────> expectation kernels, one vector each ──> first reason per row
/// ```
/// Every vector is reused batch after batch; the lookups' tables are in memory.
public final class ExpectationRouter {
    public static let valid: UInt8 = 0xFF

    let tables: [LookupTable]
    let onKernels: [ExpressionKernel]
    let kernels: [ExpressionKernel]
    /// Slot vectors of the silver scope: bronze's columns (set per batch), the looked-up
    /// columns (gathered here), placeholders for derived columns.
    private var slots: [ColumnVector]
    /// Per lookup, its gathered slots: (slot, column of the reference table).
    let gathers: [[(slot: Int, column: Int)]]
    let inputs: [(slot: Int, column: Int)]
    let feedColumns: Int
    let rescuedColumn: Int
    /// Silver's columns, in order; each derived one's slot (nil for a bare column).
    let columnKernels: [ExpressionKernel]
    let derivedSlots: [Int?]
    let overflows: OverflowRows
    let overflowReason: UInt8?
    /// The silver columns of the last batch routed (valid only for its valid rows).
    public private(set) var columns: [ColumnVector]

    /// - Parameter references: the pipeline's reference tables in memory, by name.
    public init(pipeline: CheckedPipeline, references: [String: LookupTable], capacity: Int) throws {
        let scope = pipeline.silverScope
        var keySets: [String: KeySet] = [:]
        for (name, table) in references { keySets[name] = table.keys }
        tables = try pipeline.silverLookups.map { l in
            guard let t = references[l.feed.name] else {
                throw BatchError(.missingInput, path: l.feed.name, "the reference table \(l.feed.name) a lookup reads was not loaded")
            }
            return t
        }
        onKernels = try pipeline.silverLookups.map { try ExpressionKernel.compile($0.on, capacity: capacity, references: keySets) }
        kernels = try pipeline.expectations.map { try ExpressionKernel.compile($0.expr, capacity: capacity, references: keySets) }
        let overflows = OverflowRows(capacity: capacity)
        self.overflows = overflows
        columnKernels = try pipeline.silverColumns.map { try ExpressionKernel.compile($0, capacity: capacity, references: keySets, overflows: overflows) }
        derivedSlots = pipeline.silverColumns.indices.map { k in
            scope.slots.firstIndex { if case let .derived(d) = $0.source { return d == k } else { return false } }
        }
        overflowReason = pipeline.overflowReason.map(UInt8.init)
        columns = columnKernels.map(\.output)
        var slots: [ColumnVector] = []
        var gathers = [[(slot: Int, column: Int)]](repeating: [], count: pipeline.silverLookups.count)
        var inputs: [(slot: Int, column: Int)] = []
        for (k, slot) in scope.slots.enumerated() {
            let vector = ColumnVector(type: ExpressionKernel.columnType(slot.type), capacity: capacity)
            slots.append(vector)
            switch slot.source {
            case let .input(c): inputs.append((k, c))
            case let .lookup(i, column): gathers[i].append((k, column))
            case .derived: break
            }
        }
        self.slots = slots
        self.gathers = gathers
        self.inputs = inputs
        feedColumns = pipeline.file.facts.columns.count
        rescuedColumn = feedColumns + 4
    }

    /// Routes rows `0..<n` of `bronze` (a batch of bronze's columns): `out[r]` is the
    /// reason index of row r in the pipeline's `reasons`, or `valid`.
    public func route(_ bronze: [ColumnVector], rows n: Int, into out: UnsafeMutablePointer<UInt8>) throws {
        for (slot, column) in inputs { slots[slot] = bronze[column] }
        for (i, kernel) in onKernels.enumerated() {
            let key = try kernel.evaluate(slots, rows: n)
            let table = tables[i]
            for (slot, _) in gathers[i] { slots[slot].reset() }
            for r in 0..<n {
                let row = table.row(of: key, r)
                for (slot, column) in gathers[i] {
                    if let row { slots[slot].appendValue(of: table.columns[column], row: row) } else { slots[slot].appendNull() }
                }
            }
        }
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
        for (k, kernel) in kernels.enumerated() {
            let result = try kernel.evaluate(slots, rows: n)
            let reason = UInt8(k + 1)
            for r in 0..<n where out[r] == Self.valid && (result.isNull(r) || !result.bool(r)) { out[r] = reason }
        }
        // Silver's columns, each seeing those before it; a value that does not fit is
        // noted (null), and matters only on a row that passed every expectation.
        overflows.reset(rows: n)
        for (k, kernel) in columnKernels.enumerated() {
            let v = try kernel.evaluate(slots, rows: n)
            if let d = derivedSlots[k] { slots[d] = v }
            columns[k] = v
        }
        if overflows.count > 0 {
            for r in 0..<n where out[r] == Self.valid && overflows.flags[r] {
                guard let reason = overflowReason else {
                    throw EvaluationError(row: r, message: "a silver column of this row does not fit its type; name a quarantine reason for such rows with silver's overflow key, or fix the row")
                }
                out[r] = reason
            }
        }
    }
}
