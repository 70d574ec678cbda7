// Ingest benchmarks: the CSV scanner alone, scanner + typing into bronze batches, and a
// whole one-thread ingestion into a new lake, on a generated landing zone (one file).
// Each checks its own result against the generator's _expected.json counts.
//
// Full size: 10M records, about 1 GB of CSV (`make bench`). BENCH_SMOKE=1: 100K.
import Batch
import BenchSupport
import Benchmark
import Foundation
import Segments
import Spill

let records = smoke ? 100_000 : 10_000_000
let scratchDir = NSTemporaryDirectory() + "batchrun-bench-ingest-\(getpid())"


/// The landing zone, generated once per process.
final class Zone: @unchecked Sendable {
    static let shared = Zone()
    let raw = scratchDir + "/raw"
    let file: String
    let fileBytes: Int
    let expected: Generator.Expected

    init() {
        var o = Generator.Options(records: records)
        o.files = 1
        do {
            expected = try Generator(options: o).write(to: raw).expected
        } catch {
            fatalError("could not generate the landing zone: \(error)")
        }
        file = raw + "/transactions/part-00000.csv"
        fileBytes = (try? SystemIO.fileSize(file)) ?? 0 // checked by each benchmark's result
    }
}


let parseMBps = BenchmarkMetric.custom("CSV MB/s", polarity: .prefersLarger, useScalingFactor: false)

let benchmarks: @Sendable () -> Void = {
    Benchmark.teardown = { try? FileManager.default.removeItem(atPath: scratchDir) } // absent when nothing was written
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident, parseMBps, rowsPerSecond],
        warmupIterations: smoke ? 0 : 1,
        maxDuration: .seconds(smoke ? 5 : 120),
        maxIterations: smoke ? 1 : 5,
        thresholds: BenchTolerances.thresholds(throughput: [parseMBps])
    )
    let label = smoke ? "100K" : "10M"

    Benchmark("CSV scan (records and fields only), \(label) records, 1 thread") { benchmark in
        let zone = Zone.shared
        let clock = ContinuousClock()
        benchmark.startMeasurement()
        let start = clock.now
        let scanner = try CSVScanner(source: RawSource(path: zone.file, displayPath: "part-00000.csv"))
        var recordCount = 0
        var fields = 0
        while try scanner.next() {
            recordCount += 1
            fields += scanner.fieldCount
        }
        let elapsed = seconds(clock.now - start)
        benchmark.stopMeasurement()
        // The header plus one record per transaction.
        guard recordCount == zone.expected.bronze + 1, fields >= recordCount * 8 else {
            throw BenchFailure(description: "scanned \(recordCount) records, expected \(zone.expected.bronze + 1)")
        }
        benchmark.measurement(parseMBps, Int(Double(zone.fileBytes) / elapsed / 1e6))
        recordRowsPerSecond(benchmark, rows: recordCount, seconds: elapsed)
    }

    Benchmark("CSV parse and type into bronze batches, \(label) records, 1 thread") { benchmark in
        let zone = Zone.shared
        let clock = ContinuousClock()
        benchmark.startMeasurement()
        let start = clock.now
        let scanner = try CSVScanner(source: RawSource(path: zone.file, displayPath: "part-00000.csv"))
        let header = try FeedHeader.parse(scanner, feed: Landing.builtin.facts.feed, path: "part-00000.csv", advice: "fix the file")
        let builder = BronzeBuilder(capacity: 65_536, layout: Landing.builtin.facts, header: header, sourceFile: "transactions/part-00000.csv", ingestSeq: 1, ingestedAt: 0)
        var rows = 0
        var malformed = 0
        while try scanner.next() {
            builder.append(scanner)
            rows += 1
            if builder.isFull {
                malformed += builder.malformedRows
                builder.reset()
            }
        }
        let elapsed = seconds(clock.now - start)
        benchmark.stopMeasurement()
        guard rows == zone.expected.bronze, builder.malformedRows == zone.expected.quarantined["malformed_row"] else {
            throw BenchFailure(description: "typed \(rows) rows (\(builder.malformedRows) malformed), expected \(zone.expected.bronze)")
        }
        benchmark.measurement(parseMBps, Int(Double(zone.fileBytes) / elapsed / 1e6))
        recordRowsPerSecond(benchmark, rows: rows, seconds: elapsed)
    }

    for threads in [1, 2] {
        Benchmark("Ingest to bronze (LZ4), \(label) records, \(threads) thread(s), 256MiB budget") { benchmark in
            let zone = Zone.shared
            let lake = scratchDir + "/lake-\(threads)"
            try? FileManager.default.removeItem(atPath: lake) // absent on the first iteration
            var o = Ingest.Options(raw: zone.raw, lake: lake)
            o.limits.threads = threads
            let clock = ContinuousClock()
            benchmark.startMeasurement()
            let start = clock.now
            let spill = try SpillManager(parent: scratchDir + "/spill")
            defer { spill.close() }
            let report = try Ingest(options: o, budget: MemoryBudget(limitBytes: 256 << 20), spill: spill).run()
            let elapsed = seconds(clock.now - start)
            benchmark.stopMeasurement()
            guard report.bronzeRows == zone.expected.bronze,
                  report.files.map(\.malformed).reduce(0, +) == zone.expected.quarantined["malformed_row"] else {
                throw BenchFailure(description: "bronze has \(report.bronzeRows) rows, expected \(zone.expected.bronze)")
            }
            benchmark.measurement(parseMBps, Int(Double(zone.fileBytes) / elapsed / 1e6))
            recordRowsPerSecond(benchmark, rows: report.rowsAdded, seconds: elapsed)
            try FileManager.default.removeItem(atPath: lake)
        }
    }
}
