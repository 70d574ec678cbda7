import Segments

/// Evaluates a table's expressions batch by batch over its scope (`Scope`): the input
/// columns, the rows its lookups find in reference tables held in memory, and the columns
/// derived before. Built for the outputs asked for, it reads only the input columns,
/// lookups and derived columns those need.
///
/// ```
///   input batch ──> lookup keys ──> rows found ──> looked-up slots gathered ──┐
///        │                                                                    ▼
///        └───────────────────────────────> conditions and columns, one kernel each
/// ```
/// Every vector is reused batch after batch: no allocation per batch or row.
final class ScopeEvaluator {
    /// The input columns it reads, ascending: a batch given to `bind` holds these, in
    /// this order.
    let inputColumns: [Int]
    private let tables: [LookupTable?]
    private let onKernels: [ExpressionKernel?]
    /// Per lookup, the slots gathered from it: (slot, column of the reference table).
    private let gathers: [[(slot: Int, column: Int)]]
    /// Input slots: (slot, position in the bound batch).
    private let inputs: [(slot: Int, position: Int)]
    private let conditionKernels: [ExpressionKernel?]
    private let columnKernels: [ExpressionKernel?]
    private let derivedSlots: [Int?]
    private var slots: [ColumnVector]
    private let coded: [Int: ColumnVector]
    /// Rows found per lookup key: -1 for none.
    private let found: UnsafeMutablePointer<Int32>
    /// The columns of the last batch (only those asked for, and what they need).
    private(set) var columns: [ColumnVector]

    /// - Parameters:
    ///   - columns: the scope's derived columns, in order (each sees those before it).
    ///   - conditions: boolean expressions over the scope, evaluated on demand.
    ///   - wanted: the columns to compute (nil: all), with the conditions in `conditions`
    ///     marked as wanted in `wantedConditions` (nil: all).
    ///   - overflows: where a decimal that does not fit is noted (it is then null).
    ///   - coded: looked-up slots gathered from these vectors (one value per row of the
    ///     reference table) instead of the table's column: a string column's dictionary
    ///     codes, for a consumer that decodes them itself.
    init(scope: Scope, lookups: [CheckedPipeline.Lookup], columns: [TypedExpr], conditions: [TypedExpr] = [],
         references: [String: LookupTable], capacity: Int, wanted: [Int]? = nil, wantedConditions: [Int]? = nil,
         overflows: OverflowRows? = nil, coded: [Int: ColumnVector] = [:]) throws {
        self.coded = coded
        // What the wanted outputs need, to a fixed point: a derived slot needs its column, a
        // looked-up slot its lookup, a lookup the slots of its key.
        var needColumns = Set(wanted ?? Array(columns.indices))
        let needConditions = Set(wantedConditions ?? Array(conditions.indices))
        var needSlots = Set(needConditions.flatMap { conditions[$0].slots })
        var needLookups = Set<Int>()
        var changed = true
        while changed {
            changed = false
            for k in needColumns { for s in columns[k].slots where needSlots.insert(s).inserted { changed = true } }
            for i in needLookups { for s in lookups[i].on.slots where needSlots.insert(s).inserted { changed = true } }
            for s in needSlots {
                switch scope.slots[s].source {
                case let .derived(d): if needColumns.insert(d).inserted { changed = true }
                case let .lookup(i, _): if needLookups.insert(i).inserted { changed = true }
                case .input: break
                }
            }
        }
        var keySets: [String: KeySet] = [:]
        for (name, table) in references { keySets[name] = table.keys }
        tables = try lookups.indices.map { i in
            guard needLookups.contains(i) else { return nil }
            guard let t = references[lookups[i].feed.name] else {
                throw BatchError(.missingInput, path: lookups[i].feed.name, "the reference table \(lookups[i].feed.name) a lookup reads was not loaded")
            }
            return t
        }
        onKernels = try lookups.indices.map { i in needLookups.contains(i) ? try ExpressionKernel.compile(lookups[i].on, capacity: capacity, references: keySets) : nil }
        conditionKernels = try conditions.indices.map { k in
            needConditions.contains(k) ? try ExpressionKernel.compile(conditions[k], capacity: capacity, references: keySets) : nil
        }
        let columnKernels = try columns.indices.map { k in
            needColumns.contains(k) ? try ExpressionKernel.compile(columns[k], capacity: capacity, references: keySets, overflows: overflows) : nil
        }
        self.columnKernels = columnKernels
        derivedSlots = columns.indices.map { k in
            scope.slots.firstIndex { if case let .derived(d) = $0.source { return d == k } else { return false } }
        }
        var slots: [ColumnVector] = []
        var gathers = [[(slot: Int, column: Int)]](repeating: [], count: lookups.count)
        var inputSlots: [(slot: Int, column: Int)] = []
        for (k, slot) in scope.slots.enumerated() {
            slots.append(ColumnVector(type: coded[k]?.type ?? ExpressionKernel.columnType(slot.type), capacity: needSlots.contains(k) ? capacity : 1))
            guard needSlots.contains(k) else { continue }
            switch slot.source {
            case let .input(c): inputSlots.append((k, c))
            case let .lookup(i, column): gathers[i].append((k, column))
            case .derived: break
            }
        }
        let inputColumns = Array(Set(inputSlots.map(\.column))).sorted()
        self.inputColumns = inputColumns
        inputs = inputSlots.map { ($0.slot, inputColumns.firstIndex(of: $0.column)!) }
        self.slots = slots
        self.gathers = gathers
        self.columns = columns.indices.map { k in
            columnKernels[k]?.output ?? ColumnVector(type: ExpressionKernel.columnType(columns[k].type), capacity: 1)
        }
        found = .allocate(capacity: capacity)
    }

    deinit { found.deallocate() }

    /// Binds a batch of `n` input rows (the columns of `inputColumns`, in that order, or
    /// every input column when `full`) and finds the rows of its lookups.
    func bind(_ batch: [ColumnVector], rows n: Int, full: Bool = false) throws {
        for (slot, position) in inputs { slots[slot] = batch[full ? inputColumns[position] : position] }
        for (i, kernel) in onKernels.enumerated() {
            guard let kernel, let table = tables[i] else { continue }
            let key = try kernel.evaluate(slots, rows: n)
            table.rows(of: key, rows: n, into: found)
            let rows = UnsafeBufferPointer(start: found, count: n)
            for (slot, column) in gathers[i] {
                slots[slot].reset()
                slots[slot].append(contentsOf: coded[slot] ?? table.columns[column], gatheringOrNull: rows)
            }
        }
    }

    /// Condition `k` over the bound batch.
    func condition(_ k: Int, rows n: Int) throws -> ColumnVector {
        guard let kernel = conditionKernels[k] else { preconditionFailure("condition \(k) was not asked for") }
        return try kernel.evaluate(slots, rows: n)
    }

    /// The wanted columns over the bound batch, into `columns`; each derived one becomes
    /// readable by those after it.
    func evaluateColumns(rows n: Int) throws {
        for (k, kernel) in columnKernels.enumerated() {
            guard let kernel else { continue }
            let v = try kernel.evaluate(slots, rows: n)
            if let d = derivedSlots[k] { slots[d] = v }
            columns[k] = v
        }
    }
}
