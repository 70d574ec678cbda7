import ArgumentParser
import Batch
import Foundation
import Segments

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a table of a lake as DIR/TABLE.csv: a header, then the rows in the table's order.",
        usage: "batchrun export LAKE TABLE [--format csv] [--out DIR] [--json] [-q]",
        discussion: "Values are written in the text forms of docs/PIPELINE-NOTES.md (decimals with their scale, dates YYYY-MM-DD, timestamps in UTC with Z)."
    )

    @Argument(help: "The lake folder.")
    var lake: String

    @Argument(help: ArgumentHelp("\(Lake.topTables.joined(separator: ", ")), a gold table or gold/<name>, or a reference table or reference/<name>: those of the lake's pipeline file (the built-in pipeline's are \(Lake.goldTables.joined(separator: ", ")) and \(Lake.referenceTables.joined(separator: ", ")))."))
    var table: String

    @Option(help: "Output format; csv is the one there is.")
    var format = "csv"

    @Option(help: "Folder for TABLE.csv.")
    var out = "."

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard format == "csv" else { throw ValidationError("--format must be csv, not '\(format)'") }
    }

    func run() throws {
        try reportingErrors {
            let source = try Lake.tablePath(lake: lake, name: table)
            try SystemIO.makeDirectories(out)
            // The file is named by the table's last name: never a path outside DIR.
            let file = out + "/" + (source.split(separator: "/").last.map(String.init) ?? "table") + ".csv"
            let result = try TableExport.csv(table: source, to: file)
            if output.json {
                print(JSON.object([("table", .string(table)), ("file", .string(file)), ("rows", .int(result.rows)), ("bytes", .int(result.bytes))]).rendered())
            } else if !output.quiet {
                printErr("exported \(result.rows) rows of \(table) to \(file) (\(result.bytes) bytes)")
            }
        }
    }
}
