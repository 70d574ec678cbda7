import Foundation

// EmbedText INPUT NAME OUTPUT: writes OUTPUT, a Swift file that gives the Batch module
// the bytes of INPUT (a UTF-8 text file) as `BuiltinPipelines.defaultText` and NAME as
// `BuiltinPipelines.defaultName`. The EmbedPipelines build plugin runs it.

/// `text` as the body of a one-line Swift string literal: quotes, backslashes and every
/// control character escaped, so the literal holds the file's bytes exactly (a multi-line
/// literal would turn CR LF into LF).
func escaped(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count + text.utf8.count / 8)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": out += "\\\\"
        case "\"": out += "\\\""
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20 || scalar.value == 0x7F:
            out += "\\u{" + String(scalar.value, radix: 16) + "}"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("EmbedText: \(message)\n".utf8))
    exit(1)
}

let arguments = CommandLine.arguments.dropFirst()
guard arguments.count == 3 else { fail("usage: EmbedText INPUT NAME OUTPUT") }
let (input, name, output) = (arguments[arguments.startIndex], arguments[arguments.startIndex + 1], arguments[arguments.startIndex + 2])
guard let data = FileManager.default.contents(atPath: input) else { fail("cannot read \(input)") }
guard let text = String(data: data, encoding: .utf8), Data(text.utf8) == data else {
    fail("\(input) is not UTF-8 text")
}
let source = """
    // Generated at build time by EmbedText from \(name); do not edit.
    extension BuiltinPipelines {
        /// The default pipeline file's path in the repository.
        public static let defaultName = "\(escaped(name))"
        /// The default pipeline file's text, byte for byte.
        public static let defaultText = "\(escaped(text))"
    }

    """
do {
    try Data(source.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
} catch {
    fail("cannot write \(output): \(error)")
}
