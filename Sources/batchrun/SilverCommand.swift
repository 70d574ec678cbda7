import ArgumentParser
import Batch
import Foundation
import Segments
import Spill

struct SilverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "silver",
        abstract: "Build silver and quarantine from bronze: the expectations in order, dedup, date partitions, reconciled counts.",
        usage: "batchrun silver --lake LAKE [options]"
    )

    @OptionGroup var stage: StageFlags
    @OptionGroup var engine: EngineOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try stage.run(engine: engine, output: output, { try Silver(options: $0, budget: $1, spill: $2).run() },
                      json: { SilverReporting.json($0, seconds: $1, spill: $2) },
                      text: { SilverReporting.text($0, seconds: $1, spill: $2) })
    }
}

/// The flags of a stage command (silver, gold) besides the engine's.
struct StageFlags: ParsableArguments {
    @Option(help: "The lake folder.")
    var lake: String

    @Option(help: "Threads (default: the cores available): 1 runs each pass's two stages in turn, 2 or more side by side (a pass has two stages, so more than 2 adds nothing).")
    var threads: Int?

    @OptionGroup var pipelineFile: PipelineFileOption

    func validate() throws {
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be 1...256, not \(threads)") }
    }

    /// Runs a stage with the engine's budget and spill folder, timed, and prints its report.
    func run<R>(engine: EngineOptions, output: OutputOptions, _ body: (StageOptions, MemoryBudget, SpillManager) throws -> R,
                json: (R, Double, SpillManager) -> JSON, text: (R, Double, SpillManager) -> String) throws {
        try reportingErrors {
            var options = StageOptions(lake: lake)
            options.pipeline = try pipelineFile.resolve(lake: lake)
            options.limits = engine.limits(threads: threads)
            let spill = try engine.makeSpill()
            defer { spill.close() }
            let clock = ContinuousClock()
            let start = clock.now
            let report = try body(options, engine.makeBudget(), spill)
            let seconds = (clock.now - start).seconds
            if output.json {
                print(json(report, seconds, spill).rendered())
            } else if !output.quiet {
                printErr(text(report, seconds, spill))
            }
        }
    }
}

enum SilverReporting {
    /// What silver did, as JSON fields: for `silver --json` and for run's report.
    static func fields(_ r: Silver.Report) -> [(String, JSON)] {
        [
            ("bronze_rows", .int(r.bronzeRows)),
            ("quarantined", .object(r.reasons.map { ($0, .int(r.quarantined[$0] ?? 0)) })),
            ("quarantined_total", .int(r.quarantinedTotal)),
            ("duplicates_removed", .int(r.duplicatesRemoved)),
            ("silver_rows", .int(r.silverRows)),
            ("partitions", .int(r.partitions)),
            ("bytes_written", .int(r.bytesWritten)),
            ("checked_against_expected", .bool(r.expected != nil)),
            ("set_aside", .array(r.setAside.map { .string($0) })),
            ("phase_seconds", .object(r.phases.phases.map { ($0.name, .double($0.seconds)) })),
        ]
    }

    static func json(_ r: Silver.Report, seconds: Double, spill: SpillManager) -> JSON {
        .object([("stage", .string("silver"))] + fields(r) + [
            ("spill", .object([("dedup_spills", .int(r.dedup.spills)), ("sort_runs", .int(r.sort.spills)),
                               ("bytes_written", .int(spill.bytesWritten)), ("peak_bytes_on_disk", .int(spill.peakBytesOnDisk))])),
            ("seconds", .double(seconds)),
            ("peak_rss_bytes", .int(ResourceUsage.peakRSSBytes())),
        ])
    }

    static func text(_ r: Silver.Report, seconds: Double, spill: SpillManager) -> String {
        var lines = [String(format: "silver: %d bronze rows -> %d silver rows in %d date partitions, %d quarantined, %d duplicates removed (%.2f s)",
                            r.bronzeRows, r.silverRows, r.partitions, r.quarantinedTotal, r.duplicatesRemoved, seconds)]
        for name in r.reasons where (r.quarantined[name] ?? 0) > 0 {
            lines.append("  quarantined \(name): \(r.quarantined[name] ?? 0)")
        }
        if spill.bytesWritten > 0 {
            lines.append("  spilled \(ByteSize.format(spill.bytesWritten)) (dedup overflowed \(r.dedup.spills) time(s), sort wrote \(r.sort.spills) run(s))")
        }
        for place in r.setAside { lines.append("  a damaged table was set aside (not deleted) and rebuilt: \(place)") }
        lines.append(r.expected == nil ? "  counts reconcile (no _expected.json to check against)" : "  counts reconcile and match _expected.json")
        lines.append("  phases: " + r.phases.phases.map { String(format: "%@ %.2f s", $0.name, $0.seconds) }.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }
}
