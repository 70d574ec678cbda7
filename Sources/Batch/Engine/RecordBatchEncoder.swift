import Segments
#if canImport(Glibc)
import Glibc
#endif

/// Encodes rows of a batch as byte records a column at a time, into one reused buffer:
/// the bulk form of `RowCodec.encode` and `KeyEncoder.encode`, byte for byte the same.
///
/// ```
///   record = header (headerBytes, left for the engine to fill)
///            then each section in order, optionally preceded by its u32 LE byte length
///            then trailer (trailerBytes, left for the caller)
///   section .row(columns): the RowCodec layout of those columns
///           .key(keys):    the KeyEncoder layout of those sort keys
/// ```
/// Row by row, an encoder pays per value for a type switch, a call and the buffer's
/// checks. Here one pass per column sizes the records, and one pass per column writes its
/// values into place, through pointers taken once per column. A chunk of rows at a time
/// (`chunkRows`) keeps the buffer small enough to stay in cache.
public final class RecordBatchEncoder {
    public enum Layout: Sendable {
        case row([Int])
        case key([SortKey])
    }

    public struct Section: Sendable {
        public var layout: Layout
        public var lengthPrefixed: Bool

        public init(_ layout: Layout, lengthPrefixed: Bool = false) {
            self.layout = layout
            self.lengthPrefixed = lengthPrefixed
        }
    }

    /// Rows per `encode` call at most.
    public static let chunkRows = 1024

    let headerBytes: Int
    let trailerBytes: Int
    let sections: [Section]
    /// Per section, the types of its columns (in section order).
    let types: [[ColumnType]]
    public private(set) var count = 0
    private var buffer: UnsafeMutableRawPointer
    private var bufferCapacity: Int
    /// Record i: `buffer + starts[i] ..< buffer + starts[i + 1]`.
    public let starts: UnsafeMutablePointer<Int>
    /// Section s of record i is `lengths[s * chunkRows + i]` bytes (without its length prefix).
    private let lengths: UnsafeMutablePointer<Int>
    /// Write positions, one per row, and a section's or column's start per row.
    private let pos: UnsafeMutablePointer<Int>
    private let mark: UnsafeMutablePointer<Int>
    /// The batch row each record of the chunk encodes.
    private let rowAt: UnsafeMutablePointer<Int>

    public init(schema: Schema, headerBytes: Int, sections: [Section], trailerBytes: Int = 0) {
        self.headerBytes = headerBytes
        self.trailerBytes = trailerBytes
        self.sections = sections
        types = sections.map { s in
            switch s.layout {
            case .row(let columns): columns.map { schema.fields[$0].type }
            case .key(let keys): keys.map { schema.fields[$0.column].type }
            }
        }
        let n = Self.chunkRows
        bufferCapacity = n * 128
        buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferCapacity, alignment: 16)
        starts = UnsafeMutablePointer<Int>.allocate(capacity: n + 1)
        lengths = UnsafeMutablePointer<Int>.allocate(capacity: max(1, sections.count) * n)
        pos = UnsafeMutablePointer<Int>.allocate(capacity: n)
        mark = UnsafeMutablePointer<Int>.allocate(capacity: n)
        rowAt = UnsafeMutablePointer<Int>.allocate(capacity: n)
    }

    deinit {
        buffer.deallocate()
        starts.deallocate()
        lengths.deallocate()
        pos.deallocate()
        mark.deallocate()
        rowAt.deallocate()
    }

    /// The encoded records' bytes (valid until the next `encode`).
    public var base: UnsafeMutableRawPointer { buffer }

    @inline(__always)
    public func record(_ i: Int) -> UnsafeMutableRawPointer { buffer + starts[i] }

    @inline(__always)
    public func recordBytes(_ i: Int) -> Int { starts[i + 1] - starts[i] }

    @inline(__always)
    public func sectionBytes(_ s: Int, _ i: Int) -> Int { lengths[s * Self.chunkRows + i] }

    /// The batch row record `i` of the chunk encodes.
    @inline(__always)
    public func row(_ i: Int) -> Int { rowAt[i] }

    /// Encodes rows `rows` of `columns` a chunk of at most `chunkRows` at a time, and
    /// calls `body` after each chunk (`count` records, record i from batch row `row(i)`).
    public func encodeChunks(_ columns: [ColumnVector], rows: Range<Int>, _ body: () throws -> Void) rethrows {
        var first = rows.lowerBound
        while first < rows.upperBound {
            let end = min(first + Self.chunkRows, rows.upperBound)
            encode(columns, rows: first..<end)
            try body()
            first = end
        }
    }

    /// As `encodeChunks(_:rows:_:)`, for the batch rows `selection` lists, in its order:
    /// the rows a filter kept, encoded where they are, without gathering them first.
    public func encodeChunks(_ columns: [ColumnVector], selection: UnsafeBufferPointer<Int32>, _ body: () throws -> Void) rethrows {
        var first = 0
        while first < selection.count {
            let end = min(first + Self.chunkRows, selection.count)
            for i in first..<end { rowAt[i - first] = Int(selection[i]) }
            encodeRows(columns, end - first)
            try body()
            first = end
        }
    }

    /// Encodes rows `rows` (at most `chunkRows`) of `columns`.
    public func encode(_ columns: [ColumnVector], rows: Range<Int>) {
        precondition(rows.count <= Self.chunkRows, "encode takes at most \(Self.chunkRows) rows at a time")
        for i in 0..<rows.count { rowAt[i] = rows.lowerBound + i }
        encodeRows(columns, rows.count)
    }

    /// Encodes batch rows `rowAt[0..<n]` of `columns`.
    private func encodeRows(_ columns: [ColumnVector], _ n: Int) {
        count = n
        // Sizes, section by section.
        var fixed = headerBytes + trailerBytes
        for (s, section) in sections.enumerated() {
            if section.lengthPrefixed { fixed += 4 }
            let len = lengths + s * Self.chunkRows
            switch section.layout {
            case .row(let selection): sizeRow(columns, selection, types[s], n, len)
            case .key(let keys): sizeKey(columns, keys, types[s], n, len)
            }
        }
        var total = 0
        for i in 0..<n {
            starts[i] = total
            var size = fixed
            for s in 0..<sections.count { size += lengths[s * Self.chunkRows + i] }
            total += size
        }
        starts[n] = total
        if total > bufferCapacity {
            buffer.deallocate()
            while bufferCapacity < total { bufferCapacity *= 2 }
            buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferCapacity, alignment: 16)
        }
        for i in 0..<n { pos[i] = starts[i] + headerBytes }
        for (s, section) in sections.enumerated() {
            if section.lengthPrefixed {
                let len = lengths + s * Self.chunkRows
                for i in 0..<n {
                    buffer.storeBytes(of: UInt32(len[i]).littleEndian, toByteOffset: pos[i], as: UInt32.self)
                    pos[i] += 4
                }
            }
            switch section.layout {
            case .row(let selection): writeRow(columns, selection, types[s], n)
            case .key(let keys): writeKey(columns, keys, types[s], n)
            }
        }
    }

    // MARK: RowCodec layout

    private func sizeRow(_ columns: [ColumnVector], _ selection: [Int], _ types: [ColumnType], _ n: Int,
                         _ len: UnsafeMutablePointer<Int>) {
        let at = rowAt
        let bitmap = (selection.count + 7) / 8
        for i in 0..<n { len[i] = bitmap }
        for (k, column) in selection.enumerated() {
            let c = columns[column]
            let nulls = c.nullCount > 0
            switch types[k] {
            case .string:
                for i in 0..<n where !(nulls && c.isNull(at[i])) {
                    len[i] += 4 + c.withString(at[i]) { $0.count }
                }
            default:
                let w = types[k].rowCodecBytes
                if !nulls {
                    for i in 0..<n { len[i] += w }
                } else {
                    for i in 0..<n where !c.isNull(at[i]) { len[i] += w }
                }
            }
        }
    }

    private func writeRow(_ columns: [ColumnVector], _ selection: [Int], _ types: [ColumnType], _ n: Int) {
        let at = rowAt
        let buffer = self.buffer, pos = self.pos, mark = self.mark
        let bitmap = (selection.count + 7) / 8
        for i in 0..<n {
            mark[i] = pos[i]
            if bitmap == 1 {
                buffer.storeBytes(of: 0, toByteOffset: pos[i], as: UInt8.self)
            } else {
                (buffer + pos[i]).initializeMemory(as: UInt8.self, repeating: 0, count: bitmap)
            }
            pos[i] += bitmap
        }
        for (k, column) in selection.enumerated() {
            let c = columns[column]
            let nulls = c.nullCount > 0
            if nulls {
                // Null rows: their bit in the bitmap, and no bytes (pos stays).
                let bit = UInt8(1 << (k % 8))
                for i in 0..<n where c.isNull(at[i]) {
                    let byte = mark[i] + k / 8
                    buffer.storeBytes(of: buffer.load(fromByteOffset: byte, as: UInt8.self) | bit, toByteOffset: byte, as: UInt8.self)
                }
            }
            // One loop per type, so that no row pays for the type switch.
            switch types[k] {
            case .bool:
                for i in 0..<n where !(nulls && c.isNull(at[i])) {
                    buffer.storeBytes(of: c.bool(at[i]) ? 1 : 0, toByteOffset: pos[i], as: UInt8.self)
                    pos[i] += 1
                }
            case .int32, .date:
                for i in 0..<n where !(nulls && c.isNull(at[i])) {
                    buffer.storeBytes(of: c.int32(at[i]).littleEndian, toByteOffset: pos[i], as: Int32.self)
                    pos[i] += 4
                }
            case .float64:
                for i in 0..<n where !(nulls && c.isNull(at[i])) {
                    buffer.storeBytes(of: c.double(at[i]).bitPattern.littleEndian, toByteOffset: pos[i], as: UInt64.self)
                    pos[i] += 8
                }
            case .int64, .decimal, .timestamp:
                for i in 0..<n where !(nulls && c.isNull(at[i])) {
                    buffer.storeBytes(of: c.int64(at[i]).littleEndian, toByteOffset: pos[i], as: Int64.self)
                    pos[i] += 8
                }
            case .string:
                for i in 0..<n where !(nulls && c.isNull(at[i])) {
                    c.withString(at[i]) { s in
                        let start = pos[i]
                        buffer.storeBytes(of: UInt32(s.count).littleEndian, toByteOffset: start, as: UInt32.self)
                        if let p = s.baseAddress { Bytes.copy(buffer + start + 4, p, s.count) }
                        pos[i] = start + 4 + s.count
                    }
                }
            }
        }
    }

    // MARK: KeyEncoder layout

    private func sizeKey(_ columns: [ColumnVector], _ keys: [SortKey], _ types: [ColumnType], _ n: Int,
                         _ len: UnsafeMutablePointer<Int>) {
        let at = rowAt
        for i in 0..<n { len[i] = 0 }
        for (k, key) in keys.enumerated() {
            let c = columns[key.column]
            let nulls = c.nullCount > 0
            switch types[k] {
            case .string:
                for i in 0..<n {
                    if nulls && c.isNull(at[i]) {
                        len[i] += 1
                        continue
                    }
                    len[i] += c.withString(at[i]) { s in 3 + s.count + KeyEncoder.zeroBytes(s) }
                }
            default:
                for i in 0..<n { len[i] += nulls && c.isNull(at[i]) ? 1 : 9 }
            }
        }
    }

    private func writeKey(_ columns: [ColumnVector], _ keys: [SortKey], _ types: [ColumnType], _ n: Int) {
        let at = rowAt
        let buffer = self.buffer, pos = self.pos
        for (k, key) in keys.enumerated() {
            let c = columns[key.column]
            let nulls = c.nullCount > 0
            let type = types[k]
            for i in 0..<n {
                let r = at[i]
                let start = pos[i]
                if nulls && c.isNull(r) {
                    buffer.storeBytes(of: 0, toByteOffset: start, as: UInt8.self)
                    pos[i] = start + 1
                } else {
                    buffer.storeBytes(of: 1, toByteOffset: start, as: UInt8.self)
                    switch type {
                    case .string:
                        c.withString(r) { s in pos[i] = KeyEncoder.writeString(s, to: buffer + start + 1) - buffer }
                    case .float64:
                        let bits = c.double(r).bitPattern
                        buffer.storeBytes(of: (bits >> 63 == 1 ? ~bits : bits | (1 << 63)).bigEndian, toByteOffset: start + 1, as: UInt64.self)
                        pos[i] = start + 9
                    default:
                        buffer.storeBytes(of: (UInt64(bitPattern: c.integer(r)) ^ (1 << 63)).bigEndian, toByteOffset: start + 1, as: UInt64.self)
                        pos[i] = start + 9
                    }
                }
                if key.descending {
                    var p = buffer + start
                    let end = buffer + pos[i]
                    while p < end {
                        p.storeBytes(of: ~p.load(as: UInt8.self), as: UInt8.self)
                        p += 1
                    }
                }
            }
        }
    }
}

extension ColumnType {
    /// Bytes of a non-null fixed-width value in the RowCodec layout.
    var rowCodecBytes: Int {
        switch self {
        case .bool: 1
        case .int32, .date: 4
        case .float64, .int64, .decimal, .timestamp: 8
        case .string: 0
        }
    }
}

extension KeyEncoder {
    /// Zero bytes in `s`: each is escaped as 0x00 0xFF in a key.
    @inline(__always)
    static func zeroBytes(_ s: UnsafeRawBufferPointer) -> Int {
        guard s.count > 0, memchr(s.baseAddress!, 0, s.count) != nil else { return 0 }
        var zeros = 0
        for b in s where b == 0 { zeros += 1 }
        return zeros
    }

    /// Writes a string's key bytes (zeros escaped, then the 0x00 0x00 terminator) at `to`;
    /// returns the end.
    @inline(__always)
    static func writeString(_ s: UnsafeRawBufferPointer, to: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        var p = to
        if s.count > 0 {
            if memchr(s.baseAddress!, 0, s.count) == nil {
                Bytes.copy(p, s.baseAddress!, s.count)
                p += s.count
            } else {
                for b in s {
                    p.storeBytes(of: b, as: UInt8.self)
                    p += 1
                    if b == 0 {
                        p.storeBytes(of: 0xFF, as: UInt8.self)
                        p += 1
                    }
                }
            }
        }
        p.storeBytes(of: 0, as: UInt16.self)
        return p + 2
    }
}
