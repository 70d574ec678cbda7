import ArgumentParser
import Batch
import Foundation

@main
struct Batchrun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batchrun",
        abstract: "An out-of-core batch engine for medallion pipelines: raw CSV -> bronze -> silver -> gold.",
        discussion: ExitStatus.documentation,
        version: "batchrun version \(BatchrunVersion.current)",
        subcommands: [CheckCommand.self, PlanCommand.self, GenerateCommand.self, IngestCommand.self, SilverCommand.self, GoldCommand.self, RunCommand.self, Demo.self, BenchCommand.self,
                      ExportCommand.self, Inspect.self, VerifyCommand.self, SparkCommand.self]
    )

    /// A first argument that names no command (`batchrun injest ...`, `batchrun help
    /// injest`) is a usage error that says which command was meant, not "unknown option".
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        let names = configuration.subcommands.map { $0._commandName }
        let word = args.first == "help" ? args.dropFirst().first : args.first
        if let word, !word.hasPrefix("-"), !names.contains(word) {
            let close = names.min { Suggest.distance(word, $0) < Suggest.distance(word, $1) }
            let hint = close.map { Suggest.distance(word, $0) <= max(2, word.count / 3) ? "; did you mean '\($0)'?" : "." } ?? "."
            printErr("batchrun: error: unknown command '\(word)'\(hint) The commands are \(names.joined(separator: ", ")); batchrun --help says what each does.")
            Foundation.exit(ExitStatus.usage)
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            // --help and --version, and errors already reported (ExitCode), end as they are.
            if code == .success || error is ExitCode { exit(withError: error) }
            var message = fullMessage(for: error)
            if message.hasPrefix("Error: ") { message.removeFirst("Error: ".count) }
            reportError(message, exitCode: code.rawValue)
            Foundation.exit(code.rawValue)
        }
    }
}

/// Flags every command that prints a report shares.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print one machine-readable JSON object on stdout instead of the human report.")
    var json = false

    @Flag(name: .shortAndLong, help: "Print only errors.")
    var quiet = false
}

/// True when the command line asks for a JSON report: an error is then also a JSON
/// object on stdout, `{"error": {"exit_code": N, "message": "..."}}`.
let jsonRequested = CommandLine.arguments.dropFirst().contains("--json")

/// Prints an error: `batchrun: error: ...` on stderr and, with --json, the JSON object.
func reportError(_ message: String, exitCode: Int32) {
    printErr("batchrun: error: " + message)
    if jsonRequested {
        let first = message.components(separatedBy: "\nUsage:").first ?? message // the usage lines are for a person
        print(JSON.object([("error", .object([("exit_code", .int(Int(exitCode))), ("message", .string(first))]))]).rendered())
    }
}

/// Writes to stderr: human output and progress never mix with `--json` on stdout.
func printErr(_ text: String) {
    FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
}
