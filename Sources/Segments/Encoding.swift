/// How the values of a chunk are laid out before compression (docs/FORMAT.md has the bytes).
public enum Encoding: UInt8, Sendable, CaseIterable {
    /// Fixed-width little-endian values; bools as a bitmap; strings as end offsets + bytes.
    case plain = 0
    /// Strings: a dictionary of distinct values plus bit-packed indices.
    case dictionary = 1
    /// Integers: a base value plus bit-packed (value - base).
    case frameOfReference = 2
    /// Integers: the first value, a minimum delta, then bit-packed (delta - minimum delta).
    case delta = 3

    public var name: String {
        switch self {
        case .plain: return "plain"
        case .dictionary: return "dictionary"
        case .frameOfReference: return "frame-of-reference"
        case .delta: return "delta"
        }
    }
}

/// Min and max of the non-null values of a chunk.
public enum StatValue: Hashable, Sendable {
    case int(Int64)
    case double(Double)
    case bool(Bool)
    /// String bytes; `exact` is false when the value was cut to `StatValue.stringPrefixBytes`.
    case bytes([UInt8], exact: Bool)

    /// Longest string kept whole in a min/max statistic.
    public static let stringPrefixBytes = 64
}

public struct ChunkStats: Hashable, Sendable {
    public var nullCount: Int
    public var min: StatValue?
    public var max: StatValue?
}

/// Bit packing of unsigned values of `width` bits, LSB first, followed by 8 zero bytes so
/// that a decoder may always load 8 bytes at the byte where a value starts.
enum BitPacking {
    static let padBytes = 8

    static func bitWidth(_ range: UInt64) -> Int { range == 0 ? 0 : 64 - range.leadingZeroBitCount }

    static func packedBytes(count: Int, width: Int) -> Int { (count * width + 7) / 8 + padBytes }

    /// Appends `count` values produced by `value(i)` (each < 2^width) to `out`.
    @inline(__always)
    static func pack(count: Int, width: Int, into out: ByteBuffer, _ value: (Int) -> UInt64) {
        let total = packedBytes(count: count, width: width)
        let dst = out.tail(reserving: total + 8)
        var written = 0
        if width > 0 {
            var acc: UInt64 = 0
            var bits = 0
            for i in 0..<count {
                let v = value(i)
                acc |= v << UInt64(bits)
                if bits + width >= 64 {
                    dst.storeBytes(of: acc.littleEndian, toByteOffset: written, as: UInt64.self)
                    written += 8
                    acc = bits == 0 ? 0 : v >> UInt64(64 - bits)
                    bits = bits + width - 64
                } else {
                    bits += width
                }
            }
            var rest = (bits + 7) / 8
            while rest > 0 {
                dst.storeBytes(of: UInt8(truncatingIfNeeded: acc), toByteOffset: written, as: UInt8.self)
                acc >>= 8
                written += 1
                rest -= 1
            }
        }
        (dst + written).initializeMemory(as: UInt8.self, repeating: 0, count: total - written)
        out.count += total
    }

    @inline(__always)
    static func mask(_ width: Int) -> UInt64 { width >= 64 ? ~0 : (UInt64(1) << UInt64(width)) &- 1 }

    /// Value `i` of a packed run; the run must carry its 8 pad bytes.
    @inline(__always)
    static func unpack(_ src: UnsafeRawPointer, _ i: Int, _ width: Int, _ mask: UInt64) -> UInt64 {
        let bit = i &* width
        let byte = bit &>> 3
        let sh = bit & 7
        var x = src.loadLE64(byte) &>> UInt64(sh)
        if width &+ sh > 64 {
            x |= UInt64(src.load(fromByteOffset: byte &+ 8, as: UInt8.self)) &<< UInt64(64 &- sh)
        }
        return x & mask
    }
}
