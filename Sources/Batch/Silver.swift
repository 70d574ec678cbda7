import Foundation
import Segments
import Spill

/// bronze -> silver + quarantine (PIPELINE.md section 3).
///
/// ```
///   bronze, row group by row group
///     │ rules 1-11 in order; the first that fails names the reason
///     ├──> quarantine (bronze columns + reason), in bronze order
///     ▼
///   dedup by transaction_id, keeping the greatest (updated_at, _ingest_seq, _source_file,
///   _source_line): the spilling hash dedup
///     ▼
///   external sort by (event_date, event_time, transaction_id)
///     ▼
///   silver, one event_date partition after another
/// ```
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

    /// Silver columns plus what orders versions of a transaction: the dedup's rows.
    static let versionSchema = Schema(schema.fields + [
        Field("_ingest_seq", .int64), Field("_source_file", .string), Field("_source_line", .int64),
    ])

    public struct Options: Sendable {
        public var lake: String
        public var batchRows = 65_536
        public var compression: Compression = .lz4
        public init(lake: String) { self.lake = lake }
    }

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

    /// The versions silver is built from, as recorded in its commit (and quarantine's).
    static func inputs(lake: String) throws -> [String: String] {
        try Lake.inputVersions([("bronze", Ingest.bronzePath(lake: lake))]
                               + Reference.all.map { ($0.name, Reference.tablePath(lake: lake, $0.name)) })
    }

    /// True when silver and quarantine were built from the current bronze and reference tables.
    public static func isUpToDate(lake: String) -> Bool {
        guard let inputs = try? inputs(lake: lake) else { return false } // missing inputs: not up to date, the run says why
        return Lake.isBuilt(from: inputs, table: path(lake: lake)) && Lake.isBuilt(from: inputs, table: quarantinePath(lake: lake))
    }
    public static func quarantinePath(lake: String) -> String { lake + "/quarantine" }

    // MARK: reference data

    /// What the rules look up: sorted ids and the currencies' rates.
    struct Lookups {
        var customers: [Int64]
        var products: [Int64]
        var rates: [(code: [UInt8], micros: Int64)]

        static func contains(_ sorted: [Int64], _ v: Int64) -> Bool {
            var lo = 0, hi = sorted.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if sorted[mid] < v { lo = mid + 1 } else { hi = mid }
            }
            return lo < sorted.count && sorted[lo] == v
        }

        func rate(_ code: UnsafeRawBufferPointer) -> Int64? {
            for r in rates where r.code.count == code.count && r.code.withUnsafeBytes({ memcmp($0.baseAddress!, code.baseAddress!, code.count) == 0 }) {
                return r.micros
            }
            return nil
        }
    }

    func loadLookups() throws -> (Lookups, Reservation) {
        for f in Reference.all where !Table.exists(at: Reference.tablePath(lake: options.lake, f.name)) {
            throw BatchError(.missingInput, path: Reference.tablePath(lake: options.lake, f.name),
                             "the lake has no reference table '\(f.name)'; ingest a landing zone with customers.csv, products.csv and fx_rates.csv first")
        }
        func ids(_ name: String) throws -> [Int64] {
            let scan = TableScan(try TableReader(path: Reference.tablePath(lake: options.lake, name)), columns: [0])
            var out: [Int64] = []
            out.reserveCapacity(scan.reader.snapshot.rowCount)
            while case let n = try scan.next(), n > 0 {
                for r in 0..<n { out.append(scan.vectors[0].int64(r)) }
            }
            return out
        }
        let customerCount = try Table.snapshot(at: Reference.tablePath(lake: options.lake, "customers")).rowCount
        let productCount = try Table.snapshot(at: Reference.tablePath(lake: options.lake, "products")).rowCount
        let memory = try budget.reserve((customerCount + productCount) * 8, for: "silver reference ids")
        let customers = try ids("customers")
        let products = try ids("products")
        let fx = TableScan(try TableReader(path: Reference.tablePath(lake: options.lake, "fx_rates")))
        var rates: [([UInt8], Int64)] = []
        while case let n = try fx.next(), n > 0 {
            for r in 0..<n where !fx.vectors[1].isNull(r) {
                rates.append((fx.vectors[0].withString(r) { Array($0) }, fx.vectors[1].int64(r)))
            }
        }
        return (Lookups(customers: customers, products: products, rates: rates), memory)
    }

    // MARK: the run

    public func run() throws -> Report {
        let bronzePath = Ingest.bronzePath(lake: options.lake)
        guard Table.exists(at: bronzePath) else {
            throw BatchError(.missingInput, path: bronzePath, "the lake has no bronze table; run batchrun ingest first")
        }
        let (lookups, lookupMemory) = try loadLookups()
        let inputs = try Self.inputs(lake: options.lake)
        let bronze = try TableReader(path: bronzePath, version: Int(inputs["bronze_version"] ?? ""))
        defer { lookupMemory.end() }
        var report = Report()
        report.bronzeRows = bronze.snapshot.rowCount

        let quarantineWriter = try TableWriter(path: Self.quarantinePath(lake: options.lake), schema: Self.quarantineSchema)
        defer { quarantineWriter.close() }
        let silverWriter = try TableWriter(path: Self.path(lake: options.lake), schema: Self.schema, partitionColumns: ["event_date"])
        defer { silverWriter.close() }
        let segmentOptions = SegmentWriterOptions(compression: options.compression, rowGroupRows: Lake.rowGroupRows)

        let scan = TableScan(bronze)
        // The dedup table is still full while its survivors stream into the sort: each
        // gets a share of what the budget has left after the batches.
        let batchMemory = try budget.reserve(BatchPool.batchBytes(schema: Bronze.schema, rows: scan.vectors[0].capacity, stringBytesPerRow: 16)
                                             + BatchPool.batchBytes(schema: Self.quarantineSchema, rows: min(options.batchRows, scan.vectors[0].capacity), stringBytesPerRow: 16)
                                             + BatchPool.batchBytes(schema: Self.versionSchema, rows: min(options.batchRows, scan.vectors[0].capacity), stringBytesPerRow: 16),
                                             for: "silver batches")
        defer { batchMemory.end() }
        let plan = MemoryPlan(available: budget.availableBytes, operators: 2)
        let versions = try DedupOperator(schema: Self.versionSchema, keyColumns: [0],
                                         order: [SortKey(11), SortKey(13), SortKey(14), SortKey(15)],
                                         budget: budget, spill: spill, blockBytes: plan.hashBlockBytes, memoryMaxBytes: plan.hashEngineBytes)
        let batchRows = min(options.batchRows, scan.vectors[0].capacity)
        let valid = Self.versionSchema.fields.map { ColumnVector(type: $0.type, capacity: batchRows) }
        let quarantined = Self.quarantineSchema.fields.map { ColumnVector(type: $0.type, capacity: batchRows) }
        var quarantineSegment: SegmentWriter?
        var counts = [Int](repeating: 0, count: Self.reasons.count)
        var validRows = 0
        var written: [SegmentSummary] = []
        do {
            while case let n = try scan.next(), n > 0 {
                let v = scan.vectors
                for r in 0..<n {
                    if let reason = Self.classify(v, r, lookups) {
                        counts[reason] += 1
                        for c in 0..<15 { quarantined[c].append(contentsOf: v[c], rows: r..<(r + 1)) }
                        quarantined[15].appendString(Self.reasons[reason])
                        if quarantined[0].isFull {
                            if quarantineSegment == nil { quarantineSegment = try quarantineWriter.newSegment(options: segmentOptions) }
                            try quarantineSegment?.append(quarantined)
                            for c in quarantined { c.reset() }
                        }
                        continue
                    }
                    Self.appendVersion(v, r, lookups, to: valid)
                    validRows += 1
                    if valid[0].isFull {
                        try versions.push(valid, rows: 0..<valid[0].count)
                        for c in valid { c.reset() }
                    }
                }
            }
            if valid[0].count > 0 { try versions.push(valid, rows: 0..<valid[0].count) }
            if quarantined[0].count > 0 {
                if quarantineSegment == nil { quarantineSegment = try quarantineWriter.newSegment(options: segmentOptions) }
                try quarantineSegment?.append(quarantined)
            }
            if let q = quarantineSegment {
                let s = try q.finish()
                quarantineWriter.stage(s)
                written.append(s)
                quarantineSegment = nil
            }
            try versions.finish()

            // Survivors, sorted by (event_date, event_time, transaction_id), become silver.
            let sort = try SortOperator(schema: Self.versionSchema, keys: [SortKey(12), SortKey(10), SortKey(0)], budget: budget, spill: spill,
                                        blockBytes: plan.sortBlockBytes, memoryMaxBytes: plan.sortEngineBytes)
            while true {
                let k = try versions.pull(into: valid)
                if k == 0 { break }
                try sort.push(valid, rows: 0..<k)
            }
            report.dedup = versions.stats
            try sort.finish()
            var current: (day: Int32, writer: SegmentWriter)?
            let silverColumns = Array(valid[0..<Self.schema.count])
            while true {
                let k = try sort.pull(into: valid)
                if k == 0 { break }
                var start = 0
                while start < k {
                    let day = valid[12].int32(start)
                    var end = start + 1
                    while end < k && valid[12].int32(end) == day { end += 1 }
                    if current?.day != day {
                        if let c = current {
                            let s = try c.writer.finish()
                            silverWriter.stage(s, partition: [ValueText.date(c.day)])
                            written.append(s)
                        }
                        current = (day, try silverWriter.newSegment(partition: [ValueText.date(day)], options: segmentOptions))
                        report.partitions += 1
                    }
                    try current?.writer.append(silverColumns, rows: start..<end)
                    report.silverRows += end - start
                    start = end
                }
            }
            if let c = current {
                let s = try c.writer.finish()
                silverWriter.stage(s, partition: [ValueText.date(c.day)])
                written.append(s)
            }
            report.sort = sort.stats
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
            quarantineSegment?.abandon()
            for s in written { try? SystemIO.unlink(s.path) } // never committed
            throw error
        }
        let quarantinedTotal = report.quarantinedTotal
        var info = inputs
        info["bronze_rows"] = String(report.bronzeRows)
        info["quarantined"] = String(quarantinedTotal)
        info["duplicates_removed"] = String(report.duplicatesRemoved)
        info["silver_rows"] = String(report.silverRows)
        try quarantineWriter.commit(operation: "silver", replaceAll: true, info: info)
        try silverWriter.commit(operation: "silver", replaceAll: true, info: info)
        return report
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

    static let statuses: [[UInt8]] = ["completed", "pending", "cancelled", "refunded"].map { Array($0.utf8) }
    static let channels: [[UInt8]] = ["web", "mobile", "store"].map { Array($0.utf8) }

    static func isOneOf(_ c: ColumnVector, _ r: Int, _ set: [[UInt8]]) -> Bool {
        if c.isNull(r) { return false }
        return c.withString(r) { s in
            set.contains { $0.count == s.count && $0.withUnsafeBytes { memcmp($0.baseAddress!, s.baseAddress!, s.count) == 0 } }
        }
    }

    /// The index of the first rule row `r` fails, or nil when it passes them all.
    static func classify(_ v: [ColumnVector], _ r: Int, _ l: Lookups) -> Int? {
        var allNull = true
        for c in 0..<10 where !v[c].isNull(r) { allNull = false; break }
        if allNull && !v[14].isNull(r) { return 0 }                                   // malformed_row
        if v[0].isNull(r) { return 1 }                                                // missing_id
        if v[1].isNull(r) || v[2].isNull(r) || v[3].isNull(r) || v[4].isNull(r) { return 2 } // bad_number
        if v[8].isNull(r) || v[9].isNull(r) { return 3 }                              // bad_timestamp
        let q = v[3].int64(r)
        if q < 1 || q > 1000 { return 4 }                                             // bad_quantity
        if v[4].int64(r) < 0 { return 5 }                                             // bad_price
        if !isOneOf(v[6], r, statuses) { return 6 }                                   // bad_status
        if !isOneOf(v[7], r, channels) { return 7 }                                   // bad_channel
        guard !v[5].isNull(r), let rate = v[5].withString(r, { l.rate($0) }) else { return 8 } // unknown_currency
        if !Lookups.contains(l.customers, v[1].int64(r)) { return 9 }                 // unknown_customer
        if !Lookups.contains(l.products, v[2].int64(r)) { return 10 }                 // unknown_product
        // A price whose amount (or USD amount) does not fit decimal(18,2) is a bad price.
        if amounts(quantity: q, price: v[4].int64(r), rate: rate) == nil { return 5 }
        return nil
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

    /// Appends the silver row (plus the version columns) for valid row `r`.
    static func appendVersion(_ v: [ColumnVector], _ r: Int, _ l: Lookups, to out: [ColumnVector]) {
        let q = v[3].int64(r), price = v[4].int64(r)
        let rate = v[5].withString(r) { l.rate($0) } ?? 0
        let (amount, usd) = amounts(quantity: q, price: price, rate: rate) ?? (0, 0)
        out[0].append(contentsOf: v[0], rows: r..<(r + 1))
        out[1].appendInt64(v[1].int64(r))
        out[2].appendInt64(v[2].int64(r))
        out[3].appendInt64(q)
        out[4].appendInt64(price)
        out[5].append(contentsOf: v[5], rows: r..<(r + 1))
        out[6].appendInt64(amount)
        out[7].appendInt64(usd)
        out[8].append(contentsOf: v[6], rows: r..<(r + 1))
        out[9].append(contentsOf: v[7], rows: r..<(r + 1))
        let t = v[8].int64(r)
        out[10].appendInt64(t)
        out[11].appendInt64(v[9].int64(r))
        out[12].appendInt32(Int32(CivilTime.floorDiv(t, CivilTime.microsPerDay)))
        out[13].appendInt64(v[12].int64(r))
        out[14].append(contentsOf: v[10], rows: r..<(r + 1))
        out[15].appendInt64(v[11].int64(r))
    }
}

extension String {
    /// The string right-aligned in `n` columns (for the text reports).
    public func leftPadded(_ n: Int) -> String { String(repeating: " ", count: max(0, n - count)) + self }
    /// The string left-aligned in `n` columns.
    public func rightPadded(_ n: Int) -> String { self + String(repeating: " ", count: max(0, n - count)) }
}
