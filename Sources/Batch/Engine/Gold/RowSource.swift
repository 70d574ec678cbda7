import Segments

/// A table gold reads: a committed table, or the segments of a gold table built earlier
/// in the same run (staged, not committed yet).
final class RowSource {
    let schema: Schema
    private let reader: TableReader?
    private let files: [SegmentReader]

    init(_ reader: TableReader) {
        self.reader = reader
        schema = reader.snapshot.schema
        files = []
    }

    init(files paths: [String], schema: Schema) throws {
        reader = nil
        self.schema = schema
        files = try paths.map { try SegmentReader(path: $0) }
    }

    var rowCount: Int { reader?.snapshot.rowCount ?? files.reduce(0) { $0 + $1.rowCount } }

    /// The most rows a batch of a scan holds.
    var capacity: Int { reader?.rowGroupRowsMax ?? max(1, files.map(\.rowGroupRowsMax).max() ?? 1) }

    /// A scan of `columns` (all by default), in table order.
    func scan(_ columns: [Int]? = nil) throws -> RowScan {
        if let reader { return RowScan(table: TableScan(reader, columns: columns)) }
        return RowScan(files: files, columns: columns ?? Array(0..<schema.count), schema: schema, capacity: capacity)
    }
}

/// The rows of a `RowSource`, a row group at a time, into reused vectors.
final class RowScan {
    let vectors: [ColumnVector]
    private let table: TableScan?
    private let files: [SegmentReader]
    private let columns: [Int]
    private var file = 0, group = 0

    init(table: TableScan) {
        self.table = table
        vectors = table.vectors
        files = []
        columns = table.columns
    }

    init(files: [SegmentReader], columns: [Int], schema: Schema, capacity: Int) {
        table = nil
        self.files = files
        self.columns = columns
        vectors = columns.map { ColumnVector(type: schema.fields[$0].type, capacity: capacity) }
    }

    /// Loads the next row group; its row count, 0 at the end.
    func next() throws -> Int { try next(into: vectors) }

    /// Loads the next row group into `out` (vectors like `vectors`).
    func next(into out: [ColumnVector]) throws -> Int {
        if let table { return try table.next(into: out) }
        while file < files.count {
            let s = files[file]
            if group < s.rowGroups.count {
                for (k, c) in columns.enumerated() { try s.read(column: c, rowGroup: group, into: out[k]) }
                group += 1
                return s.rowGroups[group - 1].rowCount
            }
            file += 1
            group = 0
        }
        return 0
    }
}
