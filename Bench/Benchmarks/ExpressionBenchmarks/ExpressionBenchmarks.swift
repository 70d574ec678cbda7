// Expression kernels of pipeline files, evaluated over whole column vectors: a decimal
// multiply rounded to cents (silver's amount_usd), a date part (gold's date_key) and an
// `in (...)` filter (an expectation). One input batch of 65,536 rows is made before the
// measurement and evaluated again and again, so the malloc count is the kernels' own:
// zero per batch once the first batch has run. Each benchmark checks its results
// against a plain loop over the same rows.
//
// Full size: 10M rows (`make bench`). BENCH_SMOKE=1: 100K rows (`make test`).
import Batch
import BenchSupport
import Benchmark
import Foundation
import Segments

let totalRows = smoke ? 100_000 : 10_000_000
let batchRows = 65_536

let columns: [CheckedPipeline.Column] = [
    .init(name: "quantity", type: .int64, nullable: false), .init(name: "unit_price", type: .decimal(precision: 18, scale: 2), nullable: false),
    .init(name: "usd_per_unit", type: .decimal(precision: 18, scale: 6), nullable: false),
    .init(name: "event_time", type: .timestamp, nullable: false), .init(name: "status", type: .string, nullable: true),
]

/// One batch of input: row i is quantity 1 + i % 9, unit_price i % 100000 cents, a rate
/// of 0.5 to 1.5, an event time spread over 2025, and one of five statuses (null every 50th).
func makeBatch() -> [ColumnVector] {
    let statuses = ["completed", "pending", "cancelled", "refunded", "lost"]
    let vectors = columns.map { ColumnVector(type: ExpressionKernel.columnType($0.type), capacity: batchRows, heapBytes: batchRows * 10) }
    for i in 0..<batchRows {
        vectors[0].appendInt64(Int64(1 + i % 9))
        vectors[1].appendInt64(Int64(i % 100_000))
        vectors[2].appendInt64(Int64(500_000 + (i * 7919) % 1_000_000))
        vectors[3].appendInt64(1_735_689_600_000_000 + Int64(i) * 481_234_567)
        if i % 50 == 49 { vectors[4].appendNull() } else { vectors[4].appendString(statuses[i % statuses.count]) }
    }
    return vectors
}

/// Evaluates `text` over totalRows rows (the one batch, again and again); `check` tells
/// whether row r of the output is right.
func run(_ benchmark: Benchmark, _ text: String, check: ([ColumnVector], ColumnVector, Int) -> Bool) throws {
    let input = makeBatch()
    let kernel = try ExpressionKernel.compile(try TypeChecker.expression(text, columns: columns), capacity: batchRows)
    _ = try kernel.evaluate(input, rows: batchRows) // the first batch sizes every vector
    let clock = ContinuousClock()
    benchmark.startMeasurement()
    let start = clock.now
    var done = 0
    while done < totalRows {
        let n = min(batchRows, totalRows - done)
        _ = try kernel.evaluate(input, rows: n)
        done += n
    }
    let elapsed = seconds(clock.now - start)
    benchmark.stopMeasurement()
    let result = try kernel.evaluate(input, rows: batchRows)
    for r in 0..<batchRows where !check(input, result, r) {
        throw BenchFailure(description: "\(text): row \(r) is wrong")
    }
    recordRowsPerSecond(benchmark, rows: totalRows, seconds: elapsed)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident, rowsPerSecond],
        warmupIterations: smoke ? 0 : 1,
        maxDuration: .seconds(smoke ? 5 : 60),
        maxIterations: smoke ? 1 : 5,
        thresholds: BenchTolerances.thresholds()
    )
    let label = smoke ? "100K" : "10M"

    Benchmark("Decimal multiply-round (quantity x price x rate to cents), \(label) rows") { benchmark in
        try run(benchmark, "round(quantity * unit_price * usd_per_unit, 2)") { input, out, r in
            let exact = Int64(input[0].int64(r)) * input[1].int64(r) * input[2].int64(r) // < 2^63 for these inputs
            return out.int64(r) == (exact + 500_000) / 1_000_000
        }
    }

    Benchmark("Date part (yyyymmdd key of a timestamp), \(label) rows") { benchmark in
        try run(benchmark, "date_key(date(event_time))") { input, out, r in
            let c = ValueText.civil(input[3].int64(r) / 86_400_000_000)
            return Int(out.int32(r)) == Int(c.year) * 10_000 + c.month * 100 + c.day
        }
    }

    Benchmark("In-list filter (a status in 2 of 5 values), \(label) rows") { benchmark in
        try run(benchmark, "status in ('completed', 'refunded')") { input, out, r in
            if input[4].isNull(r) { return out.isNull(r) }
            let s = input[4].string(r)
            return !out.isNull(r) && out.bool(r) == (s == "completed" || s == "refunded")
        }
    }
}
