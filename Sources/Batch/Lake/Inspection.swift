import Foundation
import Segments

/// What `batchrun inspect` shows of a table or a single segment file.
public struct Inspection {
    public struct ColumnSummary {
        public var name: String
        public var type: ColumnType
        public var nullable: Bool
        /// Chunks per codec, e.g. ["lz4": 12, "none": 1].
        public var codecs: [String: Int] = [:]
        /// Chunks per encoding.
        public var encodings: [String: Int] = [:]
        public var compressedBytes = 0
        public var uncompressedBytes = 0
        public var nullCount = 0
        public var min: StatValue?
        public var max: StatValue?

        public var ratio: Double { compressedBytes == 0 ? 0 : Double(uncompressedBytes) / Double(compressedBytes) }
    }

    public struct SegmentSummaryRow {
        public var path: String
        public var rows: Int
        public var bytes: Int
        public var rowGroups: Int
        public var partition: [String: String]
    }

    public var kind: String
    public var path: String
    public var version: Int?
    public var rows: Int
    public var bytes: Int
    public var partitionColumns: [String]
    public var partitions: [(values: [String: String], rows: Int, files: Int)]
    public var segments: [SegmentSummaryRow]
    public var columns: [ColumnSummary]

    /// Inspects `path`: a table folder (with `_log/`) or one segment file.
    public static func inspect(_ path: String) throws(SegmentError) -> Inspection {
        if Table.exists(at: path) {
            let reader = try TableReader(path: path)
            let snap = reader.snapshot
            var result = Inspection(kind: "table", path: path, version: snap.version, rows: snap.rowCount, bytes: snap.bytes,
                                    partitionColumns: snap.partitionColumns, partitions: [], segments: [],
                                    columns: columnSummaries(snap.schema))
            var byPartition: [[String: String]: (rows: Int, files: Int)] = [:]
            for (k, file) in snap.files.enumerated() {
                let seg = try reader.segment(k)
                result.segments.append(SegmentSummaryRow(path: file.path, rows: file.rows, bytes: file.bytes,
                                                         rowGroups: seg.rowGroups.count, partition: file.partition))
                byPartition[file.partition, default: (0, 0)].rows += file.rows
                byPartition[file.partition, default: (0, 0)].files += 1
                accumulate(seg, into: &result.columns)
            }
            if !snap.partitionColumns.isEmpty {
                result.partitions = snap.partitions.map { ($0, byPartition[$0]?.rows ?? 0, byPartition[$0]?.files ?? 0) }
            }
            return result
        }
        if SystemIO.isDirectory(path) {
            throw SegmentError(.invalidArgument, path: path, "is a folder but not a batchrun table (no _log/); give a table folder or a .seg file")
        }
        let seg = try SegmentReader(path: path)
        var result = Inspection(kind: "segment", path: path, version: nil, rows: seg.rowCount, bytes: seg.fileBytes,
                                partitionColumns: [], partitions: [],
                                segments: [SegmentSummaryRow(path: path, rows: seg.rowCount, bytes: seg.fileBytes, rowGroups: seg.rowGroups.count, partition: [:])],
                                columns: columnSummaries(seg.schema))
        accumulate(seg, into: &result.columns)
        return result
    }

    static func columnSummaries(_ schema: Schema) -> [ColumnSummary] {
        schema.fields.map { ColumnSummary(name: $0.name, type: $0.type, nullable: $0.nullable) }
    }

    static func accumulate(_ seg: SegmentReader, into columns: inout [ColumnSummary]) {
        for g in seg.rowGroups {
            for (i, c) in g.chunks.enumerated() {
                columns[i].codecs[c.compression.description, default: 0] += 1
                columns[i].encodings[c.encoding.name, default: 0] += 1
                columns[i].compressedBytes += c.storedBytes
                columns[i].uncompressedBytes += c.rawBytes
                columns[i].nullCount += c.stats.nullCount
                if let lo = c.stats.min { columns[i].min = columns[i].min.map { lesser($0, lo) } ?? lo }
                if let hi = c.stats.max { columns[i].max = columns[i].max.map { greater($0, hi) } ?? hi }
            }
        }
    }

    static func lesser(_ a: StatValue, _ b: StatValue) -> StatValue { compare(b, a) < 0 ? b : a }
    static func greater(_ a: StatValue, _ b: StatValue) -> StatValue { compare(b, a) > 0 ? b : a }

    static func compare(_ a: StatValue, _ b: StatValue) -> Int {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y ? -1 : (x > y ? 1 : 0)
        case (.double(let x), .double(let y)): return x < y ? -1 : (x > y ? 1 : 0)
        case (.bool(let x), .bool(let y)): return x == y ? 0 : (x ? 1 : -1)
        case (.bytes(let x, _), .bytes(let y, _)):
            return x.withUnsafeBytes { xb in y.withUnsafeBytes { yb in Bytes.compare(xb, yb) } }
        default: return 0
        }
    }

    /// A statistic in the text forms of docs/TRANSACTIONS.md section 5.
    public static func text(_ v: StatValue?, _ type: ColumnType) -> String? {
        guard let v else { return nil }
        switch (v, type) {
        case (.int(let x), .decimal(let scale)): return ValueText.decimal(x, scale: scale)
        case (.int(let x), .date): return ValueText.date(Int32(truncatingIfNeeded: x))
        case (.int(let x), .timestamp): return ValueText.timestamp(x)
        case (.int(let x), _): return String(x)
        case (.double(let x), _): return String(x)
        case (.bool(let x), _): return x ? "true" : "false"
        case (.bytes(let b, let exact), _): return String(decoding: b, as: UTF8.self) + (exact ? "" : "…")
        }
    }

    public var json: JSON {
        func stat(_ v: StatValue?, _ t: ColumnType) -> JSON { Inspection.text(v, t).map(JSON.string) ?? .null }
        var pairs: [(String, JSON)] = [
            ("kind", .string(kind)), ("path", .string(path)), ("rows", .int(rows)), ("bytes", .int(bytes)),
        ]
        if let version { pairs.append(("version", .int(version))) }
        pairs.append(("partition_columns", .array(partitionColumns.map(JSON.string))))
        pairs.append(("partitions", .array(partitions.map { p in
            .object([("values", .object(partitionColumns.map { ($0, .string(p.values[$0] ?? "")) })),
                     ("rows", .int(p.rows)), ("files", .int(p.files))])
        })))
        pairs.append(("segments", .array(segments.map { s in
            .object([("path", .string(s.path)), ("rows", .int(s.rows)), ("bytes", .int(s.bytes)), ("row_groups", .int(s.rowGroups))])
        })))
        pairs.append(("columns", .array(columns.map { c in
            .object([
                ("name", .string(c.name)), ("type", .string(c.type.description)), ("nullable", .bool(c.nullable)),
                ("codecs", .object(c.codecs.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
                ("encodings", .object(c.encodings.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
                ("compressed_bytes", .int(c.compressedBytes)), ("uncompressed_bytes", .int(c.uncompressedBytes)),
                ("ratio", .double(c.ratio)), ("null_count", .int(c.nullCount)),
                ("min", stat(c.min, c.type)), ("max", stat(c.max, c.type)),
            ])
        })))
        return .object(pairs)
    }

    /// The human-readable report.
    public var text: String {
        var out = "\(kind) \(path)\n"
        if let version { out += "  version     \(version)\n" }
        out += "  rows        \(rows)\n"
        out += "  bytes       \(bytes) (\(segments.count) segment\(segments.count == 1 ? "" : "s"))\n"
        if !partitionColumns.isEmpty {
            out += "  partitions  \(partitions.count) by \(partitionColumns.joined(separator: ", "))\n"
            for p in partitions.prefix(10) {
                out += "    " + partitionColumns.map { "\($0)=\(p.values[$0] ?? "")" }.joined(separator: "/") + "  \(p.rows) rows, \(p.files) file(s)\n"
            }
            if partitions.count > 10 { out += "    ... \(partitions.count - 10) more\n" }
        }
        let header = ["column", "type", "codec", "encoding", "compressed", "uncompressed", "ratio", "nulls", "min", "max"]
        var rowsText: [[String]] = [header]
        for c in columns {
            rowsText.append([
                c.name, c.type.description,
                c.codecs.sorted { $0.key < $1.key }.map { $0.key }.joined(separator: "+"),
                c.encodings.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.map { $0.key }.joined(separator: "+"),
                String(c.compressedBytes), String(c.uncompressedBytes), String(format: "%.2f", c.ratio), String(c.nullCount),
                Inspection.clip(Inspection.text(c.min, c.type) ?? ""), Inspection.clip(Inspection.text(c.max, c.type) ?? ""),
            ])
        }
        let widths = header.indices.map { i in rowsText.map { $0[i].count }.max() ?? 0 }
        for r in rowsText {
            out += "  " + r.indices.map { i in r[i].padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ") + "\n"
        }
        return out
    }

    static func clip(_ s: String) -> String {
        let flat = s.replacingOccurrences(of: "\n", with: "\\n")
        return flat.count > 28 ? String(flat.prefix(27)) + "…" : flat
    }
}

/// The text forms of values (docs/TRANSACTIONS.md section 5).
public enum ValueText {
    public static func decimal(_ units: Int64, scale: Int) -> String {
        if scale == 0 { return String(units) }
        let neg = units < 0
        let mag = units.magnitude
        var p: UInt64 = 1
        for _ in 0..<scale { p *= 10 }
        let frac = String(mag % p)
        return (neg ? "-" : "") + String(mag / p) + "." + String(repeating: "0", count: scale - frac.count) + frac
    }

    /// Civil date of a day count since 1970-01-01 (proleptic Gregorian).
    public static func civil(_ days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, Int(m), Int(d))
    }

    public static func date(_ days: Int32) -> String {
        let c = civil(Int64(days))
        return String(format: "%04lld-%02d-%02d", c.year, c.month, c.day)
    }

    public static func timestamp(_ micros: Int64) -> String {
        let perDay: Int64 = 86_400_000_000
        var days = micros / perDay
        var rest = micros % perDay
        if rest < 0 { rest += perDay; days -= 1 }
        let secs = rest / 1_000_000
        let frac = rest % 1_000_000
        let c = civil(days)
        var s = String(format: "%04lld-%02d-%02dT%02lld:%02lld:%02lld", c.year, c.month, c.day, secs / 3600, secs / 60 % 60, secs % 60)
        if frac != 0 { s += String(format: ".%06lld", frac) }
        return s + "Z"
    }
}
