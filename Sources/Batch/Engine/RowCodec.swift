import Segments
#if canImport(Glibc)
import Glibc
#endif

/// Rows of column vectors as bytes and back: the payload of spilled records, and the
/// canonical bytes of group and dedup keys (equal values give equal bytes).
///
/// ```
///   row = null bitmap (1 bit per column, ceil(n/8) bytes), then per non-null column:
///         bool 1 byte | int32, date 4 bytes LE | int64, decimal, timestamp, float64 8 bytes LE
///         | string u32 LE length + bytes
/// ```
public struct RowCodec: Sendable {
    public let types: [ColumnType]
    let bitmapBytes: Int

    public init(types: [ColumnType]) {
        self.types = types
        bitmapBytes = (types.count + 7) / 8
    }

    /// Appends row `row` of `columns` (one per type; `selection` picks columns by index).
    public func encode(_ columns: [ColumnVector], row: Int, selection: [Int]? = nil, into out: ByteBuffer) {
        let start = out.count
        out.appendZeros(bitmapBytes)
        let count = selection?.count ?? columns.count
        for k in 0..<count {
            // unowned(unsafe): `columns` keeps the vector alive; no retain and release per value.
            unowned(unsafe) let c = columns[selection?[k] ?? k]
            if c.isNull(row) {
                out.withUnsafeMutableBytes { $0[start + k / 8] |= UInt8(1 << (k % 8)) }
                continue
            }
            switch types[k] {
            case .bool: out.append(c.bool(row) ? 1 : 0)
            case .int32, .date: out.appendLE(c.int32(row))
            case .float64: out.appendLE(c.double(row).bitPattern)
            case .int64, .decimal, .timestamp: out.appendLE(c.int64(row))
            case .string:
                c.withString(row) { s in
                    out.appendLE(UInt32(s.count))
                    out.append(s)
                }
            }
        }
    }

    /// Calls `body` with column `k`, borrowed from `columns` (which keeps it alive), so that
    /// per-value calls do not retain and release it.
    @inline(__always)
    static func withColumn(_ columns: [ColumnVector], _ k: Int, _ body: (ColumnVector) -> Void) {
        Unmanaged.passUnretained(columns[k])._withUnsafeGuaranteedRef(body)
    }

    /// Appends the row in `bytes` to `columns`; returns the bytes it took.
    @discardableResult
    public func decode(_ bytes: UnsafeRawBufferPointer, appendTo columns: [ColumnVector]) -> Int {
        var at = bitmapBytes
        for k in columns.indices {
            Self.withColumn(columns, k) { c in
                if bytes[k / 8] & UInt8(1 << (k % 8)) != 0 {
                    c.appendNull()
                    return
                }
                switch types[k] {
                case .bool:
                    c.appendBool(bytes[at] != 0)
                    at += 1
                case .int32, .date:
                    c.appendInt32(bytes.loadUnaligned(fromByteOffset: at, as: Int32.self))
                    at += 4
                case .float64:
                    c.appendDouble(Double(bitPattern: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)))
                    at += 8
                case .int64, .decimal, .timestamp:
                    c.appendInt64(bytes.loadUnaligned(fromByteOffset: at, as: Int64.self))
                    at += 8
                case .string:
                    let n = Int(bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self))
                    c.appendString(UnsafeRawBufferPointer(rebasing: bytes[(at + 4)..<(at + 4 + n)]))
                    at += 4 + n
                }
            }
        }
        return at
    }
}

/// One column of a sort or ordering key.
public struct SortKey: Sendable, Hashable {
    public var column: Int
    public var descending: Bool

    public init(_ column: Int, descending: Bool = false) {
        self.column = column
        self.descending = descending
    }
}

/// Encodes key columns as bytes whose memcmp order is the key's order: ascending or
/// descending per column, nulls before values (after them when descending), strings by
/// their UTF-8 bytes.
///
/// ```
///   per column: 0x00 (null) | 0x01 then the value:
///     integers, decimals, dates, timestamps, bools: 8 bytes big-endian, sign bit flipped
///     float64: 8 bytes big-endian, sign-flipped (negative: all bits flipped)
///     string: bytes with 0x00 written 0x00 0xFF, then 0x00 0x00
///   descending: every byte of the column's encoding inverted
/// ```
public struct KeyEncoder: Sendable {
    public let keys: [SortKey]
    public let types: [ColumnType]

    public init(keys: [SortKey], schema: Schema) {
        self.keys = keys
        types = keys.map { schema.fields[$0.column].type }
    }

    public func encode(_ columns: [ColumnVector], row: Int, into out: ByteBuffer) {
        for (k, key) in keys.enumerated() {
            let start = out.count
            unowned(unsafe) let c = columns[key.column] // `columns` keeps it alive: no retain and release per value
            if c.isNull(row) {
                out.append(0)
            } else {
                out.append(1)
                switch types[k] {
                case .string:
                    c.withString(row) { s in
                        let n = s.count + Self.zeroBytes(s) + 2
                        out.withSpareCapacity(n) { _ = Self.writeString(s, to: $0.baseAddress!) }
                        out.count += n
                    }
                case .float64:
                    let bits = c.double(row).bitPattern
                    out.appendLE((bits >> 63 == 1 ? ~bits : bits | (1 << 63)).bigEndian)
                default:
                    out.appendLE((UInt64(bitPattern: c.integer(row)) ^ (1 << 63)).bigEndian)
                }
            }
            if key.descending {
                out.withUnsafeMutableBytes { b in
                    for i in start..<out.count { b[i] = ~b[i] }
                }
            }
        }
    }
}

extension KeyEncoder {
    /// Appends the values a key encodes back to columns: the inverse of `encode`. Column
    /// k of `columns` receives key k's value, except for a key column that an earlier key
    /// already gave (`decodes[k]` false: its bytes are skipped). `scratch` holds a string
    /// that needs unescaping or un-inverting. Returns the bytes read.
    ///
    /// The sort keeps a row's key columns only in its key, so each row is that much
    /// smaller to copy, compress, write and merge.
    @discardableResult
    public func decode(_ bytes: UnsafeRawBufferPointer, appendTo columns: [ColumnVector], decodes: [Bool], scratch: ByteBuffer) -> Int {
        var at = 0
        for (k, key) in keys.enumerated() {
            // Descending keys are stored inverted: each byte is read back through `flip`.
            let flip: UInt8 = key.descending ? 0xFF : 0
            let append = decodes[k]
            let marker = bytes[at] ^ flip
            at += 1
            if marker == 0 {
                if append { RowCodec.withColumn(columns, k) { $0.appendNull() } }
                continue
            }
            switch types[k] {
            case .string:
                let start = at
                var escaped = false
                var p = at
                if flip == 0 {
                    // Ends at the first 0x00 not followed by 0xFF; 0x00 0xFF is an escaped zero.
                    while true {
                        let z = memchr(bytes.baseAddress! + p, 0, bytes.count - p)!
                        p = UnsafeRawPointer(z) - bytes.baseAddress!
                        if bytes[p + 1] == 0 { break }
                        escaped = true
                        p += 2
                    }
                } else {
                    escaped = true
                    while !(bytes[p] == 0xFF && bytes[p + 1] == 0xFF) { p += bytes[p] == 0xFF ? 2 : 1 }
                }
                at = p + 2
                guard append else { continue }
                if !escaped {
                    RowCodec.withColumn(columns, k) { $0.appendString(UnsafeRawBufferPointer(rebasing: bytes[start..<p])) }
                    continue
                }
                scratch.removeAll()
                var i = start
                while i < p {
                    let b = bytes[i] ^ flip
                    scratch.append(b)
                    i += b == 0 ? 2 : 1 // an escaped zero: its 0xFF follows
                }
                scratch.withUnsafeBytes { s in RowCodec.withColumn(columns, k) { $0.appendString(s) } }
            default:
                var bits = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self))
                if flip != 0 { bits = ~bits }
                at += 8
                guard append else { continue }
                RowCodec.withColumn(columns, k) { c in
                    switch types[k] {
                    case .float64: c.appendDouble(Double(bitPattern: bits >> 63 == 1 ? bits & ~(1 << 63) : ~bits))
                    case .bool: c.appendBool(bits ^ (1 << 63) != 0)
                    case .int32, .date: c.appendInt32(Int32(truncatingIfNeeded: Int64(bitPattern: bits ^ (1 << 63))))
                    default: c.appendInt64(Int64(bitPattern: bits ^ (1 << 63)))
                    }
                }
            }
        }
        return at
    }
}
