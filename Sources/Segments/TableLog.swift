import Foundation

/// One segment file of a table, as its commit log records it.
public struct TableFile: Codable, Hashable, Sendable {
    /// Path relative to the table folder, e.g. `day=2025-03-14/part-...seg`.
    public var path: String
    public var rows: Int
    public var bytes: Int
    /// Partition column -> value, as in the Hive-style folder name.
    public var partition: [String: String]

    public init(path: String, rows: Int, bytes: Int, partition: [String: String]) {
        self.path = path
        self.rows = rows
        self.bytes = bytes
        self.partition = partition
    }
}

/// A column of a table's schema as the log stores it.
struct LogField: Codable, Hashable {
    var name: String
    var type: String
    var scale: Int?
    var nullable: Bool

    init(_ f: Field) {
        name = f.name
        nullable = f.nullable
        switch f.type {
        case .decimal(let s): type = "decimal"; scale = s
        default: type = f.type.description; scale = nil
        }
    }

    func field() -> Field? {
        let t: ColumnType
        switch type {
        case "bool": t = .bool
        case "int32": t = .int32
        case "int64": t = .int64
        case "float64": t = .float64
        case "decimal": guard let s = scale, (0...18).contains(s) else { return nil }; t = .decimal(scale: s)
        case "date": t = .date
        case "timestamp": t = .timestamp
        case "string": t = .string
        default: return nil
        }
        return Field(name, t, nullable: nullable)
    }
}

/// One commit: the files it adds and removes, atomically.
///
/// On disk: `_log/NNNNNNNNNNNNNNNNNNNN.log` (version, 20 digits), two lines: the entry as
/// JSON (sorted keys), then `xxh64:` and the hex checksum of the JSON line's bytes.
struct LogEntry: Codable, Hashable {
    var version: Int
    /// Milliseconds since the epoch when the commit was made.
    var timestampMs: Int64
    var operation: String
    /// The schema; present in version 1 and whenever it changes.
    var schema: [LogField]?
    var partitionColumns: [String]?
    var add: [TableFile]
    var remove: [String]
    /// Free-form facts of the commit (for example the checksums of ingested raw files).
    var info: [String: String]
    /// The table's identity: made at random when the table's first version is committed
    /// and carried by every later commit, so a table deleted and made again (or replaced
    /// by another folder) never passes for its predecessor. Absent in logs written before
    /// it existed; `TableSnapshot.tableId` then derives one from the first commit.
    var tableId: String?

    static let folder = "_log"

    static func fileName(_ version: Int) -> String {
        let digits = String(version)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".log"
    }

    static func version(ofFileName name: String) -> Int? {
        guard name.hasSuffix(".log"), name.utf8.count == 24 else { return nil }
        let digits = name.dropLast(4)
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }

    func serialized() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = Array(try encoder.encode(self))
        let sum = Checksum.xxh64(json)
        return json + Array("\nxxh64:\(String(sum, radix: 16))\n".utf8)
    }

    static func parse(_ bytes: [UInt8], path: String) throws(SegmentError) -> LogEntry {
        guard let nl = bytes.firstIndex(of: UInt8(ascii: "\n")) else {
            throw SegmentError(.badLog, path: path, offset: 0, "commit log entry has no checksum line: the log is damaged")
        }
        let json = Array(bytes[..<nl])
        let rest = String(decoding: bytes[(nl + 1)...], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard rest == "xxh64:\(String(Checksum.xxh64(json), radix: 16))" else {
            throw SegmentError(.badLog, path: path, offset: nl + 1, "commit log entry fails its checksum: the log is damaged; restore the table from a copy")
        }
        do {
            return try JSONDecoder().decode(LogEntry.self, from: Data(json))
        } catch {
            throw SegmentError(.badLog, path: path, offset: 0, "commit log entry is not a valid entry: \(error)")
        }
    }
}

/// Hive-style partition folder names: `key=value` with `%XX` escapes for bytes that a
/// path cannot hold plainly.
public enum PartitionPath {
    public static func folder(_ partition: [(String, String)]) -> String {
        partition.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "/")
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            let c = Character(Unicode.Scalar(b))
            if b < 0x80 && (c.isLetter || c.isNumber || c == "-" || c == "_" || c == "." || c == " " || c == ":") {
                out.append(c)
            } else {
                out += "%" + String(format: "%02X", b)
            }
        }
        return out
    }
}
