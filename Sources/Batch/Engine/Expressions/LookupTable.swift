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
        keys = KeySet(capacity: rowCount, strings: schema.fields[keyColumn].type == .string)
        let scan = TableScan(reader)
        while case let n = try scan.next(), n > 0 {
            for (k, c) in columns.enumerated() {
                for r in 0..<n { c.appendValue(of: scan.vectors[k], row: r) }
            }
        }
        let key = columns[keyColumn], set = keys
        for r in 0..<rowCount where !key.isNull(r) {
            if set.isString { key.withString(r) { set.insert($0, value: Int32(r)) } } else { set.insert(key.integer(r), value: Int32(r)) }
        }
    }

    deinit { reservation.end() }

    /// Bytes a table of `rows` rows takes in memory: the values, the key set, and its text
    /// (bounded by what the table stores, which is compressed, times 4).
    static func bytes(rows: Int, schema: Schema, storedBytes: Int) -> Int {
        let fixed = schema.fields.reduce(0) { $0 + $1.type.valueWidthBytes + 1 } * rows
        return fixed + rows * 2 * 13 + storedBytes * 4
    }

    /// The row of key row `r` of `key` (of the key's type), nil when there is none.
    @inline(__always)
    public func row(of key: ColumnVector, _ r: Int) -> Int? {
        if key.isNull(r) { return nil }
        let found = keys.isString ? key.withString(r) { keys.value($0) } : keys.value(key.integer(r))
        return found.map(Int.init)
    }
}
