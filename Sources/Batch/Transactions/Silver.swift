import Foundation
import Segments
import Spill

/// bronze -> silver + quarantine (docs/TRANSACTIONS.md section 3).
///
/// ```
///   pass 1: bronze, row group by row group
///     │ rules 1-11 in order; the first that fails names the reason
///     ├──> quarantine (bronze columns + reason), in bronze order
///     ▼
///   dedup by transaction_id of narrow records (updated_at, bronze row number), keeping
///   the greatest: the spilling hash dedup ──> a bitmap of surviving bronze rows
///
///   pass 2: bronze again, only the surviving rows
///     ▼
///   external sort by (event_time, transaction_id), in day ranges that fit in memory
///     ▼
///   silver, one event_date partition after another
/// ```
/// Pass 1 also counts the valid rows of each event_date. When they would not fit in
/// the sort's memory at once, the sort runs in range mode: pass 2 spills each row to the
/// file of its range of days, and the ranges are sorted one after another, each in
/// memory (a range that still does not fit is sorted by runs and merges).
/// Both tables are rebuilt from the whole of bronze and each is replaced by one atomic
/// commit. Then the counts are reconciled, and checked against the landing zone's
/// `_expected.json` when the lake holds a copy of it.
public struct Silver {
    public static let reasons = Generator.reasons

    public static let schema = Schema([
        Field("transaction_id", .string, nullable: false), Field("customer_id", .int64, nullable: false),
        Field("product_id", .int64, nullable: false), Field("quantity", .int64, nullable: false),
        Field("unit_price", .decimal(scale: 2), nullable: false), Field("currency", .string, nullable: false),
        Field("amount", .decimal(scale: 2), nullable: false), Field("amount_usd", .decimal(scale: 2), nullable: false),
        Field("status", .string, nullable: false), Field("channel", .string, nullable: false),
        Field("event_time", .timestamp, nullable: false), Field("updated_at", .timestamp, nullable: false),
        Field("event_date", .date, nullable: false),
    ])

    public static let quarantineSchema = Schema(Bronze.schema.fields + [Field("reason", .string, nullable: false)])

    /// With 2 threads, each pass runs as two stages (scan and build, then dedup or sort).
    public typealias Options = StageOptions

    public struct Report: Sendable {
        public var bronzeRows = 0
        public var quarantined: [String: Int] = [:]
        public var duplicatesRemoved = 0
        public var silverRows = 0
        public var partitions = 0
        public var bytesWritten = 0
        public var dedup = OperatorStats()
        public var sort = OperatorStats()
        /// The expected counts it was checked against, when the lake has them.
        public var expected: Generator.Expected?
        /// Wall time of pass 1 (scan_classify), the dedup's partitions (dedup), pass 2
        /// (route) and the sort and write (sort_write).
        public var phases = PhaseTimes()
        /// Where damaged silver or quarantine tables were moved before they were rebuilt.
        public var setAside: [String] = []
        public var quarantinedTotal: Int { quarantined.values.reduce(0, +) }
    }

    public let options: Options
    public let budget: MemoryBudget
    public let spill: SpillManager

    public init(options: Options, budget: MemoryBudget, spill: SpillManager) {
        self.options = options
        self.budget = budget
        self.spill = spill
    }

    public static func path(lake: String) -> String { lake + "/silver" }

    /// The tables silver is built from, by the names its commits record them under.
    static func inputTables(lake: String) -> [(name: String, path: String)] {
        [("bronze", Ingest.bronzePath(lake: lake))] + Reference.all.map { ($0.name, Reference.tablePath(lake: lake, $0.name)) }
    }

    /// Why silver and quarantine must be built again, or nil when both were built from
    /// the current bronze and reference tables (by identity) and their files are whole.
    public static func staleness(lake: String) -> String? {
        let lineage: [String: String]
        do { lineage = try Lake.currentLineage(inputTables(lake: lake)) } catch {
            return "its inputs cannot be read (\(error))" // the run says what is missing when silver opens them
        }
        if let why = Lake.staleness(of: path(lake: lake), builtFrom: lineage) { return "silver " + why }
        if let why = Lake.staleness(of: quarantinePath(lake: lake), builtFrom: lineage) { return "quarantine " + why }
        return nil
    }

    public static func isUpToDate(lake: String) -> Bool { staleness(lake: lake) == nil }
    public static func quarantinePath(lake: String) -> String { lake + "/quarantine" }

    // MARK: reference data

    /// What the rules look up: customer and product ids, and the currencies' rates.
    struct Lookups {
        var customers: Int64Map
        var products: Int64Map
        /// Currency code -> USD rate in millionths (the first row of a code counts).
        var rates: ShortStringTable

        func rate(_ code: UnsafeRawBufferPointer) -> Int64? { rates.value(code) }
    }

    /// The reference tables as silver pinned them when it started.
    func loadLookups(_ inputs: Lake.PinnedInputs) throws -> (Lookups, Reservation) {
        func open(_ name: String) -> TableReader { inputs.reader(name) }
        /// A reference table's ids (never null: its ingest refuses an empty key), read
        /// twice: first their range, which sets the map's layout, then into the map.
        func idRange(_ reader: TableReader) throws -> ClosedRange<Int64>? {
            let scan = TableScan(reader, columns: [0])
            var (low, high) = (Int64.max, Int64.min)
            while case let n = try scan.next(), n > 0 {
                for r in 0..<n {
                    let id = scan.vectors[0].int64(r)
                    (low, high) = (min(low, id), max(high, id))
                }
            }
            return low <= high ? low...high : nil
        }
        func ids(_ reader: TableReader, range: ClosedRange<Int64>?) throws -> Int64Map {
            let scan = TableScan(reader, columns: [0])
            let out = Int64Map(count: reader.snapshot.rowCount, range: range)
            while case let n = try scan.next(), n > 0 {
                for r in 0..<n { out.set(scan.vectors[0].int64(r), 0) }
            }
            return out
        }
        let customerTable = open("customers"), productTable = open("products")
        let customerRange = try idRange(customerTable), productRange = try idRange(productTable)
        let referenceIds = customerTable.snapshot.rowCount + productTable.snapshot.rowCount
        let memory = try budget.reserve(Int64Map.bytes(count: customerTable.snapshot.rowCount, range: customerRange)
                                        + Int64Map.bytes(count: productTable.snapshot.rowCount, range: productRange),
                                        for: "silver reference ids",
                                        remedy: MemoryBudget.fixedSizeRemedy("the \(referenceIds) customer and product ids stay in memory for rules 10 and 11"))
        let customers = try ids(customerTable, range: customerRange)
        let products = try ids(productTable, range: productRange)
        let fx = TableScan(open("fx_rates"))
        var rates: [(key: [UInt8], value: Int64)] = []
        while case let n = try fx.next(), n > 0 {
            for r in 0..<n where !fx.vectors[1].isNull(r) {
                rates.append((fx.vectors[0].withString(r) { Array($0) }, fx.vectors[1].int64(r)))
            }
        }
        return (Lookups(customers: customers, products: products, rates: ShortStringTable(rates)), memory)
    }

    // MARK: the run

    public func run() throws -> Report {
        try Lake.requireFolder(options.lake)
        let bronzePath = Ingest.bronzePath(lake: options.lake)
        guard Table.exists(at: bronzePath) else {
            throw BatchError(.missingInput, path: bronzePath, "the lake has no bronze table; run batchrun ingest first")
        }
        for f in Reference.all where !Table.exists(at: Reference.tablePath(lake: options.lake, f.name)) {
            throw BatchError(.missingInput, path: Reference.tablePath(lake: options.lake, f.name),
                             "the lake has no reference table '\(f.name)'; ingest a landing zone with customers.csv, products.csv and fx_rates.csv first")
        }
        Lake.removeNeverCommitted(lake: options.lake)
        let inputs = try Lake.pin(Self.inputTables(lake: options.lake))
        var (lookups, lookupMemory) = try loadLookups(inputs)
        defer { lookupMemory.end() }
        let bronze = inputs.reader("bronze")
        var report = Report()
        report.bronzeRows = bronze.snapshot.rowCount

        let quarantineWriter = try Lake.derivedWriter(lake: options.lake, path: Self.quarantinePath(lake: options.lake),
                                                      schema: Self.quarantineSchema, setAside: &report.setAside)
        defer { quarantineWriter.close() }
        let silverWriter = try Lake.derivedWriter(lake: options.lake, path: Self.path(lake: options.lake), schema: Self.schema,
                                                  partitionColumns: ["event_date"], setAside: &report.setAside)
        defer { silverWriter.close() }
        var written: [SegmentSummary] = []
        do {
            let survivors = try RowBitmap(rows: report.bronzeRows, budget: budget)
            defer { survivors.release() }
            var counts = [Int](repeating: 0, count: Self.reasons.count)
            var days = SortSizes()
            let validRows = try classifyAndDedup(bronze, lookups, survivors: survivors, quarantine: quarantineWriter,
                                                 counts: &counts, days: &days, written: &written, report: &report)
            // Pass 2 needs only the rates: the id maps are freed and their memory goes to
            // the sort (12 MiB for the 3M ids of a 100M-record landing zone, 96 MiB were
            // they not numbered densely).
            lookups.customers = Int64Map(count: 0)
            lookups.products = Int64Map(count: 0)
            lookupMemory.end()
            try writeSilver(bronze, lookups, survivors: survivors, days: days, to: silverWriter, written: &written, report: &report)
            for (k, name) in Self.reasons.enumerated() { report.quarantined[name] = counts[k] }
            report.duplicatesRemoved = validRows - report.silverRows
            report.bytesWritten = written.reduce(0) { $0 + $1.fileBytes }

            // Reconcile before committing: a mismatch commits nothing.
            let quarantinedTotal = counts.reduce(0, +)
            if report.bronzeRows != quarantinedTotal + report.silverRows + report.duplicatesRemoved || validRows + quarantinedTotal != report.bronzeRows {
                throw BatchError(.reconciliation, path: options.lake, "counts do not reconcile:\n" + Self.table(report, expected: nil))
            }
            if let expected = try Self.loadExpected(lake: options.lake) {
                report.expected = expected
                let actual = Generator.Expected(bronze: report.bronzeRows, quarantined: report.quarantined,
                                                duplicatesRemoved: report.duplicatesRemoved, silver: report.silverRows)
                if actual != expected {
                    throw BatchError(.reconciliation, path: Ingest.expectedPath(lake: options.lake),
                                     "counts differ from the landing zone's _expected.json:\n" + Self.table(report, expected: expected))
                }
            }
        } catch {
            for s in written { try? SystemIO.unlink(s.path) } // never committed
            throw error
        }
        var info = inputs.lineage
        info["bronze_rows"] = String(report.bronzeRows)
        info["quarantined"] = String(report.quarantinedTotal)
        info["duplicates_removed"] = String(report.duplicatesRemoved)
        info["silver_rows"] = String(report.silverRows)
        try quarantineWriter.commit(operation: "silver", replaceAll: true, info: info)
        try silverWriter.commit(operation: "silver", replaceAll: true, info: info)
        return report
    }

    /// Pass 1 over bronze: each row is quarantined or is a version of its transaction.
    /// Versions go through the spilling hash dedup as narrow records, (transaction_id;
    /// updated_at, bronze row number), and the winners' row numbers become `survivors`.
    ///
    /// Bronze rows are in ingestion order, (_ingest_seq, _source_file, _source_line)
    /// ascending (checked here, row by row), so the row number orders versions with equal
    /// updated_at exactly as docs/TRANSACTIONS.md asks. Returns the count of valid rows; `days`
    /// gets their event_dates and sizes.
    func classifyAndDedup(_ bronze: TableReader, _ lookups: Lookups, survivors: RowBitmap, quarantine: TableWriter,
                          counts: inout [Int], days: inout SortSizes, written: inout [SegmentSummary], report: inout Report) throws -> Int {
        let scan = TableScan(bronze)
        let batchRows = min(options.batchRows, scan.vectors[0].capacity)
        let batchMemory = try budget.reserve(BatchPool.batchBytes(schema: Bronze.schema, rows: scan.vectors[0].capacity, stringBytesPerRow: 16)
                                             + BatchPool.batchBytes(schema: Self.quarantineSchema, rows: batchRows, stringBytesPerRow: 16)
                                             + 2 * scan.vectors[0].capacity * 48,
                                             for: "silver batches")
        defer { batchMemory.end() }
        let plan = MemoryPlan(available: budget.availableBytes, operators: 1)
        let versions = try GraceHashTable(mode: .dedup, budget: budget, spill: spill, consumer: "silver dedup",
                                          blockBytes: plan.hashBlockBytes, memoryMaxBytes: plan.hashEngineBytes)
        let quarantined = Self.quarantineSchema.fields.map { ColumnVector(type: $0.type, capacity: batchRows) }
        let segmentOptions = SegmentWriterOptions(compression: options.compression, rowGroupRows: Lake.rowGroupRows)
        var segment: SegmentWriter?
        var row = 0
        var validRows = 0
        var reasons = counts // the producing stage's own copies, written back below
        var sizes = days
        var producedSegment: SegmentWriter?
        let ingestionOrder = IngestionOrder(lineageColumn: 10)
        // Stage 1 scans, classifies and writes quarantine rows, and lays out each valid row
        // as a record of the dedup table (hash, lengths, key; order = updated_at, row
        // number, big-endian: memcmp order); stage 2 adds them to the table.
        let records = (VersionRecords(rows: scan.vectors[0].capacity), VersionRecords(rows: scan.vectors[0].capacity))
        let verdicts = UnsafeMutablePointer<UInt8>.allocate(capacity: scan.vectors[0].capacity) // each row's reason, or valid
        defer { verdicts.deallocate() }
        do {
            try Parallel.pipeline(threads: options.threads, buffers: records, produce: { out in
                out.removeAll()
                let n = try scan.next()
                if n == 0 { return false }
                let v = scan.vectors
                try ingestionOrder.check(v, rows: n, table: bronze.snapshot.path)
                sizes.scanned(v, rows: n)
                Self.classify(v, rows: n, lookups, into: verdicts)
                let (ids, times, updated) = (v[0], v[8], v[9])
                for r in 0..<n {
                    let reason = Int(verdicts[r])
                    if reason != Int(Self.valid) {
                        reasons[reason] += 1
                        for c in 0..<15 { quarantined[c].append(contentsOf: v[c], rows: r..<(r + 1)) }
                        quarantined[15].appendString(Self.reasons[reason])
                        if quarantined[0].isFull {
                            if producedSegment == nil { producedSegment = try quarantine.newSegment(options: segmentOptions) }
                            try producedSegment?.append(quarantined)
                            for c in quarantined { c.reset() }
                        }
                        continue
                    }
                    validRows += 1
                    sizes.rowsPerSlice.add(day: CivilTime.floorDiv(times.int64(r), SortSizes.sliceMicros))
                    ids.withString(r) { key in out.append(key: key, updatedAt: updated.int64(r), row: row + r) }
                }
                row += n
                return true
            }, consume: { batch in
                try batch.bytes.withUnsafeBytes { (b) throws in
                    try batch.starts.withUnsafeBufferPointer { try versions.add(records: b.baseAddress!, starts: $0.baseAddress!, count: $0.count - 1) }
                }
            })
            segment = producedSegment
            counts = reasons
            days = sizes
            if quarantined[0].count > 0 {
                if segment == nil { segment = try quarantine.newSegment(options: segmentOptions) }
                try segment?.append(quarantined)
            }
            if let q = segment {
                let s = try q.finish()
                quarantine.stage(s)
                written.append(s)
                segment = nil
            }
        } catch {
            (segment ?? producedSegment)?.abandon()
            throw error
        }
        report.phases.lap("scan_classify")
        try versions.finish()
        while let r = try versions.next() {
            let o = GraceHashTable.dedupParts(r.rest).order
            survivors.set(Int(UInt64(bigEndian: o.loadUnaligned(fromByteOffset: 8, as: UInt64.self))))
        }
        report.dedup.rowsIn = versions.stats.rowsIn
        report.dedup.rowsOut = versions.stats.rowsOut
        report.dedup.takeSpill(from: versions.stats)
        report.phases.lap("dedup")
        return validRows
    }

    /// Pass 2 over bronze: the surviving versions, sorted by (event_time, transaction_id)
    /// (event_date is a function of event_time, so this is also event_date order), are
    /// written one event_date partition after another. The sort runs in range mode when
    /// the rows of all `days` would not fit in its memory.
    func writeSilver(_ bronze: TableReader, _ lookups: Lookups, survivors: RowBitmap, days: SortSizes, to writer: TableWriter,
                     written: inout [SegmentSummary], report: inout Report) throws {
        let scan = TableScan(bronze, columns: Array(0..<10))
        let batchRows = min(options.batchRows, scan.vectors[0].capacity)
        let batchMemory = try budget.reserve(BatchPool.batchBytes(schema: Bronze.schema, rows: scan.vectors[0].capacity, stringBytesPerRow: 16)
                                             + 2 * BatchPool.batchBytes(schema: Self.schema, rows: batchRows, stringBytesPerRow: 16),
                                             for: "silver batches")
        defer { batchMemory.end() }
        let plan = MemoryPlan(available: budget.availableBytes, operators: 1)
        let keys = [SortKey(10), SortKey(0)]
        let split = days.split(plan: plan, sortsAtOnce: options.threads >= 2 ? 2 : 1)
        let splitters = SortOperator.splitKeys(keys, schema: Self.schema, split.starts)
        let sort = try SortOperator(schema: Self.schema, keys: keys, budget: budget, spill: spill, blockBytes: plan.sortBlockBytes,
                                    memoryMaxBytes: plan.sortEngineBytes, splitters: splitters, bucketBlockBytes: split.bucketBlockBytes)
        let sets = (Self.schema.fields.map { ColumnVector(type: $0.type, capacity: batchRows) },
                    Self.schema.fields.map { ColumnVector(type: $0.type, capacity: batchRows) })
        // Stage 1 picks the surviving rows of each row group and builds their silver rows;
        // stage 2 feeds them to the sort.
        var n = 0, r = 0, first = 0 // the row group's size, the next row in it, its first row's number
        var picked = [Int32](repeating: 0, count: batchRows) // rows of the row group that survive
        try Parallel.pipeline(threads: options.threads, buffers: sets, produce: { out in
            for c in out { c.reset() }
            while !out[0].isFull {
                if r == n {
                    first += n
                    n = try scan.next()
                    r = 0
                    if n == 0 { break }
                }
                let room = batchRows - out[0].count
                var k = 0
                while r < n && k < room {
                    if survivors.contains(first + r) { picked[k] = Int32(r); k += 1 }
                    r += 1
                }
                picked.withUnsafeBufferPointer { Self.appendSilver(scan.vectors, rows: UnsafeBufferPointer(rebasing: $0[0..<k]), lookups, to: out) }
            }
            return out[0].count > 0
        }, consume: { batch in
            try sort.push(batch, rows: 0..<batch[0].count)
        })
        try sort.finish()
        report.phases.lap("route")

        let segmentOptions = SegmentWriterOptions(compression: options.compression, rowGroupRows: Lake.rowGroupRows)
        var writers: [DatePartitionWriter] = []
        do {
            let ranges = sort.ranges()
            if ranges.count > 0 && options.threads >= 2 && split.fit {
                // Day ranges side by side: each worker sorts a range (in memory: each
                // fits in half the sort's) and writes its partitions; segments are
                // staged in day order once all are done. A range too big for that is
                // sorted by runs, one range at a time, below.
                let slots = SharedSlots<DatePartitionWriter>(count: ranges.count)
                defer { writers = (0..<ranges.count).compactMap { slots.get($0) } }
                let shared = Handed((writer, [sets.0, sets.1]))
                let rangeBytes = plan.sortEngineBytes / 2
                try Parallel.run(workers: 2) { w, next in
                    let (table, out) = (shared.value.0, shared.value.1[w])
                    var previous: SortRanges.SortedRange? // read to its end: its memory goes to the next range
                    while let i = next(ranges.count) {
                        guard let range = try ranges.take(i, memoryMaxBytes: rangeBytes, reusing: previous.take()) else { continue }
                        let partitioned = DatePartitionWriter(table: table, granularity: .day, options: segmentOptions, stagesAtOnce: false)
                        slots.set(i, partitioned)
                        while case let n = try range.pull(into: out), n > 0 { try partitioned.append(out, rows: 0..<n, days: out[12]) }
                        try partitioned.finish()
                        previous = range
                    }
                }
            } else {
                let partitioned = DatePartitionWriter(table: writer, granularity: .day, options: segmentOptions)
                writers = [partitioned]
                // Stage 1 merges the sorted runs (or sorts range after range) into
                // batches; stage 2 writes them.
                try Parallel.pipeline(threads: options.threads, buffers: sets, produce: { out in try sort.pull(into: out) > 0 }, consume: { rows in
                    try partitioned.append(rows, rows: 0..<rows[0].count, days: rows[12])
                })
                try partitioned.finish()
            }
        } catch {
            for p in writers { p.abandon() }
            throw error
        }
        for p in writers {
            p.stageFinished() // in day order; a writer that staged as it went has nothing left
            written += p.written
            report.silverRows += p.rows
        }
        // A day whose rows fall in two ranges is one partition, written in two segments.
        report.partitions = Set(writers.flatMap(\.partitionValues)).count
        report.sort = sort.stats
        report.phases.lap("sort_write")
    }

    static func loadExpected(lake: String) throws -> Generator.Expected? {
        let path = Ingest.expectedPath(lake: lake)
        guard SystemIO.exists(path) else { return nil }
        let bytes = try SystemIO.readFile(path)
        guard let obj = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any], // a parse failure is reported just below
              let bronze = obj["bronze"] as? Int, let q = obj["quarantined"] as? [String: Int],
              let d = obj["duplicates_removed"] as? Int, let s = obj["silver"] as? Int else {
            throw BatchError(.reconciliation, path: path, "is not a valid _expected.json ({\"bronze\": N, \"quarantined\": {...}, \"duplicates_removed\": N, \"silver\": N})")
        }
        var quarantined: [String: Int] = [:]
        for r in reasons { quarantined[r] = q[r] ?? 0 }
        return Generator.Expected(bronze: bronze, quarantined: quarantined, duplicatesRemoved: d, silver: s)
    }

    /// The per-layer table of a reconciliation message.
    public static func table(_ r: Report, expected: Generator.Expected?) -> String {
        var lines = ["  layer                    actual     expected"]
        func line(_ name: String, _ actual: Int, _ exp: Int?) {
            let mark = exp.map { $0 == actual ? "" : "   <-- differs" } ?? ""
            lines.append("  " + name.rightPadded(22)
                         + String(actual).leftPadded(10) + (exp.map { String($0).leftPadded(13) } ?? "            -") + mark)
        }
        line("bronze", r.bronzeRows, expected?.bronze)
        for name in reasons { line("quarantined " + name, r.quarantined[name] ?? 0, expected?.quarantined[name]) }
        line("duplicates removed", r.duplicatesRemoved, expected?.duplicatesRemoved)
        line("silver", r.silverRows, expected?.silver)
        lines.append("  bronze = quarantined (\(r.quarantinedTotal)) + silver (\(r.silverRows)) + duplicates removed (\(r.duplicatesRemoved))")
        return lines.joined(separator: "\n")
    }

    // MARK: rules

    static let statuses = ShortStringTable(["completed", "pending", "cancelled", "refunded"].map { (Array($0.utf8), 0) })
    static let channels = ShortStringTable(["web", "mobile", "store"].map { (Array($0.utf8), 0) })
    /// The reason of a row that passes every rule.
    static let valid: UInt8 = 0xFF

    /// The first rule each of bronze rows `0..<n` fails (its index in `reasons`), or
    /// `valid`, into `out`. Rules 1-4 (nulls) are tested 64 rows at a time on the validity
    /// words; the others row by row, in the order of docs/TRANSACTIONS.md section 3.
    static func classify(_ v: [ColumnVector], rows n: Int, _ l: Lookups, into out: UnsafeMutablePointer<UInt8>) {
        let (id, customer, product, quantity, price, currency) = (v[0], v[1], v[2], v[3], v[4], v[5])
        let (status, channel, time, updated, rescued) = (v[6], v[7], v[8], v[9], v[14])
        // Each row probes the customer and product maps at random: the probes of a row
        // some places ahead are started early, so their misses overlap.
        let ahead = 16
        for r in 0..<min(ahead, n) {
            l.customers.prefetch(customer.int64(r))
            l.products.prefetch(product.int64(r))
        }
        for w in 0..<((n + 63) / 64) {
            // Bit i of a word: row 64w + i is not null in that column.
            let (idOK, customerOK, productOK, quantityOK, priceOK) = (id.validityWord(w), customer.validityWord(w), product.validityWord(w),
                                                                      quantity.validityWord(w), price.validityWord(w))
            let (currencyOK, statusOK, channelOK, timeOK, updatedOK) = (currency.validityWord(w), status.validityWord(w), channel.validityWord(w),
                                                                        time.validityWord(w), updated.validityWord(w))
            let anyValid = idOK | customerOK | productOK | quantityOK | priceOK | currencyOK | statusOK | channelOK | timeOK | updatedOK
            let malformed = ~anyValid & rescued.validityWord(w)
            let badNumber = ~(customerOK & productOK & quantityOK & priceOK)
            let badTimestamp = ~(timeOK & updatedOK)
            for r in (w * 64)..<Swift.min(n, w * 64 + 64) {
                if r + ahead < n {
                    l.customers.prefetch(customer.int64(r + ahead))
                    l.products.prefetch(product.int64(r + ahead))
                }
                let bit = UInt64(1) << UInt64(r & 63)
                out[r] = {
                    if malformed & bit != 0 { return 0 }                                     // malformed_row
                    if idOK & bit == 0 { return 1 }                                          // missing_id
                    if badNumber & bit != 0 { return 2 }                                     // bad_number
                    if badTimestamp & bit != 0 { return 3 }                                  // bad_timestamp
                    let q = quantity.int64(r), p = price.int64(r)
                    if q < 1 || q > 1000 { return 4 }                                        // bad_quantity
                    if p < 0 { return 5 }                                                    // bad_price
                    if statusOK & bit == 0 || status.withString(r, { statuses.value($0) }) == nil { return 6 }    // bad_status
                    if channelOK & bit == 0 || channel.withString(r, { channels.value($0) }) == nil { return 7 }  // bad_channel
                    guard currencyOK & bit != 0, let rate = currency.withString(r, { l.rate($0) }) else { return 8 } // unknown_currency
                    if !l.customers.contains(customer.int64(r)) { return 9 }                 // unknown_customer
                    if !l.products.contains(product.int64(r)) { return 10 }                  // unknown_product
                    // A price whose amount (or USD amount) does not fit decimal(18,2) is a bad price.
                    if amounts(quantity: q, price: p, rate: rate) == nil { return 5 }
                    return valid
                }()
            }
        }
    }

    /// amount = quantity x unit_price; amount_usd = amount x rate / 10^6, rounded half up
    /// to cents (half away from zero); nil when either leaves int64.
    static func amounts(quantity: Int64, price: Int64, rate: Int64) -> (Int64, Int64)? {
        let (amount, o) = quantity.multipliedReportingOverflow(by: price)
        if o { return nil }
        let wide = amount.multipliedFullWidth(by: rate)
        let product = (Int128(wide.high) << 64) | Int128(wide.low)
        let half: Int128 = product >= 0 ? 500_000 : -500_000
        let usd = (product + half) / 1_000_000
        guard let usd64 = Int64(exactly: usd) else { return nil }
        return (amount, usd64)
    }

    /// The silver columns that are bronze columns: (silver, bronze).
    static let copied = [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (8, 6), (9, 7), (10, 8), (11, 9)]

    /// Appends the silver rows of valid bronze rows `rows` of `v`, column by column.
    static func appendSilver(_ v: [ColumnVector], rows: UnsafeBufferPointer<Int32>, _ l: Lookups, to out: [ColumnVector]) {
        for (to, from) in copied { out[to].append(contentsOf: v[from], gathering: rows) }
        let (quantity, price, currency, time) = (v[3], v[4], v[5], v[8])
        let (amount, usd, date) = (out[6], out[7], out[12])
        for r in rows {
            let r = Int(r)
            let rate = currency.withString(r) { l.rate($0) } ?? 0
            let (a, u) = amounts(quantity: quantity.int64(r), price: price.int64(r), rate: rate) ?? (0, 0)
            amount.appendInt64(a)
            usd.appendInt64(u)
            date.appendInt32(Int32(CivilTime.floorDiv(time.int64(r), CivilTime.microsPerDay)))
        }
    }
}

extension String {
    /// The string right-aligned in `n` columns (for the text reports).
    public func leftPadded(_ n: Int) -> String { String(repeating: " ", count: max(0, n - count)) + self }
    /// The string left-aligned in `n` columns.
    public func rightPadded(_ n: Int) -> String { self + String(repeating: " ", count: max(0, n - count)) }
}

/// How big silver's sort will be, learnt in pass 1: the valid rows of each 15 minutes of
/// event_time, and the bytes a row takes in the sort.
struct SortSizes {
    /// The histogram's unit: a range boundary falls on a multiple of it. Finer than a day,
    /// so that a day with more rows than the sort's memory still splits into ranges that
    /// fit (100M rows over 91 days is about 1.1M rows a day).
    static let sliceMicros: Int64 = 15 * 60 * 1_000_000
    var rowsPerSlice = DayHistogram()
    /// Bronze rows scanned and the bytes of their strings that silver keeps.
    private var rows = 0, stringBytes = 0

    mutating func scanned(_ v: [ColumnVector], rows n: Int) {
        rows += n
        stringBytes += v[0].heapUsedBytes + v[5].heapUsedBytes + v[6].heapUsedBytes + v[7].heapUsedBytes
    }

    /// A silver row in the sort, near enough: the sorter's index entry (24 bytes) and
    /// record header (8), the key (event_time 9, transaction_id 3 + its bytes), the
    /// payload (null bitmap, 8 fixed-size values, 3 strings with their lengths), then the
    /// strings' bytes.
    var bytesPerRow: Int { 24 + 8 + 9 + 3 + (2 + 7 * 8 + 4 + 3 * 4) + (rows == 0 ? 0 : stringBytes / rows) }

    /// Where the sort's ranges start (event_times, multiples of `sliceMicros`), whether
    /// each range fits, and the block size of their files (`SortRangePlan`).
    func split(plan: MemoryPlan, sortsAtOnce: Int) -> (starts: [Int64], fit: Bool, bucketBlockBytes: Int) {
        let r = SortRangePlan(rowsPerUnit: rowsPerSlice, bytesPerRow: bytesPerRow).split(plan: plan, sortsAtOnce: sortsAtOnce)
        return (r.starts.map { $0 * Self.sliceMicros }, r.fit, r.bucketBlockBytes)
    }
}

/// Silver's dedup records of a row group, laid out as the hash table's records: `u64
/// hash, u32 key bytes, u32 rest bytes, transaction_id, u32 16, updated_at, row number`
/// (the last two big-endian with the sign flipped: memcmp order), with their offsets.
final class VersionRecords {
    let bytes: ByteBuffer
    /// Record i is `starts[i]..<starts[i + 1]`.
    private(set) var starts: [Int] = [0]

    init(rows: Int) {
        bytes = ByteBuffer(capacity: rows * 64)
        starts.reserveCapacity(rows + 1)
    }

    func removeAll() {
        bytes.removeAll()
        starts.removeAll(keepingCapacity: true)
        starts.append(0)
    }

    func append(key: UnsafeRawBufferPointer, updatedAt: Int64, row: Int) {
        bytes.appendLE(GraceHashTable.hash(key: key))
        bytes.appendLE(UInt32(key.count))
        bytes.appendLE(UInt32(20))
        bytes.append(key)
        bytes.appendLE(UInt32(16))
        bytes.appendBE(UInt64(bitPattern: updatedAt) ^ (1 << 63))
        bytes.appendBE(UInt64(row))
        starts.append(bytes.count)
    }
}
