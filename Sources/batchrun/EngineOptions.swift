import ArgumentParser
import Batch
import Foundation
import Segments
import Spill

/// The tuning flags every stage shares (README.md, "Commands").
struct EngineOptions: ParsableArguments {
    /// The default budget: half of the machine's (or the cgroup's) memory.
    static let defaultMemoryPercent = 50

    @Option(help: ArgumentHelp("Memory budget: bytes, KB/MB/GB/TB (powers of 10), KiB/MiB/GiB/TiB or K/M/G/T (powers of 2) or N% of the machine's memory.",
                               valueName: "size"))
    var memoryLimit = "\(defaultMemoryPercent)%"

    @Option(help: "Rows per columnar batch (1-16777216).")
    var batchRows = 65_536

    @Option(help: "Codec of the tables written: lz4, zstd, zstd:LEVEL (1-19) or none.")
    var compression = "lz4"

    @Option(help: ArgumentHelp("Folder for this run's private spill folder (default: the system temp dir).", valueName: "dir"))
    var spillDir: String?

    @Option(help: ArgumentHelp("Most disk the spill files may use at once: a size like --memory-limit's, or 'none' for no cap.", valueName: "size"))
    var maxSpill = "none"

    func validate() throws {
        if let why = ByteSize.problem(memoryLimit) {
            throw ValidationError("--memory-limit '\(memoryLimit)': \(why)")
        }
        guard (1...SegmentFormat.rowGroupRowsMax).contains(batchRows) else {
            throw ValidationError("--batch-rows must be 1...\(SegmentFormat.rowGroupRowsMax), not \(batchRows)")
        }
        if maxSpill != "none", let why = ByteSize.problem(maxSpill) {
            throw ValidationError("--max-spill '\(maxSpill)': \(why) (or none)")
        }
        guard Compression(parsing: compression) != nil else {
            throw ValidationError("--compression must be lz4, zstd, zstd:LEVEL (1-19) or none, not '\(compression)'")
        }
    }

    var memoryLimitBytes: Int { ByteSize.parse(memoryLimit) ?? 0 }
    var codec: Compression { Compression(parsing: compression) ?? .lz4 }

    /// The flags as the engine's one `Limits` value; `threads` is the command's own
    /// --threads (default: the cores available).
    func limits(threads: Int?) -> Limits {
        Limits(memoryBytes: memoryLimitBytes, batchRows: batchRows, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, compression: codec)
    }

    func makeBudget() -> MemoryBudget {
        Allocator.configure()
        return MemoryBudget(limitBytes: memoryLimitBytes)
    }

    /// This run's spill folder (stale folders of dead runs are removed first); it is
    /// deleted at exit, and on SIGINT/SIGTERM.
    func makeSpill() throws -> SpillManager {
        let spill = try SpillManager(parent: spillDir ?? NSTemporaryDirectory(), quotaBytes: maxSpill == "none" ? Int.max : (ByteSize.parse(maxSpill) ?? Int.max))
        SpillManager.installSignalCleanup { sig in
            "batchrun: interrupted by \(sig == SIGINT ? "SIGINT" : "SIGTERM"): the spill folder is removed; every table is at its last committed version (a commit is atomic, so a stage that was running left nothing half-written), and running the command again finishes the work"
        }
        return spill
    }
}

/// `--pipeline FILE`: the pipeline file a command runs.
struct PipelineFileOption: ParsableArguments {
    @Option(help: ArgumentHelp("The pipeline file (docs/PIPELINES.md). Default: the file the lake was last run with, else the built-in transactions pipeline (pipelines/transactions.yaml).",
                               valueName: "file"))
    var pipeline: String?

    /// The checked pipeline for `lake`; a file that is wrong is exit 64 with its line and column.
    func resolve(lake: String) throws -> CheckedPipeline {
        try Lake.pipeline(lake: lake, file: pipeline)
    }
}
