// Out-of-core operator benchmarks: external sort, hash dedup and hash aggregation of 10M
// rows in a 64 MiB budget (so they spill), and the same at a roomy budget (in memory);
// gold's broadcast join (product -> category) and the date partitioning that writes
// silver's event_date partitions. Input rows are made on the fly into reused batches, so
// the process holds no input data set; each benchmark checks its own result. The rows/s
// and MB/s of sort, dedup and aggregation are the operator's own: the time spent making
// the input rows is measured and left out (wall clock still counts everything).
//
// Full size: 10M rows (`make bench`). BENCH_SMOKE=1: 100K rows (`make test`).
import Batch
import BenchSupport
import Benchmark
import Foundation
import Segments
import Spill

let totalRows = smoke ? 100_000 : 10_000_000
let batchRows = 65_536
let spillParent = NSTemporaryDirectory() + "batchrun-bench-operators-\(getpid())"



/// Rows of (key string of 16 bytes, k int64, payload string of 40 bytes). Row i's key is
/// "K" and 15 hex digits of `keyOf(i)`, so a benchmark knows its distinct keys without
/// keeping them (and the keys sort as their numbers).
enum Rows {
    static let schema = Schema([Field("key", .string), Field("k", .int64), Field("payload", .string)])
    static let payload = Array(repeating: UInt8(ascii: "p"), count: 40)
    static let hexDigits = Array("0123456789ABCDEF".utf8)

    static func fill(_ cols: [ColumnVector], first: Int, count: Int, keyOf: (Int) -> Int) {
        for c in cols { c.reset() }
        withUnsafeTemporaryAllocation(byteCount: 16, alignment: 8) { key in
            key[0] = UInt8(ascii: "K")
            hexDigits.withUnsafeBufferPointer { hex in
                payload.withUnsafeBytes { payload in
                    for i in first..<(first + count) {
                        var n = keyOf(i)
                        for d in stride(from: 15, through: 1, by: -1) {
                            key[d] = hex[n & 15]
                            n >>= 4
                        }
                        cols[0].appendString(UnsafeRawBufferPointer(key))
                        cols[1].appendInt64(Int64(i % 1000))
                        cols[2].appendString(payload)
                    }
                }
            }
        }
    }

    /// Pushes all rows through `push`, one batch at a time; returns the time spent making
    /// the rows, which the benchmarks leave out of the operator's rows/s.
    static func feed(keyOf: (Int) -> Int, _ push: ([ColumnVector], Range<Int>) throws -> Void) rethrows -> Duration {
        let cols = schema.fields.map { ColumnVector(type: $0.type, capacity: batchRows, heapBytes: $0.type == .string ? batchRows * 40 : 0) }
        let clock = ContinuousClock()
        var making = Duration.zero
        var first = 0
        while first < totalRows {
            let n = min(batchRows, totalRows - first)
            let start = clock.now
            fill(cols, first: first, count: n, keyOf: keyOf)
            making += clock.now - start
            try push(cols, 0..<n)
            first += n
        }
        return making
    }
}

/// A multiplicative permutation of 0..<m (m odd multiples avoided: a stays coprime).
@inline(__always)
func scramble(_ i: Int, _ m: Int) -> Int { (i &* 2_654_435_761) % m }

let megabytesPerSecond = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)
/// Bytes of one input row of the sort, dedup and aggregation benchmarks: 16 + 8 + 40.
let rowBytes = 64

/// Records a benchmark's throughput: rows/s and MB/s of input.
func recordThroughput(_ benchmark: Benchmark, rows: Int, bytes: Int, seconds: Double) {
    recordRowsPerSecond(benchmark, rows: rows, seconds: seconds)
    benchmark.measurement(megabytesPerSecond, Int(Double(bytes) / seconds / 1e6))
}
let spills = BenchmarkMetric.custom("spills", polarity: .prefersSmaller, useScalingFactor: false)

let benchmarks: @Sendable () -> Void = {
    Allocator.configure()
    Benchmark.teardown = { try? FileManager.default.removeItem(atPath: spillParent) } // absent when nothing spilled
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident, rowsPerSecond, megabytesPerSecond, spills],
        warmupIterations: smoke ? 0 : 1,
        maxDuration: .seconds(smoke ? 5 : 120),
        maxIterations: smoke ? 1 : 5,
        thresholds: BenchTolerances.thresholds(throughput: [megabytesPerSecond])
    )
    let label = smoke ? "100K" : "10M"
    // At the smoke size, 2 MiB makes every operator spill (in a release build, in CI).
    let budgets: [(String, Int)] = [(smoke ? "2MiB budget, spilling" : "64MiB budget, spilling", smoke ? 2 << 20 : 64 << 20),
                                    ("4GiB budget, in memory", 4 << 30)]

    for (budgetLabel, limit) in budgets {
        Benchmark("External sort (16-byte string key, int64 key, 40-byte payload), \(label) rows, \(budgetLabel)") { benchmark in
            let spill = try SpillManager(parent: spillParent)
            defer { spill.close() }
            let budget = MemoryBudget(limitBytes: limit)
            let out = Rows.schema.fields.map { ColumnVector(type: $0.type, capacity: batchRows, heapBytes: $0.type == .string ? batchRows * 40 : 0) }
            let clock = ContinuousClock()
            benchmark.startMeasurement()
            let start = clock.now
            let plan = Limits.Shares(available: limit, operators: 1)
            let sort = try SortOperator(schema: Rows.schema, keys: [SortKey(0), SortKey(1)], budget: budget, spill: spill, blockBytes: plan.sortBlockBytes)
            let making = try Rows.feed(keyOf: { scramble($0, totalRows) }) { try sort.push($0, rows: $1) }
            try sort.finish()
            var rows = 0
            var previous = [UInt8]()
            var ordered = true
            while true {
                let n = try sort.pull(into: out)
                if n == 0 { break }
                // Check the order at each batch boundary and inside the first batch.
                out[0].withString(0) { if Array($0).lexicographicallyPrecedes(previous) { ordered = false } }
                out[0].withString(n - 1) { previous = Array($0) }
                rows += n
            }
            let elapsed = seconds(clock.now - start - making) // the operator's time: making the input rows is left out
            benchmark.stopMeasurement()
            guard rows == totalRows, ordered, limit > 64 << 20 || sort.stats.spills > 0 else {
                throw BenchFailure(description: "sorted \(rows) rows, in order: \(ordered), spills \(sort.stats.spills)")
            }
            recordThroughput(benchmark, rows: totalRows, bytes: totalRows * rowBytes, seconds: elapsed)
            benchmark.measurement(spills, sort.stats.spills)
        }

        // 7% of the rows repeat an earlier key.
        Benchmark("Hash dedup (16-byte string key, 7% duplicates), \(label) rows, \(budgetLabel)") { benchmark in
            let spill = try SpillManager(parent: spillParent)
            defer { spill.close() }
            let budget = MemoryBudget(limitBytes: limit)
            let distinct = totalRows - totalRows * 7 / 100
            let out = Rows.schema.fields.map { ColumnVector(type: $0.type, capacity: batchRows, heapBytes: $0.type == .string ? batchRows * 40 : 0) }
            let clock = ContinuousClock()
            benchmark.startMeasurement()
            let start = clock.now
            let plan = Limits.Shares(available: limit, operators: 1)
            let dedup = try DedupOperator(schema: Rows.schema, keyColumns: [0], order: [SortKey(1)], budget: budget, spill: spill,
                                          blockBytes: plan.hashBlockBytes)
            let making = try Rows.feed(keyOf: { $0 < distinct ? $0 : scramble($0, distinct) }) { try dedup.push($0, rows: $1) }
            try dedup.finish()
            var rows = 0
            while true {
                let n = try dedup.pull(into: out)
                if n == 0 { break }
                rows += n
            }
            let elapsed = seconds(clock.now - start - making) // the operator's time: making the input rows is left out
            benchmark.stopMeasurement()
            guard rows == distinct, limit > 64 << 20 || dedup.stats.spills > 0 else {
                throw BenchFailure(description: "dedup kept \(rows) rows, expected \(distinct); spills \(dedup.stats.spills)")
            }
            recordThroughput(benchmark, rows: totalRows, bytes: totalRows * rowBytes, seconds: elapsed)
            benchmark.measurement(spills, dedup.stats.spills)
        }

        // 2M groups at full size (a fifth of the rows).
        Benchmark("Hash aggregation (count, sum, min, max into \(smoke ? "20K" : "2M") groups), \(label) rows, \(budgetLabel)") { benchmark in
            let spill = try SpillManager(parent: spillParent)
            defer { spill.close() }
            let budget = MemoryBudget(limitBytes: limit)
            let groups = totalRows / 5
            let agg = try AggregateOperator(schema: Rows.schema, groupColumns: [0],
                                            aggregates: [Aggregate(.count, nil, as: "n"), Aggregate(.sum, 1, as: "sum"),
                                                         Aggregate(.min, 1, as: "min"), Aggregate(.max, 1, as: "max")],
                                            budget: budget, spill: spill, blockBytes: Limits.Shares(available: limit, operators: 1).hashBlockBytes)
            let out = agg.outputSchema.fields.map { ColumnVector(type: $0.type, capacity: batchRows, heapBytes: $0.type == .string ? batchRows * 16 : 0) }
            let clock = ContinuousClock()
            benchmark.startMeasurement()
            let start = clock.now
            let making = try Rows.feed(keyOf: { $0 % groups }) { try agg.push($0, rows: $1) }
            try agg.finish()
            var rows = 0
            var count: Int64 = 0
            while true {
                let n = try agg.pull(into: out)
                if n == 0 { break }
                for r in 0..<n { count += out[1].int64(r) }
                rows += n
            }
            let elapsed = seconds(clock.now - start - making) // the operator's time: making the input rows is left out
            benchmark.stopMeasurement()
            guard rows == groups, count == Int64(totalRows), limit > 64 << 20 || agg.stats.spills > 0 else { throw BenchFailure(description: "\(rows) groups counting \(count) rows, expected \(groups) and \(totalRows)") }
            recordThroughput(benchmark, rows: totalRows, bytes: totalRows * rowBytes, seconds: elapsed)
            benchmark.measurement(spills, agg.stats.spills)
        }
    }

    // Gold's broadcast join: a products table of 100K rows (20 categories, every 97th
    // product without one) is loaded as a lookup table (LookupTable: its rows in memory,
    // its keys in a KeySet), then each batch of probe rows finds its rows and gathers
    // their categories, as a gold table's lookup does.
    let products = smoke ? 1_000 : 100_000
    Benchmark("Broadcast join (product id -> category), \(label) probe rows, \(smoke ? "1K" : "100K") products") { benchmark in
        let lake = spillParent + "/join-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: lake) } // best effort: the whole folder goes at teardown
        let table = try Join.writeProducts(lake + "/products", count: products)
        let probe = ColumnVector(type: .int64, capacity: batchRows)
        let out = ColumnVector(type: .string, capacity: batchRows, heapBytes: batchRows * 8)
        let found = UnsafeMutablePointer<Int32>.allocate(capacity: batchRows)
        defer { found.deallocate() }
        let budget = MemoryBudget(limitBytes: 64 << 20)
        let clock = ContinuousClock()
        benchmark.startMeasurement()
        let start = clock.now
        var lookup: LookupTable? = try LookupTable(name: "products", reader: table, keyColumn: 0, budget: budget)
        var nulls = 0, bytes = 0
        var first = 0
        while first < totalRows, let lookup {
            let n = min(batchRows, totalRows - first)
            probe.reset()
            for i in first..<(first + n) { probe.appendInt64(Int64(scramble(i, products))) }
            lookup.rows(of: probe, rows: n, into: found)
            out.reset()
            out.append(contentsOf: lookup.columns[2], gatheringOrNull: UnsafeBufferPointer(start: found, count: n))
            nulls += out.nullCount
            bytes += out.heapUsedBytes
            first += n
        }
        let elapsed = seconds(clock.now - start)
        benchmark.stopMeasurement()
        lookup = nil
        // Category names are 3 bytes (c00 ... c19); none for every 97th product.
        let expectedNulls = (0..<totalRows).reduce(0) { $0 + (scramble($1, products) % 97 == 0 ? 1 : 0) }
        guard nulls == expectedNulls, bytes == 3 * (totalRows - expectedNulls), budget.usedBytes == 0 else {
            throw BenchFailure(description: "join: \(nulls) rows without a category (expected \(expectedNulls)), \(bytes) bytes; budget left \(budget.usedBytes)")
        }
        recordThroughput(benchmark, rows: totalRows, bytes: totalRows * 8, seconds: elapsed)
    }

    // Date partitioning: silver-shaped rows in event_date order (90 days) written as one
    // LZ4 segment per event_date partition.
    Benchmark("Date partitioning (90 event date partitions, LZ4), \(label) rows") { benchmark in
        let lake = spillParent + "/partition-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: lake) } // best effort: the whole folder goes at teardown
        let schema = Schema([Field("transaction_id", .string), Field("customer_id", .int64), Field("amount", .decimal(scale: 2)),
                             Field("event_time", .timestamp), Field("event_date", .date)])
        let cols = schema.fields.map { ColumnVector(type: $0.type, capacity: batchRows, heapBytes: $0.type == .string ? batchRows * 16 : 0) }
        let days = 90, firstDay: Int32 = 20_089 // 2025-01-01
        let table = try TableWriter(path: lake + "/silver", schema: schema, partitionColumns: ["event_date"])
        defer { table.close() }
        let clock = ContinuousClock()
        benchmark.startMeasurement()
        let start = clock.now
        let writer = DatePartitionWriter(table: table, granularity: .day, options: SegmentWriterOptions(compression: .lz4))
        var first = 0
        var id = [UInt8](repeating: UInt8(ascii: "0"), count: 16)
        while first < totalRows {
            let n = min(batchRows, totalRows - first)
            for c in cols { c.reset() }
            for i in first..<(first + n) {
                var v = i
                for d in stride(from: 15, through: 4, by: -1) {
                    id[d] = UInt8(ascii: "0") + UInt8(v % 10)
                    v /= 10
                }
                id.withUnsafeBytes { cols[0].appendString($0) }
                cols[1].appendInt64(Int64(i % 200_000))
                cols[2].appendInt64(Int64(i % 100_000))
                let day = firstDay + Int32(i * days / totalRows)
                cols[3].appendInt64(Int64(day) * 86_400_000_000 + Int64(i % 86_400) * 1_000_000)
                cols[4].appendInt32(day)
            }
            try writer.append(cols, rows: 0..<n, days: cols[4])
            first += n
        }
        try writer.finish()
        try table.commit(operation: "bench")
        let elapsed = seconds(clock.now - start)
        benchmark.stopMeasurement()
        let snapshot = try TableReader(path: lake + "/silver").snapshot
        guard writer.partitions == days, snapshot.rowCount == totalRows, snapshot.partitions.count == days else {
            throw BenchFailure(description: "\(writer.partitions) partitions, \(snapshot.rowCount) rows; expected \(days) and \(totalRows)")
        }
        recordThroughput(benchmark, rows: totalRows, bytes: totalRows * (16 + 8 + 8 + 8 + 4), seconds: elapsed)
    }
}

enum Join {
    /// A products reference table of `count` rows: product p has category `c%02d` with
    /// c = p % 20, none when p % 97 == 0.
    static func writeProducts(_ path: String, count: Int) throws -> TableReader {
        let schema = Schema([Field("product_id", .int64, nullable: false), Field("name", .string), Field("category", .string),
                             Field("list_price", .decimal(scale: 2))])
        let table = try TableWriter(path: path, schema: schema)
        defer { table.close() }
        let segment = try table.newSegment()
        let cols = schema.fields.map { ColumnVector(type: $0.type, capacity: count, heapBytes: $0.type == .string ? count * 12 : 0) }
        for p in 0..<count {
            cols[0].appendInt64(Int64(p))
            Array("product \(p)".utf8).withUnsafeBytes { cols[1].appendString($0) }
            if p % 97 == 0 {
                cols[2].appendNull()
            } else {
                Array(String(format: "c%02d", p % 20).utf8).withUnsafeBytes { cols[2].appendString($0) }
            }
            cols[3].appendInt64(Int64(100 + p % 1000))
        }
        try segment.append(cols, rows: 0..<count)
        table.stage(try segment.finish())
        try table.commit(operation: "bench")
        return try TableReader(path: path)
    }
}
