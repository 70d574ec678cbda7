import Segments
import Spill

/// bronze -> silver + quarantine for any pipeline file, out of core, in one pass over
/// bronze:
///
/// ```
///   bronze, batch by batch ─> ExpectationRouter ─┬─> quarantine (bronze columns + reason),
///                                                │   in bronze order
///                                                ├─> valid rows' (dedup key, by, bronze
///                                                │   row) ─> spilling dedup ─> survivors
///                                                └─> valid rows' silver columns + bronze
///                                                    row ─> external sort by (partition,
///                                                    order...)
///   sorted rows ─> those the dedup kept ─> silver, one date partition after another
/// ```
/// The sort's rows are cut by ranges of the partition date, counted in a first quick
/// scan of what the partition column needs: each range is sorted on its own, in memory
/// when it fits, and with two threads two ranges at a time. During the pass the sort
/// only writes its ranges' files, so the dedup has the memory; then the sort has it, and
/// a range read back leaves out the rows the dedup did not keep (by their bronze row,
/// the tag of the sort's rows) before it is sorted.
///
/// Versions with equal `by` values go to the row ingested last: bronze's row number
/// breaks the tie, bronze being in ingestion order (checked as it is read). The counts
/// reconcile before anything is committed: bronze = quarantined + silver + duplicates
/// removed.
public struct SilverStage {
    public struct Report: Sendable {
        public var bronzeRows = 0
        public var quarantined: [String: Int] = [:]
        public var duplicatesRemoved = 0
        public var silverRows = 0
        public var partitions = 0
        public var bytesWritten = 0
        public var dedup = OperatorStats()
        public var sort = OperatorStats()
        /// Wall time of the partition scan (ranges), the pass over bronze (scan_route),
        /// the dedup's result (dedup) and the sort and write (sort_write).
        public var phases = PhaseTimes()
        public var quarantinedTotal: Int { quarantined.values.reduce(0, +) }
    }

    public let pipeline: CheckedPipeline
    public let budget: MemoryBudget
    public let spill: SpillManager
    public var limits = Limits()
    var batchRows: Int { limits.batchRows }
    var threads: Int { limits.passThreads }

    public init(pipeline: CheckedPipeline, budget: MemoryBudget, spill: SpillManager) {
        self.pipeline = pipeline
        self.budget = budget
        self.spill = spill
    }

    /// Reads `bronze` and the reference tables under `references` (one folder each, by
    /// name) and writes `silver` and `quarantine`, each replaced in one commit.
    public func run(bronze bronzePath: String, references: String, silver silverPath: String, quarantine quarantinePath: String) throws -> Report {
        let bronze = try TableReader(path: bronzePath)
        var readers: [String: TableReader] = [:]
        for feed in pipeline.file.references { readers[feed.name] = try TableReader(path: references + "/" + feed.name) }
        let quarantineWriter = try TableWriter(path: quarantinePath, schema: quarantineSchema(bronze))
        defer { quarantineWriter.close() }
        let silverWriter = try TableWriter(path: silverPath, schema: silverSchema, partitionColumns: [pipeline.silver.partition ?? "date"])
        defer { silverWriter.close() }
        let report = try run(bronze: bronze, references: readers, silver: silverWriter, quarantine: quarantineWriter)
        let info = ["pipeline": pipeline.file.name, "bronze_rows": String(report.bronzeRows), "quarantined": String(report.quarantinedTotal),
                    "duplicates_removed": String(report.duplicatesRemoved), "silver_rows": String(report.silverRows)]
        try quarantineWriter.commit(operation: "silver", replaceAll: true, info: info)
        try silverWriter.commit(operation: "silver", replaceAll: true, info: info)
        return report
    }

    public var silverSchema: Schema { Self.silverSchema(pipeline) }

    static func silverSchema(_ pipeline: CheckedPipeline) -> Schema {
        Schema(pipeline.silver.columns.map { Field($0.name, ExpressionKernel.columnType($0.type), nullable: $0.nullable) })
    }

    /// Bronze's columns and the reason.
    public func quarantineSchema(_ bronze: TableReader) -> Schema {
        Schema(bronze.snapshot.schema.fields + [Field("reason", .string, nullable: false)])
    }

    /// Reads `bronze` and the `references` (by feed name), stages silver's and
    /// quarantine's segments in the writers, reconciles the counts and passes the report
    /// to `check`; the caller commits. On an error (`check`'s too), the segments written
    /// are deleted.
    public func run(bronze: TableReader, references: [String: TableReader], silver silverWriter: TableWriter,
                    quarantine quarantineWriter: TableWriter, check: (Report) throws -> Void = { _ in }) throws -> Report {
        var report = Report()
        report.bronzeRows = bronze.snapshot.rowCount
        let scan = TableScan(bronze)
        let capacity = scan.vectors[0].capacity
        let tables = try LookupTable.load(pipeline.file.references, readers: references, uses: [(pipeline.silverScope, pipeline.silverLookups)],
                                          expressions: pipeline.expectations.map(\.expr) + pipeline.silverColumns, stage: "silver", budget: budget)
        let shapes = try Self.shapes(pipeline)
        let silverSchema = shapes.silver, sortSchema = shapes.sort, narrow = shapes.narrow, sortKeys = shapes.sortKeys
        let partition = shapes.partition, unitsPerDay = shapes.unitsPerDay, rowColumn = silverSchema.count
        let quarantineSchema = self.quarantineSchema(bronze)
        let buffers = threads >= 2 ? 2 : 1
        let (unit, batchBytes) = Self.batching(pipeline: pipeline, limits: limits, bronze: bronze.snapshot.schema, capacity: capacity,
                                               available: budget.availableBytes)
        let batches = try budget.reserve(batchBytes, for: "silver batches")
        defer { batches.end() }

        // Where the sort cuts its rows: the rows of each partition date.
        let whole = limits.silver(available: budget.availableBytes, rangeMode: true).sort
        let rowBytes = sortRowBytes(sortSchema, keys: sortKeys, bronze: bronze)
        // Counted by the leading sort key: days of the partition, or 15-minute slices of
        // the timestamp that leads instead (a day with more rows than the sort's memory
        // then still splits).
        let leading = sortKeys[0].column
        let keyUnit = unitsPerDay == CivilTime.microsPerDay ? Limits.sliceMicros : 1
        var perUnit = DayHistogram()
        if report.bronzeRows * rowBytes >= min(Limits.rangesWorthBytes, whole.sortEngineBytes * 4 / 5) {
            perUnit = try histogram(bronze, tables, column: leading, unit: keyUnit, capacity: capacity)
        }
        report.phases.lap("ranges")
        let split = SortRangePlan(rowsPerUnit: perUnit, bytesPerRow: rowBytes).split(plan: whole, sortsAtOnce: threads >= 2 ? 2 : 1)
        let rangeMode = !split.starts.isEmpty
        // In range mode the sort only writes its ranges' files during the pass: its memory
        // is for sorting them, after the dedup is done; otherwise the two share it.
        let grant = limits.silver(available: budget.availableBytes, rangeMode: rangeMode).sort
        let sort = try SortOperator(schema: sortSchema, keys: sortKeys, budget: budget, spill: spill,
                                    blockBytes: grant.sortBlockBytes, memoryMaxBytes: grant.sortEngineBytes,
                                    splitters: SortOperator.splitKeys(sortKeys, schema: sortSchema, split.starts.map { $0 * keyUnit }),
                                    bucketBlockBytes: split.bucketBlockBytes, tag: rowColumn)
        let survivors = try RowBitmap(rows: report.bronzeRows, budget: budget)
        defer { survivors.release() }
        var written: [SegmentSummary] = []
        do {
            let valid = try routeAndDedup(scan, unit: unit, buffers: buffers, tables, quarantine: quarantineWriter, quarantineSchema: quarantineSchema, narrow: narrow,
                                          dedup: pipeline.file.silver.dedup == nil ? nil : (shapes.keyColumns, shapes.byColumns, shapes.dedupOrder), rangeMode: rangeMode,
                                          sort: sort, survivors: survivors, written: &written, report: &report)
            try sort.finish()
            try writeSilver(sort, rows: unit, sortSchema: sortSchema, rowColumn: rowColumn, partition: partition, survivors: survivors,
                            rangesFit: split.fit, to: silverWriter, written: &written, report: &report)
            report.duplicatesRemoved = valid - report.silverRows
            report.bytesWritten = written.reduce(0) { $0 + $1.fileBytes }
            guard report.bronzeRows == report.quarantinedTotal + report.silverRows + report.duplicatesRemoved, valid + report.quarantinedTotal == report.bronzeRows else {
                throw BatchError(.reconciliation, path: silverWriter.path, "counts do not reconcile: bronze \(report.bronzeRows) != quarantined \(report.quarantinedTotal) + silver \(report.silverRows) + duplicates removed \(report.duplicatesRemoved)")
            }
            try check(report)
        } catch {
            for s in written { try? SystemIO.unlink(s.path) } // never committed
            throw error
        }
        return report
    }

    /// What silver's pass is made of, from the pipeline alone: silver's schema; the sort's
    /// rows (silver's columns, then the bronze row, to keep the dedup's) and keys; the
    /// dedup's narrow rows (key columns, by columns, bronze row) and their order.
    struct Shapes {
        var silver: Schema
        var sort: Schema
        var narrow: Schema
        var partition: Int
        var sortKeys: [SortKey]
        /// Set when the order's first column fixes the partition's date (see `partitionIsDate`).
        var unitsPerDay: Int64?
        var keyColumns: [Int]
        var byColumns: [Int]
        var dedupOrder: [SortKey]
    }

    static func shapes(_ pipeline: CheckedPipeline) throws -> Shapes {
        let table = pipeline.silver
        let silver = silverSchema(pipeline)
        func column(_ name: String, _ what: String) throws -> Int {
            guard let k = table.columns.firstIndex(where: { $0.name == name }) else {
                throw BatchError(.invalidArgument, path: pipeline.file.path, "\(what) column \(name) is not a column of silver; the engine works on silver's columns")
            }
            return k
        }
        let partition = try column(table.partition ?? "", "the partition")
        let sort = Schema(silver.fields + [Field("_row", .int64, nullable: false)])
        let order = table.order.compactMap { name in table.columns.firstIndex { $0.name == name } }
        // Sorted by (partition, order...); when the order's first column fixes the
        // partition's date (it is that date, or its timestamp), by the order alone.
        let unitsPerDay = order.first.flatMap { partitionIsDate(pipeline, of: $0, partition: partition) }
        let sortKeys = (unitsPerDay == nil ? [partition] + order : order).map { SortKey($0) }
        let dedup = pipeline.file.silver.dedup
        let keyColumns = try (dedup?.key ?? []).map { try column($0.name, "dedup") }
        let byColumns = try (dedup?.by ?? []).map { try column($0.name, "dedup") }
        let narrowFields = (keyColumns + byColumns).map { silver.fields[$0] } + [Field("_row", .int64, nullable: false)]
        let narrow = Schema(narrowFields.enumerated().map { Field("c\($0.offset)", $0.element.type, nullable: $0.element.nullable) })
        let least = dedup?.keep == .least
        let dedupOrder = byColumns.indices.map { SortKey(keyColumns.count + $0, descending: least) } + [SortKey(narrow.count - 1)]
        return Shapes(silver: silver, sort: sort, narrow: narrow, partition: partition, sortKeys: sortKeys, unitsPerDay: unitsPerDay,
                      keyColumns: keyColumns, byColumns: byColumns, dedupOrder: dedupOrder)
    }

    /// Rows routed at once (a slice of a row group when batches are smaller than
    /// bronze's row groups of `capacity` rows), and the bytes of the pass's batches: the
    /// scan's row group, per buffer its rows of bronze (a slice, or a whole row group of
    /// its own beyond the scan's), their row numbers and its router's kernels, and
    /// quarantine's rows. The unit halves (not below 1024 rows) until the batches fit in
    /// available / `Limits.batchShareDivisor`.
    static func batching(pipeline: CheckedPipeline, limits: Limits, bronze: Schema, capacity: Int, available: Int) -> (unit: Int, bytes: Int) {
        let buffers = limits.passThreads
        let quarantine = Schema(bronze.fields + [Field("reason", .string, nullable: false)])
        func bytes(_ unit: Int) -> Int {
            let rows = min(unit, capacity)
            return buffers * (ExpressionKernel.bytes(pipeline.silverColumns + pipeline.expectations.map(\.expr), rows: rows) + 12 * rows)
                + (unit < capacity ? buffers : buffers - 1) * BatchPool.batchBytes(schema: bronze, rows: rows, stringBytesPerRow: 16)
                + BatchPool.batchBytes(schema: quarantine, rows: rows, stringBytesPerRow: 16)
        }
        var unit = max(1, min(limits.batchRows, capacity))
        while unit > 1024 && bytes(unit) > available / Limits.batchShareDivisor { unit /= 2 }
        return (unit, BatchPool.batchBytes(schema: bronze, rows: capacity, stringBytesPerRow: 16) + bytes(unit))
    }

    /// When silver's partition is silver column `first` itself (a date) or `date(first)`
    /// (a timestamp): the units of `first` in a day (1 or microseconds). Rows in the
    /// order of `first` are then in the order of their partition.
    static func partitionIsDate(_ pipeline: CheckedPipeline, of first: Int, partition: Int) -> Int64? {
        if first == partition { return 1 }
        let columns = pipeline.silverColumns
        guard case let .call(.date, args) = columns[partition].node, args.count == 1, columns[first].type == .timestamp,
              case let .slot(s) = args[0].node else { return nil }
        let isFirst: Bool
        if case let .derived(d) = pipeline.silverScope.slots[s].source { isFirst = d == first } else if case let .slot(f) = columns[first].node { isFirst = f == s } else { isFirst = false }
        return isFirst ? CivilTime.microsPerDay : nil
    }

    /// The rows of each `unit` of silver column `column` (a date or a timestamp: the
    /// number of `unit`s since the epoch), counted over all of bronze from the bronze
    /// columns that column needs (only those are read).
    func histogram(_ bronze: TableReader, _ tables: [String: LookupTable], column: Int, unit: Int64, capacity: Int) throws -> DayHistogram {
        let router = try ExpectationRouter(pipeline: pipeline, references: tables, capacity: capacity, only: [column])
        let scan = TableScan(bronze, columns: router.inputColumns)
        var units = DayHistogram()
        while case let n = try scan.next(), n > 0 {
            try router.project(scan.vectors, rows: n)
            let v = router.columns[column]
            for r in 0..<n where !v.isNull(r) { units.add(day: CivilTime.floorDiv(v.integer(r), unit)) }
        }
        return units
    }

    /// A sort row's bytes, near enough: the sorter's index entry and header (32), the key
    /// (fixed-size values and a byte each, strings with 3 bytes more), the payload (null
    /// bitmap, fixed-size values, strings with their lengths). A string's length is its
    /// bronze column's average when silver copies it, else 16.
    func sortRowBytes(_ schema: Schema, keys: [SortKey], bronze: TableReader) -> Int {
        var bronzeStringBytes: [Int: Int] = [:]
        if bronze.snapshot.rowCount > 0, let segments = try? (0..<bronze.segmentCount).map({ try bronze.segment($0) }) {
            for (c, field) in bronze.snapshot.schema.fields.enumerated() where field.type == .string {
                let raw = segments.reduce(0) { sum, s in sum + s.rowGroups.reduce(0) { $0 + $1.chunks[c].rawBytes - 4 * $1.rowCount } }
                bronzeStringBytes[c] = max(0, raw / bronze.snapshot.rowCount)
            }
        }
        func stringBytes(_ k: Int) -> Int {
            guard k < pipeline.silverColumns.count, case let .slot(s) = pipeline.silverColumns[k].node,
                  case let .input(c) = pipeline.silverScope.slots[s].source else { return 16 }
            return bronzeStringBytes[c] ?? 16
        }
        let keyColumns = Set(keys.map(\.column))
        var bytes = 32 + (schema.count + 7) / 8
        for (k, f) in schema.fields.enumerated() {
            let value = f.type == .string ? stringBytes(k) : f.type.valueWidthBytes
            bytes += keyColumns.contains(k) ? value + (f.type == .string ? 3 : 1) : value + (f.type == .string ? 4 : 0)
        }
        return bytes
    }

    /// A batch of bronze rows the producer routed: the rows (a row group of its own, or a
    /// slice of one), the router that holds their silver columns, their bronze row
    /// numbers, and which rows are valid. The consumer encodes the valid rows for the
    /// dedup and the sort where they are: nothing is gathered.
    final class RoutedBatch {
        let router: ExpectationRouter
        let bronze: [ColumnVector]
        let rowNumbers: ColumnVector
        let validRows: UnsafeMutablePointer<Int32>
        var valid = 0

        init(_ router: ExpectationRouter, bronze: [ColumnVector], capacity: Int) {
            self.router = router
            self.bronze = bronze
            rowNumbers = ColumnVector(type: .int64, capacity: capacity)
            validRows = .allocate(capacity: capacity)
        }

        deinit { validRows.deallocate() }

        /// The sort's columns (silver's, then the bronze row) and the dedup's (key, by, bronze row).
        func sortColumns() -> [ColumnVector] { router.columns + [rowNumbers] }
        func dedupColumns(_ columns: [Int]) -> [ColumnVector] { columns.map { router.columns[$0] } + [rowNumbers] }
    }

    /// The pass over bronze. With two threads, one scans, routes and writes quarantine
    /// while the other feeds the valid rows to the dedup and the sort. Fills `survivors`
    /// with the bronze rows the dedup keeps; returns the count of valid rows.
    func routeAndDedup(_ scan: TableScan, unit: Int, buffers count: Int, _ tables: [String: LookupTable], quarantine: TableWriter, quarantineSchema: Schema, narrow: Schema,
                       dedup spec: (key: [Int], by: [Int], order: [SortKey])?, rangeMode: Bool, sort: SortOperator,
                       survivors: RowBitmap, written: inout [SegmentSummary], report: inout Report) throws -> Int {
        let plan = limits.silver(available: budget.availableBytes, rangeMode: rangeMode).dedup
        let dedup = try spec.map {
            try DedupOperator(schema: narrow, keyColumns: Array(0..<$0.key.count), order: $0.order, budget: budget, spill: spill,
                              blockBytes: plan.hashBlockBytes, memoryMaxBytes: plan.hashEngineBytes)
        }
        let order = IngestionOrder(lineageColumn: pipeline.file.facts.columns.count)
        let reasons = UnsafeMutablePointer<UInt8>.allocate(capacity: unit)
        defer { reasons.deallocate() }
        let quarantinedRows = UnsafeMutablePointer<Int32>.allocate(capacity: unit)
        defer { quarantinedRows.deallocate() }
        let reasonBytes = pipeline.reasons.map { Array($0.utf8) }
        var counts = [Int](repeating: 0, count: reasonBytes.count)
        let segmentOptions = SegmentWriterOptions(compression: limits.compression, rowGroupRows: Lake.rowGroupRows)
        let dedupColumns = spec.map { $0.key + $0.by } ?? []
        let path = scan.reader.snapshot.path
        let quarantined = quarantineSchema.fields.map { ColumnVector(type: $0.type, capacity: unit) }
        // Whole row groups are read into a buffer's own vectors (the scan's for the first);
        // a group bigger than a batch is read into the scan's and sliced into the buffers'.
        let whole = unit >= scan.vectors[0].capacity
        func buffer(_ k: Int) throws -> RoutedBatch {
            let bronze = whole ? (k == 0 ? scan.vectors : scan.makeVectors()) : scan.vectors.map { ColumnVector(type: $0.type, capacity: unit) }
            let rows = bronze[0].capacity
            return RoutedBatch(try ExpectationRouter(pipeline: pipeline, references: tables, capacity: rows), bronze: bronze, capacity: rows)
        }
        let first = try buffer(0)
        let buffers = (first, count >= 2 ? try buffer(1) : first)
        var base = 0, validTotal = 0
        var groupRows = 0, offset = 0 // the row group read, the first of its rows not routed
        var segment: SegmentWriter?
        do {
            try Parallel.pipeline(threads: count, buffers: buffers, produce: { out in
                if offset == groupRows {
                    groupRows = try whole ? scan.next(into: out.bronze) : scan.next()
                    offset = 0
                    if groupRows == 0 { return false }
                    try order.check(whole ? out.bronze : scan.vectors, rows: groupRows, table: path)
                }
                let n = min(unit, groupRows - offset)
                if !whole {
                    for (k, c) in out.bronze.enumerated() {
                        c.reset()
                        c.append(contentsOf: scan.vectors[k], rows: offset..<(offset + n))
                    }
                }
                offset += n
                try out.router.route(out.bronze, rows: n, into: reasons)
                var q = 0, v = 0
                for c in quarantined { c.reset() }
                let reasonColumn = quarantined[quarantined.count - 1]
                for r in 0..<n {
                    let reason = Int(reasons[r])
                    if reason != Int(ExpectationRouter.valid) {
                        counts[reason] += 1
                        quarantinedRows[q] = Int32(r)
                        q += 1
                        reasonBytes[reason].withUnsafeBytes { reasonColumn.appendString($0) }
                    } else {
                        out.validRows[v] = Int32(r)
                        v += 1
                    }
                }
                if q > 0 {
                    let rows = UnsafeBufferPointer(start: quarantinedRows, count: q)
                    for (k, c) in out.bronze.enumerated() { quarantined[k].append(contentsOf: c, gathering: rows) }
                    if segment == nil { segment = try quarantine.newSegment(options: segmentOptions) }
                    try segment?.append(quarantined, rows: 0..<q)
                }
                out.rowNumbers.reset()
                for r in 0..<n { out.rowNumbers.appendInt64(Int64(base + r)) }
                out.valid = v
                base += n
                validTotal += v
                return true
            }, consume: { batch in
                guard batch.valid > 0 else { return }
                let rows = UnsafeBufferPointer(start: batch.validRows, count: batch.valid)
                if let dedup {
                    try dedup.push(batch.dedupColumns(dedupColumns), selection: rows)
                } else {
                    for r in rows { survivors.set(Int(batch.rowNumbers.int64(Int(r)))) }
                }
                try sort.push(batch.sortColumns(), selection: rows)
            })
            if let s = segment {
                let summary = try s.finish()
                quarantine.stage(summary)
                written.append(summary)
                segment = nil
            }
        } catch {
            segment?.abandon()
            throw error
        }
        for (k, name) in pipeline.reasons.enumerated() { report.quarantined[name, default: 0] += counts[k] }
        report.phases.lap("scan_route")
        if let dedup {
            try dedup.finish()
            let rows = ColumnVector(type: .int64, capacity: unit)
            while case let n = try dedup.pull(orderColumn: narrow.count - 1, into: rows), n > 0 {
                for r in 0..<n { survivors.set(Int(rows.int64(r))) }
            }
            report.dedup = dedup.stats
        }
        report.phases.lap("dedup")
        return validTotal
    }

    /// The sorted rows the dedup kept, written one partition after another: with two
    /// threads and ranges that each fit in half the sort's memory, two ranges at a time
    /// (their segments staged in order at the end).
    func writeSilver(_ sort: SortOperator, rows: Int, sortSchema: Schema, rowColumn: Int, partition: Int, survivors: RowBitmap, rangesFit: Bool,
                     to table: TableWriter, written: inout [SegmentSummary], report: inout Report) throws {
        let segmentOptions = SegmentWriterOptions(compression: limits.compression, rowGroupRows: Lake.rowGroupRows)
        let sets = (0..<2).map { _ in sortSchema.fields.map { ColumnVector(type: $0.type, capacity: rows) } }
        var writers: [DatePartitionWriter] = []
        do {
            // The rows the dedup did not keep are left out (by ranges, before they are sorted).
            sort.keep(tagsIn: survivors)
            let ranges = sort.ranges()
            if ranges.count > 0 && threads >= 2 && rangesFit {
                let slots = SharedSlots<DatePartitionWriter>(count: ranges.count)
                defer { writers = (0..<ranges.count).compactMap { slots.get($0) } }
                let shared = Handed((table, sets))
                let rangeBytes = limits.silver(available: budget.availableBytes, rangeMode: true).sort.sortEngineBytes / 2
                try Parallel.run(workers: 2) { w, next in
                    let (table, kept) = (shared.value.0, shared.value.1[w])
                    let silver = Array(kept[0..<rowColumn])
                    var previous: SortRanges.SortedRange? // read to its end: its memory goes to the next range
                    while let i = next(ranges.count) {
                        guard let range = try ranges.take(i, memoryMaxBytes: rangeBytes, reusing: previous.take()) else { continue }
                        let partitioned = DatePartitionWriter(table: table, granularity: .day, options: segmentOptions, stagesAtOnce: false)
                        slots.set(i, partitioned)
                        while case let n = try range.pull(into: kept), n > 0 {
                            try partitioned.append(silver, rows: 0..<n, days: kept[partition])
                        }
                        try partitioned.finish()
                        previous = range
                    }
                }
            } else {
                let partitioned = DatePartitionWriter(table: table, granularity: .day, options: segmentOptions)
                writers = [partitioned]
                let kept = sets[0], silver = Array(kept[0..<rowColumn])
                while case let n = try sort.pull(into: kept), n > 0 {
                    try partitioned.append(silver, rows: 0..<n, days: kept[partition])
                }
                try partitioned.finish()
            }
        } catch {
            for p in writers { p.abandon() }
            throw error
        }
        for p in writers {
            p.stageFinished() // in range order; a writer that staged as it went has nothing left
            written += p.written
            report.silverRows += p.rows
        }
        report.partitions = Set(writers.flatMap(\.partitionValues)).count
        report.sort = sort.stats
        report.phases.lap("sort_write")
    }
}
