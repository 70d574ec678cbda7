/// The one error type of the Segments module.
///
/// It carries a small code, the context that locates the problem (file, column,
/// byte offset, row group), the underlying errno or codec code, and a message that
/// says what went wrong and what to do about it.
public struct SegmentError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        /// The file is not a segment, or is of a format version this build cannot read.
        case notASegment
        /// The file is shorter than its own structure says: truncated.
        case truncated
        /// A checksum, an offset or a length inside the file is wrong: the file is damaged.
        case corrupt
        /// A codec (zstd, LZ4) failed.
        case codec
        /// An operating-system call failed; `errno` holds the reason.
        case io
        /// The caller asked for something the file or schema does not have.
        case invalidArgument
        /// Another writer holds the table.
        case locked
        /// The table's commit log is missing or damaged.
        case badLog
    }

    public var code: Code
    public var path: String
    public var column: String?
    public var offset: Int?
    public var errno: Int32?
    public var message: String

    public init(_ code: Code, path: String, column: String? = nil, offset: Int? = nil, errno: Int32? = nil, _ message: String) {
        self.code = code
        self.path = path
        self.column = column
        self.offset = offset
        self.errno = errno
        self.message = message
    }

    public var description: String {
        var parts = ["\(path)"]
        if let column { parts.append("column '\(column)'") }
        if let offset { parts.append("byte offset \(offset)") }
        var text = parts.joined(separator: ", ") + ": " + message
        if let errno { text += " (errno \(errno): \(String(cString: strerror(errno))))" }
        return text
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
