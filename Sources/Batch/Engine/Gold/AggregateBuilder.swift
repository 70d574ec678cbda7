import Segments
import Spill

/// Gold aggregates: each aggregate of the measures (`count`, `sum`, `min`, `max`, `avg`,
/// with its `filter`) becomes a value of a spilling aggregation by the group keys, a
/// tally of the rows it takes (shared by the aggregates that take the same rows), or
/// both; the measures are then evaluated over each group's keys and aggregates.
///
/// ```
///   source rows ─> where ─> group keys + accumulator inputs ─> AggregateOperator
///     ─> keys + aggregates ─> measure kernels ─> sort by order ─> table
/// ```
final class AggregateBuilder: TableBuilder {
    let table: String
    let inputColumns: [Int]
    private(set) var written: [SegmentSummary] = []
    private(set) var stats = OperatorStats()
    private let stage: GoldStage
    private let writer: TableWriter
    private let rows: Int
    private let order: [String]
    private let schema: Schema
    private let groups: Int
    private let accumulators: [Accumulator]
    private let tallies: [Tally]
    private let hasWhere: Bool
    private let operation: AggregateOperator
    private let evaluator: ScopeEvaluator
    /// The measures' scope (group keys, then aggregates) and expressions, for the
    /// evaluators `finish` makes.
    private let measureScope: Scope
    private let measures: [TypedExpr]
    /// The aggregation's input rows of a batch: group keys, then accumulator inputs.
    private let batch: [ColumnVector]
    private let picked: UnsafeMutablePointer<Int32>
    private var passed = 0
    /// Group keys grouped by dictionary codes: each one's distinct strings, by code, and
    /// the vector its groups' text is decoded into.
    private let dictionaries: [Int: ColumnVector]
    /// The aggregates' distinct filters (condition numbers) and their batch's results.
    private let filters: [Int]
    private var filterResults: [ColumnVector]

    /// The aggregate nodes of a measure, in tree order.
    static func aggregates(in e: TypedExpr) -> [TypedExpr] {
        var out: [TypedExpr] = []
        e.forEachNode { n in
            if case .aggregate = n.node { out.append(n) }
        }
        return out
    }

    /// `e` with its aggregates, in tree order, read from slots `next`, `next + 1`, ...
    static func readingAggregates(_ e: TypedExpr, from next: inout Int) -> TypedExpr {
        func r(_ x: TypedExpr) -> TypedExpr { readingAggregates(x, from: &next) }
        let node: TypedExpr.Node
        switch e.node {
        case .aggregate:
            node = .slot(next)
            next += 1
        case .slot, .literal: return e
        case let .negate(x): node = .negate(r(x))
        case let .not(x): node = .not(r(x))
        case let .cast(x): node = .cast(r(x))
        case let .isNull(x, negated): node = .isNull(r(x), negated: negated)
        case let .inReference(x, reference, negated): node = .inReference(r(x), reference: reference, negated: negated)
        case let .arithmetic(op, a, b): node = .arithmetic(op, r(a), r(b))
        case let .compare(op, a, b): node = .compare(op, r(a), r(b))
        case let .logic(op, a, b): node = .logic(op, r(a), r(b))
        case let .inList(x, items, negated): node = .inList(r(x), items.map(r), negated: negated)
        case let .call(fn, args): node = .call(fn, args.map(r))
        case let .caseWhen(branches, otherwise): node = .caseWhen(branches.map { (r($0.0), r($0.1)) }, otherwise: otherwise.map(r))
        }
        return TypedExpr(node, e.type, nullable: e.nullable)
    }

    /// One aggregate of the measures: its function, argument and filter (evaluator column
    /// and condition numbers), its value's column in the aggregation's input (sum, avg,
    /// min, max), its tally (count and avg; sum when it can be empty) and where the
    /// aggregation returns its value.
    struct Accumulator {
        var function: AggregateFunction
        var argument: Int?
        var filter: Int?
        var value: Int?
        var tally: Int?
        var output: Int
        var type: ValueType
        /// A float64 min or max: its values aggregate as `orderedBits`.
        var float = false
    }

    /// A count of the rows an aggregate takes: its filter true (nil: every row) and its
    /// argument not null (nil: an argument that cannot be null, or none). Aggregates that
    /// take the same rows share one: `count(*) filter (where f)` is also the count of
    /// `sum(x) filter (where f)` when x is never null. `input` is its 0/1 column in the
    /// aggregation's input (nil: count(*) of every row, no column).
    struct Tally {
        var filter: Int?
        var argument: Int?
        var input: Int?
        var output: Int

        func takes(_ other: Tally) -> Bool { filter == other.filter && argument == other.argument }
    }

    /// A float64's bits as an Int64 in the same order as the values (negatives with
    /// their other bits flipped), so that min and max aggregate it as an integer; its own
    /// inverse.
    @inline(__always)
    static func orderedBits(_ bits: Int64) -> Int64 { bits >= 0 ? bits : bits ^ Int64.max }

    init(_ stage: GoldStage, _ t: PipelineFile.GoldTable, _ plan: CheckedPipeline.GoldPlan, source: RowSource, tables: [String: LookupTable],
         rows: Int, writer: TableWriter) throws {
        self.stage = stage
        table = t.name
        self.writer = writer
        self.rows = rows
        // Groups equal in `order` by their group_by values, so that the table does not
        // depend on the order the hash aggregation returns its groups in.
        if case let .aggregate(_, groupBy, _) = t.kind {
            order = t.order.map(\.name) + groupBy.map(\.name).filter { g in !t.order.contains { $0.name == g } }
        } else {
            order = t.order.map(\.name)
        }
        schema = stage.schema(t.name)
        let nodes = plan.columns.flatMap(Self.aggregates(in:))
        self.groups = plan.groupBy.count
        // Evaluated per source row: the group keys, then each aggregate's argument;
        // conditions: where, then each aggregate's filter.
        var columns = plan.groupBy
        let groups = plan.groupBy.count
        var conditions = plan.filter.map { [$0] } ?? []
        var fields = plan.groupBy.enumerated().map { Field("g\($0.offset)", ExpressionKernel.columnType($0.element.type), nullable: true) }
        var accumulators: [Accumulator] = []
        var tallies: [Tally] = []
        var aggregates: [Aggregate] = []
        // The tally of the rows with `filter` true and `argument` not null, added if new.
        func tally(filter: Int?, argument: Int?) -> Int {
            var t = Tally(filter: filter, argument: argument, input: nil, output: groups + aggregates.count)
            if let k = tallies.firstIndex(where: { $0.takes(t) }) { return k }
            if filter == nil && argument == nil {
                aggregates.append(Aggregate(.count, nil, as: "t\(tallies.count)"))
            } else {
                t.input = fields.count
                fields.append(Field("t\(tallies.count)", .int64, nullable: false))
                aggregates.append(Aggregate(.sum, t.input, as: "t\(tallies.count)"))
            }
            tallies.append(t)
            return tallies.count - 1
        }
        for node in nodes {
            guard case let .aggregate(fn, arg, filter) = node.node else { continue }
            var a = Accumulator(function: fn, argument: nil, filter: nil, value: nil, tally: nil, output: 0, type: node.type)
            // An argument or filter written again reuses the first one's kernel.
            if let arg {
                a.argument = columns.indices.dropFirst(groups).first { columns[$0].isSame(as: arg) } ?? columns.count
                if a.argument == columns.count { columns.append(arg) }
            }
            if let filter {
                a.filter = conditions.firstIndex { $0.isSame(as: filter) } ?? conditions.count
                if a.filter == conditions.count { conditions.append(filter) }
            }
            // Rows without a value: the filter false or the argument null.
            let gaps = a.filter != nil || arg?.nullable == true
            let counted = arg?.nullable == true ? a.argument : nil
            switch fn {
            case .count:
                a.tally = tally(filter: a.filter, argument: counted)
                a.output = tallies[a.tally!].output
            case .sum, .avg, .min, .max:
                a.float = arg?.type == .float64
                a.value = fields.count
                a.output = groups + aggregates.count
                fields.append(Field("a\(fields.count)", a.float ? .int64 : ExpressionKernel.columnType(arg?.type ?? .int64), nullable: gaps))
                let f: Aggregate.Function = fn == .min ? .min : fn == .max ? .max : .sum
                aggregates.append(Aggregate(f, a.value, as: "a\(a.value!)"))
                // A sum is null over no value, an average divides by the count.
                if fn == .avg || (fn == .sum && gaps) { a.tally = tally(filter: a.filter, argument: counted) }
            }
            accumulators.append(a)
        }
        self.tallies = tallies
        self.accumulators = accumulators
        filters = Array(Set(accumulators.compactMap(\.filter))).sorted()
        filterResults = filters.map { _ in ColumnVector(type: .bool, capacity: 1) }
        hasWhere = plan.filter != nil
        // A group key that is a looked-up string column, read nowhere else, groups by the
        // column's dictionary codes (int32, gathered without copying text); the text comes
        // back per group, in `finish`.
        var coded: [Int: ColumnVector] = [:]
        var dictionaries: [Int: ColumnVector] = [:]
        let elsewhere = (plan.groupBy + (plan.filter.map { [$0] } ?? []) + nodes).map(\.slots)
        for (g, key) in plan.groupBy.enumerated() {
            guard case let .slot(s) = key.node, key.type == .string, case let .lookup(i, column) = plan.scope.slots[s].source,
                  elsewhere.enumerated().allSatisfy({ $0.offset == g || !$0.element.contains(s) }),
                  let table = tables[plan.lookups[i].feed.name] else { continue }
            let (codes, dictionary) = Self.dictionaryCodes(table.columns[column])
            coded[s] = codes
            dictionaries[g] = dictionary
            fields[g] = Field(fields[g].name, .int32, nullable: true)
        }
        self.dictionaries = dictionaries
        let input = Schema(fields)
        let memory = stage.limits.goldBuilder(available: stage.budget.availableBytes)
        operation = try AggregateOperator(schema: input, groupColumns: Array(0..<groups), aggregates: aggregates, budget: stage.budget, spill: stage.spill,
                                          blockBytes: memory.hashBlockBytes, memoryMaxBytes: memory.hashEngineBytes)
        evaluator = try ScopeEvaluator(scope: plan.scope, lookups: plan.lookups, columns: columns, conditions: conditions, references: tables, capacity: rows,
                                       coded: coded)
        inputColumns = evaluator.inputColumns
        batch = input.fields.map { ColumnVector(type: $0.type, capacity: rows) }
        picked = .allocate(capacity: rows)
        // The measures, over each group's keys and aggregates.
        var scope = Scope()
        for (k, g) in plan.groupBy.enumerated() { scope.slots.append(.init(qualifier: nil, name: "g\(k)", type: g.type, nullable: true, source: .input(k))) }
        for (j, a) in accumulators.enumerated() {
            scope.slots.append(.init(qualifier: nil, name: "a\(j)", type: a.type, nullable: true, source: .input(groups + j)))
        }
        var next = groups
        let measures = plan.columns.map { Self.readingAggregates($0, from: &next) }
        measureScope = scope
        self.measures = measures
        // Compiled now, so that a measure that cannot be evaluated is an error before the pass.
        _ = try ScopeEvaluator(scope: scope, lookups: [], columns: measures, references: [:], capacity: 1)
    }

    deinit { picked.deallocate() }

    func consume(_ source: [ColumnVector], rows m: Int) throws {
        try evaluator.bind(source, rows: m, full: true)
        try evaluator.evaluateColumns(rows: m)
        var k = 0
        if hasWhere {
            let keep = try evaluator.condition(0, rows: m)
            if keep.nullCount == 0 {
                // Without a branch per row (the rows a where keeps come in no pattern).
                for r in 0..<m {
                    picked[k] = Int32(r)
                    k &+= keep.bool(r) ? 1 : 0
                }
            } else {
                for r in 0..<m where !keep.isNull(r) && keep.bool(r) {
                    picked[k] = Int32(r)
                    k += 1
                }
            }
        } else {
            for r in 0..<m { picked[r] = Int32(r) }
            k = m
        }
        if k == 0 { return }
        passed += k
        let kept = UnsafeBufferPointer(start: picked, count: k)
        for c in batch { c.reset() }
        for g in 0..<groups { batch[g].append(contentsOf: evaluator.columns[g], gathering: kept) }
        // Each filter once per batch, however many aggregates share it.
        for (k, c) in filters.enumerated() { filterResults[k] = try evaluator.condition(c, rows: m) }
        for t in tallies {
            guard let input = t.input else { continue }
            let column = batch[input]
            let filter = t.filter.map { filterResults[filters.firstIndex(of: $0)!] }
            let arg = t.argument.map { evaluator.columns[$0] }
            if let filter, arg == nil {
                column.appendIndicators(of: filter, gathering: kept)
            } else {
                for r in kept {
                    let r = Int(r)
                    column.appendInt64((filter.map { !$0.isNull(r) && $0.bool(r) } ?? true) && !(arg?.isNull(r) ?? false) ? 1 : 0)
                }
            }
        }
        for a in accumulators {
            guard let input = a.value, let argument = a.argument else { continue }
            let filter = a.filter.map { filterResults[filters.firstIndex(of: $0)!] }
            let arg = evaluator.columns[argument]
            let value = batch[input]
            // Every row taken: the values gathered in one go.
            if filter == nil && arg.nullCount == 0 && !a.float {
                value.append(contentsOf: arg, gathering: kept)
                continue
            }
            // A filter and 8-byte values without nulls: gathered under the filter.
            if let filter, arg.nullCount == 0, arg.type.valueWidthBytes == 8, !a.float {
                value.append(contentsOf: arg, gathering: kept, where: filter)
                continue
            }
            // Integer-like values, copied as they are; null where the row is not taken.
            let width = arg.type.valueWidthBytes
            for r in kept {
                let r = Int(r)
                guard filter.map({ !$0.isNull(r) && $0.bool(r) }) ?? true, !arg.isNull(r) else {
                    value.appendNull()
                    continue
                }
                switch width {
                case 8 where a.float: value.appendInt64(Self.orderedBits(Int64(bitPattern: arg.double(r).bitPattern)))
                case 8: value.appendInt64(arg.int64(r))
                case 4: value.appendInt32(arg.int32(r))
                default: value.appendValue(of: arg, row: r)
                }
            }
        }
        try operation.push(batch, rows: 0..<k)
    }

    func finish(_ threads: BusyWorkers) throws {
        guard operation.stats.rowsIn == passed else {
            throw BatchError(.reconciliation, path: writer.path, "gold does not reconcile: \(table)'s aggregation saw \(operation.stats.rowsIn) rows, \(passed) passed its where")
        }
        try operation.finish()
        let sort = try stage.sorter(schema, order: order)
        // Groups are pulled and measured into one batch while the batch before is pushed
        // into the sort (with a spare thread; else in turn).
        let n = threads.available
        let first = try MeasuredBatch(self)
        try Parallel.pipeline(threads: n, buffers: (first, n >= 2 ? try MeasuredBatch(self) : first), produce: { b in
            try self.measure(into: b)
        }, consume: { b in
            try sort.push(b.keys + b.measuring.columns, rows: 0..<b.rows)
        })
        stats = operation.stats
        written.append(try stage.drain(sort, schema: schema, rows: rows, to: writer, threads: threads))
    }

    func abandon() {
        for s in written { try? SystemIO.unlink(s.path) }
        writer.unstageAll()
        written = []
    }

    /// One batch of `finish`: groups pulled from the aggregation, their aggregates made
    /// into the measures' values, the measures evaluated.
    final class MeasuredBatch {
        let pulled: [ColumnVector]
        let results: [ColumnVector]
        /// Per dictionary-coded group key, the vector its text is decoded into.
        let decoded: [Int: ColumnVector]
        let measuring: ScopeEvaluator
        /// The group keys of the batch (decoded where coded).
        var keys: [ColumnVector] = []
        var rows = 0

        init(_ a: AggregateBuilder) throws {
            pulled = a.operation.outputSchema.fields.map { ColumnVector(type: $0.type, capacity: a.rows) }
            results = a.accumulators.map { ColumnVector(type: ExpressionKernel.columnType($0.type), capacity: a.rows) }
            decoded = a.dictionaries.mapValues { _ in ColumnVector(type: .string, capacity: a.rows) }
            measuring = try ScopeEvaluator(scope: a.measureScope, lookups: [], columns: a.measures, references: [:], capacity: a.rows)
        }
    }

    /// Fills `b` with the next groups; false when there are none left.
    private func measure(into b: MeasuredBatch) throws -> Bool {
        let pulled = b.pulled
        let n = try operation.pull(into: pulled)
        b.rows = n
        if n == 0 { return false }
        for (j, a) in accumulators.enumerated() {
            let out = b.results[j]
            out.reset()
            let value = pulled[a.output], count = a.tally.map { pulled[tallies[$0].output] }
            for r in 0..<n {
                switch a.function {
                case .count: out.appendInt64(value.int64(r))
                case .sum, .avg:
                    if let count, count.int64(r) == 0 {
                        out.appendNull()
                        continue
                    }
                    if value.int64(r) == Int64.max || value.int64(r) == Int64.min
                        || (a.function == .sum && a.type.isDecimal && value.int64(r).magnitude >= 1_000_000_000_000_000_000) {
                        throw BatchError(.reconciliation, path: writer.path, "a sum of \(table) leaves 18 digits; gold cannot hold it exactly")
                    }
                    if a.function == .avg {
                        out.appendInt64(try Self.average(value.int64(r), count: count?.int64(r) ?? 1, from: value.type, to: a.type, table: table))
                    } else {
                        out.appendValue(of: value, row: r)
                    }
                case .min where a.float, .max where a.float:
                    if value.isNull(r) { out.appendNull() } else { out.appendDouble(Double(bitPattern: UInt64(bitPattern: Self.orderedBits(value.int64(r))))) }
                case .min, .max: out.appendValue(of: value, row: r)
                }
            }
        }
        var keys = Array(pulled[0..<groups])
        for (g, dictionary) in dictionaries {
            let text = b.decoded[g]!
            text.reset()
            for r in 0..<n {
                if keys[g].isNull(r) { text.appendNull() } else { dictionary.withString(Int(keys[g].int32(r))) { text.appendString($0) } }
            }
            keys[g] = text
        }
        b.keys = keys
        try b.measuring.bind(keys + b.results, rows: n, full: true)
        try b.measuring.evaluateColumns(rows: n)
        return true
    }

    /// Each row's code in a string column (null where the string is) and the column's
    /// distinct strings, by code.
    static func dictionaryCodes(_ column: ColumnVector) -> (codes: ColumnVector, dictionary: ColumnVector) {
        let codes = ColumnVector(type: .int32, capacity: max(1, column.count))
        let dictionary = ColumnVector(type: .string, capacity: max(1, column.count))
        var seen: [[UInt8]: Int32] = [:]
        for r in 0..<column.count {
            if column.isNull(r) { codes.appendNull(); continue }
            let text = column.withString(r) { Array($0) }
            if let code = seen[text] { codes.appendInt32(code); continue }
            let code = Int32(seen.count)
            seen[text] = code
            text.withUnsafeBytes { dictionary.appendString($0) }
            codes.appendInt32(code)
        }
        return (codes, dictionary)
    }

    /// avg = sum / count at the average's scale, rounded half up (away from zero).
    static func average(_ sum: Int64, count: Int64, from: ColumnType, to: ValueType, table: String) throws -> Int64 {
        var scaled = Int128(sum)
        let fromScale = if case let .decimal(s) = from { s } else { 0 }
        for _ in 0..<max(0, to.scale - fromScale) { scaled *= 10 }
        let c = Int128(count)
        var q = scaled / c
        let rest = scaled % c
        if 2 * abs(rest) >= c { q += scaled < 0 ? -1 : 1 }
        guard let v = Int64(exactly: q) else {
            throw BatchError(.reconciliation, path: table, "an average of \(table) leaves 18 digits; gold cannot hold it exactly")
        }
        return v
    }
}
