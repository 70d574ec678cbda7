import Segments
#if canImport(Glibc)
import Glibc
#endif

/// The folders of a lake: `bronze`, `silver` and `quarantine` at the top, the gold
/// tables under `gold/`, the reference data (customers, products, fx_rates) under
/// `reference/`.
public enum Lake {
    public static let topTables = ["bronze", "silver", "quarantine"]
    /// Rows per row group of every lake table: a reader decodes one row group of a column
    /// at a time, so this bounds a scan's memory (about 2.5 MiB for a bronze row group of
    /// 15 columns), small enough for a 16 MiB budget; big enough for good compression.
    public static let rowGroupRows = 16_384
    public static let referenceTables = ["customers", "products", "fx_rates"]
    public static let goldTables = ["dim_date", "dim_customer", "dim_product", "fact_transactions", "daily_sales", "customer_monthly"]

    /// The folder of table `name`, or a `missingInput` error listing the tables there are.
    public static func tablePath(lake: String, name: String) throws -> String {
        let candidates = topTables.contains(name) ? [lake + "/" + name] : [lake + "/gold/" + name, lake + "/reference/" + name, lake + "/" + name]
        for c in candidates where Table.exists(at: c) { return c }
        let present = (topTables.map { lake + "/" + $0 } + goldTables.map { lake + "/gold/" + $0 } + referenceTables.map { lake + "/reference/" + $0 })
            .filter { Table.exists(at: $0) }
            .map { String($0.split(separator: "/").last ?? "") }
        throw BatchError(.missingInput, path: lake, "has no table '\(name)'; tables present: \(present.isEmpty ? "none (run batchrun run first)" : present.joined(separator: ", "))")
    }
}

/// Writes a table as one CSV file: a header, then every row in the table's order (its
/// files in commit order, rows in file order), values in the text forms of PIPELINE.md
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
        for segment in reader.segments {
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
}
