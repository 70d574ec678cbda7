// Out-of-core operator benchmarks: external sort, hash dedup and hash aggregation of 10M
// rows in a 64 MiB budget (so they spill), and the same at a roomy budget (in memory).
// Input rows are made on the fly into two reused batches, so the process holds no input
// data set; each benchmark checks its own result.
//
// Full size: 10M rows (`make bench`). BENCH_SMOKE=1: 100K rows (`make test`).
import Batch
import Benchmark
import Foundation
import Segments
import Spill

let smoke = ProcessInfo.processInfo.environment["BENCH_SMOKE"] != nil
let totalRows = smoke ? 100_000 : 10_000_000
let batchRows = 65_536
let spillParent = NSTemporaryDirectory() + "batchrun-bench-operators-\(getpid())"

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// Rows of (key string of 16 bytes, k int64, payload string of 40 bytes). Row i's key is
/// a function of `keyOf(i)`, so a benchmark knows its distinct keys without keeping them.
enum Rows {
    static let schema = Schema([Field("key", .string), Field("k", .int64), Field("payload", .string)])
    static let payload = Array(repeating: UInt8(ascii: "p"), count: 40)

    static func fill(_ cols: [ColumnVector], first: Int, count: Int, keyOf: (Int) -> Int) {
        for c in cols { c.reset() }
        var key = [UInt8](repeating: UInt8(ascii: "0"), count: 16)
        key[0] = UInt8(ascii: "K")
        for i in first..<(first + count) {
            var n = keyOf(i)
            for d in stride(from: 15, through: 1, by: -1) {
                key[d] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
            }
            key.withUnsafeBytes { cols[0].appendString($0) }
            cols[1].appendInt64(Int64(i % 1000))
            payload.withUnsafeBytes { cols[2].appendString($0) }
        }
    }

    /// Pushes all rows through `push`, one batch at a time.
    static func feed(keyOf: (Int) -> Int, _ push: ([ColumnVector], Range<Int>) throws -> Void) rethrows {
        let cols = schema.fields.map { ColumnVector(type: $0.type, capacity: batchRows, heapBytes: $0.type == .string ? batchRows * 40 : 0) }
        var first = 0
        while first < totalRows {
            let n = min(batchRows, totalRows - first)
            fill(cols, first: first, count: n, keyOf: keyOf)
            try push(cols, 0..<n)
            first += n
        }
    }
}

/// A multiplicative permutation of 0..<m (m odd multiples avoided: a stays coprime).
@inline(__always)
func scramble(_ i: Int, _ m: Int) -> Int { (i &* 2_654_435_761) % m }

let rowsPerSecondK = BenchmarkMetric.custom("rows/s (K)", polarity: .prefersLarger, useScalingFactor: false)
let spills = BenchmarkMetric.custom("spills", polarity: .prefersSmaller, useScalingFactor: false)

let benchmarks: @Sendable () -> Void = {
    Allocator.configure()
    Benchmark.teardown = { try? FileManager.default.removeItem(atPath: spillParent) } // absent when nothing spilled
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident, rowsPerSecondK, spills],
        warmupIterations: smoke ? 0 : 1,
        maxDuration: .seconds(smoke ? 5 : 120),
        maxIterations: smoke ? 1 : 5
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
            let plan = MemoryPlan(available: limit, operators: 1)
            let sort = try SortOperator(schema: Rows.schema, keys: [SortKey(0), SortKey(1)], budget: budget, spill: spill, blockBytes: plan.sortBlockBytes)
            try Rows.feed(keyOf: { scramble($0, totalRows) }) { try sort.push($0, rows: $1) }
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
            let elapsed = seconds(clock.now - start)
            benchmark.stopMeasurement()
            guard rows == totalRows, ordered, limit > 64 << 20 || sort.stats.spills > 0 else {
                throw BenchFailure(description: "sorted \(rows) rows, in order: \(ordered), spills \(sort.stats.spills)")
            }
            benchmark.measurement(rowsPerSecondK, Int(Double(totalRows) / elapsed / 1e3))
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
            let plan = MemoryPlan(available: limit, operators: 1)
            let dedup = try DedupOperator(schema: Rows.schema, keyColumns: [0], order: [SortKey(1)], budget: budget, spill: spill,
                                          blockBytes: plan.hashBlockBytes)
            try Rows.feed(keyOf: { $0 < distinct ? $0 : scramble($0, distinct) }) { try dedup.push($0, rows: $1) }
            try dedup.finish()
            var rows = 0
            while true {
                let n = try dedup.pull(into: out)
                if n == 0 { break }
                rows += n
            }
            let elapsed = seconds(clock.now - start)
            benchmark.stopMeasurement()
            guard rows == distinct, limit > 64 << 20 || dedup.stats.spills > 0 else {
                throw BenchFailure(description: "dedup kept \(rows) rows, expected \(distinct); spills \(dedup.stats.spills)")
            }
            benchmark.measurement(rowsPerSecondK, Int(Double(totalRows) / elapsed / 1e3))
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
                                            budget: budget, spill: spill, blockBytes: MemoryPlan(available: limit, operators: 1).hashBlockBytes)
            let out = agg.outputSchema.fields.map { ColumnVector(type: $0.type, capacity: batchRows, heapBytes: $0.type == .string ? batchRows * 16 : 0) }
            let clock = ContinuousClock()
            benchmark.startMeasurement()
            let start = clock.now
            try Rows.feed(keyOf: { $0 % groups }) { try agg.push($0, rows: $1) }
            try agg.finish()
            var rows = 0
            var count: Int64 = 0
            while true {
                let n = try agg.pull(into: out)
                if n == 0 { break }
                for r in 0..<n { count += out[1].int64(r) }
                rows += n
            }
            let elapsed = seconds(clock.now - start)
            benchmark.stopMeasurement()
            guard rows == groups, count == Int64(totalRows), limit > 64 << 20 || agg.stats.spills > 0 else { throw BenchFailure(description: "\(rows) groups counting \(count) rows, expected \(groups) and \(totalRows)") }
            benchmark.measurement(rowsPerSecondK, Int(Double(totalRows) / elapsed / 1e3))
            benchmark.measurement(spills, agg.stats.spills)
        }
    }
}
