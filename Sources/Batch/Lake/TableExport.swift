import Foundation
import Segments
#if canImport(Glibc)
import Glibc
#endif

/// Writes a table as one CSV file: a header, then every row in the table's order (its
/// files in commit order, rows in file order), values in the text forms of docs/TRANSACTIONS.md
/// section 5. The file appears atomically (temporary name, fsync, rename).
public enum TableExport {
    public struct Result: Sendable {
        public var rows: Int
        public var bytes: Int
    }

    public static func csv(table: String, to path: String) throws -> Result {
        let reader = try TableReader(path: table)
        let schema = reader.snapshot.schema
        let temp = path + ".tmp-\(getpid())"
        let fd = try SystemIO.open(temp, O_WRONLY | O_CREAT | O_TRUNC)
        var done = false
        defer {
            if !done {
                SystemIO.close(fd)
                try? SystemIO.unlink(temp) // best effort: the export failed and its partial file goes
            }
        }
        let out = ByteBuffer(capacity: 1 << 20)
        let csv = CSVWriter()
        csv.appendHeader(schema, to: out)
        var rows = 0
        var bytes = 0
        func drain() throws {
            try out.withUnsafeBytes { (b) throws(SegmentError) in try SystemIO.writeAll(fd, b, path: temp) }
            bytes += out.count
            out.removeAll()
        }
        for k in 0..<reader.segmentCount {
            let segment = try reader.segment(k)
            let vectors = (0..<schema.count).map { segment.makeVector(column: $0) }
            for g in segment.rowGroups.indices {
                for c in 0..<schema.count { try segment.read(column: c, rowGroup: g, into: vectors[c]) }
                let n = segment.rowGroups[g].rowCount
                var first = 0
                while first < n {
                    let end = min(n, first + 4096)
                    csv.appendRows(vectors, rows: first..<end, to: out)
                    first = end
                    if out.count >= 1 << 20 { try drain() }
                }
                rows += n
            }
        }
        try drain()
        try SystemIO.fsync(fd, path: temp)
        SystemIO.close(fd)
        done = true
        try SystemIO.rename(temp, path)
        return Result(rows: rows, bytes: bytes)
    }

    /// Writes a table as Parquet files under `dir` (replaced whole): one file per
    /// partition folder of the table (`event_date=2025-03-14/part-00000.parquet`, the
    /// partition's columns in the folder name only, as Hive-style readers expect), or
    /// `part-00000.parquet` for a table without partitions. Rows in the table's order.
    public static func parquet(table: String, to dir: String, options: ParquetWriter.Options) throws -> Result {
        let reader = try TableReader(path: table)
        let schema = reader.snapshot.schema
        let partitionColumns = Set(reader.snapshot.partitionColumns)
        let kept = schema.fields.indices.filter { !partitionColumns.contains(schema.fields[$0].name) }
        let fields = kept.map { schema.fields[$0] }
        let temp = dir + ".tmp-\(getpid())"
        if SystemIO.exists(temp) { try FileManager.default.removeItem(atPath: temp) }
        try SystemIO.makeDirectories(temp)
        // The files of each partition folder, in commit order; folders in first-seen order.
        var folders: [String] = []
        var filesOf: [String: [Int]] = [:]
        for (k, f) in reader.snapshot.files.enumerated() {
            let folder = f.path.split(separator: "/").dropLast().joined(separator: "/")
            if filesOf[folder] == nil { folders.append(folder) }
            filesOf[folder, default: []].append(k)
        }
        if folders.isEmpty { folders = [""] }
        var rows = 0, bytes = 0
        for folder in folders {
            let target = folder.isEmpty ? temp : temp + "/" + folder
            try SystemIO.makeDirectories(target)
            let writer = try ParquetWriter(path: target + "/part-00000.parquet", fields: fields, options: options)
            for k in filesOf[folder] ?? [] {
                let segment = try reader.segment(k)
                let vectors = kept.map { segment.makeVector(column: $0) }
                for g in segment.rowGroups.indices {
                    for (i, c) in kept.enumerated() { try segment.read(column: c, rowGroup: g, into: vectors[i]) }
                    try writer.append(vectors, rows: 0..<segment.rowGroups[g].rowCount)
                }
            }
            bytes += try writer.finish()
            rows += writer.rows
        }
        if SystemIO.exists(dir) { try FileManager.default.removeItem(atPath: dir) }
        try SystemIO.rename(temp, dir)
        return Result(rows: rows, bytes: bytes)
    }
}
