import Foundation
import Segments
import Spill

/// What an operator did: rows in and out, spill, time.
public struct OperatorStats: Sendable {
    public var rowsIn = 0
    public var rowsOut = 0
    /// Sorted runs written (sort) or table overflows (dedup, aggregation).
    public var spills = 0
    public var spillBytesWritten = 0
    /// Sort: merge passes; hash operators: deepest re-partitioning level + 1.
    public var spillDepth = 0
    /// Sort in range mode: the key ranges (buckets) its rows were spilled to, each sorted
    /// on its own.
    public var buckets = 0

    mutating func takeSpill(from table: GraceHashTable.Stats) {
        spills = table.spills
        spillBytesWritten = table.spillBytesWritten
        spillDepth = table.deepestLevel + 1
    }
}

/// The rows of a batch an operator takes: a range, or the rows a selection lists (those
/// a filter kept, taken where they are rather than gathered first).
public enum BatchRows {
    case range(Range<Int>)
    case selection(UnsafeBufferPointer<Int32>)

    public var count: Int {
        switch self {
        case let .range(r): r.count
        case let .selection(s): s.count
        }
    }
}

extension RecordBatchEncoder {
    /// `encodeChunks` of a range or of a selection.
    func encodeChunks(_ columns: [ColumnVector], _ rows: BatchRows, _ body: () throws -> Void) rethrows {
        switch rows {
        case let .range(r): try encodeChunks(columns, rows: r, body)
        case let .selection(s): try encodeChunks(columns, selection: s, body)
        }
    }
}

extension GraceHashTable {
    /// Adds rows `rows` of `columns`, encoded chunk by chunk as the table's records by
    /// `encoder` (whose first section is the key): the header (hash, key and rest
    /// lengths) is filled here, then the chunk goes to the table in one call.
    /// `combine`, when given, may merge records of the chunk: it returns the count of
    /// those left (their bounds in `survivors`), or -1 to add the chunk as it is.
    static func add(_ columns: [ColumnVector], rows: BatchRows, encoder: RecordBatchEncoder, to table: GraceHashTable,
                    combine: (() throws -> Int)? = nil, survivors: UnsafePointer<Int>? = nil,
                    fill: (RecordBatchEncoder) -> Void = { _ in }) throws {
        try encoder.encodeChunks(columns, rows) {
            fill(encoder)
            for i in 0..<encoder.count {
                let r = encoder.record(i)
                let k = encoder.sectionBytes(0, i)
                r.storeBytes(of: GraceHashTable.hash(key: UnsafeRawBufferPointer(start: r + recordHeaderBytes, count: k)), as: UInt64.self)
                r.storeBytes(of: UInt32(k), toByteOffset: 8, as: UInt32.self)
                r.storeBytes(of: UInt32(encoder.recordBytes(i) - recordHeaderBytes - k), toByteOffset: 12, as: UInt32.self)
            }
            if let combine, let survivors, case let k = try combine(), k >= 0 {
                try table.add(records: encoder.base, starts: survivors, count: k)
            } else {
                try table.add(records: encoder.base, starts: encoder.starts, count: encoder.count)
            }
        }
    }
}

/// The spilling operators' one lifecycle: `push` batches, `finish`, then `pull` batches
/// until it returns 0. They are thin adapters: rows become byte records (RowCodec,
/// KeyEncoder) for the engines of the Spill module, and come back as rows. Their memory
/// and spill blocks are granted by `Limits`.
public protocol BatchOperator: AnyObject {
    /// The rows pulled out.
    var outputSchema: Schema { get }
    var stats: OperatorStats { get }
    func push(_ columns: [ColumnVector], rows: Range<Int>) throws
    func finish() throws
    /// Fills `columns` (of `outputSchema`, emptied first) with the next rows; 0 at the end.
    func pull(into columns: [ColumnVector]) throws -> Int
}

extension SortOperator: BatchOperator {
    public var outputSchema: Schema { schema }
}

extension DedupOperator: BatchOperator {
    public var outputSchema: Schema { schema }
    public func pull(into columns: [ColumnVector]) throws -> Int { try pull(into: columns, keys: true) }
}

extension AggregateOperator: BatchOperator {}

/// Sorts rows by key columns, ascending or descending, stably; spills sorted runs when
/// the budget is full (`ExternalSorter`). With split keys (from `splitKeys`), rows are
/// spilled by key range instead and each range is sorted on its own (the sorter's range
/// mode): the same output, without runs to merge when each range fits in memory. The
/// ranges can then also be sorted side by side (`ranges()`). With a `tag` column (a
/// non-null int64, such as a row number), `keep(tagsIn:)` leaves out the rows whose tag
/// a bitmap does not hold, before they are sorted when the sort works by ranges.
public final class SortOperator {
    public let schema: Schema
    let rows: SortedRowDecoder
    let sorter: ExternalSorter
    /// Rows as the sorter's records: `u32 keyBytes, u32 payloadBytes`, key, payload.
    private let encoder: RecordBatchEncoder
    private var rowsIn = 0, rowsOut = 0
    private var sortedRanges: SortRanges?
    private let scratch = ByteBuffer(capacity: 256)

    public init(schema: Schema, keys: [SortKey], budget: MemoryBudget, spill: SpillManager,
                blockBytes: Int = 256 << 10, fanInMax: Int = 512, memoryMaxBytes: Int = Int.max, splitters: [[UInt8]] = [],
                bucketBlockBytes: Int? = nil, tag: Int? = nil) throws {
        self.schema = schema
        rows = SortedRowDecoder(schema: schema, keys: keys, tag: tag)
        encoder = RecordBatchEncoder(schema: schema, headerBytes: 8, sections: [.init(.key(keys)), .init(.row(rows.payloadColumns))])
        sorter = try ExternalSorter(budget: budget, spill: spill, consumer: "sort", blockBytes: blockBytes, fanInMax: fanInMax,
                                    memoryMaxBytes: memoryMaxBytes, splitters: splitters, bucketBlockBytes: bucketBlockBytes)
    }

    /// Split keys for the range mode from values of the leading key column (an integer
    /// type: int, decimal, date, timestamp), in the key's order (descending values for a
    /// descending key): a row whose leading column is `values[i]` or comes after it falls
    /// in range i + 1 or later.
    public static func splitKeys(_ keys: [SortKey], schema: Schema, _ values: [Int64]) -> [[UInt8]] {
        let first = keys[0]
        let column = ColumnVector(type: schema.fields[first.column].type, capacity: max(1, values.count))
        for v in values {
            switch column.type {
            case .int32, .date: column.appendInt32(Int32(truncatingIfNeeded: v))
            default: column.appendInt64(v)
            }
        }
        let leading = KeyEncoder(keys: [SortKey(0, descending: first.descending)], schema: Schema([schema.fields[first.column]]))
        let out = ByteBuffer(capacity: 16)
        return values.indices.map { r in
            out.removeAll()
            leading.encode([column], row: r, into: out)
            return out.withUnsafeBytes { Array($0) }
        }
    }

    public func push(_ columns: [ColumnVector], rows: Range<Int>) throws {
        try push(columns, .range(rows))
    }

    /// Pushes the rows of `columns` that `selection` lists, in its order.
    public func push(_ columns: [ColumnVector], selection: UnsafeBufferPointer<Int32>) throws {
        try push(columns, .selection(selection))
    }

    private func push(_ columns: [ColumnVector], _ rows: BatchRows) throws {
        try encoder.encodeChunks(columns, rows) {
            for i in 0..<encoder.count {
                let r = encoder.record(i)
                let k = encoder.sectionBytes(0, i)
                r.storeBytes(of: UInt32(k), as: UInt32.self)
                r.storeBytes(of: UInt32(encoder.recordBytes(i) - 8 - k), toByteOffset: 4, as: UInt32.self)
            }
            try sorter.add(records: encoder.base, starts: encoder.starts, count: encoder.count)
        }
        rowsIn += rows.count
    }

    public func finish() throws {
        try sorter.finish()
    }

    /// After `finish`, before the first row is pulled: only the rows whose tag `bitmap`
    /// holds come out.
    func keep(tagsIn bitmap: RowBitmap) {
        precondition(rows.tagged, "rows are kept by their tag: the sort has none")
        let at = rows.codec.bitmapBytes
        sorter.keeping = { _, payload in bitmap.contains(Int(Int64(littleEndian: payload.loadUnaligned(fromByteOffset: at, as: Int64.self)))) }
    }

    /// Fills `columns` (emptied first) with the next sorted rows, up to their capacity.
    public func pull(into columns: [ColumnVector]) throws -> Int {
        let n = try rows.pull(from: sorter, into: columns, scratch: scratch)
        rowsOut += n
        return n
    }

    /// Range mode, after `finish`: the key ranges, to sort and read each on its own
    /// (from several threads at once); `pull` then gives only the rows of ranges no one
    /// took.
    public func ranges() -> SortRanges {
        if let sortedRanges { return sortedRanges }
        let r = SortRanges(sorter: sorter, rows: rows)
        sortedRanges = r
        return r
    }

    /// Rows in and out, spill (in range mode, it grows as ranges are sorted).
    public var stats: OperatorStats {
        var s = OperatorStats()
        s.rowsIn = rowsIn
        s.rowsOut = rowsOut + (sortedRanges?.rowsOut ?? 0)
        s.spills = sorter.stats.runsSpilled
        s.spillBytesWritten = sorter.stats.spillBytesWritten + sorter.stats.bucketBytesWritten
        s.spillDepth = sorter.stats.mergePasses
        s.buckets = sorter.stats.buckets
        return s
    }
}

/// How a sort's records become rows again: the key columns come back from the key
/// (`KeyEncoder.decode`), the others from the payload, which starts with the tag column
/// when there is one (its 8 bytes right after the null bitmap, as it is never null).
final class SortedRowDecoder: Sendable {
    let keys: KeyEncoder
    let keyColumns: [Int]
    /// False for a key column an earlier key already gave.
    let keyDecodes: [Bool]
    let payloadColumns: [Int]
    let codec: RowCodec

    let tagged: Bool

    init(schema: Schema, keys: [SortKey], tag: Int? = nil) {
        self.keys = KeyEncoder(keys: keys, schema: schema)
        let keyColumns = keys.map(\.column)
        keyDecodes = keyColumns.indices.map { !keyColumns[..<$0].contains(keyColumns[$0]) }
        self.keyColumns = keyColumns
        if let tag {
            precondition(!keyColumns.contains(tag) && schema.fields[tag].type == .int64 && !schema.fields[tag].nullable,
                         "a sort's tag is a non-null int64 column that is not a key")
        }
        payloadColumns = (tag.map { [$0] } ?? []) + schema.fields.indices.filter { !keyColumns.contains($0) && $0 != tag }
        tagged = tag != nil
        codec = RowCodec(types: payloadColumns.map { schema.fields[$0].type })
    }

    /// Fills `columns` (emptied first) with the sorter's next rows, up to their capacity.
    /// `scratch` unescapes strings of the key.
    func pull(from sorter: ExternalSorter, into columns: [ColumnVector], scratch: ByteBuffer) throws -> Int {
        for c in columns { c.reset() }
        let capacity = columns[0].capacity
        let keyOut = keyColumns.map { columns[$0] }, payloadOut = payloadColumns.map { columns[$0] }
        var n = 0
        while n < capacity, let r = try sorter.next() {
            keys.decode(r.key, appendTo: keyOut, decodes: keyDecodes, scratch: scratch)
            codec.decode(r.payload, appendTo: payloadOut)
            n += 1
        }
        return n
    }
}

/// The key ranges of a sort in range mode, each sorted on its own when taken. `take` may
/// be called from several threads at once, for different ranges.
public final class SortRanges: @unchecked Sendable {
    private let sorter: ExternalSorter
    private let rows: SortedRowDecoder
    private let lock = NSLock()
    private var pulled = 0

    init(sorter: ExternalSorter, rows: SortedRowDecoder) {
        self.sorter = sorter
        self.rows = rows
    }

    /// Ranges in key order (0 when the sort is not in range mode).
    public var count: Int { sorter.bucketCount }

    var rowsOut: Int { lock.withLock { pulled } }

    /// Range `i`, sorted in at most `memoryMaxBytes` (in memory when it fits); nil when
    /// no row fell in it. `reusing`, a range read to its end, lends it its memory.
    public func take(_ i: Int, memoryMaxBytes: Int, reusing: consuming SortedRange? = nil) throws -> SortedRange? {
        let old = reusing?.sorter
        _ = consume reusing
        guard let s = try sorter.sortedBucket(i, memoryMaxBytes: memoryMaxBytes, reusing: old) else { return nil }
        return SortedRange(sorter: s, ranges: self)
    }

    fileprivate func count(pulled n: Int) { lock.withLock { pulled += n } }

    /// One sorted range: its rows in order, a batch at a time.
    public final class SortedRange {
        fileprivate let sorter: ExternalSorter
        private let ranges: SortRanges
        private let scratch = ByteBuffer(capacity: 256)

        fileprivate init(sorter: ExternalSorter, ranges: SortRanges) {
            self.sorter = sorter
            self.ranges = ranges
        }

        /// Fills `columns` (emptied first) with the range's next rows; 0 at its end.
        public func pull(into columns: [ColumnVector]) throws -> Int {
            let n = try ranges.rows.pull(from: sorter, into: columns, scratch: scratch)
            ranges.count(pulled: n)
            return n
        }
    }
}

/// Keeps, for each key, the row that is greatest by the ordering columns (ties: the
/// first pushed); spills by grace-hash partitioning (`GraceHashTable`). Output order is
/// not defined: sort afterwards when it matters.
public final class DedupOperator {
    public let schema: Schema
    let keyColumns: [Int]
    let keyCodec: RowCodec
    let order: KeyEncoder
    /// The ordering columns (their values come back from the order's bytes), and for each
    /// whether it is decoded there (not a key column, nor one an earlier order key gave).
    let orderColumns: [Int]
    let orderDecodes: [Bool]
    /// The other columns, in order: the payload holds only them.
    let payloadColumns: [Int]
    let codec: RowCodec
    let table: GraceHashTable
    /// Rows as the table's records: header, key, then the rest (u32 order bytes, order,
    /// payload).
    private let encoder: RecordBatchEncoder
    private let scratch = ByteBuffer(capacity: 256)
    public private(set) var stats = OperatorStats()

    public init(schema: Schema, keyColumns: [Int], order: [SortKey], budget: MemoryBudget, spill: SpillManager,
                blockBytes: Int = 64 << 10, memoryMaxBytes: Int = Int.max) throws {
        self.schema = schema
        precondition(Set(keyColumns).count == keyColumns.count, "dedup key columns must be distinct")
        self.keyColumns = keyColumns
        keyCodec = RowCodec(types: keyColumns.map { schema.fields[$0].type })
        self.order = KeyEncoder(keys: order, schema: schema)
        let orderColumns = order.map(\.column)
        self.orderColumns = orderColumns
        orderDecodes = orderColumns.indices.map { !keyColumns.contains(orderColumns[$0]) && !orderColumns[..<$0].contains(orderColumns[$0]) }
        payloadColumns = schema.fields.indices.filter { !keyColumns.contains($0) && !orderColumns.contains($0) }
        codec = RowCodec(types: payloadColumns.map { schema.fields[$0].type })
        encoder = RecordBatchEncoder(schema: schema, headerBytes: GraceHashTable.recordHeaderBytes,
                                     sections: [.init(.row(keyColumns)), .init(.key(order), lengthPrefixed: true), .init(.row(payloadColumns))])
        table = try GraceHashTable(mode: .dedup, budget: budget, spill: spill, consumer: "dedup", blockBytes: blockBytes, memoryMaxBytes: memoryMaxBytes)
    }

    public func push(_ columns: [ColumnVector], rows: Range<Int>) throws {
        try GraceHashTable.add(columns, rows: .range(rows), encoder: encoder, to: table)
        stats.rowsIn += rows.count
    }

    /// Pushes the rows of `columns` that `selection` lists, in its order.
    public func push(_ columns: [ColumnVector], selection: UnsafeBufferPointer<Int32>) throws {
        try GraceHashTable.add(columns, rows: .selection(selection), encoder: encoder, to: table)
        stats.rowsIn += selection.count
    }

    public func finish() throws {
        try table.finish()
    }

    /// Fills `columns` (emptied first) with the next kept rows; without `keys`, the key
    /// columns are left empty (for a caller that needs only the others).
    public func pull(into columns: [ColumnVector], keys: Bool) throws -> Int {
        for c in columns { c.reset() }
        let capacity = columns[0].capacity
        let keyOut = keyColumns.map { columns[$0] }, payloadOut = payloadColumns.map { columns[$0] }
        let orderOut = orderColumns.map { columns[$0] }
        var n = 0
        while n < capacity, let r = try table.next() {
            if keys { keyCodec.decode(r.key, appendTo: keyOut) }
            let parts = GraceHashTable.dedupParts(r.rest)
            _ = order.decode(parts.order, appendTo: orderOut, decodes: orderDecodes, scratch: scratch)
            codec.decode(parts.payload, appendTo: payloadOut)
            n += 1
        }
        stats.rowsOut += n
        stats.takeSpill(from: table.stats)
        return n
    }

    /// Fills `out` (emptied first) with the next kept rows' values of ordering column
    /// `column` alone, read from their order bytes without decoding the other columns.
    public func pull(orderColumn column: Int, into out: ColumnVector) throws -> Int {
        guard let k = orderColumns.indices.first(where: { orderColumns[$0] == column && orderDecodes[$0] }) else {
            preconditionFailure("column \(column) is not an ordering column the order bytes give")
        }
        out.reset()
        let decodes = orderColumns.indices.map { $0 == k }, into = Array(repeating: out, count: orderColumns.count)
        var n = 0
        while n < out.capacity, let r = try table.next() {
            order.decode(GraceHashTable.dedupParts(r.rest).order, appendTo: into, decodes: decodes, scratch: scratch)
            n += 1
        }
        stats.rowsOut += n
        stats.takeSpill(from: table.stats)
        return n
    }
}

/// One aggregate of `AggregateOperator`.
public struct Aggregate: Sendable, Hashable {
    public enum Function: String, Sendable { case count, sum, min, max }
    public var function: Function
    /// The input column; nil for count(*).
    public var column: Int?
    public var name: String

    public init(_ function: Function, _ column: Int?, as name: String) {
        precondition(function == .count || column != nil, "\(function) needs a column")
        self.function = function
        self.column = column
        self.name = name
    }
}

/// count(*), sum, min and max of integer-like columns (int, decimal, date, timestamp)
/// per group, spilling by grace-hash partitioning. Nulls are skipped; a min or max over
/// no value is null (a column whose field is not nullable has a value in every group,
/// and its min or max carries no count of values); a sum over no value is 0; a sum that
/// leaves Int64 saturates at Int64.max or Int64.min, for the caller to report. Output: the group columns, then one
/// column per aggregate; order not defined.
public final class AggregateOperator {
    public let schema: Schema
    public let outputSchema: Schema
    let groupColumns: [Int]
    let groupCodec: RowCodec
    let aggregates: [Aggregate]
    /// Per aggregate, its value slot and (min, max) the slot counting its non-null inputs.
    let slots: [(value: Int, seen: Int?)]
    let table: GraceHashTable
    /// Rows as the table's records: header, group key, then one Int64 per value slot
    /// (the trailer, filled by push).
    private let encoder: RecordBatchEncoder
    /// Value slots per record, and how each combines.
    private let valueCount: Int
    private let ops: [GraceHashTable.AggregateOp]
    /// `combine`'s hash of a chunk's keys (record numbers, -1 empty) and its survivors' bounds.
    private let combineIndex = UnsafeMutablePointer<Int32>.allocate(capacity: AggregateOperator.combineSlots)
    private let survivors: UnsafeMutablePointer<Int>
    private var skipCombining = 0
    public private(set) var stats = OperatorStats()

    public init(schema: Schema, groupColumns: [Int], aggregates: [Aggregate], budget: MemoryBudget, spill: SpillManager,
                blockBytes: Int = 64 << 10, memoryMaxBytes: Int = Int.max) throws {
        self.schema = schema
        self.groupColumns = groupColumns
        self.aggregates = aggregates
        groupCodec = RowCodec(types: groupColumns.map { schema.fields[$0].type })
        var ops: [GraceHashTable.AggregateOp] = []
        var slots: [(Int, Int?)] = []
        var fields = groupColumns.map { schema.fields[$0] }
        for a in aggregates {
            let value = ops.count
            switch a.function {
            case .count, .sum: ops.append(.sum)
            case .min: ops.append(.min)
            case .max: ops.append(.max)
            }
            // A min or max of a column that may hold nulls counts its values, to be null over none.
            var seen: Int?
            if (a.function == .min || a.function == .max), let c = a.column, schema.fields[c].nullable {
                seen = ops.count
                ops.append(.sum)
            }
            slots.append((value, seen))
            if let c = a.column {
                precondition(schema.fields[c].type.isInteger, "\(a.function) needs an integer-like column, \(schema.fields[c].name) is \(schema.fields[c].type)")
            }
            let type: ColumnType = a.function == .count ? .int64 : schema.fields[a.column ?? 0].type
            fields.append(Field(a.name, type, nullable: seen != nil))
        }
        self.slots = slots
        outputSchema = Schema(fields)
        valueCount = ops.count
        self.ops = ops
        survivors = .allocate(capacity: RecordBatchEncoder.chunkRows + 1)
        encoder = RecordBatchEncoder(schema: schema, headerBytes: GraceHashTable.recordHeaderBytes, sections: [.init(.row(groupColumns))],
                                     trailerBytes: 8 * ops.count)
        table = try GraceHashTable(mode: .aggregate(ops), budget: budget, spill: spill, consumer: "aggregate", blockBytes: blockBytes, memoryMaxBytes: memoryMaxBytes)
    }

    deinit {
        combineIndex.deallocate()
        survivors.deallocate()
    }

    public func push(_ columns: [ColumnVector], rows: Range<Int>) throws {
        try GraceHashTable.add(columns, rows: .range(rows), encoder: encoder, to: table, combine: { try self.combine() }, survivors: survivors) { encoder in
            // Each record's values, one aggregate (a column of input) at a time.
            for (k, a) in aggregates.enumerated() {
                let s = slots[k]
                let value = 8 * (s.value - valueCount), seen = s.seen.map { 8 * ($0 - valueCount) }
                guard let column = a.column else {
                    for i in 0..<encoder.count { (encoder.record(i) + encoder.recordBytes(i)).storeBytes(of: Int64(1), toByteOffset: value, as: Int64.self) }
                    continue
                }
                let c = columns[column]
                if c.nullCount == 0 && a.function != .count {
                    // No nulls: each value as it is, one loop per width; each one counted.
                    if c.type.valueWidthBytes == 8 {
                        for i in 0..<encoder.count {
                            (encoder.record(i) + encoder.recordBytes(i)).storeBytes(of: c.int64(encoder.row(i)), toByteOffset: value, as: Int64.self)
                        }
                    } else {
                        for i in 0..<encoder.count {
                            (encoder.record(i) + encoder.recordBytes(i)).storeBytes(of: c.integer(encoder.row(i)), toByteOffset: value, as: Int64.self)
                        }
                    }
                    if let seen {
                        for i in 0..<encoder.count { (encoder.record(i) + encoder.recordBytes(i)).storeBytes(of: Int64(1), toByteOffset: seen, as: Int64.self) }
                    }
                    continue
                }
                for i in 0..<encoder.count {
                    let end = encoder.record(i) + encoder.recordBytes(i)
                    let row = encoder.row(i)
                    let null = c.isNull(row)
                    let v = null ? 0 : c.integer(row)
                    let stored: Int64
                    switch a.function {
                    case .count: stored = null ? 0 : 1
                    case .sum: stored = v
                    case .min: stored = null ? Int64.max : v
                    case .max: stored = null ? Int64.min : v
                    }
                    end.storeBytes(of: stored, toByteOffset: value, as: Int64.self)
                    if let seen { end.storeBytes(of: Int64(null ? 0 : 1), toByteOffset: seen, as: Int64.self) }
                }
            }
        }
        stats.rowsIn += rows.count
    }

    public func finish() throws {
        try table.finish()
    }

    /// Pre-aggregates the encoder's chunk of records before they go to the table: records
    /// with equal keys are combined into the first of them (a small hash of the chunk's
    /// keys), and the survivors are moved together. A chunk with few groups (a day's
    /// categories and channels) then costs the table a few inserts, not one per row.
    /// Past `combineSlots / 2` distinct keys the rest of the chunk passes as it is.
    /// Returns the survivors' count; their bounds are in `survivors`.
    private func combine() throws -> Int {
        let n = encoder.count
        if n < 2 { return -1 }
        if skipCombining > 0 {
            skipCombining -= 1
            return -1
        }
        combineIndex.update(repeating: -1, count: Self.combineSlots)
        let base = encoder.base
        var distinct = 0
        var dead = 0
        let trailer = 8 * valueCount
        for i in 0..<n {
            guard distinct < Self.combineSlots / 2 else { break }
            let r = base + encoder.starts[i]
            let h = r.loadUnaligned(as: UInt64.self)
            let keyBytes = Int(r.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
            var slot = Int(truncatingIfNeeded: h) & (Self.combineSlots - 1)
            while true {
                let j = Int(combineIndex[slot])
                if j < 0 {
                    combineIndex[slot] = Int32(i)
                    distinct += 1
                    break
                }
                let other = base + encoder.starts[j]
                if other.loadUnaligned(as: UInt64.self) == h && Int(other.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) == keyBytes
                    && Bytes.equal(UnsafeRawBufferPointer(start: other + GraceHashTable.recordHeaderBytes, count: keyBytes),
                                   UnsafeRawBufferPointer(start: r + GraceHashTable.recordHeaderBytes, count: keyBytes)) {
                    let into = other + encoder.recordBytes(j) - trailer, from = r + encoder.recordBytes(i) - trailer
                    for (v, op) in ops.enumerated() {
                        let a = into.loadUnaligned(fromByteOffset: 8 * v, as: Int64.self), b = from.loadUnaligned(fromByteOffset: 8 * v, as: Int64.self)
                        into.storeBytes(of: GraceHashTable.combine(op, a, b), toByteOffset: 8 * v, as: Int64.self)
                    }
                    r.storeBytes(of: UInt32.max, toByteOffset: 8, as: UInt32.self) // combined: dropped below
                    dead += 1
                    break
                }
                slot = (slot + 1) & (Self.combineSlots - 1)
            }
        }
        // Keys that seldom repeat within a chunk (a customer's): not worth trying for a while.
        if dead < n / 8 { skipCombining = 15 }
        if dead == 0 { return -1 }
        // Survivors moved together, in order.
        var write = 0, k = 0
        for i in 0..<n {
            let start = encoder.starts[i], bytes = encoder.recordBytes(i)
            if (base + start).loadUnaligned(fromByteOffset: 8, as: UInt32.self) == UInt32.max { continue }
            if write != start { (base + write).copyMemory(from: base + start, byteCount: bytes) }
            survivors[k] = write
            write += bytes
            k += 1
        }
        survivors[k] = write
        return k
    }

    static let combineSlots = 2 * RecordBatchEncoder.chunkRows

    /// Fills `columns` (one per output field, emptied first) with the next groups.
    public func pull(into columns: [ColumnVector]) throws -> Int {
        for c in columns { c.reset() }
        let capacity = columns[0].capacity
        let groupOut = Array(columns[0..<groupColumns.count])
        var n = 0
        while n < capacity, let r = try table.next() {
            groupCodec.decode(r.key, appendTo: groupOut)
            for k in aggregates.indices {
                let out = columns[groupColumns.count + k]
                let s = slots[k]
                let v = r.rest.loadUnaligned(fromByteOffset: 8 * s.value, as: Int64.self)
                if let seen = s.seen, r.rest.loadUnaligned(fromByteOffset: 8 * seen, as: Int64.self) == 0 {
                    out.appendNull()
                    continue
                }
                switch out.type {
                case .int32, .date: out.appendInt32(Int32(truncatingIfNeeded: v))
                default: out.appendInt64(v)
                }
            }
            n += 1
        }
        stats.rowsOut += n
        stats.takeSpill(from: table.stats)
        return n
    }
}
