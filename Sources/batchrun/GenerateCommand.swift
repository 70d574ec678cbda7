import ArgumentParser
import Batch
import Foundation
import Segments
import Spill

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a landing zone for a pipeline (the built-in transactions one, or --pipeline FILE) and its _expected.json, the same bytes for the same flags.",
        usage: "batchrun generate [--pipeline FILE] --records N --out RAW [options]",
        discussion: "With --pipeline, the values come from each column's type and the file's generate: hints (docs/PIPELINES.md, \"Generating a landing zone\"), and --customers and --products do not apply (give rows: under generate:)."
    )

    @Option(help: ArgumentHelp("The pipeline file to make a landing zone for (default: the built-in transactions pipeline).", valueName: "file"))
    var pipeline: String?

    @Option(help: "Fact records in all (bronze rows).")
    var records: Int

    @Option(help: "The landing zone folder to write.")
    var out: String

    @Option(help: "Seed of every random choice.")
    var seed: UInt64 = 42

    @Option(help: "Fact files to split the records over.")
    var files = 4

    @Option(help: "How many of the files (the last ones) to write as .csv.zst.")
    var zstFiles = 0

    @Option(help: "Days the events span (default 90, or the file's generate: days).")
    var days: Int?

    @Option(help: "Order of the records: time (event times and ids ascending, as an append-only feed) or random (scattered, as real feeds arrive).")
    var order = "time"

    @Option(help: "First day of the events, YYYY-MM-DD (default 2025-01-01, or the file's generate: start).")
    var start: String?

    @Option(help: "Customers (default: records/50, at least 10).")
    var customers: Int?

    @Option(help: "Products (default: records/100, at least 10).")
    var products: Int?

    @Option(help: "Share of records that are later versions of an earlier record's dedup key (default 0.05, or the file's generate: versions).")
    var updateRate: Double?

    @Option(help: "Share of records that are exact re-sent duplicates (default 0.02, or the file's generate: duplicates).")
    var dupRate: Double?

    @Option(help: "Share of records that fail a quarantine rule, spread over the reasons (default 0.03, or the file's generate: broken).")
    var dirtyRate: Double?

    @Flag(help: "Write every field in its plain form: no padding, quoting, case or time-zone noise.")
    var clean = false

    @Option(help: "Worker threads (default: the cores available); the files are the same whatever the threads.")
    var threads: Int?

    @OptionGroup var output: OutputOptions

    var startDay: Int32? {
        guard var s = start else { return nil }
        return s.withUTF8 { FieldParsers.date(UnsafeRawBufferPointer($0)) }
    }

    func validate() throws {
        guard records >= 0 else { throw ValidationError("--records must be 0 or more") }
        guard files >= 1 else { throw ValidationError("--files must be 1 or more") }
        guard (0...files).contains(zstFiles) else { throw ValidationError("--zst-files must be 0...--files") }
        if let days, days < 1 { throw ValidationError("--days must be 1 or more") }
        guard Generator.Order(rawValue: order) != nil else { throw ValidationError("--order must be time or random, not '\(order)'") }
        if let start, startDay == nil { throw ValidationError("--start must be a date YYYY-MM-DD, not '\(start)'") }
        for (name, v) in [("update", updateRate), ("dup", dupRate), ("dirty", dirtyRate)] where !(0...1).contains(v ?? 0) {
            throw ValidationError("--\(name)-rate must be between 0 and 1")
        }
        if pipeline == nil { guard (updateRate ?? 0.05) + (dupRate ?? 0.02) + (dirtyRate ?? 0.03) <= 1 else { throw ValidationError("the three rates add up to more than 1") } }
        if let c = customers, c < 1 { throw ValidationError("--customers must be 1 or more") }
        if let p = products, p < 1 { throw ValidationError("--products must be 1 or more") }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be 1...256, not \(threads)") }
    }

    func run() throws {
        try reportingErrors {
            let checked = try PipelineLoader.checked(path: pipeline)
            let clock = ContinuousClock()
            let t0 = clock.now
            let result: Generator.Result
            if checked.file.text == BuiltinPipelines.defaultText {
                result = try Generator(options: transactionsOptions()).write(to: out)
            } else {
                for (flag, value) in [("--customers", customers), ("--products", products)] where value != nil {
                    throw BatchError(.invalidArgument, path: checked.file.path, "\(flag) is for the built-in transactions pipeline; give the rows of each reference file under generate: rows: in the pipeline file")
                }
                var o = PipelineGenerator.Options(records: records)
                o.seed = seed
                o.files = files
                o.compressedFiles = zstFiles
                o.order = Generator.Order(rawValue: order) ?? .time
                o.noise = !clean
                o.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
                o.days = days
                o.startDay = startDay
                o.duplicates = dupRate
                o.versions = updateRate
                o.broken = dirtyRate
                result = try PipelineGenerator(pipeline: checked, options: o).write(to: out)
            }
            let seconds = (clock.now - t0).seconds
            if output.json {
                print(JSON.object([("out", .string(out)), ("files", .array(result.files.map { .string($0) })),
                                   ("bytes", .int(result.bytes)), ("seconds", .double(seconds)),
                                   ("expected", result.expected.json), ("notes", .array(result.notes.map { .string($0) }))]).rendered())
            } else if !output.quiet {
                let e = result.expected
                let quarantined = e.quarantined.values.reduce(0, +)
                printErr(String(format: "wrote %d %@ records in %d file(s) + %d reference file(s) to %@ (%@, %.2f s)",
                                records, checked.file.facts.name, files, checked.file.references.count, out, ByteSize.format(result.bytes), seconds))
                printErr("expected: bronze \(e.bronze), quarantined \(quarantined), duplicates removed \(e.duplicatesRemoved), silver \(e.silver) (\(out)/_expected.json)")
                for note in result.notes { printErr("note: " + note) }
            }
        }
    }

    func transactionsOptions() -> Generator.Options {
        var o = Generator.Options(records: records)
        o.seed = seed
        o.files = files
        o.compressedFiles = zstFiles
        o.days = days ?? 90
        o.order = Generator.Order(rawValue: order) ?? .time
        o.startDay = Int(startDay ?? 20_089)
        o.customers = customers
        o.products = products
        o.updateRate = updateRate ?? 0.05
        o.dupRate = dupRate ?? 0.02
        o.dirtyRate = dirtyRate ?? 0.03
        o.noise = !clean
        o.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
        return o
    }
}
