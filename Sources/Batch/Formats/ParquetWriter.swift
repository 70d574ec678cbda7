import Segments
#if canImport(Glibc)
import Glibc
#endif

/// Writes one Parquet file (apache/parquet-format) from column batches, flat columns only.
///
/// ```
///   "PAR1"
///   row group: per column a chunk: [dictionary page] data page, data page, ...
///   ...
///   footer: FileMetaData (Thrift compact), its length (4 bytes LE), "PAR1"
/// ```
/// Rows are buffered per row group (up to `rowGroupRows` rows or `rowGroupBytes` of
/// values), then each column is written as data pages v1 of about `pageBytes`: the
/// definition levels of a nullable column (RLE/bit-packed hybrid, 4-byte length first),
/// then the non-null values, PLAIN or, for strings whose distinct values fit in
/// `dictionaryBytesMax`, RLE_DICTIONARY after a PLAIN dictionary page. Each page body is
/// compressed on its own: ZSTD, LZ4_RAW (an LZ4 block) or none.
///
/// Types: string BYTE_ARRAY (STRING / UTF8), bool BOOLEAN, int32 INT32, int64 INT64,
/// float64 DOUBLE, decimal INT64 (DECIMAL(18, s)), date INT32 (DATE), timestamp INT64
/// (TIMESTAMP(UTC, MICROS) / TIMESTAMP_MICROS). Statistics: null count, min and max
/// (strings by unsigned bytes; a bound longer than `statisticsBytesMax` is left out).
/// The file appears atomically (temporary name, fsync, rename).
public final class ParquetWriter {
    public struct Options: Sendable {
        public var codec: Compression = .zstd()
        public var rowGroupRows = 1 << 20
        public var rowGroupBytes = 64 << 20
        public var pageBytes = 1 << 20
        public var dictionaryBytesMax = 1 << 20
        public var statisticsBytesMax = 64
        public var createdBy = "batchrun version \(BatchrunVersion.current)"
        /// Columns of a row group encoded side by side.
        public var threads = 2
        public init() {}
    }

    /// Parquet's physical types and the codes of parquet.thrift's enums.
    enum Physical: Int32 { case boolean = 0, int32 = 1, int64 = 2, double = 5, byteArray = 6 }
    enum Encoding: Int32 { case plain = 0, rle = 3, rleDictionary = 8 }
    enum PageType: Int32 { case data = 0, dictionary = 2 }

    struct ChunkMeta {
        var physical: Physical
        var encodings: [Encoding]
        var name: String
        var values: Int
        var uncompressed: Int
        var compressed: Int
        var dataPageOffset: Int
        var dictionaryPageOffset: Int?
        var nullCount: Int
        var min: [UInt8]?
        var max: [UInt8]?
    }

    struct RowGroupMeta {
        var chunks: [ChunkMeta]
        var rows: Int
        var offset: Int
    }

    public let fields: [Field]
    public let options: Options
    let path: String
    let temp: String
    private let fd: Int32
    private let out = ByteBuffer(capacity: 1 << 20)
    private var offset = 0
    private let buffered: [ColumnVector]
    private let groupRows: Int
    private var rowGroups: [RowGroupMeta] = []
    /// One chunk encoder per thread, and each column's encoded chunk of a row group.
    private let encoders: [ParquetChunkEncoder]
    private var done = false
    public private(set) var rows = 0

    public init(path: String, fields: [Field], options: Options = Options()) throws {
        self.path = path
        self.fields = fields
        self.options = options
        temp = path + ".tmp-\(getpid())"
        fd = try SystemIO.open(temp, O_WRONLY | O_CREAT | O_TRUNC)
        // Rows of a row group: at most `rowGroupRows`, and as many as `rowGroupBytes` holds
        // at each value's width (16 bytes of text a string).
        let rowBytes = fields.reduce(0) { $0 + ($1.type == .string ? 20 : $1.type.valueWidthBytes) }
        let capacity = max(1, min(options.rowGroupRows, options.rowGroupBytes / max(1, rowBytes)))
        groupRows = capacity
        buffered = fields.map { ColumnVector(type: $0.type, capacity: capacity, heapBytes: $0.type == .string ? min(capacity * 16, 1 << 20) : 0) }
        encoders = (0..<max(1, min(options.threads, fields.count))).map { _ in ParquetChunkEncoder(options: options, path: path) }
        out.append(Array("PAR1".utf8))
    }

    deinit {
        if !done {
            SystemIO.close(fd)
            try? SystemIO.unlink(temp) // never finished: the partial file goes
        }
    }

    /// Adds rows `rows` of `columns` (one per field, of its type).
    public func append(_ columns: [ColumnVector], rows range: Range<Int>) throws {
        var first = range.lowerBound
        while first < range.upperBound {
            // Slices of at most 4096 rows, so that a row group's bytes are checked often.
            var n = min(groupRows - buffered[0].count, range.upperBound - first, 4096)
            // Long strings: fewer rows, so that a row group stays near its bytes (one
            // value larger than that makes a row group of its own).
            while n > 1 && columns.reduce(0, { $0 + $1.stringBytes(first..<(first + n)) }) > options.rowGroupBytes / 2 { n /= 2 }
            for (c, v) in buffered.enumerated() { v.append(contentsOf: columns[c], rows: first..<(first + n)) }
            first += n
            if buffered[0].count >= groupRows || bufferedBytes >= options.rowGroupBytes { try flushRowGroup() }
        }
    }

    /// A column's statistics over the whole file.
    public struct ColumnStats: Sendable {
        public var nullCount: Int
        /// PLAIN bytes of the least and greatest value; nil when there is none or when a
        /// row group left its bound out.
        public var min: [UInt8]?
        public var max: [UInt8]?
    }

    /// Each column's statistics over every row group written.
    public func columnStats() -> [ColumnStats] {
        fields.indices.map { c in
            let chunks = rowGroups.map { $0.chunks[c] }
            var stats = ColumnStats(nullCount: chunks.reduce(0) { $0 + $1.nullCount }, min: nil, max: nil)
            let valued = chunks.filter { $0.values > $0.nullCount }
            guard !valued.isEmpty, valued.allSatisfy({ $0.min != nil && $0.max != nil }) else { return stats }
            let type = fields[c].type
            stats.min = valued.compactMap(\.min).min { Self.plainLess($0, $1, type) }
            stats.max = valued.compactMap(\.max).max { Self.plainLess($0, $1, type) }
            return stats
        }
    }

    /// Order of two PLAIN values of `type`.
    static func plainLess(_ a: [UInt8], _ b: [UInt8], _ type: ColumnType) -> Bool {
        func le<T: FixedWidthInteger>(_ x: [UInt8], _: T.Type) -> T { x.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(as: T.self)) } }
        switch type {
        case .string: return a.lexicographicallyPrecedes(b)
        case .bool: return a[0] < b[0]
        case .int32, .date: return le(a, Int32.self) < le(b, Int32.self)
        case .float64: return Double(bitPattern: le(a, UInt64.self)) < Double(bitPattern: le(b, UInt64.self))
        case .int64, .decimal, .timestamp: return le(a, Int64.self) < le(b, Int64.self)
        }
    }

    /// The column chunks written so far, row group by row group.
    var writtenChunks: [ChunkMeta] { rowGroups.flatMap(\.chunks) }

    var bufferedBytes: Int {
        buffered.reduce(0) { $0 + $1.count * $1.type.valueWidthBytes + $1.heapUsedBytes }
    }

    /// Writes what is buffered and the footer, and puts the file in place; its size.
    @discardableResult
    public func finish() throws -> Int {
        if buffered[0].count > 0 { try flushRowGroup() }
        let footer = footerBytes()
        out.append(footer)
        out.appendLE(UInt32(footer.count))
        out.append(Array("PAR1".utf8))
        try drain()
        try SystemIO.fsync(fd, path: temp)
        SystemIO.close(fd)
        done = true
        try SystemIO.rename(temp, path)
        return offset
    }

    private func drain() throws {
        try out.withUnsafeBytes { (b) throws(SegmentError) in try SystemIO.writeAll(fd, b, path: temp) }
        offset += out.count
        out.removeAll()
    }

    /// The file offset of the next byte written.
    private var position: Int { offset + out.count }

    // MARK: row groups

    private func flushRowGroup() throws {
        let n = buffered[0].count
        let start = position
        // Each column's chunk encoded by one of the encoders, two columns at a time with
        // two threads; then written in column order.
        let chunks = SharedSlots<(ChunkMeta, [UInt8])>(count: fields.count)
        let shared = Handed((encoders, buffered, fields))
        try Parallel.run(workers: encoders.count) { w, next in
            let (encoders, buffered, fields) = shared.value
            while let c = next(fields.count) {
                let meta = try encoders[w].encode(buffered[c], fields[c])
                chunks.set(c, (meta, encoders[w].out.bytes))
            }
        }
        var metas: [ChunkMeta] = []
        for c in fields.indices {
            guard let (encoded, bytes) = chunks.get(c) else { continue }
            var meta = encoded
            let base = position
            meta.dataPageOffset += base
            meta.dictionaryPageOffset = meta.dictionaryPageOffset.map { $0 + base }
            out.append(bytes)
            if out.count >= 1 << 20 { try drain() }
            metas.append(meta)
        }
        rowGroups.append(RowGroupMeta(chunks: metas, rows: n, offset: start))
        rows += n
        for v in buffered { v.reset() }
    }

    static func physical(_ t: ColumnType) -> Physical {
        switch t {
        case .bool: .boolean
        case .int32, .date: .int32
        case .int64, .decimal, .timestamp: .int64
        case .float64: .double
        case .string: .byteArray
        }
    }

    // MARK: encodings

    static func appendLE<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    static func varint(_ value: Int, to out: inout [UInt8]) {
        var v = UInt64(value)
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// Values given by `values` as one bit-packed run of the RLE/bit-packed hybrid:
    /// header (groups of 8) << 1 | 1, then the values `width` bits each, LSB first,
    /// the last group padded with zeros.
    static func bitPacked(width: Int, into out: inout [UInt8], _ values: ((UInt32) -> Void) -> Void) {
        var packed: [UInt8] = []
        var acc: UInt64 = 0, bits = 0, count = 0
        values { v in
            acc |= UInt64(v) << UInt64(bits)
            bits += width
            count += 1
            while bits >= 8 {
                packed.append(UInt8(truncatingIfNeeded: acc))
                acc >>= 8
                bits -= 8
            }
        }
        while count % 8 != 0 {
            bits += width
            count += 1
            while bits >= 8 {
                packed.append(UInt8(truncatingIfNeeded: acc))
                acc >>= 8
                bits -= 8
            }
        }
        guard count > 0 else { return }
        varint((count / 8) << 1 | 1, to: &out)
        out.append(contentsOf: packed)
    }

    /// Row `a` against row `b` (both not null): -1, 0 or 1; strings by unsigned bytes.
    static func compare(_ v: ColumnVector, _ a: Int, _ b: Int) -> Int {
        switch v.type {
        case .string: return v.withString(a) { x in v.withString(b) { Bytes.compare(x, $0) } }
        case .float64: return v.double(a) < v.double(b) ? -1 : v.double(a) > v.double(b) ? 1 : 0
        case .bool: return v.bool(a) == v.bool(b) ? 0 : v.bool(a) ? 1 : -1
        default: return v.integer(a) < v.integer(b) ? -1 : v.integer(a) > v.integer(b) ? 1 : 0
        }
    }

    // MARK: footer

    var codecCode: Int32 {
        switch options.codec.kind {
        case .none: 0
        case .zstd: 6
        case .lz4: 7 // LZ4_RAW: an LZ4 block, no frame
        }
    }

    func footerBytes() -> [UInt8] {
        var t = ThriftCompactWriter()
        t.i32(1, 1)
        t.beginList(2, of: .structure, count: fields.count + 1)
        t.beginElement()
        t.string(4, "schema")
        t.i32(5, Int32(fields.count))
        t.end()
        for f in fields { schemaElement(f, &t) }
        t.i64(3, Int64(rows))
        t.beginList(4, of: .structure, count: rowGroups.count)
        for g in rowGroups {
            t.beginElement()
            t.beginList(1, of: .structure, count: g.chunks.count)
            for c in g.chunks {
                t.beginElement()
                t.i64(2, Int64(c.dictionaryPageOffset ?? c.dataPageOffset))
                t.beginStruct(3)
                t.i32(1, c.physical.rawValue)
                t.beginList(2, of: .i32, count: c.encodings.count)
                for e in c.encodings { t.element(e.rawValue) }
                t.beginList(3, of: .binary, count: 1)
                t.element(c.name)
                t.i32(4, codecCode)
                t.i64(5, Int64(c.values))
                t.i64(6, Int64(c.uncompressed))
                t.i64(7, Int64(c.compressed))
                t.i64(9, Int64(c.dataPageOffset))
                if let d = c.dictionaryPageOffset { t.i64(11, Int64(d)) }
                t.beginStruct(12)
                t.i64(3, Int64(c.nullCount))
                if let max = c.max { t.binary(5, max) }
                if let min = c.min { t.binary(6, min) }
                t.end()
                t.end()
                t.end()
            }
            t.i64(2, Int64(g.chunks.reduce(0) { $0 + $1.uncompressed }))
            t.i64(3, Int64(g.rows))
            t.i64(5, Int64(g.offset))
            t.i64(6, Int64(g.chunks.reduce(0) { $0 + $1.compressed }))
            t.end()
        }
        t.string(6, options.createdBy)
        t.beginList(7, of: .structure, count: fields.count)
        for _ in fields {
            t.beginElement()
            t.beginStruct(1) // TYPE_ORDER
            t.end()
            t.end()
        }
        t.end()
        return t.bytes
    }

    /// A column's SchemaElement: type, repetition, name, converted type (with scale and
    /// precision for decimals) and logical type.
    func schemaElement(_ f: Field, _ t: inout ThriftCompactWriter) {
        t.beginElement()
        t.i32(1, Self.physical(f.type).rawValue)
        t.i32(3, f.nullable ? 1 : 0)
        t.string(4, f.name)
        switch f.type {
        case .string:
            t.i32(6, 0) // UTF8
            t.beginStruct(10)
            t.beginStruct(1) // STRING
            t.end()
            t.end()
        case let .decimal(scale):
            t.i32(6, 5) // DECIMAL
            t.i32(7, Int32(scale))
            t.i32(8, 18)
            t.beginStruct(10)
            t.beginStruct(5)
            t.i32(1, Int32(scale))
            t.i32(2, 18)
            t.end()
            t.end()
        case .date:
            t.i32(6, 6) // DATE
            t.beginStruct(10)
            t.beginStruct(6)
            t.end()
            t.end()
        case .timestamp:
            t.i32(6, 10) // TIMESTAMP_MICROS
            t.beginStruct(10)
            t.beginStruct(8)
            t.bool(1, true)
            t.beginStruct(2)
            t.beginStruct(2) // MICROS
            t.end()
            t.end()
            t.end()
            t.end()
        case .int32, .int64:
            t.i32(6, f.type == .int32 ? 17 : 18) // INT_32, INT_64
            t.beginStruct(10)
            t.beginStruct(10)
            t.i8(1, f.type == .int32 ? 32 : 64)
            t.bool(2, true)
            t.end()
            t.end()
        case .bool, .float64:
            break
        }
        t.end()
    }
}
