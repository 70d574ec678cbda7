import Segments
import Spill

/// silver -> the gold tables of any pipeline file, out of core, one table after another:
///
/// ```
///   reference copy   reference table ─────────────────────────────────> table
///   calendar         least..greatest of a date column ─> columns ─> sort ─> table
///   projection       source ─> lookups, columns ─> in order already? ─> (month or day)
///                                                   └─ no: external sort ─┘   partitions
///   aggregate        source ─> lookups, where ─> group keys, aggregate inputs
///                      ─> spilling aggregation ─> measures ─> sort ─> table
/// ```
/// A table's source is silver or a gold table built before it. A projection whose source
/// already comes in the table's order (silver in event time order, written by month) is
/// written as it streams; the first row out of order sends it through an external sort
/// instead. Every segment is staged in the table's writer; the caller commits.
public struct GoldStage {
    public struct Report: Sendable {
        /// Rows per gold table, by name.
        public var rows: [String: Int] = [:]
        public var bytesWritten = 0
        /// Partitions written by the partitioned tables.
        public var partitions = 0
        /// Projections that had to be sorted (their source was not in their order).
        public var sorted: [String] = []
        /// The aggregations, added up.
        public var aggregates = OperatorStats()
        public var phases = PhaseTimes()
    }

    public let pipeline: CheckedPipeline
    public let budget: MemoryBudget
    public let spill: SpillManager
    public var batchRows = 65_536
    public var compression: Compression = .lz4

    public init(pipeline: CheckedPipeline, budget: MemoryBudget, spill: SpillManager) {
        self.pipeline = pipeline
        self.budget = budget
        self.spill = spill
    }

    /// Each gold table's schema, from the checked pipeline.
    public func schema(_ table: String) -> Schema {
        let t = pipeline.gold.first { $0.name == "gold/" + table }
        return Schema((t?.columns ?? []).map { Field($0.name, ExpressionKernel.columnType($0.type), nullable: $0.nullable) })
    }

    /// A gold table's partition columns: its day's name, or year and month.
    public func partitionColumns(_ table: String) -> [String] {
        guard let t = pipeline.file.gold.first(where: { $0.name == table }), let (p, _) = t.partition else { return [] }
        switch p {
        case let .day(c): return [c]
        case .month: return ["year", "month"]
        }
    }

    /// Refuses, before any data is read, what the engine cannot compute yet.
    public func checkSupported() throws {
        for (t, plan) in zip(pipeline.file.gold, pipeline.goldPlans) {
            for m in plan.columns {
                for a in Self.aggregates(in: m) {
                    guard case let .aggregate(fn, arg, _) = a.node, let arg else { continue }
                    let integer = ExpressionKernel.columnType(arg.type).isInteger
                    guard integer else {
                        throw BatchError(.badPipeline, path: pipeline.file.path,
                                         "\(t.at): gold table \(t.name): \(fn.rawValue) of a \(arg.type) is not supported yet; aggregate integers, decimals, dates or timestamps (cast a float64 to a decimal)")
                    }
                }
            }
        }
    }

    /// Builds every gold table from `silver` and the `references` (by feed name) into
    /// `writers` (by gold table name). On an error, the segments written are deleted.
    public func run(silver: TableReader, references: [String: TableReader], writers: [String: TableWriter]) throws -> Report {
        try checkSupported()
        var report = Report()
        var tables: [String: LookupTable] = [:]
        let used = Set(pipeline.goldPlans.flatMap { $0.lookups.map(\.feed.name) })
        for feed in pipeline.file.references where used.contains(feed.name) {
            guard let reader = references[feed.name] else { throw BatchError(.missingInput, path: feed.name, "the reference table \(feed.name) was not given to gold") }
            tables[feed.name] = try LookupTable(name: feed.name, reader: reader, keyColumn: FeedLayout(feed, lineage: false).keyColumn, budget: budget)
        }
        var written: [SegmentSummary] = []
        var built: [String: [SegmentSummary]] = [:]
        do {
            for (t, plan) in zip(pipeline.file.gold, pipeline.goldPlans) {
                guard let writer = writers[t.name] else { preconditionFailure("no writer for gold table \(t.name)") }
                let before = written.count
                func source(_ name: String) throws -> RowSource {
                    if name == "silver" { return RowSource(silver) }
                    guard let files = built[name] else { throw BatchError(.invalidArgument, path: name, "gold table \(name) is not built before \(t.name)") }
                    return try RowSource(files: files.map(\.path), schema: self.schema(name))
                }
                switch t.kind {
                case let .reference(r):
                    guard let reader = references[r] else { throw BatchError(.missingInput, path: r, "the reference table \(r) was not given to gold") }
                    try copy(RowSource(reader), to: writer, written: &written)
                case let .calendar(from, column):
                    try calendar(try source(from), column: column, plan: plan, order: t.order.map(\.name), table: t.name, to: writer, written: &written)
                case .projection:
                    let from = try source(t.from)
                    let sorted = try project(from, t, plan, tables, to: writer, written: &written)
                    if sorted { report.sorted.append(t.name) }
                    report.partitions += Set(written[before...].map(\.path).map(SystemIO.parentDirectory)).count * (t.partition == nil ? 0 : 1)
                    // One row per row of the source, or nothing is committed.
                    let rows = written[before...].reduce(0) { $0 + $1.rowCount }
                    guard rows == from.rowCount else {
                        throw BatchError(.reconciliation, path: writer.path, "gold does not reconcile: \(t.name) has \(rows) rows, \(t.from) \(from.rowCount)")
                    }
                case .aggregate:
                    let stats = try aggregate(try source(t.from), t, plan, tables, to: writer, written: &written)
                    report.aggregates.rowsIn += stats.rowsIn
                    report.aggregates.rowsOut += stats.rowsOut
                    report.aggregates.spills += stats.spills
                    report.aggregates.spillBytesWritten += stats.spillBytesWritten
                    report.aggregates.spillDepth = max(report.aggregates.spillDepth, stats.spillDepth)
                }
                built[t.name] = Array(written[before...])
                report.rows[t.name] = written[before...].reduce(0) { $0 + $1.rowCount }
                report.phases.lap(t.name)
            }
        } catch {
            for s in written { try? SystemIO.unlink(s.path) } // never committed
            throw error
        }
        report.bytesWritten = written.reduce(0) { $0 + $1.fileBytes }
        return report
    }

    var segmentOptions: SegmentWriterOptions { SegmentWriterOptions(compression: compression, rowGroupRows: Lake.rowGroupRows) }

    // MARK: reference copies and calendars

    func copy(_ source: RowSource, to writer: TableWriter, written: inout [SegmentSummary]) throws {
        let segment = try writer.newSegment(options: segmentOptions)
        do {
            let scan = try source.scan()
            while case let n = try scan.next(), n > 0 { try segment.append(scan.vectors, rows: 0..<n) }
            let s = try segment.finish()
            writer.stage(s)
            written.append(s)
        } catch {
            segment.abandon()
            throw error
        }
    }

    /// One row per date from the least to the greatest value of `column` in `source`.
    func calendar(_ source: RowSource, column: String, plan: CheckedPipeline.GoldPlan, order: [String], table: String,
                  to writer: TableWriter, written: inout [SegmentSummary]) throws {
        guard let c = source.schema.fields.firstIndex(where: { $0.name == column }) else {
            throw BatchError(.invalidArgument, path: table, "calendar column \(column) is not a column of its source")
        }
        let dates = try source.scan([c])
        var (low, high) = (Int64.max, Int64.min)
        while case let n = try dates.next(), n > 0 {
            let v = dates.vectors[0]
            for r in 0..<n where !v.isNull(r) { (low, high) = (min(low, Int64(v.int32(r))), max(high, Int64(v.int32(r)))) }
        }
        let schema = self.schema(table)
        let rows = max(1, min(batchRows, Lake.rowGroupRows))
        let evaluator = try ScopeEvaluator(scope: plan.scope, lookups: [], columns: plan.columns, references: [:], capacity: rows)
        let sort = try sorter(schema, order: order)
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
        try drain(sort, schema: schema, rows: rows, to: writer, written: &written)
    }

    func sorter(_ schema: Schema, order: [String]) throws -> SortOperator {
        let plan = MemoryPlan(available: budget.availableBytes, operators: 1)
        let keys = order.compactMap { name in schema.fields.firstIndex { $0.name == name } }.map { SortKey($0) }
        return try SortOperator(schema: schema, keys: keys.isEmpty ? [SortKey(0)] : keys, budget: budget, spill: spill,
                                blockBytes: plan.sortBlockBytes, memoryMaxBytes: plan.sortEngineBytes)
    }

    /// The sort's rows, in one segment.
    func drain(_ sort: SortOperator, schema: Schema, rows: Int, to writer: TableWriter, written: inout [SegmentSummary]) throws {
        try sort.finish()
        let out = schema.fields.map { ColumnVector(type: $0.type, capacity: rows) }
        let segment = try writer.newSegment(options: segmentOptions)
        do {
            while case let n = try sort.pull(into: out), n > 0 { try segment.append(out, rows: 0..<n) }
            let s = try segment.finish()
            writer.stage(s)
            written.append(s)
        } catch {
            segment.abandon()
            throw error
        }
    }

    // MARK: projections

    /// Writes a projection, as it streams when its source comes in its order (its
    /// partition's days or months, then its order columns), else through an external
    /// sort. Returns whether it sorted.
    func project(_ source: RowSource, _ t: PipelineFile.GoldTable, _ plan: CheckedPipeline.GoldPlan, _ tables: [String: LookupTable],
                 to writer: TableWriter, written: inout [SegmentSummary]) throws -> Bool {
        let schema = self.schema(t.name)
        let order = t.order.compactMap { o in schema.fields.firstIndex { $0.name == o.name } }
        var granularity: DatePartitionWriter.Granularity?
        var partitionColumn: Int?
        if let (p, _) = t.partition {
            let name: String
            switch p {
            case let .day(c): (name, granularity) = (c, .day)
            case let .month(c): (name, granularity) = (c, .month)
            }
            partitionColumn = source.schema.fields.firstIndex { $0.name == name }
        }
        // The rows with their partition's date and unit (the day, or the month's first
        // day): the key of their order.
        let withDate = Schema(schema.fields + [Field("_date", .date), Field("_unit", .date)])
        let keys = ([schema.count + 1] + order).map { SortKey($0) }
        let rows = max(1, min(batchRows, source.capacity))
        let streamed = try projectRows(source, plan, tables, schema: withDate, keys: keys, partition: partitionColumn, granularity: granularity,
                                       rows: rows, to: writer, written: &written, sort: nil)
        if streamed { return false }
        let memory = MemoryPlan(available: budget.availableBytes, operators: 1)
        let sorted = try SortOperator(schema: withDate, keys: keys, budget: budget, spill: spill, blockBytes: memory.sortBlockBytes,
                                      memoryMaxBytes: memory.sortEngineBytes)
        _ = try projectRows(source, plan, tables, schema: withDate, keys: keys, partition: partitionColumn, granularity: granularity,
                            rows: rows, to: writer, written: &written, sort: sorted)
        try sorted.finish()
        let out = withDate.fields.map { ColumnVector(type: $0.type, capacity: rows) }
        try write(pulling: { try sorted.pull(into: out) }, out, schema: schema, granularity: granularity, to: writer, written: &written)
        return true
    }

    /// Evaluates the projection's rows batch by batch: into `sort` when given, else
    /// straight to the table while they come in order. Returns false (having written and
    /// deleted nothing that stays) when a row came out of order.
    func projectRows(_ source: RowSource, _ plan: CheckedPipeline.GoldPlan, _ tables: [String: LookupTable], schema withDate: Schema, keys: [SortKey],
                     partition: Int?, granularity: DatePartitionWriter.Granularity?, rows: Int, to writer: TableWriter,
                     written: inout [SegmentSummary], sort: SortOperator?) throws -> Bool {
        let evaluator = try ScopeEvaluator(scope: plan.scope, lookups: plan.lookups, columns: plan.columns, references: tables, capacity: rows)
        let scan = try source.scan(evaluator.inputColumns + (partition.map { [$0] } ?? []))
        let dates = ColumnVector(type: .date, capacity: rows), units = ColumnVector(type: .date, capacity: rows)
        let encoder = KeyEncoder(keys: keys, schema: withDate)
        let previous = ByteBuffer(capacity: 64), current = ByteBuffer(capacity: 64)
        var first = true
        let partitioned = granularity.map { DatePartitionWriter(table: writer, granularity: $0, options: segmentOptions) }
        var plain: SegmentWriter?
        var slice = scan.vectors.map { ColumnVector(type: $0.type, capacity: rows) }
        do {
            while case let n = try scan.next(), n > 0 {
                var start = 0
                while start < n {
                    let m = min(rows, n - start)
                    let batch: [ColumnVector]
                    if m == n {
                        batch = scan.vectors
                    } else {
                        for (k, c) in slice.enumerated() {
                            c.reset()
                            c.append(contentsOf: scan.vectors[k], rows: start..<(start + m))
                        }
                        batch = slice
                    }
                    start += m
                    try evaluator.bind(batch, rows: m)
                    try evaluator.evaluateColumns(rows: m)
                    dates.reset()
                    units.reset()
                    for r in 0..<m {
                        guard partition != nil else { dates.appendInt32(0); units.appendInt32(0); continue }
                        let d = batch[batch.count - 1]
                        if d.isNull(r) {
                            throw BatchError(.invalidArgument, path: writer.path, "a source row's partition date is null; the table's partition column must not be null in its source")
                        }
                        let day = d.int32(r)
                        dates.appendInt32(day)
                        units.appendInt32(granularity == .month ? Int32(CalendarMonth(containing: Int64(day)).days.lowerBound) : day)
                    }
                    let columns = evaluator.columns + [dates, units]
                    if let sort {
                        try sort.push(columns, rows: 0..<m)
                        continue
                    }
                    for r in 0..<m {
                        current.removeAll()
                        encoder.encode(columns, row: r, into: current)
                        let inOrder = first || previous.withUnsafeBytes { p in current.withUnsafeBytes { Bytes.compare(p, $0) <= 0 } }
                        guard inOrder else {
                            partitioned?.abandon()
                            plain?.abandon()
                            return false
                        }
                        first = false
                        previous.removeAll()
                        current.withUnsafeBytes { previous.append($0) }
                    }
                    if let partitioned {
                        try partitioned.append(evaluator.columns, rows: 0..<m, days: dates)
                    } else {
                        if plain == nil { plain = try writer.newSegment(options: segmentOptions) }
                        try plain?.append(evaluator.columns, rows: 0..<m)
                    }
                }
            }
            if sort != nil { return true }
            if let partitioned {
                try partitioned.finish()
                written += partitioned.written
            } else {
                if plain == nil { plain = try writer.newSegment(options: segmentOptions) }
                if let s = try plain?.finish() {
                    writer.stage(s)
                    written.append(s)
                }
            }
        } catch {
            partitioned?.abandon()
            plain?.abandon()
            throw error
        }
        slice = []
        return true
    }

    /// Writes sorted rows (the table's columns, then `_date`) to the table, by partition.
    func write(pulling pull: () throws -> Int, _ out: [ColumnVector], schema: Schema, granularity: DatePartitionWriter.Granularity?,
               to writer: TableWriter, written: inout [SegmentSummary]) throws {
        let columns = Array(out[0..<schema.count])
        if let granularity {
            let partitioned = DatePartitionWriter(table: writer, granularity: granularity, options: segmentOptions)
            do {
                while case let n = try pull(), n > 0 { try partitioned.append(columns, rows: 0..<n, days: out[schema.count]) }
                try partitioned.finish()
            } catch {
                partitioned.abandon()
                throw error
            }
            written += partitioned.written
            return
        }
        let segment = try writer.newSegment(options: segmentOptions)
        do {
            while case let n = try pull(), n > 0 { try segment.append(columns, rows: 0..<n) }
            let s = try segment.finish()
            writer.stage(s)
            written.append(s)
        } catch {
            segment.abandon()
            throw error
        }
    }
}

/// A table gold reads: a committed table, or the segments of a gold table built earlier
/// in the same run (staged, not committed yet).
final class RowSource {
    let schema: Schema
    private let reader: TableReader?
    private let files: [SegmentReader]

    init(_ reader: TableReader) {
        self.reader = reader
        schema = reader.snapshot.schema
        files = []
    }

    init(files paths: [String], schema: Schema) throws {
        reader = nil
        self.schema = schema
        files = try paths.map { try SegmentReader(path: $0) }
    }

    var rowCount: Int { reader?.snapshot.rowCount ?? files.reduce(0) { $0 + $1.rowCount } }

    /// The most rows a batch of a scan holds.
    var capacity: Int { reader?.rowGroupRowsMax ?? max(1, files.map(\.rowGroupRowsMax).max() ?? 1) }

    /// A scan of `columns` (all by default), in table order.
    func scan(_ columns: [Int]? = nil) throws -> RowScan {
        if let reader { return RowScan(table: TableScan(reader, columns: columns)) }
        return RowScan(files: files, columns: columns ?? Array(0..<schema.count), schema: schema, capacity: capacity)
    }
}

/// The rows of a `RowSource`, a row group at a time, into reused vectors.
final class RowScan {
    let vectors: [ColumnVector]
    private let table: TableScan?
    private let files: [SegmentReader]
    private let columns: [Int]
    private var file = 0, group = 0

    init(table: TableScan) {
        self.table = table
        vectors = table.vectors
        files = []
        columns = table.columns
    }

    init(files: [SegmentReader], columns: [Int], schema: Schema, capacity: Int) {
        table = nil
        self.files = files
        self.columns = columns
        vectors = columns.map { ColumnVector(type: schema.fields[$0].type, capacity: capacity) }
    }

    /// Loads the next row group; its row count, 0 at the end.
    func next() throws -> Int {
        if let table { return try table.next() }
        while file < files.count {
            let s = files[file]
            if group < s.rowGroups.count {
                for (k, c) in columns.enumerated() { try s.read(column: c, rowGroup: group, into: vectors[k]) }
                group += 1
                return s.rowGroups[group - 1].rowCount
            }
            file += 1
            group = 0
        }
        return 0
    }
}
