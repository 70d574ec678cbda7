import ArgumentParser
import Batch

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a pipeline file and print the tables it makes, with their typed columns.",
        usage: "batchrun check [FILE] [--json] [-q]",
        discussion: """
        Reads nothing but the file: a mistake (bad YAML, an unknown key or column, a type \
        that does not fit) is named with its line and column, exit 64. Without FILE, the \
        built-in transactions pipeline (pipelines/transactions.yaml). docs/PIPELINES.md \
        describes every key.
        """
    )

    @Argument(help: "The pipeline file (YAML).")
    var file: String?

    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors {
            let pipeline = try PipelineLoader.checked(path: file)
            if output.json {
                print(CheckReporting.json(pipeline).rendered())
            } else if !output.quiet {
                printErr(CheckReporting.text(pipeline))
            }
        }
    }
}

enum CheckReporting {
    static func typeText(_ c: CheckedPipeline.Column) -> String { c.type.description + (c.nullable ? "" : " not null") }

    static func text(_ p: CheckedPipeline) -> String {
        let f = p.file
        var lines = ["\(f.path): pipeline '\(f.name)' is valid", ""]
        lines.append("landing zone: RAW/\(f.facts.files) (and .csv.zst) as \(f.facts.name)"
                     + (f.references.isEmpty ? "" : "; " + f.references.map { "RAW/\($0.files) as \($0.name) (key \($0.key ?? ""))" }.joined(separator: ", ")))
        lines.append("quarantine reasons, in order: " + p.reasons.joined(separator: ", "))
        if let d = f.silver.dedup {
            lines.append("dedup: one row per (\(d.key.map(\.name).joined(separator: ", "))), the \(d.keep.rawValue) (\(d.by.map(\.name).joined(separator: ", "))), ties to the row ingested last")
        } else {
            lines.append("dedup: none")
        }
        for t in p.tables {
            lines.append("")
            var head = t.name
            if let part = t.partition { head += "  partitioned by \(part)" }
            if !t.order.isEmpty { head += "  ordered by \(t.order.joined(separator: ", "))" }
            lines.append(head)
            let width = max(12, t.columns.map(\.name.count).max() ?? 0)
            for c in t.columns { lines.append("  " + c.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + typeText(c)) }
        }
        return lines.joined(separator: "\n")
    }

    static func json(_ p: CheckedPipeline) -> JSON {
        .object([
            ("file", .string(p.file.path)), ("name", .string(p.file.name)), ("valid", .bool(true)),
            ("reasons", .array(p.reasons.map { .string($0) })),
            ("tables", .array(p.tables.map { t in
                .object([("table", .string(t.name)), ("partition", t.partition.map { .string($0) } ?? .null),
                         ("order", .array(t.order.map { .string($0) })),
                         ("columns", .array(t.columns.map { c in
                             .object([("name", .string(c.name)), ("type", .string(c.type.description)), ("nullable", .bool(c.nullable))])
                         }))])
            })),
        ])
    }
}

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Print the operators each stage of a pipeline runs and the memory each is granted, as EXPLAIN does.",
        usage: "batchrun plan [FILE] [--memory-limit SIZE] [--batch-rows N] [--threads N] [--json] [-q]",
        discussion: """
        Reads nothing but the file (a mistake is exit 64 with its line and column). The \
        grants come from the same rules the stages apply to --memory-limit, --batch-rows and \
        --threads; where a stage decides from its data (silver's range sort, a gold \
        projection that arrives out of order), both cases are given. Reference tables stay in \
        memory at their size and are reserved before the grants are cut. Without FILE, the \
        built-in transactions pipeline.
        """
    )

    @Argument(help: "The pipeline file (YAML).")
    var file: String?

    @Option(help: "Threads, as run's --threads (default: the cores available).")
    var threads: Int?

    @OptionGroup var engine: EngineOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be 1...256, not \(threads)") }
    }

    func run() throws {
        try reportingErrors {
            let plan = try OperatorPlan(try PipelineLoader.checked(path: file), limits: engine.limits(threads: threads))
            if output.json {
                print(plan.json.rendered())
            } else if !output.quiet {
                print(plan.text)
            }
        }
    }
}
