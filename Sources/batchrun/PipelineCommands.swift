import ArgumentParser
import Batch
import Foundation
import Segments
import Spill

struct GoldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gold",
        abstract: "Build the pipeline's gold tables from silver (the built-in transactions pipeline's: \(Lake.goldTables.joined(separator: ", "))).",
        usage: "batchrun gold --lake LAKE [options]"
    )

    @OptionGroup var stage: StageFlags
    @OptionGroup var engine: EngineOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try stage.run(engine: engine, output: output, { try Gold(options: $0, budget: $1, spill: $2).run() },
                      json: { r, seconds, _ in PipelineReporting.goldJSON(r, seconds: seconds) },
                      text: { r, seconds, _ in PipelineReporting.goldText(r, seconds: seconds) })
    }
}

/// The flags of the commands that run the whole pipeline.
struct PipelineOptions: ParsableArguments {
    @Option(help: "Threads of every stage (default: the cores available): ingest parses that many ranges side by side; silver and gold run each pass's two stages side by side from 2.")
    var threads: Int?

    @Option(help: "Ingest mode: append (skip files already ingested) or overwrite (replace bronze).")
    var mode = "append"

    @Flag(help: "Rebuild silver and gold even when their inputs did not change.")
    var rebuild = false

    @Option(help: ArgumentHelp("Keep a Delta copy of silver, quarantine and every gold table in DIR/<table>, updated after the run (default: the pipeline file's publish:).", valueName: "dir"))
    var publish: String?

    @Option(help: "Progress on stderr: auto (when stderr is a terminal), always or never.")
    var progress = "auto"

    func validate() throws {
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be 1...256, not \(threads)") }
        guard Ingest.Mode(rawValue: mode) != nil else { throw ValidationError("--mode must be append or overwrite, not '\(mode)'") }
        guard ["auto", "always", "never"].contains(progress) else { throw ValidationError("--progress must be auto, always or never, not '\(progress)'") }
    }

    func options(raw: String, lake: String, engine: EngineOptions, pipeline: CheckedPipeline = BuiltinPipelines.defaultChecked) -> Pipeline.Options {
        var o = Pipeline.Options(raw: raw, lake: lake)
        o.pipeline = pipeline
        o.limits = engine.limits(threads: threads)
        o.ingest.mode = Ingest.Mode(rawValue: mode) ?? .append
        o.rebuild = rebuild
        o.publish = publish
        return o
    }

    func makeProgress(quiet: Bool) -> Progress {
        Progress(enabled: !quiet && (progress == "always" || (progress == "auto" && isatty(STDERR_FILENO) == 1)))
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run ingest, silver and gold in turn; a stage already built from its inputs as they are is skipped.",
        usage: "batchrun run --raw RAW --lake LAKE [options]",
        discussion: """
        Exactly-once: raw files already in bronze are skipped, and silver and gold are rebuilt \
        only when their inputs changed (by table identity and version) or their committed \
        files are missing or damaged, so running twice changes no table. A damaged silver, \
        quarantine or gold table is moved to LAKE/_set_aside/ and rebuilt; a damaged bronze \
        needs --mode overwrite.
        """
    )

    @Option(help: "The landing zone: the folder holding transactions/ and the reference files.")
    var raw: String

    @Option(help: "The lake folder.")
    var lake: String

    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup var pipelineFile: PipelineFileOption
    @OptionGroup var engine: EngineOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors {
            let spill = try engine.makeSpill()
            defer { spill.close() }
            let progress = pipeline.makeProgress(quiet: output.quiet)
            let report = try progress.running {
                try Pipeline(options: pipeline.options(raw: raw, lake: lake, engine: engine, pipeline: try pipelineFile.resolve(lake: lake)), budget: engine.makeBudget(), spill: spill)
                    .run(starting: progress.start, finished: progress.finish)
            }
            let summary = PipelineReporting.Summary(report: report, spill: spill, memoryLimit: engine.memoryLimitBytes, generated: nil)
            if output.json {
                print(summary.json.rendered())
            } else if !output.quiet {
                printErr(summary.text)
            }
        }
    }
}

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a lake: commit logs, every chunk's checksum, partitions, the tables it must hold, and that the layers' counts reconcile.",
        usage: "batchrun verify LAKE [--json] [-q]",
        discussion: "Exit 0 when the lake is sound, 65 when something is wrong (each problem is named with its table and file)."
    )

    @Argument(help: "The lake folder.")
    var lake: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors {
            let report = try Verify.run(lake: lake)
            if output.json {
                print(JSON.object([
                    ("lake", .string(lake)), ("sound", .bool(report.isSound)),
                    ("tables", .array(report.tables.map { t in
                        .object([("table", .string(t.name)), ("version", .int(t.version)), ("files", .int(t.files)),
                                 ("rows", .int(t.rows)), ("bytes", .int(t.bytes)), ("chunks_checked", .int(t.chunks)),
                                 ("problems", .array(t.problems.map { .string($0) }))])
                    })),
                    ("problems", .array(report.problems.map { .string($0) })),
                    ("notes", .array(report.notes.map { .string($0) })),
                ]).rendered())
            } else if !output.quiet || !report.isSound {
                var lines = ["table".rightPadded(28) + "version".leftPadded(8) + "files".leftPadded(7) + "rows".leftPadded(13) + "stored".leftPadded(11) + "  chunks"]
                for t in report.tables {
                    lines.append(t.name.rightPadded(28) + String(t.version).leftPadded(8) + String(t.files).leftPadded(7)
                                 + PipelineReporting.count(t.rows).leftPadded(13) + ByteSize.format(t.bytes).leftPadded(11)
                                 + "  " + (t.problems.isEmpty ? "\(t.chunks) ok" : "\(t.problems.count) problem(s)"))
                }
                if report.tables.isEmpty { lines.append("(no tables)") }
                for n in report.notes { lines.append("note: " + n) }
                for p in report.allProblems { lines.append("problem: " + p) }
                lines.append(report.isSound ? "the lake is sound: every log replays, every chunk passes its checksum, the counts reconcile"
                                            : "the lake has \(report.allProblems.count) problem(s)")
                printErr(lines.joined(separator: "\n"))
            }
            if !report.isSound { throw ExitCode(ExitStatus.dataError) }
        }
    }
}

/// A status line on stderr while a stage runs (stage, elapsed time, RSS), redrawn five
/// times a second; a finished stage leaves one line. Off when stderr is not a terminal.
final class Progress: @unchecked Sendable {
    let enabled: Bool
    private let lock = NSLock()
    private var stage: String?
    private var stageStart = Date()
    private var stopped = false

    init(enabled: Bool) { self.enabled = enabled }

    func running<T>(_ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let thread = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: 0.2)
                let line: String? = lock.withLock {
                    if stopped { return nil }
                    guard let s = stage else { return "" }
                    return String(format: "\r\u{1B}[K%@ … %.1f s, RSS %@", s, Date().timeIntervalSince(stageStart),
                                  ByteSize.format(ResourceUsage.currentRSSBytes()))
                }
                guard let line else { return }
                if !line.isEmpty { FileHandle.standardError.write(Data(line.utf8)) }
            }
        }
        thread.start()
        defer {
            lock.withLock { stopped = true }
            FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        }
        return try body()
    }

    func start(_ stage: Pipeline.Stage) {
        guard enabled else { return }
        lock.withLock {
            self.stage = stage.rawValue
            stageStart = Date()
        }
    }

    func finish(_ stage: Pipeline.Stage, _ report: Pipeline.Report) {
        guard enabled else { return }
        lock.withLock {
            self.stage = nil
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + PipelineReporting.stageLine(stage, report) + "\n").utf8))
        }
    }
}
