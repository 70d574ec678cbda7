import Segments

/// Encodes one column chunk of a Parquet row group (`ParquetWriter`) into `out`: its
/// pages, each a Thrift page header and a compressed body; offsets in the metadata are
/// relative to the chunk's start. One encoder per thread: its buffers, dictionary and
/// codecs are its own, so the columns of a row group encode side by side.
final class ParquetChunkEncoder {
    let options: ParquetWriter.Options
    let path: String
    /// The chunk's bytes.
    let out = ByteBuffer(capacity: 1 << 20)
    private let codecs = Codecs()
    private let dictionary = StringDictionary()
    /// A page's body before compression, and after: reused page after page.
    private let body = ByteBuffer(capacity: 1 << 20)
    private let packed = ByteBuffer(capacity: 1 << 20)

    init(options: ParquetWriter.Options, path: String) {
        self.options = options
        self.path = path
    }

    func encode(_ v: ColumnVector, _ field: Field) throws -> ParquetWriter.ChunkMeta {
        out.removeAll()
        let n = v.count
        var meta = ParquetWriter.ChunkMeta(physical: ParquetWriter.physical(field.type), encodings: [], name: field.name, values: n, uncompressed: 0, compressed: 0,
                             dataPageOffset: 0, dictionaryPageOffset: nil, nullCount: v.nullCount, min: nil, max: nil)
        // Strings with few distinct values: a dictionary page, then indices.
        var indices: UnsafeMutablePointer<UInt32>?
        defer { indices?.deallocate() }
        var width = 0
        if field.type == .string && n > 0 {
            let ix = UnsafeMutablePointer<UInt32>.allocate(capacity: n)
            indices = ix
            if dictionary.build(v, entriesMax: min(n, 1 << 16), indices: ix), dictionary.bytesTotal + 4 * dictionary.count <= options.dictionaryBytesMax {
                body.removeAll()
                for e in 0..<dictionary.count {
                    v.withString(dictionary.firstRow(e)) { s in
                        body.appendLE(UInt32(s.count))
                        body.append(s)
                    }
                }
                meta.dictionaryPageOffset = out.count
                try writePage(.dictionary, values: dictionary.count, encoding: .plain, meta: &meta)
                width = max(1, Int.bitWidth - (dictionary.count - 1).leadingZeroBitCount)
                (meta.min, meta.max) = statistics(v, candidates: (0..<dictionary.count).map { dictionary.firstRow($0) })
            } else {
                ix.deallocate()
                indices = nil
            }
        }
        if indices == nil { (meta.min, meta.max) = statistics(v) }
        let bytesPerRow = max(1, field.type == .string ? (n > 0 ? v.heapUsedBytes / n + 4 : 16) : field.type.valueWidthBytes)
        let pageRows = max(1, options.pageBytes / bytesPerRow)
        var first = 0
        meta.dataPageOffset = out.count
        repeat {
            let end = min(n, first + pageRows)
            body.removeAll()
            if field.nullable { definitionLevels(v, first..<end) }
            if let ix = indices {
                body.append(UInt8(width))
                var packed: [UInt8] = []
                ParquetWriter.bitPacked(width: width, into: &packed) { emit in
                    for r in first..<end where !v.isNull(r) { emit(ix[r]) }
                }
                body.append(packed)
            } else {
                plainValues(v, first..<end)
            }
            try writePage(.data, values: end - first, encoding: indices == nil ? .plain : .rleDictionary, meta: &meta)
            first = end
        } while first < n
        meta.encodings = indices == nil ? [.plain, .rle] : [.plain, .rle, .rleDictionary]
        return meta
    }

    /// A page: its header, then `body` compressed (into `packed`).
    func writePage(_ type: ParquetWriter.PageType, values: Int, encoding: ParquetWriter.Encoding, meta: inout ParquetWriter.ChunkMeta) throws {
        let compressedCount: Int
        if options.codec.kind == .none {
            compressedCount = body.count
        } else {
            packed.removeAll()
            packed.reserve(codecs.maxCompressedSize(options.codec.kind, body.count))
            let written = try body.withUnsafeBytes { (src) throws -> Int in
                try packed.withUnsafeMutableBytes { (d) throws -> Int in
                    switch codecs.compress(options.codec, src, into: d) {
                    case let .success(k): return k
                    case let .failure(f): throw BatchError(.cannotCreate, path: path, "the \(options.codec) codec failed on a page: \(f.message)")
                    }
                }
            }
            packed.count = written
            compressedCount = written
        }
        var t = ThriftCompactWriter()
        t.i32(1, type.rawValue)
        t.i32(2, Int32(body.count))
        t.i32(3, Int32(compressedCount))
        if type == .data {
            t.beginStruct(5)
            t.i32(1, Int32(values))
            t.i32(2, encoding.rawValue)
            t.i32(3, ParquetWriter.Encoding.rle.rawValue)
            t.i32(4, ParquetWriter.Encoding.rle.rawValue)
            t.end()
        } else {
            t.beginStruct(7)
            t.i32(1, Int32(values))
            t.i32(2, encoding.rawValue)
            t.end()
        }
        t.end()
        out.append(t.bytes)
        (options.codec.kind == .none ? body : packed).withUnsafeBytes { out.append($0) }
        meta.uncompressed += t.bytes.count + body.count
        meta.compressed += t.bytes.count + compressedCount
    }


    /// Definition levels of rows `rows` (1 present, 0 null), with their 4-byte length:
    /// one RLE run when none is null, else one bit-packed run (the validity bits).
    func definitionLevels(_ v: ColumnVector, _ rows: Range<Int>) {
        var levels: [UInt8] = []
        if v.nullCount == 0 || !rows.contains(where: { v.isNull($0) }) {
            ParquetWriter.varint(rows.count << 1, to: &levels)
            levels.append(1)
        } else {
            ParquetWriter.bitPacked(width: 1, into: &levels) { emit in
                for r in rows { emit(v.isNull(r) ? 0 : 1) }
            }
        }
        body.appendLE(UInt32(levels.count))
        body.append(levels)
    }

    /// PLAIN values of the non-null rows of `rows`, into `body`.
    func plainValues(_ v: ColumnVector, _ rows: Range<Int>) {
        let anyNull = v.nullCount > 0
        switch v.type {
        case .bool:
            var byte: UInt8 = 0, bits = 0
            for r in rows where !anyNull || !v.isNull(r) {
                if v.bool(r) { byte |= 1 << UInt8(bits) }
                bits += 1
                if bits == 8 {
                    body.append(byte)
                    (byte, bits) = (0, 0)
                }
            }
            if bits > 0 { body.append(byte) }
        case .int32, .date:
            body.reserve(rows.count * 4)
            for r in rows where !anyNull || !v.isNull(r) { body.appendLE(v.int32(r)) }
        case .int64, .decimal, .timestamp:
            body.reserve(rows.count * 8)
            for r in rows where !anyNull || !v.isNull(r) { body.appendLE(v.int64(r)) }
        case .float64:
            body.reserve(rows.count * 8)
            for r in rows where !anyNull || !v.isNull(r) { body.appendLE(v.double(r).bitPattern) }
        case .string:
            body.reserve(rows.count * 4 + v.stringBytes(rows))
            for r in rows where !anyNull || !v.isNull(r) {
                v.withString(r) { s in
                    body.appendLE(UInt32(s.count))
                    body.append(s)
                }
            }
        }
    }

    /// Min and max of the non-null values, PLAIN without a length (nil: no value, or a
    /// string bound too long to give). Each type in its own loop; a dictionary-encoded
    /// string column compares its distinct values only (`candidates`: their rows).
    func statistics(_ v: ColumnVector, candidates: [Int]? = nil) -> ([UInt8]?, [UInt8]?) {
        let n = v.count
        let anyNull = v.nullCount > 0
        var lo = -1, hi = -1
        @inline(__always) func scan<T: Comparable>(_ value: (Int) -> T) {
            var a: T?, b: T?
            for r in 0..<n where !anyNull || !v.isNull(r) {
                let x = value(r)
                if let m = a, let M = b {
                    if x < m { a = x; lo = r }
                    if x > M { b = x; hi = r }
                } else {
                    (a, b, lo, hi) = (x, x, r, r)
                }
            }
        }
        switch v.type {
        case .int32, .date: scan { v.int32($0) }
        case .int64, .decimal, .timestamp: scan { v.int64($0) }
        case .float64: scan { v.double($0) }
        case .bool: scan { v.bool($0) ? 1 : 0 }
        case .string:
            for r in candidates ?? Array(0..<n) where !anyNull || !v.isNull(r) {
                if lo < 0 { (lo, hi) = (r, r); continue }
                if ParquetWriter.compare(v, r, lo) < 0 { lo = r }
                if ParquetWriter.compare(v, r, hi) > 0 { hi = r }
            }
        }
        guard lo >= 0 else { return (nil, nil) }
        func bytes(_ r: Int) -> [UInt8]? {
            var b: [UInt8] = []
            switch v.type {
            case .bool: b.append(v.bool(r) ? 1 : 0)
            case .int32, .date: ParquetWriter.appendLE(v.int32(r), to: &b)
            case .int64, .decimal, .timestamp: ParquetWriter.appendLE(v.int64(r), to: &b)
            case .float64: ParquetWriter.appendLE(v.double(r).bitPattern, to: &b)
            case .string:
                b = v.withString(r) { Array($0) }
                if b.count > options.statisticsBytesMax { return nil }
            }
            return b
        }
        return (bytes(lo), bytes(hi))
    }

}
