import ArgumentParser
import Batch
import Foundation
import Segments
import Spill

/// The first thing a new user types: generate a landing zone, run the whole pipeline on
/// it, and show what happened.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a landing zone, run the pipeline on it and report every stage.",
        usage: "batchrun demo [options]",
        discussion: """
        Writes DIR/raw (the generated CSV files) and DIR/lake (the tables). DIR is replaced \
        on each demo run, so it must be a folder an earlier demo made, or not exist yet. \
        Look at the results with `batchrun inspect DIR/lake/gold/\(Lake.goldTables.last ?? "TABLE")` or \
        `batchrun export DIR/lake \(Lake.goldTables.last ?? "TABLE") --format csv --out DIR/export`.
        """
    )

    @Option(help: "Transaction records to generate.")
    var records = 1_000_000

    @Option(help: ArgumentHelp("Folder for the demo's landing zone and lake.", valueName: "dir"))
    var dir = "demo-data"

    @Option(help: "Seed of the generated data.")
    var seed: UInt64 = 42

    @Option(help: "Transactions files to generate.")
    var files = 8

    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup var engine: EngineOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard records >= 0 else { throw ValidationError("--records must be 0 or more") }
        guard files >= 1 else { throw ValidationError("--files must be 1 or more") }
    }

    func run() throws {
        try reportingErrors {
            try prepareFolder()
            let raw = dir + "/raw", lake = dir + "/lake"
            let progress = pipeline.makeProgress(quiet: output.quiet)
            let clock = ContinuousClock()
            var generator = Generator.Options(records: records)
            generator.seed = seed
            generator.files = min(files, max(1, records))
            generator.threads = pipeline.threads ?? ProcessInfo.processInfo.activeProcessorCount
            if progress.enabled { printErr("generating \(PipelineReporting.count(records)) records in \(raw) …") }
            let t0 = clock.now
            let generated = try Generator(options: generator).write(to: raw)
            let generateSeconds = (clock.now - t0).seconds

            let spill = try engine.makeSpill()
            defer { spill.close() }
            let report = try progress.running {
                try Pipeline(options: pipeline.options(raw: raw, lake: lake, engine: engine), budget: engine.makeBudget(), spill: spill)
                    .run(starting: progress.start, finished: progress.finish)
            }
            let summary = PipelineReporting.Summary(report: report, spill: spill, memoryLimit: engine.memoryLimitBytes,
                                                    generated: (records, generated.bytes, generateSeconds))
            if output.json {
                print(summary.json.rendered())
            } else if !output.quiet {
                printErr(summary.text)
                // The binary as this process was started, so the hints work before `make install`.
                let me = CommandLine.arguments[0].contains("/") ? CommandLine.arguments[0] : "batchrun"
                printErr("""

                the landing zone is in \(dir)/raw, the lake in \(lake)
                next: \(me) inspect \(lake)/gold/\(Lake.goldTables.first ?? "TABLE")
                      \(me) export \(lake) \(Lake.goldTables.last ?? "TABLE") --format csv --out \(dir)/export
                      \(me) verify \(lake)
                      (make install puts batchrun on your PATH: /usr/local/bin, or PREFIX=DIR make install)
                """)
            }
        }
    }

    /// Makes DIR empty, refusing a folder the demo did not create.
    func prepareFolder() throws {
        try OwnedFolder.prepare(dir, command: "demo", why: "the demo replaces its folder") {
            for name in ["raw", "lake", "export"] where SystemIO.exists(dir + "/" + name) {
                try FileManager.default.removeItem(atPath: dir + "/" + name)
            }
        }
    }
}

/// A folder a command fills and later replaces (demo's DIR, bench's work folder). It must
/// be new, empty, or marked as that command's own by an earlier run: a folder holding
/// someone else's files is refused rather than emptied.
enum OwnedFolder {
    static func markerName(_ command: String) -> String { ".batchrun-" + command }

    /// Checks `path`, calls `clear` when it is the command's own, then creates it and
    /// writes the marker.
    static func prepare(_ path: String, command: String, why: String, clear: () throws -> Void) throws {
        let marker = path + "/" + markerName(command)
        if SystemIO.isDirectory(path) {
            guard try SystemIO.listDirectory(path).isEmpty || SystemIO.exists(marker) else {
                throw BatchError(.invalidArgument, path: path,
                                 "exists and was not made by batchrun \(command); \(why), so give --dir a new or \(command)-made folder")
            }
            try clear()
        }
        try SystemIO.makeDirectories(path)
        try SystemIO.writeFileAtomically(marker, Array("made by batchrun \(command); it may replace this folder\n".utf8))
    }
}
