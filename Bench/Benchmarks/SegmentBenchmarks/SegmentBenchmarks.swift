// Segment format benchmarks: each codec's encode and decode (zstd:3, LZ4) of plain column
// chunks, segment write (zstd:3, LZ4) and scan of one int64 column, on a synthetic
// 10-column, bronze-shaped table (ids, integers, decimals, timestamps, low-cardinality
// strings). Each benchmark checks its own result.
//
// Full size: 10M rows (`make bench`). BENCH_SMOKE=1: 100K rows, one iteration (`make test`).
import Batch
import BenchSupport
import Benchmark
import Foundation
import Segments

let totalRows = smoke ? 100_000 : 10_000_000
let batchRows = SegmentFormat.rowGroupRowsDefault
/// Distinct pre-generated batches, cycled: row generation stays out of the measurement,
/// and chunks are compressed one by one, so repeats across batches do not help a codec.
let distinctBatches = smoke ? 2 : 16
/// Passes of the scan benchmarks over their column (one pass of 10M values takes ~10 ms).
let scanPasses = smoke ? 1 : 20
/// This benchmark process's scratch folder; removed by the global teardown.
let scratchDir = NSTemporaryDirectory() + "batchrun-bench-\(getpid())"

/// Generated once per process: the batches, and the facts a benchmark checks against.
final class Fixture: @unchecked Sendable {
    static let shared = Fixture()

    let batches: [[ColumnVector]]
    let dir: String
    /// Sum of customer_id over all rows.
    let customerSum: Int64
    /// Size of the same rows as CSV text (header + rows), in the text forms of docs/TRANSACTIONS.md section 5.
    /// Only the write benchmarks need it, and writing 10M rows as CSV takes a while: made
    /// on first use.
    lazy var csvBytes: Int = {
        let csv = CSVWriter()
        let text = ByteBuffer(capacity: 16 << 20)
        csv.appendHeader(SampleTable.schema, to: text)
        var total = text.count
        Fixture.forEachSlice(batches) { cols, rows in
            text.removeAll()
            csv.appendRows(cols, rows: rows, to: text)
            total += text.count
        }
        return total
    }()

    init() {
        dir = scratchDir
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) // checked on first write
        // The benchmark tool runs each benchmark in a process of its own, and not every
        // process runs the global teardown: each removes its folder when it ends empty.
        atexit { _ = rmdir(scratchDir) }
        let sample = SampleTable(seed: 2025)
        batches = (0..<distinctBatches).map { b in
            let cols = SampleTable.makeColumns(capacity: batchRows)
            sample.fill(cols, first: b * batchRows, count: batchRows)
            return cols
        }
        var sum: Int64 = 0
        Fixture.forEachSlice(batches) { cols, rows in
            for r in rows { sum += cols[1].int64(r) }
        }
        customerSum = sum
    }

    /// Calls `body` with the batch and row range of each slice that makes up `totalRows`.
    static func forEachSlice(_ batches: [[ColumnVector]], _ body: ([ColumnVector], Range<Int>) throws -> Void) rethrows {
        var written = 0
        var i = 0
        while written < totalRows {
            let n = min(batchRows, totalRows - written)
            try body(batches[i % batches.count], 0..<n)
            written += n
            i += 1
        }
    }

    func writeSegment(_ path: String, _ options: SegmentWriterOptions) throws -> SegmentSummary {
        let w = try SegmentWriter(path: path, schema: SampleTable.schema, options: options)
        try Fixture.forEachSlice(batches) { cols, rows in try w.append(cols, rows: rows) }
        return try w.finish()
    }

    /// Reads customer_id (column 1) in full; returns its sum.
    static func scanCustomerIDs(_ reader: SegmentReader, into v: ColumnVector) throws -> Int64 {
        var sum: Int64 = 0
        for g in reader.rowGroups.indices {
            try reader.read(column: 1, rowGroup: g, into: v)
            for r in 0..<v.count { sum &+= v.int64(r) }
        }
        return sum
    }
}



let throughputMBps = BenchmarkMetric.custom("MB/s (uncompressed)", polarity: .prefersLarger, useScalingFactor: false)
let ratioX100 = BenchmarkMetric.custom("plain size / compressed size x100", polarity: .prefersLarger, useScalingFactor: false)

/// The plain bytes of every column of each distinct batch, one chunk per column as a
/// segment stores it before compression: fixed-width values, or string offsets then bytes.
final class PlainChunks: @unchecked Sendable {
    static let shared = PlainChunks()
    let chunks: [[UInt8]]
    let largest: Int

    init() {
        var out: [[UInt8]] = []
        for cols in Fixture.shared.batches {
            for c in cols {
                var bytes: [UInt8] = []
                for r in 0..<c.count {
                    switch c.type {
                    case .string:
                        c.withString(r) { s in
                            withUnsafeBytes(of: UInt32(s.count).littleEndian) { bytes.append(contentsOf: $0) }
                            bytes.append(contentsOf: s)
                        }
                    case .int32, .date:
                        withUnsafeBytes(of: c.int32(r).littleEndian) { bytes.append(contentsOf: $0) }
                    default:
                        withUnsafeBytes(of: c.int64(r).littleEndian) { bytes.append(contentsOf: $0) }
                    }
                }
                out.append(bytes)
            }
        }
        chunks = out
        largest = out.map(\.count).max() ?? 0
    }
}
let csvRatioX100 = BenchmarkMetric.custom("CSV size / segment size x100", polarity: .prefersLarger, useScalingFactor: false)
let decodedMBps = BenchmarkMetric.custom("decoded MB/s", polarity: .prefersLarger, useScalingFactor: false)

let benchmarks: @Sendable () -> Void = {
    Benchmark.teardown = { try? FileManager.default.removeItem(atPath: scratchDir) } // absent when no benchmark wrote
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident],
        warmupIterations: smoke ? 0 : 1,
        maxDuration: .seconds(smoke ? 5 : 120),
        maxIterations: smoke ? 1 : 5,
        thresholds: BenchTolerances.thresholds()
    )
    let rowsLabel = smoke ? "100K" : "10M"

    // Each codec alone: every column chunk of the rows compressed, then decompressed and
    // compared byte for byte with the original.
    for codec in [Compression.zstd(3), .lz4] {
        for direction in ["encode", "decode"] {
            Benchmark("Codec \(codec) \(direction) of plain column chunks, \(rowsLabel) rows x 10 columns",
                      configuration: .init(metrics: Benchmark.defaultConfiguration.metrics + [throughputMBps, rowsPerSecond, ratioX100],
                                           thresholds: BenchTolerances.thresholds(throughput: [throughputMBps]))) { benchmark in
                let plain = PlainChunks.shared
                let codecs = Codecs()
                let batchesNeeded = (totalRows + batchRows - 1) / batchRows
                let chunkCount = batchesNeeded * SampleTable.schema.fields.count
                let perBatch = SampleTable.schema.fields.count
                // Compressed forms of the distinct chunks, for the decode benchmark and the check.
                var compressed: [[UInt8]] = []
                var scratch = [UInt8](repeating: 0, count: codecs.maxCompressedSize(codec.kind, plain.largest))
                for chunk in plain.chunks {
                    let n = try chunk.withUnsafeBytes { src in try scratch.withUnsafeMutableBytes { try codecs.compress(codec, src, into: $0).get() } }
                    compressed.append(Array(scratch[0..<n]))
                }
                var decoded = [UInt8](repeating: 0, count: plain.largest)
                var plainBytes = 0, packedBytes = 0
                let clock = ContinuousClock()
                benchmark.startMeasurement()
                let start = clock.now
                for i in 0..<chunkCount {
                    let k = (i / perBatch) % Fixture.shared.batches.count * perBatch + i % perBatch
                    plainBytes += plain.chunks[k].count
                    if direction == "encode" {
                        packedBytes += try plain.chunks[k].withUnsafeBytes { src in
                            try scratch.withUnsafeMutableBytes { try codecs.compress(codec, src, into: $0).get() }
                        }
                    } else {
                        let count = plain.chunks[k].count
                        _ = try compressed[k].withUnsafeBytes { src in
                            try decoded.withUnsafeMutableBytes { try codecs.decompress(codec.kind, src, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<count])).get() }
                        }
                        packedBytes += compressed[k].count
                    }
                }
                let elapsed = seconds(clock.now - start)
                benchmark.stopMeasurement()
                // Every distinct chunk decodes back to its plain bytes.
                for (k, chunk) in plain.chunks.enumerated() {
                    _ = try compressed[k].withUnsafeBytes { src in
                        try decoded.withUnsafeMutableBytes { try codecs.decompress(codec.kind, src, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<chunk.count])).get() }
                    }
                    guard decoded[0..<chunk.count].elementsEqual(chunk) else {
                        throw BenchFailure(description: "\(codec) chunk \(k) does not decode to its plain bytes")
                    }
                }
                benchmark.measurement(throughputMBps, Int(Double(plainBytes) / elapsed / 1e6))
                recordRowsPerSecond(benchmark, rows: totalRows, seconds: elapsed)
                benchmark.measurement(ratioX100, plainBytes * 100 / max(1, packedBytes))
            }
        }
    }

    for codec in [Compression.zstd(3), .lz4] {
        Benchmark("Segment write \(codec), \(rowsLabel) rows x 10 columns",
                  configuration: .init(metrics: Benchmark.defaultConfiguration.metrics + [throughputMBps, rowsPerSecond, csvRatioX100],
                                       thresholds: BenchTolerances.thresholds(throughput: [throughputMBps]))) { benchmark in
            let f = Fixture.shared
            let path = f.dir + "/write-\(codec).seg"
            let clock = ContinuousClock()
            benchmark.startMeasurement()
            let start = clock.now
            let summary = try f.writeSegment(path, SegmentWriterOptions(compression: codec))
            let elapsed = seconds(clock.now - start)
            benchmark.stopMeasurement()
            let reader = try SegmentReader(path: path)
            let sum = try Fixture.scanCustomerIDs(reader, into: reader.makeVector(column: 1))
            guard summary.rowCount == totalRows, reader.rowCount == totalRows, sum == f.customerSum else {
                throw BenchFailure(description: "wrote \(summary.rowCount) rows, read \(reader.rowCount), sum \(sum) != \(f.customerSum)")
            }
            benchmark.measurement(throughputMBps, Int(Double(summary.rawBytes) / elapsed / 1e6))
            recordRowsPerSecond(benchmark, rows: totalRows, seconds: elapsed)
            benchmark.measurement(csvRatioX100, f.csvBytes * 100 / summary.fileBytes)
            try FileManager.default.removeItem(atPath: path)
        }
    }

    // Scan of one int64 column (customer_id) from a table written with LZ4: once with the
    // encodings chosen automatically (frame of reference here), once plain so that LZ4
    // itself carries the compression.
    for (label, chooses) in [("auto encoding", true), ("plain encoding", false)] {
        let path = Fixture.shared.dir + "/scan-\(chooses).seg"
        Benchmark("Segment scan int64 column, LZ4 table, \(label), \(rowsLabel) rows x \(scanPasses) passes",
                  configuration: .init(
                      metrics: Benchmark.defaultConfiguration.metrics + [decodedMBps, rowsPerSecond],
                      thresholds: BenchTolerances.thresholds(throughput: [decodedMBps]),
                      setup: {
                          var options = SegmentWriterOptions(compression: .lz4)
                          options.choosesEncodings = chooses
                          _ = try Fixture.shared.writeSegment(path, options)
                      },
                      teardown: { try FileManager.default.removeItem(atPath: path) }
                  )) { benchmark in
            let reader = try SegmentReader(path: path)
            let v = reader.makeVector(column: 1)
            let clock = ContinuousClock()
            benchmark.startMeasurement()
            let start = clock.now
            // Several passes at full size, so the measurement is long enough to time.
            var sum: Int64 = 0
            for pass in 0..<scanPasses {
                let s = try Fixture.scanCustomerIDs(reader, into: v)
                if pass == 0 { sum = s }
            }
            let elapsed = seconds(clock.now - start)
            benchmark.stopMeasurement()
            guard sum == Fixture.shared.customerSum else {
                throw BenchFailure(description: "scan sum \(sum) != \(Fixture.shared.customerSum)")
            }
            let codecs = Set(reader.rowGroups.map { $0.chunks[1].compression.kind.name })
            if !chooses && codecs != ["lz4"] {
                throw BenchFailure(description: "plain customer_id chunks should be LZ4-compressed, found \(codecs)")
            }
            benchmark.measurement(decodedMBps, Int(Double(totalRows * 8 * scanPasses) / elapsed / 1e6))
            recordRowsPerSecond(benchmark, rows: totalRows * scanPasses, seconds: elapsed)
        }
    }
}
