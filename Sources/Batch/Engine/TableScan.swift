import Segments

/// Reads a table's rows in table order (files in commit order, row groups in file
/// order), one row group at a time, into reused column vectors. Only the columns asked
/// for are decoded.
public final class TableScan {
    public let reader: TableReader
    public let columns: [Int]
    /// One vector per requested column, in `columns` order (full schema width when
    /// `columns` covers it); valid until the next call of `next()`.
    public let vectors: [ColumnVector]
    private var segment = 0
    private var group = 0
    /// The file being read (its footer lives as long as this does).
    private var current: SegmentReader?
    public private(set) var rowsRead = 0

    public init(_ reader: TableReader, columns: [Int]? = nil) {
        self.reader = reader
        let wanted = columns ?? Array(0..<reader.snapshot.schema.count)
        self.columns = wanted
        let capacity = reader.rowGroupRowsMax
        vectors = wanted.map { ColumnVector(type: reader.snapshot.schema.fields[$0].type, capacity: capacity) }
    }

    public var schema: Schema { reader.snapshot.schema }

    /// Loads the next row group; returns its row count, 0 at the end.
    public func next() throws -> Int { try next(into: vectors) }

    /// A set of vectors like `vectors`, for `next(into:)`.
    public func makeVectors() -> [ColumnVector] { vectors.map { ColumnVector(type: $0.type, capacity: $0.capacity) } }

    /// Loads the next row group into `vectors` (one per requested column, like
    /// `makeVectors()` gives): a scan can fill several sets in turn.
    public func next(into vectors: [ColumnVector]) throws -> Int {
        while segment < reader.segmentCount {
            let s: SegmentReader
            if let c = current { s = c } else { s = try reader.segment(segment); current = s }
            if group < s.rowGroups.count {
                for (k, c) in columns.enumerated() { try s.read(column: c, rowGroup: group, into: vectors[k]) }
                let n = s.rowGroups[group].rowCount
                group += 1
                rowsRead += n
                return n
            }
            current = nil
            segment += 1
            group = 0
        }
        return 0
    }
}
