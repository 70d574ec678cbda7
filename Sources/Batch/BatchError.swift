#if canImport(Glibc)
import Glibc
#endif

/// The one error type of the Batch module (its operations may also pass on a
/// `SegmentError` or a `SpillError` from the layers below).
///
/// It names the file, the line or byte offset and the column where it can, and says
/// what to change.
public struct BatchError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        /// An input file or folder does not exist.
        case missingInput
        /// A CSV file has no header record (it is empty or holds only blank lines).
        case noHeader
        /// A fact file lacks a required column.
        case missingColumn
        /// A reference file has a row that does not parse.
        case badReference
        /// An input file cannot be read (permissions, I/O error, bad compression).
        case unreadable
        /// The caller asked for something inconsistent (a flag value, a layout).
        case invalidArgument
        /// Layer counts do not add up, or differ from the landing zone's `_expected.json`.
        case reconciliation
        /// An input of a stage is out of date against another (silver built from reference
        /// tables that were replaced since): the earlier stage must run first.
        case staleInput
        /// A stored table is damaged and cannot be rebuilt by this command.
        case damagedTable
        /// An output (a lake folder, a table) cannot be created where it was asked for.
        case cannotCreate
        /// A raw record is larger than the memory budget lets a record be.
        case recordTooLarge
        /// A pipeline file is not valid: bad YAML, an unknown key or column, a type
        /// mismatch. `line` and `columnNumber` say where.
        case badPipeline
    }

    public var code: Code
    public var path: String
    public var line: Int?
    public var offset: Int?
    public var column: String?
    /// The 1-based column (character) of `line` where a pipeline file's mistake is.
    public var columnNumber: Int?
    public var errno: Int32?
    public var message: String

    public init(_ code: Code, path: String, line: Int? = nil, offset: Int? = nil, column: String? = nil, errno: Int32? = nil, _ message: String) {
        self.code = code
        self.path = path
        self.line = line
        self.offset = offset
        self.column = column
        self.errno = errno
        self.message = message
    }

    /// A mistake at `line:column` of a pipeline file, as compilers write it.
    public static func pipeline(_ path: String, _ at: PipelineFile.Position, _ message: String) -> BatchError {
        var e = BatchError(.badPipeline, path: path, line: at.line, message)
        e.columnNumber = at.column
        return e
    }

    public var description: String {
        if code == .badPipeline, let line {
            return "\(path):\(line):\(columnNumber ?? 1): \(message)"
        }
        var parts = [path]
        if let line { parts.append("line \(line)") }
        if let offset { parts.append("byte offset \(offset)") }
        if let column { parts.append("column '\(column)'") }
        var text = parts.joined(separator: ", ") + ": " + message
        if let errno { text += " (errno \(errno): \(String(cString: strerror(errno))))" }
        return text
    }
}
