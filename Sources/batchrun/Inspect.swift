import ArgumentParser
import Batch

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a table or a segment file: schema, rows, partitions, segments, and per column codec, encoding, sizes, ratio, min/max, nulls.",
        usage: "batchrun inspect PATH [--json] [-q]"
    )

    @Argument(help: "A table folder (holding _log/) or one .seg file.")
    var path: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors {
            let report = try Inspection.inspect(path)
            if output.json {
                print(report.json.rendered())
            } else if !output.quiet {
                printErr(report.text)
            }
        }
    }
}
