// The Parquet writer (Sources/Batch/Formats): batches of a fact-like table (an id, a key,
// a decimal, a timestamp, a status of five values, a text column of 4,000 values) written
// to a Parquet file with ZSTD, as `export --format parquet` does. rows/s and MB/s count the
// values' in-memory bytes written per second; `row groups` is the number written, so
// mallocs per row group are mallocCountTotal / row groups. The check reads the file's
// footer length and magic and the writer's row count.
//
// Full size: 10M rows in row groups of 1M (`make bench`). BENCH_SMOKE=1: 100K rows in
// row groups of 16K (`make test`).
import Batch
import BenchSupport
import Benchmark
import Foundation
import Segments

let totalRows = smoke ? 100_000 : 10_000_000
let batchRows = 65_536
let writtenMBps = BenchmarkMetric.custom("MB/s (values)", polarity: .prefersLarger, useScalingFactor: false)
let rowGroupsMetric = BenchmarkMetric.custom("row groups", polarity: .prefersSmaller, useScalingFactor: false)

let fields = [Field("id", .string, nullable: false), Field("customer_id", .int64), Field("amount", .decimal(scale: 2)),
              Field("event_time", .timestamp), Field("status", .string), Field("note", .string)]

func makeBatch() -> [ColumnVector] {
    let statuses = ["completed", "pending", "cancelled", "refunded", "lost"]
    let v = fields.map { ColumnVector(type: $0.type, capacity: batchRows, heapBytes: batchRows * 16) }
    for i in 0..<batchRows {
        v[0].appendString("T" + String(100_000_000_000 + i))
        v[1].appendInt64(Int64((i * 7919) % 200_000))
        v[2].appendInt64(Int64((i * 104_729) % 10_000_000))
        v[3].appendInt64(1_735_689_600_000_000 + Int64(i) * 481_234_567)
        if i % 50 == 49 { v[4].appendNull() } else { v[4].appendString(statuses[i % 5]) }
        v[5].appendString("note number \((i * 31) % 4000)")
    }
    return v
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident, rowsPerSecond, writtenMBps, rowGroupsMetric],
        warmupIterations: smoke ? 0 : 1,
        maxDuration: .seconds(smoke ? 5 : 60),
        maxIterations: smoke ? 1 : 5,
        thresholds: BenchTolerances.thresholds(throughput: [writtenMBps])
    )
    let label = smoke ? "100K" : "10M"

    Benchmark("Parquet write (ZSTD, dictionary strings), \(label) rows x 6 columns") { benchmark in
        let batch = makeBatch()
        let bytesPerBatch = batch.reduce(0) { $0 + $1.count * $1.type.valueWidthBytes + $1.heapUsedBytes }
        let path = NSTemporaryDirectory() + "batchrun-bench-\(getpid()).parquet"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var options = ParquetWriter.Options()
        options.rowGroupRows = smoke ? 16_384 : 1 << 20
        options.rowGroupBytes = 256 << 20
        let clock = ContinuousClock()
        benchmark.startMeasurement()
        let start = clock.now
        let writer = try ParquetWriter(path: path, fields: fields, options: options)
        var done = 0
        while done < totalRows {
            let n = min(batchRows, totalRows - done)
            try writer.append(batch, rows: 0..<n)
            done += n
        }
        let size = try writer.finish()
        let elapsed = seconds(clock.now - start)
        benchmark.stopMeasurement()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        guard writer.rows == totalRows, bytes.count == size, bytes.suffix(4) == Data("PAR1".utf8), bytes.prefix(4) == Data("PAR1".utf8) else {
            throw BenchFailure(description: "the Parquet file is not whole: \(writer.rows) rows, \(bytes.count) of \(size) bytes")
        }
        recordRowsPerSecond(benchmark, rows: totalRows, seconds: elapsed)
        benchmark.measurement(writtenMBps, Int(Double(bytesPerBatch) * Double(totalRows) / Double(batchRows) / elapsed / 1e6))
        benchmark.measurement(rowGroupsMetric, (totalRows + options.rowGroupRows - 1) / options.rowGroupRows)
    }
}
