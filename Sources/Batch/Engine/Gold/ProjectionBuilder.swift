import Segments
import Spill

/// A calendar: the least and greatest value of a date column of the source, then one row
/// per date between them, its columns evaluated per date, sorted by the table's order.
final class CalendarBuilder: TableBuilder {
    let table: String
    let inputColumns: [Int]
    private(set) var written: [SegmentSummary] = []
    private let stage: GoldStage
    private let evaluator: ScopeEvaluator
    private let schema: Schema
    private let order: [String]
    private let rows: Int
    private let writer: TableWriter
    private var low = Int64.max, high = Int64.min

    init(_ stage: GoldStage, _ t: PipelineFile.GoldTable, _ plan: CheckedPipeline.GoldPlan, source: RowSource, column: String, rows: Int,
         writer: TableWriter) throws {
        guard let c = source.schema.fields.firstIndex(where: { $0.name == column }) else {
            throw BatchError(.invalidArgument, path: t.name, "calendar column \(column) is not a column of its source")
        }
        table = t.name
        inputColumns = [c]
        self.stage = stage
        evaluator = try ScopeEvaluator(scope: plan.scope, lookups: [], columns: plan.columns, references: [:], capacity: rows)
        schema = stage.schema(t.name)
        order = t.order.map(\.name)
        self.rows = rows
        self.writer = writer
    }

    func consume(_ batch: [ColumnVector], rows n: Int) throws {
        let v = batch[inputColumns[0]]
        for r in 0..<n where !v.isNull(r) {
            let d = Int64(v.int32(r))
            (low, high) = (min(low, d), max(high, d))
        }
    }

    func finish(_ threads: BusyWorkers) throws {
        let sort = try stage.sorter(schema, order: order)
        let day = ColumnVector(type: .date, capacity: rows)
        var d = low
        while d <= high {
            day.reset()
            while d <= high && !day.isFull {
                day.appendInt32(Int32(d))
                d += 1
            }
            try evaluator.bind([day], rows: day.count)
            try evaluator.evaluateColumns(rows: day.count)
            try sort.push(evaluator.columns, rows: 0..<day.count)
        }
        written.append(try stage.drain(sort, schema: schema, rows: rows, to: writer, threads: threads))
    }

    func abandon() {
        for s in written { try? SystemIO.unlink(s.path) }
        writer.unstageAll()
        written = []
    }
}

/// A projection: each source row's columns (with its lookups). Streaming, it writes rows
/// as they come, checking that they come in the table's order (partition day or month,
/// then the order columns) and throwing `OutOfOrder` on the first that does not; sorting,
/// it pushes them to an external sort and writes them at the end.
final class ProjectionBuilder: TableBuilder {
    let table: String
    let inputColumns: [Int]
    private(set) var written: [SegmentSummary] = []
    private(set) var partitions = 0
    private let stage: GoldStage
    private let evaluator: ScopeEvaluator
    private let schema: Schema
    private let partition: Int?
    private let granularity: DatePartitionWriter.Granularity?
    private let writer: TableWriter
    private let rows: Int
    /// The rows with their partition's date and unit (the day, or the month's first day).
    private let dates: ColumnVector, units: ColumnVector
    private let keys: KeyEncoder
    private let sortKeys: [SortKey]
    private let previous = ByteBuffer(capacity: 64), current = ByteBuffer(capacity: 64)
    private var first = true
    /// Rows still tied while checking a batch's order.
    private let pending: UnsafeMutablePointer<Int32>
    private let sort: SortOperator?
    private var partitioned: DatePartitionWriter?
    private var plain: SegmentWriter?

    init(_ stage: GoldStage, _ t: PipelineFile.GoldTable, _ plan: CheckedPipeline.GoldPlan, source: RowSource, tables: [String: LookupTable],
         rows: Int, writer: TableWriter, sorts: Bool) throws {
        table = t.name
        self.stage = stage
        let schema = stage.schema(t.name)
        self.schema = schema
        evaluator = try ScopeEvaluator(scope: plan.scope, lookups: plan.lookups, columns: plan.columns, references: tables, capacity: rows)
        var granularity: DatePartitionWriter.Granularity?
        var partition: Int?
        if let (p, _) = t.partition {
            let name: String
            switch p {
            case let .day(c): (name, granularity) = (c, .day)
            case let .month(c): (name, granularity) = (c, .month)
            }
            partition = source.schema.fields.firstIndex { $0.name == name }
        }
        self.partition = partition
        self.granularity = granularity
        inputColumns = Array(Set(evaluator.inputColumns + (partition.map { [$0] } ?? []))).sorted()
        self.writer = writer
        self.rows = rows
        pending = .allocate(capacity: rows)
        dates = ColumnVector(type: .date, capacity: rows)
        units = ColumnVector(type: .date, capacity: rows)
        let withDate = Schema(schema.fields + [Field("_date", .date), Field("_unit", .date)])
        let order = t.order.compactMap { o in schema.fields.firstIndex { $0.name == o.name } }
        let sortKeys = ([schema.count + 1] + order).map { SortKey($0) }
        keys = KeyEncoder(keys: sortKeys, schema: withDate)
        self.sortKeys = sortKeys
        if sorts {
            let memory = stage.limits.goldBuilder(available: stage.budget.availableBytes)
            sort = try SortOperator(schema: withDate, keys: sortKeys, budget: stage.budget, spill: stage.spill, blockBytes: memory.sortBlockBytes,
                                    memoryMaxBytes: memory.sortEngineBytes)
        } else {
            sort = nil
            partitioned = granularity.map { DatePartitionWriter(table: writer, granularity: $0, options: stage.segmentOptions) }
        }
    }

    deinit { pending.deallocate() }

    func consume(_ batch: [ColumnVector], rows n: Int) throws {
        try evaluator.bind(batch, rows: n, full: true)
        try evaluator.evaluateColumns(rows: n)
        dates.reset()
        units.reset()
        if let partition {
            let d = batch[partition]
            // A month's first day, worked out again only when the day changes.
            var lastDay = Int32.min, lastUnit = Int32.min
            for r in 0..<n {
                if d.isNull(r) {
                    throw BatchError(.invalidArgument, path: writer.path, "a source row's partition date is null; \(table)'s partition column must not be null in its source")
                }
                let day = d.int32(r)
                dates.appendInt32(day)
                if day != lastDay {
                    lastDay = day
                    lastUnit = granularity == .month ? Int32(CalendarMonth(containing: Int64(day)).days.lowerBound) : day
                }
                units.appendInt32(lastUnit)
            }
        } else {
            for _ in 0..<n {
                dates.appendInt32(0)
                units.appendInt32(0)
            }
        }
        let columns = evaluator.columns + [dates, units]
        if let sort {
            try sort.push(columns, rows: 0..<n)
            return
        }
        // In order: the batch's first row after the previous batch's last (by their
        // encoded keys), then each row after the one before it (by value).
        if n > 0 {
            current.removeAll()
            keys.encode(columns, row: 0, into: current)
            let inOrder = first || previous.withUnsafeBytes { p in current.withUnsafeBytes { Bytes.compare(p, $0) <= 0 } }
            guard inOrder else { throw GoldStage.OutOfOrder(table: table) }
            first = false
            guard Self.inOrder(sortKeys.map { columns[$0.column] }, rows: n, pending: pending) else { throw GoldStage.OutOfOrder(table: table) }
            previous.removeAll()
            keys.encode(columns, row: n - 1, into: previous)
        }
        try write(evaluator.columns, rows: n, days: dates)
    }

    /// Whether rows `0..<n` are ascending by `columns` (nulls first, strings by their
    /// bytes), column by column: the first column decides most pairs in one tight loop,
    /// and only the pairs it finds equal (in `pending`, room for n) go on to the next.
    static func inOrder(_ columns: [ColumnVector], rows n: Int, pending: UnsafeMutablePointer<Int32>) -> Bool {
        guard n > 1 else { return true }
        var count = 0
        for r in 1..<n {
            pending[count] = Int32(r)
            count += 1
        }
        for c in columns {
            var equal = 0
            func keep(_ order: Int, _ r: Int32) -> Bool {
                if order > 0 { return false }
                if order == 0 {
                    pending[equal] = r
                    equal += 1
                }
                return true
            }
            if c.nullCount == 0 && c.type != .string && c.type != .float64 && c.type != .bool {
                for k in 0..<count {
                    let r = Int(pending[k])
                    let (a, b) = (c.integer(r - 1), c.integer(r))
                    guard keep(a < b ? -1 : a > b ? 1 : 0, pending[k]) else { return false }
                }
            } else {
                for k in 0..<count {
                    let r = Int(pending[k])
                    guard keep(Self.compare(c, r - 1, r), pending[k]) else { return false }
                }
            }
            count = equal
            if count == 0 { return true }
        }
        return true
    }

    /// Row `a` against row `b` of `c`: -1, 0 or 1, nulls first, strings by their bytes.
    static func compare(_ c: ColumnVector, _ a: Int, _ b: Int) -> Int {
        let (nullA, nullB) = (c.isNull(a), c.isNull(b))
        if nullA || nullB { return nullA == nullB ? 0 : nullA ? -1 : 1 }
        switch c.type {
        case .string: return c.withString(a) { x in c.withString(b) { Bytes.compare(x, $0) } }
        case .float64: return c.double(a) < c.double(b) ? -1 : c.double(a) > c.double(b) ? 1 : 0
        case .bool: return c.bool(a) == c.bool(b) ? 0 : c.bool(a) ? 1 : -1
        default: return c.integer(a) < c.integer(b) ? -1 : c.integer(a) > c.integer(b) ? 1 : 0
        }
    }

    private func write(_ columns: [ColumnVector], rows n: Int, days: ColumnVector) throws {
        if let partitioned {
            try partitioned.append(columns, rows: 0..<n, days: days)
        } else {
            if plain == nil { plain = try writer.newSegment(options: stage.segmentOptions) }
            try plain?.append(columns, rows: 0..<n)
        }
    }

    func finish(_ threads: BusyWorkers) throws {
        if let sort {
            try sort.finish()
            partitioned = granularity.map { DatePartitionWriter(table: writer, granularity: $0, options: stage.segmentOptions) }
            let out = sort.schema.fields.map { ColumnVector(type: $0.type, capacity: rows) }
            let columns = Array(out[0..<schema.count])
            while case let n = try sort.pull(into: out), n > 0 { try write(columns, rows: n, days: out[schema.count]) }
        }
        if let partitioned {
            try partitioned.finish()
            written += partitioned.written
            partitions = partitioned.partitions
        } else {
            if plain == nil { plain = try writer.newSegment(options: stage.segmentOptions) }
            if let s = try plain?.finish() {
                writer.stage(s)
                written.append(s)
            }
            plain = nil
        }
    }

    func abandon() {
        partitioned?.abandon()
        plain?.abandon()
        for s in written { try? SystemIO.unlink(s.path) }
        writer.unstageAll()
        written = []
    }
}
