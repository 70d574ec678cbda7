import Segments
import Spill
#if canImport(Glibc)
import Glibc
#endif

/// silver -> gold (docs/TRANSACTIONS.md section 4): a star schema and two aggregates.
///
/// ```
///   reference customers, products ──copy──> dim_customer, dim_product
///   products (id -> category): the broadcast side, a hash table in the budget
///
///   silver, in table order = (event_date, event_time, transaction_id), one year/month at a time:
///     ├──> fact_transactions, partition year=YYYY/month=MM (the rows as they come: already ordered)
///     ├──> completed/refunded rows x category ──> spilling aggregation by (date_key, category, channel)
///     │       ──> sort ──> daily_sales, month after month
///     └──> completed rows ──> spilling aggregation by (customer_id, year, month), for the whole run
///             ──> external sort ──> customer_monthly
///   least..greatest event_date ──> dim_date
/// ```
/// Every table is rebuilt from the whole of silver and replaced by one commit, each
/// recording the silver and reference versions it was built from. Before anything is
/// committed the layers are reconciled: fact rows = silver rows, and the completed
/// orders of daily_sales and of customer_monthly both equal silver's completed rows.
public struct Gold {
    public static let tables = Lake.goldTables

    public static let dimDateSchema = Schema([
        Field("date_key", .int32, nullable: false), Field("date", .date, nullable: false), Field("year", .int32, nullable: false),
        Field("quarter", .int32, nullable: false), Field("month", .int32, nullable: false), Field("day", .int32, nullable: false),
        Field("day_of_week", .int32, nullable: false), Field("iso_week", .int32, nullable: false), Field("is_weekend", .bool, nullable: false),
    ])
    public static let factSchema = Schema([
        Field("transaction_id", .string, nullable: false), Field("date_key", .int32, nullable: false),
        Field("customer_id", .int64, nullable: false), Field("product_id", .int64, nullable: false),
        Field("quantity", .int64, nullable: false), Field("unit_price", .decimal(scale: 2), nullable: false),
        Field("amount", .decimal(scale: 2), nullable: false), Field("currency", .string, nullable: false),
        Field("amount_usd", .decimal(scale: 2), nullable: false), Field("status", .string, nullable: false),
        Field("channel", .string, nullable: false), Field("event_time", .timestamp, nullable: false),
    ])
    public static let dailySalesSchema = Schema([
        Field("date_key", .int32, nullable: false), Field("category", .string), Field("channel", .string, nullable: false),
        Field("orders", .int64, nullable: false), Field("units", .int64, nullable: false),
        Field("revenue_usd", .decimal(scale: 2), nullable: false), Field("refunds", .int64, nullable: false),
        Field("refunded_usd", .decimal(scale: 2), nullable: false),
    ])
    public static let customerMonthlySchema = Schema([
        Field("customer_id", .int64, nullable: false), Field("year", .int32, nullable: false), Field("month", .int32, nullable: false),
        Field("orders", .int64, nullable: false), Field("revenue_usd", .decimal(scale: 2), nullable: false),
        Field("first_purchase_at", .timestamp, nullable: false), Field("last_purchase_at", .timestamp, nullable: false),
    ])

    /// What the daily aggregation groups and sums, per silver row: the category as its
    /// rank in byte order (0 = null) and the channel as its rank, so the groups sort as
    /// the strings would.
    static let dailyInputSchema = Schema([
        Field("date_key", .int32), Field("category_rank", .int32), Field("channel_rank", .int32),
        Field("orders", .int64), Field("units", .int64), Field("revenue_usd", .decimal(scale: 2)),
        Field("refunds", .int64), Field("refunded_usd", .decimal(scale: 2)),
    ])
    static let customerInputSchema = Schema([
        Field("customer_id", .int64), Field("year", .int32), Field("month", .int32),
        Field("amount_usd", .decimal(scale: 2)), Field("event_time", .timestamp),
    ])
    /// The channels of rule 8 in byte order: a channel's rank.
    static let channels = ["mobile", "store", "web"]

    /// With 2 threads, decoding silver and writing the fact table run beside the aggregations.
    public typealias Options = StageOptions

    public struct Report: Sendable {
        public var silverRows = 0
        /// Rows per gold table, by name.
        public var rows: [String: Int] = [:]
        public var months = 0
        public var bytesWritten = 0
        public var completed = 0
        public var refunded = 0
        public var customerAggregate = OperatorStats()
        public var customerSort = OperatorStats()
        /// Overflows of the monthly daily-sales aggregations, added up.
        public var dailySpills = 0
        /// Where damaged gold tables were moved before they were rebuilt.
        public var setAside: [String] = []
    }

    public let options: Options
    public let budget: MemoryBudget
    public let spill: SpillManager

    public init(options: Options, budget: MemoryBudget, spill: SpillManager) {
        self.options = options
        self.budget = budget
        self.spill = spill
    }

    public static func path(lake: String, _ table: String) -> String { lake + "/gold/" + table }

    /// The tables gold is built from, by the names its commits record them under.
    static func inputTables(lake: String) -> [(name: String, path: String)] {
        [("silver", Silver.path(lake: lake)), ("customers", Reference.tablePath(lake: lake, "customers")),
         ("products", Reference.tablePath(lake: lake, "products"))]
    }

    /// Why the gold tables must be built again, or nil when every one was built from the
    /// current silver and reference tables (by identity) and its files are whole.
    public static func staleness(lake: String) -> String? {
        let lineage: [String: String]
        do { lineage = try Lake.currentLineage(inputTables(lake: lake)) } catch {
            return "its inputs cannot be read (\(error))" // the run says what is missing when gold opens them
        }
        for name in tables {
            if let why = Lake.staleness(of: path(lake: lake, name), builtFrom: lineage) { return name + " " + why }
        }
        return nil
    }

    public static func isUpToDate(lake: String) -> Bool { staleness(lake: lake) == nil }

    // MARK: the run

    public func run() throws -> Report {
        let lake = options.lake
        try Lake.requireFolder(lake)
        let silverPath = Silver.path(lake: lake)
        guard Table.exists(at: silverPath) else {
            throw BatchError(.missingInput, path: silverPath, "the lake has no silver table; run batchrun silver first")
        }
        for name in ["customers", "products"] where !Table.exists(at: Reference.tablePath(lake: lake, name)) {
            throw BatchError(.missingInput, path: Reference.tablePath(lake: lake, name),
                             "the lake has no reference table '\(name)'; ingest a landing zone with its reference files first")
        }
        Lake.removeNeverCommitted(lake: lake)
        let inputs = try Lake.pin(Self.inputTables(lake: lake))
        let silver = inputs.reader("silver"), customers = inputs.reader("customers"), products = inputs.reader("products")
        // Gold joins silver with the reference tables silver was checked against: if they
        // were replaced since (another landing zone ingested), silver is out of date.
        let silverInfo = silver.snapshot.commitInfos.last ?? [:]
        for name in ["customers", "products"] {
            let key = name + "_table", version = name + "_version"
            if silverInfo[key] != inputs.lineage[key] || silverInfo[version] != inputs.lineage[version] {
                throw BatchError(.staleInput, path: Reference.tablePath(lake: lake, name),
                                 "silver was built from \(name) version \(silverInfo[version] ?? "?"), but \(name) is now at version \(inputs.lineage[version] ?? "?")\(silverInfo[key] == inputs.lineage[key] ? "" : " of a table made anew"); run batchrun silver first (batchrun run does both)")
            }
        }
        let categories = try ProductCategories(products, budget: budget)
        defer { categories.release() }

        var report = Report()
        report.silverRows = silver.snapshot.rowCount
        let segmentOptions = SegmentWriterOptions(compression: options.compression, rowGroupRows: Lake.rowGroupRows)
        var writers: [String: TableWriter] = [:]
        defer { for w in writers.values { w.close() } }
        for (name, schema, partitions) in [("dim_date", Self.dimDateSchema, [String]()), ("dim_customer", Reference.customers.schema, []),
                                           ("dim_product", Reference.products.schema, []),
                                           ("fact_transactions", Self.factSchema, ["year", "month"]),
                                           ("daily_sales", Self.dailySalesSchema, []), ("customer_monthly", Self.customerMonthlySchema, [])] {
            writers[name] = try Lake.derivedWriter(lake: lake, path: Self.path(lake: lake, name), schema: schema,
                                                   partitionColumns: partitions, setAside: &report.setAside)
        }
        func writer(_ name: String) -> TableWriter {
            guard let w = writers[name] else { preconditionFailure("no writer for gold table \(name)") }
            return w
        }

        var open: [SegmentWriter] = []
        var written: [SegmentSummary] = []
        var tableRows: [String: Int] = [:] // not in `report`: buildFromSilver holds that inout
        func finish(_ segment: SegmentWriter, into table: String, partition: [String] = []) throws {
            let s = try segment.finish()
            open.removeAll { $0 === segment }
            writer(table).stage(s, partition: partition)
            written.append(s)
            tableRows[table, default: 0] += s.rowCount
        }
        func newSegment(_ table: String, partition: [String] = []) throws -> SegmentWriter {
            let s = try writer(table).newSegment(partition: partition, options: segmentOptions)
            open.append(s)
            return s
        }

        let fact = DatePartitionWriter(table: writer("fact_transactions"), granularity: .month, options: segmentOptions)
        do {
            // The dimensions of the reference data: copies, already one row per key in key order.
            for (name, source) in [("dim_customer", customers), ("dim_product", products)] {
                let segment = try newSegment(name)
                let scan = TableScan(source)
                while case let n = try scan.next(), n > 0 { try segment.append(scan.vectors, rows: 0..<n) }
                try finish(segment, into: name)
            }
            let range = try buildFromSilver(silver, categories: categories, fact: fact, newSegment: newSegment, finish: finish, report: &report)
            written += fact.written
            tableRows["fact_transactions"] = fact.written.reduce(0) { $0 + $1.rowCount } // as written, for the reconciliation
            let dimDate = try newSegment("dim_date")
            if let range { try Self.writeDates(range, to: dimDate, batchRows: min(options.batchRows, Lake.rowGroupRows)) }
            try finish(dimDate, into: "dim_date")
            report.rows = tableRows
            report.bytesWritten = written.reduce(0) { $0 + $1.fileBytes }
            try reconcile(report)
        } catch {
            fact.abandon()
            for s in open { s.abandon() }
            for s in written { try? SystemIO.unlink(s.path) } // never committed
            throw error
        }
        var info = inputs.lineage
        info["silver_rows"] = String(report.silverRows)
        for name in Self.tables {
            info["rows"] = String(report.rows[name] ?? 0)
            try writer(name).commit(operation: "gold", replaceAll: true, info: info)
        }
        return report
    }

    /// The layers agree, or nothing is committed.
    func reconcile(_ r: Report) throws {
        let fact = r.rows["fact_transactions"] ?? 0
        guard fact == r.silverRows else {
            throw BatchError(.reconciliation, path: options.lake, "gold does not reconcile: fact_transactions has \(fact) rows, silver \(r.silverRows)")
        }
    }

    /// Streams silver once: fact_transactions and daily_sales month by month, the
    /// customer_monthly aggregation for the whole run. Returns the least and greatest
    /// event_date (nil when silver is empty).
    ///
    /// Two stages: stage 1 (a thread of its own) decodes silver, writes fact_transactions
    /// and derives each month-run's aggregation rows; stage 2 aggregates them and writes
    /// daily_sales as each month ends. Only stage 1 opens and finishes segments while both run.
    func buildFromSilver(_ silver: TableReader, categories: ProductCategories, fact: DatePartitionWriter,
                         newSegment: @escaping (String, [String]) throws -> SegmentWriter,
                         finish: @escaping (SegmentWriter, String, [String]) throws -> Void,
                         report: inout Report) throws -> ClosedRange<Int64>? {
        // silver columns read: 0-10 as in silver, event_date (silver's 12) at 11.
        let scan = TableScan(silver, columns: Array(0...10) + [12])
        let rows = scan.vectors[0].capacity
        let batchMemory = try budget.reserve(2 * BatchPool.batchBytes(schema: Self.dailyInputSchema, rows: rows)
                                             + 2 * BatchPool.batchBytes(schema: Self.customerInputSchema, rows: rows)
                                             + 3 * BatchPool.batchBytes(schema: Self.dailySalesSchema, rows: rows) + rows * 4
                                             + 2 * BatchPool.batchBytes(schema: Self.customerMonthlySchema, rows: rows),
                                             for: "gold batches")
        defer { batchMemory.end() }
        // Three spilling operators at once at most: the customer aggregation, and a
        // month's daily aggregation feeding its sort.
        let plan = MemoryPlan(available: budget.availableBytes, operators: 3)
        let customerAggregate = try AggregateOperator(
            schema: Self.customerInputSchema, groupColumns: [0, 1, 2],
            aggregates: [Aggregate(.count, nil, as: "orders"), Aggregate(.sum, 3, as: "revenue_usd"),
                         Aggregate(.min, 4, as: "first_purchase_at"), Aggregate(.max, 4, as: "last_purchase_at")],
            budget: budget, spill: spill, blockBytes: plan.hashBlockBytes, memoryMaxBytes: plan.hashEngineBytes)
        let dailySales = try newSegment("daily_sales", [])

        // Stage 1's state.
        let v = scan.vectors
        let dateKeys = ColumnVector(type: .int32, capacity: rows)
        let factColumns = [v[0], dateKeys, v[1], v[2], v[3], v[4], v[6], v[5], v[7], v[8], v[9], v[10]]
        var n = 0, start = 0
        var month: CalendarMonth?
        var months = 0
        var first: Int64?
        var last: Int64 = 0
        let previousId = ByteBuffer(capacity: 64)
        var previousTime = Int64.min
        // Stage 2's state.
        var dailyMonth: CalendarMonth?
        var dailyAggregate: AggregateOperator?
        func closeDaily() throws {
            if let agg = dailyAggregate {
                try agg.finish()
                try writeDailySales(agg, categories: categories, plan: plan, to: dailySales, rows: rows)
                report.dailySpills += agg.stats.spills
            }
            dailyAggregate = nil
        }

        try Parallel.pipeline(threads: options.threads, buffers: (MonthRun(rows: rows), MonthRun(rows: rows)), produce: { out in
            out.reset()
            if start == n {
                n = try scan.next()
                start = 0
                if n == 0 {
                    try fact.finish()
                    return false
                }
                try checkOrder(v, rows: n, previousTime: &previousTime, previousId: previousId)
                if first == nil { first = Int64(v[11].int32(0)) }
                last = Int64(v[11].int32(n - 1))
                // The row group's date keys, for the fact rows and the daily groups.
                dateKeys.reset()
                var keyMonth = CalendarMonth(containing: Int64(v[11].int32(0)))
                for r in 0..<n {
                    let d = Int64(v[11].int32(r))
                    if !keyMonth.days.contains(d) { keyMonth = CalendarMonth(containing: d) }
                    dateKeys.appendInt32(keyMonth.dateKey(d))
                }
            }
            let day = Int64(v[11].int32(start))
            if month.map({ !$0.days.contains(day) }) ?? true {
                month = CalendarMonth(containing: day)
                months += 1
            }
            guard let m = month else { preconditionFailure("gold: no open month") }
            var end = start + 1
            while end < n && m.days.contains(Int64(v[11].int32(end))) { end += 1 }
            let daily = out.daily, perCustomer = out.perCustomer
            for r in start..<end {
                if r + 16 < end { categories.prefetch(v[2].int64(r + 16)) } // the product probes overlap
                let dateKey = dateKeys.int32(r)
                let status = Self.statusKind(v[8], r)
                if status == 0 { continue }
                let usd = v[7].int64(r)
                daily[0].appendInt32(dateKey)
                daily[1].appendInt32(categories.rank(of: v[2].int64(r)))
                daily[2].appendInt32(Self.channelRank(v[9], r))
                let completed = status == 1
                daily[3].appendInt64(completed ? 1 : 0)
                daily[4].appendInt64(completed ? v[3].int64(r) : 0)
                daily[5].appendInt64(completed ? usd : 0)
                daily[6].appendInt64(completed ? 0 : 1)
                daily[7].appendInt64(completed ? 0 : usd)
                if completed {
                    perCustomer[0].appendInt64(v[1].int64(r))
                    perCustomer[1].appendInt32(Int32(m.year))
                    perCustomer[2].appendInt32(Int32(m.month))
                    perCustomer[3].appendInt64(usd)
                    perCustomer[4].appendInt64(v[10].int64(r))
                }
            }
            try fact.append(factColumns, rows: start..<end, days: v[11])
            out.month = m
            start = end
            return true
        }, consume: { run in
            guard let m = run.month else { return }
            if dailyMonth?.days != m.days {
                try closeDaily()
                dailyMonth = m
                dailyAggregate = try AggregateOperator(
                    schema: Self.dailyInputSchema, groupColumns: [0, 1, 2],
                    aggregates: (3..<8).map { Aggregate(.sum, $0, as: Self.dailyInputSchema.fields[$0].name) },
                    budget: budget, spill: spill, blockBytes: plan.hashBlockBytes, memoryMaxBytes: plan.hashEngineBytes)
            }
            let completed = run.perCustomer[0].count
            report.completed += completed
            report.refunded += run.daily[0].count - completed
            if run.daily[0].count > 0 { try dailyAggregate?.push(run.daily, rows: 0..<run.daily[0].count) }
            if completed > 0 { try customerAggregate.push(run.perCustomer, rows: 0..<completed) }
        })
        try closeDaily()
        report.months = months
        try finish(dailySales, "daily_sales", [])
        let monthly = try newSegment("customer_monthly", [])

        // customer_monthly: the aggregation's groups, sorted by (customer_id, year, month).
        try customerAggregate.finish()
        let groups = customerAggregate.outputSchema.fields.map { ColumnVector(type: $0.type, capacity: rows) }
        let sort = try SortOperator(schema: customerAggregate.outputSchema, keys: [SortKey(0), SortKey(1), SortKey(2)],
                                    budget: budget, spill: spill, blockBytes: plan.sortBlockBytes, memoryMaxBytes: plan.sortEngineBytes)
        while case let k = try customerAggregate.pull(into: groups), k > 0 { try sort.push(groups, rows: 0..<k) }
        try sort.finish()
        while case let k = try sort.pull(into: groups), k > 0 {
            for r in 0..<k where groups[4].int64(r) == Int64.max {
                throw Self.sumOverflow("customer_monthly.revenue_usd", customer: groups[0].int64(r))
            }
            try monthly.append(groups, rows: 0..<k)
        }
        try finish(monthly, "customer_monthly", [])
        report.customerAggregate = customerAggregate.stats
        report.customerSort = sort.stats
        // Both aggregates count every completed row exactly once.
        guard customerAggregate.stats.rowsIn == report.completed else {
            throw BatchError(.reconciliation, path: options.lake, "gold does not reconcile: customer_monthly saw \(customerAggregate.stats.rowsIn) completed rows, silver has \(report.completed)")
        }
        return first.map { $0...last }
    }

    /// A month's daily-sales groups, sorted by (date_key, category, channel), appended
    /// with their category and channel names.
    func writeDailySales(_ agg: AggregateOperator, categories: ProductCategories, plan: MemoryPlan, to segment: SegmentWriter, rows: Int) throws {
        let groups = agg.outputSchema.fields.map { ColumnVector(type: $0.type, capacity: rows) }
        let out = Self.dailySalesSchema.fields.map { ColumnVector(type: $0.type, capacity: rows) }
        let sort = try SortOperator(schema: agg.outputSchema, keys: [SortKey(0), SortKey(1), SortKey(2)], budget: budget, spill: spill,
                                    blockBytes: plan.sortBlockBytes, memoryMaxBytes: plan.sortEngineBytes)
        while case let k = try agg.pull(into: groups), k > 0 { try sort.push(groups, rows: 0..<k) }
        try sort.finish()
        while case let k = try sort.pull(into: groups), k > 0 {
            for c in out { c.reset() }
            for r in 0..<k {
                out[0].appendInt32(groups[0].int32(r))
                categories.appendCategory(rank: groups[1].int32(r), to: out[1])
                out[2].appendString(Self.channels[Int(groups[2].int32(r))])
                for c in 3..<8 {
                    let x = groups[c].int64(r)
                    if x == Int64.max { throw Self.sumOverflow("daily_sales." + Self.dailySalesSchema.fields[c].name, customer: nil) }
                    out[c].appendInt64(x)
                }
            }
            try segment.append(out, rows: 0..<k)
        }
    }

    static func sumOverflow(_ column: String, customer: Int64?) -> BatchError {
        BatchError(.reconciliation, path: column, "a sum exceeds decimal(18,2)\(customer.map { " (customer_id \($0))" } ?? ""); gold cannot hold it exactly")
    }

    /// 1 = completed, 2 = refunded, 0 = any other status (silver holds only the four of rule 7).
    @inline(__always)
    static func statusKind(_ c: ColumnVector, _ r: Int) -> Int {
        c.withString(r) { s in
            if s.count == 9 && s[0] == UInt8(ascii: "c") && s[1] == UInt8(ascii: "o") { return 1 } // completed, not cancelled
            if s.count == 8 && s[0] == UInt8(ascii: "r") { return 2 }
            return 0
        }
    }

    @inline(__always)
    static func channelRank(_ c: ColumnVector, _ r: Int) -> Int32 {
        c.withString(r) { s in
            switch s.first {
            case UInt8(ascii: "m"): return 0
            case UInt8(ascii: "s"): return 1
            default: return 2
            }
        }
    }

    /// Silver must come in (event_time, transaction_id) order: gold writes it as it comes.
    func checkOrder(_ v: [ColumnVector], rows n: Int, previousTime: inout Int64, previousId: ByteBuffer) throws {
        func outOfOrder() -> BatchError {
            BatchError(.reconciliation, path: Silver.path(lake: options.lake),
                       "silver rows are not in (event_time, transaction_id) order; the table was not written by batchrun silver, run batchrun silver again")
        }
        func idPrecedes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool { Bytes.compare(a, b) < 0 }
        let t0 = v[10].int64(0)
        if t0 < previousTime { throw outOfOrder() }
        if t0 == previousTime {
            let ok = previousId.withUnsafeBytes { p in v[0].withString(0) { idPrecedes(p, $0) } }
            if !ok { throw outOfOrder() }
        }
        for r in 1..<max(1, n) {
            let t = v[10].int64(r), before = v[10].int64(r - 1)
            if t < before { throw outOfOrder() }
            if t == before, !v[0].withString(r - 1, { a in v[0].withString(r) { idPrecedes(a, $0) } }) { throw outOfOrder() }
        }
        previousTime = v[10].int64(n - 1)
        previousId.removeAll()
        v[0].withString(n - 1) { previousId.append($0) }
    }

    /// Every date of `days` (day numbers), one dim_date row each.
    static func writeDates(_ days: ClosedRange<Int64>, to segment: SegmentWriter, batchRows: Int) throws {
        let out = dimDateSchema.fields.map { ColumnVector(type: $0.type, capacity: batchRows) }
        var d = days.lowerBound
        while d <= days.upperBound {
            for c in out { c.reset() }
            while d <= days.upperBound && !out[0].isFull {
                let c = ValueText.civil(d)
                let dow = Int32(CivilTime.isoDayOfWeek(d))
                out[0].appendInt32(Int32(c.year) * 10_000 + Int32(c.month) * 100 + Int32(c.day))
                out[1].appendInt32(Int32(d))
                out[2].appendInt32(Int32(c.year))
                out[3].appendInt32(Int32((c.month - 1) / 3 + 1))
                out[4].appendInt32(Int32(c.month))
                out[5].appendInt32(Int32(c.day))
                out[6].appendInt32(dow)
                out[7].appendInt32(Int32(CivilTime.isoWeek(d)))
                out[8].appendBool(dow >= 6)
                d += 1
            }
            try segment.append(out, rows: 0..<out[0].count)
        }
    }
}

/// What gold's first stage hands its second for one month's run of rows: the rows of the
/// daily and customer aggregations.
final class MonthRun {
    let daily: [ColumnVector]
    let perCustomer: [ColumnVector]
    var month: CalendarMonth?

    init(rows: Int) {
        daily = Gold.dailyInputSchema.fields.map { ColumnVector(type: $0.type, capacity: rows) }
        perCustomer = Gold.customerInputSchema.fields.map { ColumnVector(type: $0.type, capacity: rows) }
    }

    func reset() {
        for c in daily { c.reset() }
        for c in perCustomer { c.reset() }
        month = nil
    }
}
