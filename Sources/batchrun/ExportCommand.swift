import ArgumentParser
import Batch
import Foundation
import Segments
import Spill

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a table of a lake as DIR/TABLE.csv, or as Parquet files under DIR/TABLE/.",
        usage: "batchrun export LAKE TABLE [--format csv|parquet|delta] [--compression zstd|zstd:LEVEL|lz4|none] [--memory-limit SIZE] [--out DIR] [--json] [-q]",
        discussion: """
        csv: a header, then the rows in the table's order, values in the text forms of \
        docs/PIPELINE-NOTES.md (decimals with their scale, dates YYYY-MM-DD, timestamps in UTC \
        with Z). parquet: DIR/TABLE/part-00000.parquet, or one file per partition in \
        Hive-style folders (COLUMN=2025-03-14/, year=2025/month=3/), the rows in the \
        table's order; docs/FORMAT.md says what is written. delta: the same files and a Delta \
        Lake log in DIR/TABLE/_delta_log/; exporting again commits the next version (the \
        lake table's version is recorded, so the same lake version commits nothing). The \
        output appears whole or not at all.
        """
    )

    @Argument(help: "The lake folder.")
    var lake: String

    @Argument(help: ArgumentHelp("\(Lake.topTables.joined(separator: ", ")), a gold table or gold/<name>, or a reference table or reference/<name>: those of the lake's pipeline file (the built-in pipeline's are \(Lake.goldTables.joined(separator: ", ")) and \(Lake.referenceTables.joined(separator: ", ")))."))
    var table: String

    @Option(help: "Output format: csv, parquet or delta.")
    var format = "csv"

    @Option(help: "Codec of Parquet pages: zstd (default), zstd:LEVEL (1-19), lz4 (LZ4_RAW) or none.")
    var compression = "zstd"

    @Option(help: ArgumentHelp("Memory for Parquet row groups: a row group holds at most a quarter of it (forms as in run's --memory-limit; default 256MiB).", valueName: "size"))
    var memoryLimit = "256MiB"

    @Option(help: "Folder for TABLE.csv or TABLE/.")
    var out = "."

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard ["csv", "parquet", "delta"].contains(format) else { throw ValidationError("--format must be csv, parquet or delta, not '\(format)'") }
        if let why = ByteSize.problem(memoryLimit) { throw ValidationError("--memory-limit '\(memoryLimit)': \(why)") }
        guard Compression(parsing: compression) != nil else {
            throw ValidationError("--compression must be zstd, zstd:LEVEL (1-19), lz4 or none, not '\(compression)'")
        }
    }

    func run() throws {
        try reportingErrors {
            let source = try Lake.tablePath(lake: lake, name: table)
            try SystemIO.makeDirectories(out)
            // Named by the table's last name: never a path outside DIR.
            let name = source.split(separator: "/").last.map(String.init) ?? "table"
            let file: String
            let result: TableExport.Result
            var options = ParquetWriter.Options()
            options.codec = Compression(parsing: compression) ?? .zstd()
            options.rowGroupBytes = max(1 << 20, (ByteSize.parse(memoryLimit) ?? 256 << 20) / 4)
            if format == "delta" {
                file = out + "/" + name
                let d = try DeltaTable.export(table: source, name: name, to: file, options: options)
                if output.json {
                    print(JSON.object([("table", .string(table)), ("folder", .string(file)), ("version", .int(d.version)),
                                       ("committed", .bool(d.committed != nil)), ("rows", .int(d.rows)), ("bytes", .int(d.bytes))]).rendered())
                } else if !output.quiet {
                    printErr(d.committed != nil ? "exported \(d.rows) rows of \(table) to \(file) as Delta version \(d.version)"
                             : "\(file) is at Delta version \(d.version), which already holds this version of \(table): nothing to commit")
                }
                return
            } else if format == "parquet" {
                file = out + "/" + name
                result = try TableExport.parquet(table: source, to: file, options: options)
            } else {
                file = out + "/" + name + ".csv"
                result = try TableExport.csv(table: source, to: file)
            }
            if output.json {
                print(JSON.object([("table", .string(table)), ("file", .string(file)), ("rows", .int(result.rows)), ("bytes", .int(result.bytes))]).rendered())
            } else if !output.quiet {
                printErr("exported \(result.rows) rows of \(table) to \(file) (\(result.bytes) bytes)")
            }
        }
    }
}
