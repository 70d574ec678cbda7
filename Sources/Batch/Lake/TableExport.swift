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
    /// partition folder of the table (`day=2025-03-14/part-00000.parquet`, the
    /// partition's columns in the folder name only, as Hive-style readers expect), or
    /// `part-00000.parquet` for a table without partitions. Rows in the table's order.
    public static func parquet(table: String, to dir: String, options: ParquetWriter.Options) throws -> Result {
        let reader = try TableReader(path: table)
        let temp = dir + ".tmp-\(getpid())"
        if SystemIO.exists(temp) { try FileManager.default.removeItem(atPath: temp) }
        let written = try parquetFiles(reader, into: temp, fileName: "part-00000.parquet", options: options)
        if SystemIO.exists(dir) { try FileManager.default.removeItem(atPath: dir) }
        try SystemIO.rename(temp, dir)
        return Result(rows: written.files.reduce(0) { $0 + $1.rows }, bytes: written.files.reduce(0) { $0 + $1.bytes })
    }

    /// A Parquet file written for one partition folder of a table.
    public struct ParquetFile: Sendable {
        /// Relative to the folder written into: `day=2025-03-14/part-....parquet`.
        public var path: String
        /// Partition column -> value, from the table's folder name.
        public var partition: [String: String]
        public var rows: Int
        public var bytes: Int
        /// Per column of `fields`: null count, min and max (PLAIN bytes; nil: none or left out).
        public var stats: [ParquetWriter.ColumnStats]
    }

    /// Writes the rows of `reader`'s snapshot under `folder`, one file named `fileName`
    /// per partition folder (a table without partitions: one file at the top). The
    /// fields are the table's, less the partition columns that are columns of it. With
    /// `only`, just those partition folders.
    static func parquetFiles(_ reader: TableReader, into folder: String, fileName: String, options: ParquetWriter.Options,
                             only: Set<String>? = nil) throws -> (fields: [Field], files: [ParquetFile]) {
        let schema = reader.snapshot.schema
        let partitionColumns = Set(reader.snapshot.partitionColumns)
        let kept = schema.fields.indices.filter { !partitionColumns.contains(schema.fields[$0].name) }
        let fields = kept.map { schema.fields[$0] }
        try SystemIO.makeDirectories(folder)
        // The files of each partition folder, in commit order; folders in first-seen order.
        var folders: [String] = []
        var filesOf: [String: [Int]] = [:]
        for (k, f) in reader.snapshot.files.enumerated() {
            let sub = f.path.split(separator: "/").dropLast().joined(separator: "/")
            if filesOf[sub] == nil { folders.append(sub) }
            filesOf[sub, default: []].append(k)
        }
        if folders.isEmpty { folders = [""] }
        if let only { folders = folders.filter { only.contains($0) } }
        var files: [ParquetFile] = []
        for sub in folders {
            try SystemIO.makeDirectories(sub.isEmpty ? folder : folder + "/" + sub)
            let relative = sub.isEmpty ? fileName : sub + "/" + fileName
            let writer = try ParquetWriter(path: folder + "/" + relative, fields: fields, options: options)
            var partition: [String: String] = [:]
            for k in filesOf[sub] ?? [] {
                partition = reader.snapshot.files[k].partition
                let segment = try reader.segment(k)
                let vectors = kept.map { segment.makeVector(column: $0) }
                for g in segment.rowGroups.indices {
                    for (i, c) in kept.enumerated() { try segment.read(column: c, rowGroup: g, into: vectors[i]) }
                    try writer.append(vectors, rows: 0..<segment.rowGroups[g].rowCount)
                }
            }
            let bytes = try writer.finish()
            files.append(ParquetFile(path: relative, partition: partition, rows: writer.rows, bytes: bytes, stats: writer.columnStats()))
        }
        return (fields, files)
    }
}
