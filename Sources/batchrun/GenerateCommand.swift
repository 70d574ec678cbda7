import ArgumentParser
import Batch
import Foundation
import Segments
import Spill

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a landing zone of generated transactions and its _expected.json, the same bytes for the same flags.",
        usage: "batchrun generate --records N --out RAW [options]"
    )

    @Option(help: "Transaction records in all (bronze rows).")
    var records: Int

    @Option(help: "The landing zone folder to write.")
    var out: String

    @Option(help: "Seed of every random choice.")
    var seed: UInt64 = 42

    @Option(help: "Transaction files to split the records over.")
    var files = 4

    @Option(help: "How many of the files (the last ones) to write as .csv.zst.")
    var zstFiles = 0

    @Option(help: "Days the events span.")
    var days = 90

    @Option(help: "Order of the records: time (event times and ids ascending, as an append-only feed) or random (scattered, as real feeds arrive).")
    var order = "time"

    @Option(help: "First day of the events (YYYY-MM-DD).")
    var start = "2025-01-01"

    @Option(help: "Customers (default: records/50, at least 10).")
    var customers: Int?

    @Option(help: "Products (default: records/100, at least 10).")
    var products: Int?

    @Option(help: "Share of records that are later versions of an earlier transaction.")
    var updateRate = 0.05

    @Option(help: "Share of records that are exact re-sent duplicates.")
    var dupRate = 0.02

    @Option(help: "Share of records that fail a quarantine rule (spread over the 11 reasons).")
    var dirtyRate = 0.03

    @Flag(help: "Write every field in its plain form: no padding, quoting, case or time-zone noise.")
    var clean = false

    @Option(help: "Worker threads (default: the cores available); the files are the same whatever the threads.")
    var threads: Int?

    @OptionGroup var output: OutputOptions

    var startDay: Int32? {
        var s = start
        return s.withUTF8 { FieldParsers.date(UnsafeRawBufferPointer($0)) }
    }

    func validate() throws {
        guard records >= 0 else { throw ValidationError("--records must be 0 or more") }
        guard files >= 1 else { throw ValidationError("--files must be 1 or more") }
        guard (0...files).contains(zstFiles) else { throw ValidationError("--zst-files must be 0...--files") }
        guard days >= 1 else { throw ValidationError("--days must be 1 or more") }
        guard Generator.Order(rawValue: order) != nil else { throw ValidationError("--order must be time or random, not '\(order)'") }
        guard startDay != nil else { throw ValidationError("--start must be a date YYYY-MM-DD, not '\(start)'") }
        for (name, v) in [("update", updateRate), ("dup", dupRate), ("dirty", dirtyRate)] where !(0...1).contains(v) {
            throw ValidationError("--\(name)-rate must be between 0 and 1")
        }
        guard updateRate + dupRate + dirtyRate <= 1 else { throw ValidationError("the three rates add up to more than 1") }
        if let c = customers, c < 1 { throw ValidationError("--customers must be 1 or more") }
        if let p = products, p < 1 { throw ValidationError("--products must be 1 or more") }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be 1...256, not \(threads)") }
    }

    func run() throws {
        try reportingErrors {
            var o = Generator.Options(records: records)
            o.seed = seed
            o.files = files
            o.compressedFiles = zstFiles
            o.days = days
            o.order = Generator.Order(rawValue: order) ?? .time
            o.startDay = Int(startDay ?? 20_089)
            o.customers = customers
            o.products = products
            o.updateRate = updateRate
            o.dupRate = dupRate
            o.dirtyRate = dirtyRate
            o.noise = !clean
            o.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
            let clock = ContinuousClock()
            let t0 = clock.now
            let result = try Generator(options: o).write(to: out)
            let seconds = (clock.now - t0).seconds
            if output.json {
                print(JSON.object([("out", .string(out)), ("files", .array(result.files.map { .string($0) })),
                                   ("bytes", .int(result.bytes)), ("seconds", .double(seconds)),
                                   ("expected", result.expected.json)]).rendered())
            } else if !output.quiet {
                let e = result.expected
                let quarantined = e.quarantined.values.reduce(0, +)
                printErr(String(format: "wrote %d records in %d file(s) + customers, products, fx_rates to %@ (%@, %.2f s)",
                                records, files, out, ByteSize.format(result.bytes), seconds))
                printErr("expected: bronze \(e.bronze), quarantined \(quarantined), duplicates removed \(e.duplicatesRemoved), silver \(e.silver) (\(out)/_expected.json)")
            }
        }
    }
}
