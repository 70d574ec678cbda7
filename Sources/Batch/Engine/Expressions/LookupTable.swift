import Segments
import Spill

/// A reference table held in memory for lookups and `x in R`: its keys in a `KeySet`
/// whose values are row numbers, and the columns lookups read (only those: `x in R`
/// needs the keys alone). Its memory is reserved from the budget as it loads (the
/// columns' bytes from the table's footers, then the key set's for the keys' range); a
/// budget that cannot hold it is an error that says the reference table stays in memory.
public final class LookupTable {
    public let name: String
    public let keys: KeySet
    /// The table's columns, all rows for those loaded (the key's and `columns`), empty
    /// for the others.
    public let columns: [ColumnVector]
    public let rowCount: Int
    private let reservation: Reservation

    /// Reads `reader` (its rows already one per key, as reference tables are) into memory:
    /// its key column and `needed` (nil: every column).
    public init(name: String, reader: TableReader, keyColumn: Int, columns needed: Set<Int>? = nil, budget: MemoryBudget) throws {
        self.name = name
        let schema = reader.snapshot.schema
        rowCount = reader.snapshot.rowCount
        let loaded = (needed ?? Set(schema.fields.indices)).union([keyColumn]).sorted()
        let remedy = MemoryBudget.fixedSizeRemedy("the \(rowCount) rows of reference table \(name) stay in memory for its lookups")
        reservation = try budget.reserve(try Self.bytes(reader, columns: loaded), for: "reference table \(name)", remedy: remedy)
        let capacity = max(1, rowCount)
        columns = schema.fields.indices.map { ColumnVector(type: schema.fields[$0].type, capacity: loaded.contains($0) ? capacity : 1) }
        let scan = TableScan(reader, columns: loaded)
        while case let n = try scan.next(), n > 0 {
            for (k, c) in loaded.enumerated() { columns[c].append(contentsOf: scan.vectors[k], rows: 0..<n) }
        }
        try reservation.resize(to: reservation.bytes + KeySet.bytes(for: columns[keyColumn]), remedy: remedy)
        keys = KeySet(column: columns[keyColumn])
    }

    /// A table already in memory (`columns`, one row per key), such as a generator's.
    public init(name: String, columns: [ColumnVector], keyColumn: Int, budget: MemoryBudget) throws {
        self.name = name
        self.columns = columns
        rowCount = columns[keyColumn].count
        let bytes = columns.reduce(KeySet.bytes(for: columns[keyColumn])) { $0 + $1.count * ($1.type.valueWidthBytes + 1) }
        reservation = try budget.reserve(bytes, for: "reference table \(name)",
                                         remedy: MemoryBudget.fixedSizeRemedy("the \(rowCount) rows of reference table \(name) stay in memory for its lookups"))
        keys = KeySet(column: columns[keyColumn])
    }

    deinit { reservation.end() }

    /// Bytes the loaded columns take in memory: fixed-size values and validity per row,
    /// strings as their footers count them (offsets and bytes).
    static func bytes(_ reader: TableReader, columns: [Int]) throws -> Int {
        let schema = reader.snapshot.schema, rows = reader.snapshot.rowCount
        var total = 0
        for c in columns {
            let type = schema.fields[c].type
            guard type == .string else {
                total += rows * (type.valueWidthBytes + 1)
                continue
            }
            total += rows + 8
            for k in 0..<reader.segmentCount {
                total += try reader.segment(k).rowGroups.reduce(0) { $0 + $1.chunks[c].rawBytes }
            }
        }
        return total
    }

    /// Each row's row in the table for rows `0..<n` of `key` (of the key's type) into
    /// `out`; -1 where the key is null or absent.
    public func rows(of key: ColumnVector, rows n: Int, into out: UnsafeMutablePointer<Int32>) {
        keys.values(of: key, rows: n, into: out)
    }
}

extension LookupTable {
    /// The reference tables a stage reads, in memory, by name: each feed that `uses`'
    /// lookups look into, with the columns their scopes read of it, and each feed an
    /// expression of `expressions` tests `x in R` against (its keys alone).
    static func load(_ feeds: [PipelineFile.Feed], readers: [String: TableReader], uses: [(scope: Scope, lookups: [CheckedPipeline.Lookup])],
                     expressions: [TypedExpr], stage: String, budget: MemoryBudget) throws -> [String: LookupTable] {
        var needed: [String: Set<Int>] = [:]
        for (scope, lookups) in uses {
            for l in lookups where needed[l.feed.name] == nil { needed[l.feed.name] = [] }
            for slot in scope.slots {
                if case let .lookup(i, column) = slot.source { needed[lookups[i].feed.name, default: []].insert(column) }
            }
        }
        for e in expressions + uses.flatMap({ $0.lookups.map(\.on) }) {
            e.forEachNode { n in
                if case let .inReference(_, reference, _) = n.node, needed[reference] == nil { needed[reference] = [] }
            }
        }
        var tables: [String: LookupTable] = [:]
        for feed in feeds {
            guard let columns = needed[feed.name] else { continue }
            guard let reader = readers[feed.name] else {
                throw BatchError(.missingInput, path: feed.name, "the reference table \(feed.name) was not given to \(stage)")
            }
            tables[feed.name] = try LookupTable(name: feed.name, reader: reader, keyColumn: FeedLayout(feed, lineage: false).keyColumn,
                                                columns: columns, budget: budget)
        }
        return tables
    }
}
