import ArgumentParser
import Foundation

@main
struct Batchrun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batchrun",
        abstract: "An out-of-core batch engine for medallion pipelines: raw CSV -> bronze -> silver -> gold.",
        discussion: ExitStatus.documentation,
        subcommands: [CheckCommand.self, GenerateCommand.self, IngestCommand.self, SilverCommand.self, GoldCommand.self, RunCommand.self, Demo.self, BenchCommand.self,
                      ExportCommand.self, Inspect.self, VerifyCommand.self]
    )
}

/// Flags every command that prints a report shares.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print one machine-readable JSON object on stdout instead of the human report.")
    var json = false

    @Flag(name: .shortAndLong, help: "Print only errors.")
    var quiet = false
}

/// Writes to stderr: human output and progress never mix with `--json` on stdout.
func printErr(_ text: String) {
    FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
}
