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
    private let codecs = Codecs()
    private let dictionary = StringDictionary()
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
        var chunks: [ChunkMeta] = []
        for (c, field) in fields.enumerated() { chunks.append(try writeChunk(buffered[c], field)) }
        rowGroups.append(RowGroupMeta(chunks: chunks, rows: n, offset: start))
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

    private func writeChunk(_ v: ColumnVector, _ field: Field) throws -> ChunkMeta {
        let n = v.count
        var meta = ChunkMeta(physical: Self.physical(field.type), encodings: [], name: field.name, values: n, uncompressed: 0, compressed: 0,
                             dataPageOffset: 0, dictionaryPageOffset: nil, nullCount: v.nullCount, min: nil, max: nil)
        (meta.min, meta.max) = statistics(v)
        // Strings with few distinct values: a dictionary page, then indices.
        var indices: UnsafeMutablePointer<UInt32>?
        defer { indices?.deallocate() }
        var width = 0
        if field.type == .string && n > 0 {
            let ix = UnsafeMutablePointer<UInt32>.allocate(capacity: n)
            indices = ix
            if dictionary.build(v, entriesMax: min(n, 1 << 16), indices: ix), dictionary.bytesTotal + 4 * dictionary.count <= options.dictionaryBytesMax {
                var page: [UInt8] = []
                page.reserveCapacity(dictionary.bytesTotal + 4 * dictionary.count)
                for e in 0..<dictionary.count {
                    v.withString(dictionary.firstRow(e)) { s in
                        Self.appendLE(UInt32(s.count), to: &page)
                        page.append(contentsOf: s)
                    }
                }
                meta.dictionaryPageOffset = position
                try writePage(.dictionary, body: page, values: dictionary.count, encoding: .plain, meta: &meta)
                width = max(1, Int.bitWidth - (dictionary.count - 1).leadingZeroBitCount)
            } else {
                ix.deallocate()
                indices = nil
            }
        }
        let bytesPerRow = max(1, field.type == .string ? (n > 0 ? v.heapUsedBytes / n + 4 : 16) : field.type.valueWidthBytes)
        let pageRows = max(1, options.pageBytes / bytesPerRow)
        var first = 0
        meta.dataPageOffset = position
        repeat {
            let end = min(n, first + pageRows)
            var body: [UInt8] = []
            body.reserveCapacity((end - first) * bytesPerRow + 64)
            if field.nullable { definitionLevels(v, first..<end, into: &body) }
            if let ix = indices {
                body.append(UInt8(width))
                Self.bitPacked(width: width, into: &body) { emit in
                    for r in first..<end where !v.isNull(r) { emit(ix[r]) }
                }
            } else {
                plainValues(v, first..<end, into: &body)
            }
            try writePage(.data, body: body, values: end - first, encoding: indices == nil ? .plain : .rleDictionary, meta: &meta)
            first = end
        } while first < n
        meta.encodings = indices == nil ? [.plain, .rle] : [.plain, .rle, .rleDictionary]
        return meta
    }

    /// A page: its header, then its body compressed.
    private func writePage(_ type: PageType, body: [UInt8], values: Int, encoding: Encoding, meta: inout ChunkMeta) throws {
        let compressed: [UInt8]
        if options.codec.kind == .none {
            compressed = body
        } else {
            var dst = [UInt8](repeating: 0, count: codecs.maxCompressedSize(options.codec.kind, body.count))
            let written = try body.withUnsafeBytes { src in
                try dst.withUnsafeMutableBytes { d in
                    switch codecs.compress(options.codec, src, into: d) {
                    case let .success(k): return k
                    case let .failure(f): throw BatchError(.cannotCreate, path: path, "the \(options.codec) codec failed on a page: \(f.message)")
                    }
                }
            }
            dst.removeLast(dst.count - written)
            compressed = dst
        }
        var t = ThriftCompactWriter()
        t.i32(1, type.rawValue)
        t.i32(2, Int32(body.count))
        t.i32(3, Int32(compressed.count))
        if type == .data {
            t.beginStruct(5)
            t.i32(1, Int32(values))
            t.i32(2, encoding.rawValue)
            t.i32(3, Encoding.rle.rawValue)
            t.i32(4, Encoding.rle.rawValue)
            t.end()
        } else {
            t.beginStruct(7)
            t.i32(1, Int32(values))
            t.i32(2, encoding.rawValue)
            t.end()
        }
        t.end()
        out.append(t.bytes)
        out.append(compressed)
        if out.count >= 1 << 20 { try drain() }
        meta.uncompressed += t.bytes.count + body.count
        meta.compressed += t.bytes.count + compressed.count
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

    /// Definition levels of rows `rows` (1 present, 0 null), with their 4-byte length:
    /// one RLE run when none is null, else one bit-packed run (the validity bits).
    private func definitionLevels(_ v: ColumnVector, _ rows: Range<Int>, into body: inout [UInt8]) {
        var levels: [UInt8] = []
        if v.nullCount == 0 || !rows.contains(where: { v.isNull($0) }) {
            Self.varint(rows.count << 1, to: &levels)
            levels.append(1)
        } else {
            Self.bitPacked(width: 1, into: &levels) { emit in
                for r in rows { emit(v.isNull(r) ? 0 : 1) }
            }
        }
        Self.appendLE(UInt32(levels.count), to: &body)
        body.append(contentsOf: levels)
    }

    /// PLAIN values of the non-null rows of `rows`.
    private func plainValues(_ v: ColumnVector, _ rows: Range<Int>, into body: inout [UInt8]) {
        switch v.type {
        case .bool:
            var byte: UInt8 = 0, bits = 0
            for r in rows where !v.isNull(r) {
                if v.bool(r) { byte |= 1 << UInt8(bits) }
                bits += 1
                if bits == 8 {
                    body.append(byte)
                    (byte, bits) = (0, 0)
                }
            }
            if bits > 0 { body.append(byte) }
        case .int32, .date:
            for r in rows where !v.isNull(r) { Self.appendLE(v.int32(r), to: &body) }
        case .int64, .decimal, .timestamp:
            for r in rows where !v.isNull(r) { Self.appendLE(v.int64(r), to: &body) }
        case .float64:
            for r in rows where !v.isNull(r) { Self.appendLE(v.double(r).bitPattern, to: &body) }
        case .string:
            for r in rows where !v.isNull(r) {
                v.withString(r) { s in
                    Self.appendLE(UInt32(s.count), to: &body)
                    body.append(contentsOf: s)
                }
            }
        }
    }

    /// Min and max of the non-null values, PLAIN without a length (nil: no value, or a
    /// string bound too long to give).
    private func statistics(_ v: ColumnVector) -> ([UInt8]?, [UInt8]?) {
        var lo: Int?, hi: Int?
        for r in 0..<v.count where !v.isNull(r) {
            guard let l = lo, let h = hi else {
                (lo, hi) = (r, r)
                continue
            }
            if Self.compare(v, r, l) < 0 { lo = r }
            if Self.compare(v, r, h) > 0 { hi = r }
        }
        guard let lo, let hi else { return (nil, nil) }
        func bytes(_ r: Int) -> [UInt8]? {
            var b: [UInt8] = []
            switch v.type {
            case .bool: b.append(v.bool(r) ? 1 : 0)
            case .int32, .date: Self.appendLE(v.int32(r), to: &b)
            case .int64, .decimal, .timestamp: Self.appendLE(v.int64(r), to: &b)
            case .float64: Self.appendLE(v.double(r).bitPattern, to: &b)
            case .string:
                b = v.withString(r) { Array($0) }
                if b.count > options.statisticsBytesMax { return nil }
            }
            return b
        }
        return (bytes(lo), bytes(hi))
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
