import ArgumentParser
import Batch
import Foundation
import Segments
import Spill

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a sample bronze-shaped table partitioned by event_date, then inspect it."
    )

    @Option(help: "Rows to write.")
    var records = 1_000_000

    @Option(help: "Folder of the sample table.")
    var out = "demo-data/lake/sample"

    @Option(help: "Codec: lz4, zstd, zstd:LEVEL (1-19) or none.")
    var compression = "zstd:3"

    @Option(help: "Rows per batch.")
    var batchRows = 65_536

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard Compression(parsing: compression) != nil else {
            throw ValidationError("--compression must be lz4, zstd, zstd:LEVEL (1-19) or none, not '\(compression)'")
        }
        guard records >= 0 else { throw ValidationError("--records must be 0 or more") }
        guard (1...SegmentFormat.rowGroupRowsMax).contains(batchRows) else {
            throw ValidationError("--batch-rows must be 1...\(SegmentFormat.rowGroupRowsMax)")
        }
    }

    func run() throws {
        try reportingErrors {
            let codec = Compression(parsing: compression) ?? .lz4
            let clock = ContinuousClock()
            let start = clock.now
            let result = try SampleTableWriter.write(records: records, to: out, compression: codec, batchRows: batchRows)
            let elapsed = clock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let report = try Inspection.inspect(out)
            if output.json {
                print(JSON.object([
                    ("written", .object([("rows", .int(result.rows)), ("bytes", .int(result.bytes)),
                                         ("partitions", .int(result.partitions)), ("version", .int(result.version)),
                                         ("seconds", .double(seconds))])),
                    ("inspect", report.json),
                ]).rendered())
            } else if !output.quiet {
                printErr(String(format: "wrote %d rows in %d partitions to %@ (%@, %.2f s, version %d)\n",
                                result.rows, result.partitions, out, ByteSize.format(result.bytes), seconds, result.version))
                printErr(report.text)
            }
        }
    }
}
