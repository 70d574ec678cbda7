import ArgumentParser
import Batch
import Foundation
import Segments
import Spill

/// `batchrun bench`: the whole pipeline at each size, from a clean state, repeated; each
/// stage runs as its own process so that its wall time and peak RSS are its own.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the pipeline at several sizes and settings from a clean state: time, peak RSS and rows/s per stage.",
        usage: "batchrun bench [--pipeline FILE] --records LIST [options]",
        discussion: """
        For each size a landing zone is generated once (not timed), for the built-in \
        transactions pipeline or for --pipeline FILE (as generate --pipeline makes it). Then, for each \
        --batch-rows and --memory-limit in the lists and each repeat, a new lake and a new \
        spill folder are made and `batchrun ingest`, `silver` and `gold` run, each as its \
        own process: its wall time (spawn to exit) and maximum RSS (wait4) are measured from \
        outside. The report gives per stage the median time, the highest peak RSS, rows/s, \
        and the time per row with its change against the smallest size. \
        The table goes to stderr (also with --json; -q drops it); --json prints the report \
        on stdout, --out writes it to a file, and a chart (time and peak RSS against records, log scales) is written as SVG. \
        --baseline compares with a report written earlier: a stage whose median time or peak \
        RSS grew by more than --tolerance (and by more than 50 ms or 4 MiB, which are noise) \
        is a regression, and the exit status is 1.
        """
    )

    @Option(help: ArgumentHelp("The pipeline file to measure (default: the built-in transactions pipeline).", valueName: "file"))
    var pipeline: String?

    @Option(help: ArgumentHelp("Sizes to run, comma-separated: 10k,100k,1M,10M (k = 10^3, M = 10^6, G = 10^9).", valueName: "list"))
    var records: String

    @Option(name: .customLong("repeat"), help: "Runs of each size and setting; the report gives medians.")
    var repeats = 3

    @Option(help: ArgumentHelp("Rows per batch, one value or a comma-separated sweep (1000,65536).", valueName: "list"))
    var batchRows = "65536"

    @Option(help: ArgumentHelp("Memory budget of each stage, one value or a comma-separated sweep (64MiB,256MiB); forms as in run.", valueName: "list"))
    var memoryLimit = "256MiB"

    @Option(help: "Threads of each stage, as run's --threads.")
    var threads = min(2, ProcessInfo.processInfo.activeProcessorCount)

    @Option(help: "Codec of the tables written: lz4, zstd, zstd:LEVEL or none.")
    var compression = "lz4"

    @Option(help: "Seed of the generated data.")
    var seed: UInt64 = 42

    @Option(help: "Fact files per generated landing zone.")
    var files = 8

    @Option(help: "Order of the generated records: time or random (as generate --order).")
    var order = "time"

    @Option(help: ArgumentHelp("Work folder for the landing zones, lakes and spill (default: a new folder in the temp dir, removed at the end).", valueName: "dir"))
    var dir: String?

    @Flag(help: "Keep the work folder (landing zones and the last lake of each size).")
    var keep = false

    @Option(help: ArgumentHelp("Write the JSON report to FILE (a later --baseline).", valueName: "file"))
    var out: String?

    @Option(help: ArgumentHelp("Write the chart to FILE (default: --out with .svg, else batchrun-bench.svg).", valueName: "file"))
    var svg: String?

    @Option(help: ArgumentHelp("A report from an earlier --out to compare with; exit 1 on a regression.", valueName: "file"))
    var baseline: String?

    @Option(help: ArgumentHelp("How much slower or larger a stage may get against --baseline: 10% (or 10).", valueName: "percent"))
    var tolerance = "10%"

    @OptionGroup var output: OutputOptions

    var sizes: [Int] { ScaleBench.parseList(records, ScaleBench.parseCount)?.sorted() ?? [] }
    var batchRowsList: [Int] { ScaleBench.parseList(batchRows) { Int($0.trimmingCharacters(in: .whitespaces)) } ?? [] }
    var memoryLimits: [String] { ScaleBench.parseList(memoryLimit) { ByteSize.parse($0) == nil ? nil : $0.trimmingCharacters(in: .whitespaces) } ?? [] }
    var toleranceFraction: Double? {
        let t = tolerance.trimmingCharacters(in: .whitespaces)
        guard let v = Double(t.hasSuffix("%") ? String(t.dropLast()) : t), v >= 0, v < 10_000 else { return nil }
        return v / 100
    }

    func validate() throws {
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--records '\(records)' is not a list of sizes; use e.g. 10k,100k,1M,10M")
        }
        guard repeats >= 1 else { throw ValidationError("--repeat must be 1 or more") }
        guard !batchRowsList.isEmpty, batchRowsList.allSatisfy({ (1...SegmentFormat.rowGroupRowsMax).contains($0) }) else {
            throw ValidationError("--batch-rows '\(batchRows)' must be a list of numbers 1...\(SegmentFormat.rowGroupRowsMax)")
        }
        guard !memoryLimits.isEmpty else {
            throw ValidationError("--memory-limit '\(memoryLimit)' must be a list of sizes: \(ByteSize.acceptedForms)")
        }
        guard Generator.Order(rawValue: order) != nil else { throw ValidationError("--order must be time or random, not '\(order)'") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1...256, not \(threads)") }
        guard Compression(parsing: compression) != nil else {
            throw ValidationError("--compression must be lz4, zstd, zstd:LEVEL (1-19) or none, not '\(compression)'")
        }
        guard files >= 1 else { throw ValidationError("--files must be 1 or more") }
        guard toleranceFraction != nil else { throw ValidationError("--tolerance must be a percentage like 10% or 10, not '\(tolerance)'") }
    }

    func run() throws {
        try reportingErrors {
            // Read the baseline first: a bad file should fail before minutes of runs.
            let base = try baseline.map { path -> ScaleReport in
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw BatchError(.missingInput, path: path, "cannot be read; give --baseline a report written by bench --out")
                }
                return try ScaleReport.decode(data, path: path)
            }
            let checked = try PipelineLoader.checked(path: pipeline)
            let work = try prepareFolder()
            defer { if !keep { try? FileManager.default.removeItem(atPath: work) } } // best effort: a failed removal leaves files in the temp dir
            let executable = ChildProcess.currentExecutable()
            var results: [ScaleResult] = []
            for size in sizes {
                let raw = work + "/raw-" + ScaleBench.formatCount(size)
                if !output.quiet { printErr("generating \(ScaleBench.formatCount(size)) records (not timed) …") }
                let expected = try PipelineGenerator.zone(for: checked, records: size, seed: seed, files: min(files, size),
                                                          order: Generator.Order(rawValue: order) ?? .time, threads: threads, to: raw).expected
                for rows in batchRowsList {
                    for limit in memoryLimits {
                        var runs: [[ScaleBench.StageRun]] = []
                        for i in 1...repeats {
                            let run = try runOnce(executable: executable, work: work, raw: raw, batchRows: rows, memoryLimit: limit)
                            guard let ingest = run.first, ingest.rowsOut == expected.bronze else {
                                throw BatchError(.reconciliation, path: raw, "bronze got \(run.first?.rowsOut ?? 0) rows; the generator wrote \(expected.bronze)")
                            }
                            if !output.quiet {
                                printErr("  \(ScaleBench.formatCount(size)) records, batch \(rows), \(limit), run \(i)/\(repeats): "
                                         + run.map { "\($0.stage) " + String(format: "%.2f s", $0.seconds) + " \(ByteSize.format($0.peakRSSBytes))" }.joined(separator: ", "))
                            }
                            runs.append(run)
                        }
                        results.append(ScaleResult(records: size, batchRows: rows, memoryLimit: limit,
                                                   memoryLimitBytes: ByteSize.parse(limit) ?? 0, runs: runs))
                    }
                }
                if !keep { try FileManager.default.removeItem(atPath: raw) } // the next size's data may be ten times larger
            }
            let report = ScaleReport(createdAt: ISO8601DateFormatter().string(from: Date()),
                                     machine: .init(cores: ProcessInfo.processInfo.activeProcessorCount, memoryBytes: ByteSize.machineMemoryBytes(),
                                                    system: ProcessInfo.processInfo.operatingSystemVersionString),
                                     settings: .init(repeats: repeats, threads: threads, compression: compression, seed: seed),
                                     results: results)
            try writeOutputs(report)
            if let base {
                let c = ScaleBench.compare(report, baseline: base, tolerance: toleranceFraction ?? 0.1)
                if !output.quiet {
                    printErr((["", "against the baseline \(baseline ?? ""):"] + c.lines.map { "  " + $0 } + c.notes.map { "  note: " + $0 }).joined(separator: "\n"))
                }
                if !c.regressions.isEmpty {
                    printErr(c.regressions.map { "regression: " + $0 }.joined(separator: "\n"))
                    throw ExitCode(1)
                }
                if !output.quiet { printErr("no regression beyond \(tolerance)") }
            }
        }
    }

    /// One clean-state run: a new lake and spill folder, then each stage as a process.
    func runOnce(executable: String, work: String, raw: String, batchRows: Int, memoryLimit: String) throws -> [ScaleBench.StageRun] {
        let lake = work + "/lake", spill = work + "/spill"
        for path in [lake, spill] where SystemIO.exists(path) { try FileManager.default.removeItem(atPath: path) }
        try SystemIO.makeDirectories(spill)
        let file = pipeline.map { ["--pipeline", URL(fileURLWithPath: $0).standardizedFileURL.path] } ?? []
        let common = file + ["--memory-limit", memoryLimit, "--batch-rows", String(batchRows), "--compression", compression,
                      "--spill-dir", spill, "--threads", String(threads), "--json"]
        var stages: [ScaleBench.StageRun] = []
        for stage in ScaleBench.stages {
            let args = stage == "ingest" ? ["ingest", "--raw", raw, "--lake", lake] + common : [stage, "--lake", lake] + common
            let log = work + "/\(stage).stderr"
            let o = try ChildProcess.run(executable, args, stderrPath: log)
            guard o.status == 0 else {
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" // the log is only shown
                printErr("batchrun bench: `batchrun \(args.joined(separator: " "))` failed with exit \(o.status):\n" + text)
                throw ExitCode(o.status)
            }
            guard let obj = try? JSONSerialization.jsonObject(with: o.stdout) as? [String: Any] else {
                throw BatchError(.reconciliation, path: log, "the \(stage) stage printed no JSON report")
            }
            let (rowsIn, rowsOut): (Int, Int)
            switch stage {
            case "ingest": (rowsIn, rowsOut) = (obj["rows_added"] as? Int ?? 0, obj["bronze_rows"] as? Int ?? 0)
            case "silver": (rowsIn, rowsOut) = (obj["bronze_rows"] as? Int ?? 0, obj["silver_rows"] as? Int ?? 0)
            default: (rowsIn, rowsOut) = (obj["silver_rows"] as? Int ?? 0, ((obj["tables"] as? [String: Int]) ?? [:]).values.reduce(0, +))
            }
            stages.append(.init(stage: stage, seconds: o.seconds, peakRSSBytes: o.peakRSSBytes, rowsIn: rowsIn, rowsOut: rowsOut))
        }
        return stages
    }

    /// The work folder: the one given (new, empty or bench's own), else a new temp folder.
    func prepareFolder() throws -> String {
        let path = dir ?? (NSTemporaryDirectory() + "batchrun-bench-\(getpid())")
        try OwnedFolder.prepare(path, command: "bench", why: "bench empties its folder") {
            try FileManager.default.removeItem(atPath: path)
        }
        return path
    }

    func writeOutputs(_ report: ScaleReport) throws {
        let json = report.encoded()
        if let out { try SystemIO.writeFileAtomically(out, Array(json)) }
        if output.json { FileHandle.standardOutput.write(json + Data("\n".utf8)) }
        let chart = svg ?? out.map { ($0.hasSuffix(".json") ? String($0.dropLast(5)) : $0) + ".svg" } ?? "batchrun-bench.svg"
        try SystemIO.writeFileAtomically(chart, Array(ScaleChart.svg(report).utf8))
        if !output.quiet {
            printErr(BenchReporting.table(report))
            printErr("chart: \(chart)" + (out.map { "\nreport: \($0)" } ?? ""))
        }
    }
}

enum BenchReporting {
    /// Per size and setting, per stage: median time, rows/s, time per row and its change
    /// against the smallest size of the same setting, peak RSS.
    static func table(_ report: ScaleReport) -> String {
        var lines = ["", "batchrun bench: median of \(report.settings.repeats), \(report.settings.threads) thread(s), \(report.settings.compression); "
                     + "each stage a separate process, clean lake and spill folder", "",
                     "records".rightPadded(9) + "batch".leftPadded(8) + "memory".leftPadded(9) + "  " + "stage".rightPadded(7)
                     + "median s".leftPadded(10) + "rows/s".leftPadded(10) + "ns/row".leftPadded(9) + "vs smallest".leftPadded(13) + "peak RSS".leftPadded(12)]
        for r in report.results {
            let smallest = report.results.filter { $0.batchRows == r.batchRows && $0.memoryLimitBytes == r.memoryLimitBytes }.min { $0.records < $1.records }
            for s in r.stages {
                let base = smallest?.stage(s.stage)?.nanosecondsPerRow ?? 0
                let change = base > 0 ? String(format: "x%.2f", s.nanosecondsPerRow / base) : "-"
                lines.append(ScaleBench.formatCount(r.records).rightPadded(9) + String(r.batchRows).leftPadded(8) + r.memoryLimit.leftPadded(9)
                             + "  " + s.stage.rightPadded(7) + String(format: "%.3f", s.medianSeconds).leftPadded(10)
                             + rate(s.rowsPerSecond).leftPadded(10)
                             + String(format: "%.0f", s.nanosecondsPerRow).leftPadded(9) + change.leftPadded(13)
                             + ByteSize.format(s.peakRSSBytes).leftPadded(12))
            }
        }
        lines += matrix(report)
        lines.append("")
        lines.append("vs smallest: time per row against the smallest size at the same settings (below 1: fixed costs spread over more rows; above 1: slower per row as data grows)")
        return lines.joined(separator: "\n")
    }

    /// With a sweep of settings: per size, a grid of --batch-rows by --memory-limit whose
    /// cells give the pipeline's median time and peak RSS; the fastest cell is starred.
    static func matrix(_ report: ScaleReport) -> [String] {
        let batchSizes = report.results.map(\.batchRows).uniqued()
        let limits = report.results.map { ($0.memoryLimit, $0.memoryLimitBytes) }.uniqued { $0.1 }
        guard batchSizes.count * limits.count > 1 else { return [] }
        var lines: [String] = []
        for records in report.results.map(\.records).uniqued() {
            let here = report.results.filter { $0.records == records }
            let fastest = here.min { ($0.stage(ScaleBench.total)?.medianSeconds ?? .infinity) < ($1.stage(ScaleBench.total)?.medianSeconds ?? .infinity) }
            lines.append("")
            lines.append("\(ScaleBench.formatCount(records)) records: pipeline median time / peak RSS by setting (* fastest)")
            lines.append("batch rows".rightPadded(12) + limits.map { ("--memory-limit " + $0.0).leftPadded(26) }.joined())
            for rows in batchSizes {
                var line = String(rows).rightPadded(12)
                for limit in limits {
                    guard let r = here.first(where: { $0.batchRows == rows && $0.memoryLimitBytes == limit.1 }), let t = r.stage(ScaleBench.total) else {
                        line += "-".leftPadded(26)
                        continue
                    }
                    let star = r.batchRows == fastest?.batchRows && r.memoryLimitBytes == fastest?.memoryLimitBytes ? "*" : " "
                    line += (String(format: "%.2f s / ", t.medianSeconds) + ByteSize.format(t.peakRSSBytes) + star).leftPadded(26)
                }
                lines.append(line)
            }
        }
        return lines
    }

    /// `1.85M`, `412K`, `950`: rows per second, short.
    static func rate(_ perSecond: Double) -> String {
        if perSecond >= 1e6 { return String(format: "%.2fM", perSecond / 1e6) }
        if perSecond >= 1e3 { return String(format: "%.0fK", perSecond / 1e3) }
        return String(format: "%.0f", perSecond)
    }
}

extension Array {
    /// The elements in their first order, each distinct key once.
    func uniqued<K: Hashable>(by key: (Element) -> K) -> [Element] {
        var seen = Set<K>()
        return filter { seen.insert(key($0)).inserted }
    }
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] { uniqued { $0 } }
}
