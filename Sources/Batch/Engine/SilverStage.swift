import Segments
import Spill

/// bronze -> silver + quarantine for any pipeline file, out of core: the generic stage
/// the hand-wired transactions silver gives way to.
///
/// ```
///   pass 1: bronze, batch by batch ─> ExpectationRouter ─┬─> quarantine (bronze columns
///                                                        │   + reason), in bronze order
///                                                        └─> valid rows' (dedup key, by,
///                                                            bronze row) ─> spilling dedup
///                                                                 └─> survivors bitmap
///   pass 2: bronze again, the survivors' silver columns ─> external sort by (partition,
///           order...) ─> silver, one date partition after another
/// ```
/// Versions with equal `by` values go to the row ingested last: bronze's row number
/// breaks the tie, bronze being in ingestion order. The counts reconcile before anything
/// is committed: bronze = quarantined + silver + duplicates removed.
public struct SilverStage {
    public struct Report: Sendable {
        public var bronzeRows = 0
        public var quarantined: [String: Int] = [:]
        public var duplicatesRemoved = 0
        public var silverRows = 0
        public var quarantinedTotal: Int { quarantined.values.reduce(0, +) }
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

    /// Reads `bronze` and the reference tables under `references` (one folder each, by
    /// name) and writes `silver` and `quarantine`, each replaced in one commit.
    public func run(bronze bronzePath: String, references: String, silver silverPath: String, quarantine quarantinePath: String) throws -> Report {
        let bronze = try TableReader(path: bronzePath)
        var tables: [String: LookupTable] = [:]
        for feed in pipeline.file.references {
            let layout = FeedLayout(feed, lineage: false)
            tables[feed.name] = try LookupTable(name: feed.name, reader: try TableReader(path: references + "/" + feed.name),
                                                keyColumn: layout.keyColumn, budget: budget)
        }
        var report = Report()
        report.bronzeRows = bronze.snapshot.rowCount
        let silverTable = pipeline.silver
        let silverSchema = Schema(silverTable.columns.map { Field($0.name, ExpressionKernel.columnType($0.type), nullable: $0.nullable) })
        let quarantineSchema = Schema(bronze.snapshot.schema.fields + [Field("reason", .string, nullable: false)])
        guard let partition = silverTable.columns.firstIndex(where: { $0.name == silverTable.partition }) else {
            throw BatchError(.invalidArgument, path: pipeline.file.path, "silver's partition column is not one of its columns")
        }
        let orderColumns = silverTable.order.compactMap { name in silverTable.columns.firstIndex { $0.name == name } }
        let segmentOptions = SegmentWriterOptions(compression: compression, rowGroupRows: Lake.rowGroupRows)

        let quarantineWriter = try TableWriter(path: quarantinePath, schema: quarantineSchema)
        defer { quarantineWriter.close() }
        let silverWriter = try TableWriter(path: silverPath, schema: silverSchema, partitionColumns: [silverTable.partition ?? "date"])
        defer { silverWriter.close() }

        // The dedup's narrow rows: key columns, by columns, bronze row number.
        let dedupSpec = pipeline.file.silver.dedup
        let keyNames = dedupSpec?.key.map(\.name) ?? []
        let byNames = dedupSpec?.by.map(\.name) ?? []
        func silverColumn(_ name: String) throws -> Int {
            guard let k = silverTable.columns.firstIndex(where: { $0.name == name }) else {
                throw BatchError(.invalidArgument, path: pipeline.file.path, "dedup column \(name) is not a column of silver; the engine dedups on silver's columns")
            }
            return k
        }
        let keyColumns = try keyNames.map(silverColumn)
        let byColumns = try byNames.map(silverColumn)
        let narrowFields = (keyColumns + byColumns).map { silverSchema.fields[$0] } + [Field("_row", .int64, nullable: false)]
        let narrow = Schema(narrowFields.enumerated().map { Field("c\($0.offset)", $0.element.type, nullable: $0.element.nullable) })
        let least = dedupSpec?.keep == .least
        let order = byColumns.indices.map { SortKey(keyColumns.count + $0, descending: least) } + [SortKey(narrow.count - 1)]
        let plan = MemoryPlan(available: budget.availableBytes / 2, operators: 2)
        let dedup = dedupSpec == nil ? nil : try DedupOperator(schema: narrow, keyColumns: Array(0..<keyColumns.count), order: order, budget: budget,
                                                              spill: spill, blockBytes: plan.hashBlockBytes, memoryMaxBytes: plan.hashEngineBytes)
        var written: [SegmentSummary] = []
        do {
            // Pass 1.
            let scan = TableScan(bronze)
            let capacity = scan.vectors[0].capacity
            let router = try ExpectationRouter(pipeline: pipeline, references: tables, capacity: capacity)
            let reasons = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
            defer { reasons.deallocate() }
            let quarantineBatch = quarantineSchema.fields.map { ColumnVector(type: $0.type, capacity: capacity) }
            let narrowBatch = narrow.fields.map { ColumnVector(type: $0.type, capacity: capacity) }
            let reasonNames = pipeline.reasons
            let reasonBytes = reasonNames.map { Array($0.utf8) }
            var counts = [Int](repeating: 0, count: reasonNames.count)
            let survivors = try RowBitmap(rows: report.bronzeRows, budget: budget)
            defer { survivors.release() }
            var quarantineSegment: SegmentWriter?
            var base = 0
            var valid = 0
            // Row numbers of the batch: quarantined ones, valid ones (gathered column by column).
            let picked = UnsafeMutablePointer<Int32>.allocate(capacity: 2 * capacity)
            defer { picked.deallocate() }
            let quarantinedRows = picked, validRows = picked + capacity
            while case let n = try scan.next(), n > 0 {
                try router.route(scan.vectors, rows: n, into: reasons)
                for c in quarantineBatch { c.reset() }
                for c in narrowBatch { c.reset() }
                var q = 0, v = 0
                let reasonColumn = quarantineBatch[quarantineBatch.count - 1]
                for r in 0..<n {
                    if reasons[r] != ExpectationRouter.valid {
                        counts[Int(reasons[r])] += 1
                        quarantinedRows[q] = Int32(r)
                        q += 1
                        reasonBytes[Int(reasons[r])].withUnsafeBytes { reasonColumn.appendString($0) }
                    } else {
                        validRows[v] = Int32(r)
                        v += 1
                    }
                }
                valid += v
                if q > 0 {
                    let rows = UnsafeBufferPointer(start: quarantinedRows, count: q)
                    for (k, c) in scan.vectors.enumerated() { quarantineBatch[k].append(contentsOf: c, gathering: rows) }
                    if quarantineSegment == nil { quarantineSegment = try quarantineWriter.newSegment(options: segmentOptions) }
                    try quarantineSegment?.append(quarantineBatch, rows: 0..<q)
                }
                let rows = UnsafeBufferPointer(start: validRows, count: v)
                if let dedup, v > 0 {
                    for (k, c) in (keyColumns + byColumns).enumerated() { narrowBatch[k].append(contentsOf: router.columns[c], gathering: rows) }
                    let rowNumbers = narrowBatch[narrowBatch.count - 1]
                    for r in rows { rowNumbers.appendInt64(Int64(base + Int(r))) }
                    try dedup.push(narrowBatch, rows: 0..<v)
                } else if dedup == nil {
                    for r in rows { survivors.set(base + Int(r)) }
                }
                base += n
            }
            if let s = quarantineSegment {
                let summary = try s.finish()
                quarantineWriter.stage(summary)
                written.append(summary)
            }
            for (k, name) in reasonNames.enumerated() { report.quarantined[name, default: 0] += counts[k] }
            if let dedup {
                try dedup.finish()
                while case let n = try dedup.pull(into: narrowBatch), n > 0 {
                    for r in 0..<n { survivors.set(Int(narrowBatch[narrowBatch.count - 1].int64(r))) }
                }
            }

            // Pass 2: the survivors' silver columns, sorted by (partition, order...).
            let sort = try SortOperator(schema: silverSchema, keys: ([partition] + orderColumns).map { SortKey($0) }, budget: budget, spill: spill,
                                        blockBytes: plan.sortBlockBytes, memoryMaxBytes: plan.sortEngineBytes)
            let again = TableScan(bronze)
            let silverBatch = silverSchema.fields.map { ColumnVector(type: $0.type, capacity: capacity) }
            base = 0
            while case let n = try again.next(), n > 0 {
                try router.route(again.vectors, rows: n, into: reasons)
                for c in silverBatch { c.reset() }
                var kept = 0
                for r in 0..<n where reasons[r] == ExpectationRouter.valid && survivors.contains(base + r) {
                    validRows[kept] = Int32(r)
                    kept += 1
                }
                if kept > 0 {
                    let rows = UnsafeBufferPointer(start: validRows, count: kept)
                    for (k, c) in router.columns.enumerated() { silverBatch[k].append(contentsOf: c, gathering: rows) }
                    try sort.push(silverBatch, rows: 0..<kept)
                }
                base += n
            }
            try sort.finish()
            let partitioned = DatePartitionWriter(table: silverWriter, granularity: .day, options: segmentOptions)
            let out = silverSchema.fields.map { ColumnVector(type: $0.type, capacity: batchRows) }
            while case let n = try sort.pull(into: out), n > 0 {
                try partitioned.append(out, rows: 0..<n, days: out[partition])
            }
            try partitioned.finish()
            partitioned.stageFinished()
            written += partitioned.written
            report.silverRows = partitioned.rows
            report.duplicatesRemoved = valid - report.silverRows
            guard report.bronzeRows == report.quarantinedTotal + report.silverRows + report.duplicatesRemoved else {
                throw BatchError(.reconciliation, path: silverPath, "counts do not reconcile: bronze \(report.bronzeRows) != quarantined \(report.quarantinedTotal) + silver \(report.silverRows) + duplicates removed \(report.duplicatesRemoved)")
            }
        } catch {
            for s in written { try? SystemIO.unlink(s.path) } // never committed
            throw error
        }
        let info = ["pipeline": pipeline.file.name, "bronze_rows": String(report.bronzeRows), "quarantined": String(report.quarantinedTotal),
                    "duplicates_removed": String(report.duplicatesRemoved), "silver_rows": String(report.silverRows)]
        try quarantineWriter.commit(operation: "silver", replaceAll: true, info: info)
        try silverWriter.commit(operation: "silver", replaceAll: true, info: info)
        return report
    }
}
