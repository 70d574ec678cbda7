import Segments
import Spill

/// A reference table held in memory for lookups and `x in R`: every column of every row,
/// and its keys in a `KeySet` whose values are row numbers. Its memory is reserved from
/// the budget first (`bytes(for:)`); a budget that cannot hold it is an error that says
/// the reference table stays in memory.
public final class LookupTable {
    public let name: String
    public let keys: KeySet
    /// The table's columns, all rows.
    public let columns: [ColumnVector]
    public let rowCount: Int
    private let reservation: Reservation

    /// Reads `reader` (its rows already one per key, as reference tables are) into memory.
    public init(name: String, reader: TableReader, keyColumn: Int, budget: MemoryBudget) throws {
        self.name = name
        let schema = reader.snapshot.schema
        rowCount = reader.snapshot.rowCount
        reservation = try budget.reserve(Self.bytes(rows: rowCount, schema: schema, storedBytes: reader.snapshot.bytes),
                                         for: "reference table \(name)",
                                         remedy: MemoryBudget.fixedSizeRemedy("the \(rowCount) rows of reference table \(name) stay in memory for its lookups"))
        let capacity = max(1, rowCount)
        columns = schema.fields.map { ColumnVector(type: $0.type, capacity: capacity) }
        let scan = TableScan(reader)
        while case let n = try scan.next(), n > 0 {
            for (k, c) in columns.enumerated() { c.append(contentsOf: scan.vectors[k], rows: 0..<n) }
        }
        keys = KeySet(column: columns[keyColumn])
    }

    deinit { reservation.end() }

    /// Bytes a table of `rows` rows takes in memory: the values, the key set, and its text
    /// (bounded by what the table stores, which is compressed, times 4).
    static func bytes(rows: Int, schema: Schema, storedBytes: Int) -> Int {
        let fixed = schema.fields.reduce(0) { $0 + $1.type.valueWidthBytes + 1 } * rows
        return fixed + KeySet.bytes(keys: rows) + storedBytes * 4
    }

    /// Each row's row in the table for rows `0..<n` of `key` (of the key's type) into
    /// `out`; -1 where the key is null or absent.
    public func rows(of key: ColumnVector, rows n: Int, into out: UnsafeMutablePointer<Int32>) {
        keys.values(of: key, rows: n, into: out)
    }
}
