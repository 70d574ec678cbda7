#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Comparing and hashing short byte strings (ids, codes, keys of a few numbers) without a
/// call per string: word loads, inlined into the per-row loops of every module.
public enum Bytes {
    @inlinable @inline(__always)
    static func word(_ p: UnsafeRawPointer, _ at: Int) -> UInt64 { p.loadUnaligned(fromByteOffset: at, as: UInt64.self) }

    /// The first 8 bytes as a big-endian integer, zero-padded: integer order is memcmp
    /// order on those bytes.
    @inlinable @inline(__always)
    public static func prefix(_ b: UnsafeRawBufferPointer) -> UInt64 {
        let n = b.count
        guard n > 0, let p = b.baseAddress else { return 0 }
        if n >= 8 { return UInt64(bigEndian: p.loadUnaligned(as: UInt64.self)) }
        if n >= 4 {
            // Two overlapping 4-byte loads hold every byte; where they overlap they agree.
            let head = UInt64(UInt32(bigEndian: p.loadUnaligned(as: UInt32.self))) << 32
            let tail = UInt64(UInt32(bigEndian: p.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self))) << UInt64(8 * (8 - n))
            return head | tail
        }
        // 1 to 3 bytes: bytes 0, n/2 and n - 1 are all of them.
        return UInt64(p.load(as: UInt8.self)) << 56 | UInt64(p.load(fromByteOffset: n / 2, as: UInt8.self)) << UInt64(56 - 8 * (n / 2))
            | UInt64(p.load(fromByteOffset: n - 1, as: UInt8.self)) << UInt64(56 - 8 * (n - 1))
    }

    /// memcmp order, shorter first on a common prefix: -1, 0 or 1.
    @inlinable
    public static func compare(_ x: UnsafeRawBufferPointer, _ y: UnsafeRawBufferPointer) -> Int {
        let n = Swift.min(x.count, y.count)
        if n > 0, let a = x.baseAddress, let b = y.baseAddress {
            let c = compare(a, b, n)
            if c != 0 { return c }
        }
        return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
    }

    /// memcmp of `n` bytes, as -1, 0 or 1: 8 bytes at a time, inlined; after 64 equal
    /// bytes the rest goes to memcmp.
    @inlinable
    public static func compare(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Int {
        var i = 0
        while i + 8 <= n {
            if i == 64 {
                let c = memcmp(a + i, b + i, n - i)
                return c == 0 ? 0 : (c < 0 ? -1 : 1)
            }
            let u = word(a, i), v = word(b, i)
            if u != v { return UInt64(bigEndian: u) < UInt64(bigEndian: v) ? -1 : 1 }
            i += 8
        }
        if i < n {
            let u = prefix(UnsafeRawBufferPointer(start: a + i, count: n - i))
            let v = prefix(UnsafeRawBufferPointer(start: b + i, count: n - i))
            if u != v { return u < v ? -1 : 1 }
        }
        return 0
    }

    /// True when `n` bytes at `a` and `b` are equal: up to 32 bytes, a few overlapping
    /// 8-byte loads do it.
    @inlinable @inline(__always)
    public static func equal(_ a: UnsafeRawPointer?, _ b: UnsafeRawPointer?, _ n: Int) -> Bool {
        guard n > 0, let a, let b else { return true }
        if n >= 8 {
            if n <= 16 { return word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8) }
            if n <= 32 {
                return word(a, 0) == word(b, 0) && word(a, 8) == word(b, 8)
                    && word(a, n - 16) == word(b, n - 16) && word(a, n - 8) == word(b, n - 8)
            }
            return memcmp(a, b, n) == 0
        }
        if n >= 4 {
            return a.loadUnaligned(as: UInt32.self) == b.loadUnaligned(as: UInt32.self)
                && a.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self) == b.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)
        }
        for i in 0..<n where a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
        return true
    }

    /// Equal length and bytes.
    @inlinable @inline(__always)
    public static func equal(_ x: UnsafeRawBufferPointer, _ y: UnsafeRawBufferPointer) -> Bool {
        x.count == y.count && equal(x.baseAddress, y.baseAddress, x.count)
    }

    /// Copies `n` bytes from `src` to `dst` (not overlapping): up to 32 bytes with a few
    /// overlapping word loads and stores, inlined (ids, codes, short names); longer runs
    /// with memcpy.
    @inlinable @inline(__always)
    public static func copy(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, _ n: Int) {
        if n >= 8 {
            if n <= 16 {
                let a = word(src, 0), b = word(src, n - 8)
                dst.storeBytes(of: a, as: UInt64.self)
                dst.storeBytes(of: b, toByteOffset: n - 8, as: UInt64.self)
            } else if n <= 32 {
                let a = word(src, 0), b = word(src, 8), c = word(src, n - 16), d = word(src, n - 8)
                dst.storeBytes(of: a, as: UInt64.self)
                dst.storeBytes(of: b, toByteOffset: 8, as: UInt64.self)
                dst.storeBytes(of: c, toByteOffset: n - 16, as: UInt64.self)
                dst.storeBytes(of: d, toByteOffset: n - 8, as: UInt64.self)
            } else {
                memcpy(dst, src, n)
            }
        } else if n >= 4 {
            let a = src.loadUnaligned(as: UInt32.self), b = src.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)
            dst.storeBytes(of: a, as: UInt32.self)
            dst.storeBytes(of: b, toByteOffset: n - 4, as: UInt32.self)
        } else {
            for i in 0..<n { dst.storeBytes(of: src.load(fromByteOffset: i, as: UInt8.self), toByteOffset: i, as: UInt8.self) }
        }
    }

    @inlinable @inline(__always)
    static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let m = a.multipliedFullWidth(by: b)
        return m.high ^ m.low
    }

    /// A 64-bit hash of in-memory keys (hash tables, dictionaries, partitions): every bit
    /// depends on every input byte. Up to 32 bytes it is a few multiplications (the
    /// 128-bit multiply-and-fold of wyhash); longer keys use xxh64. Not stored anywhere:
    /// it may change between versions.
    @inlinable
    public static func hash(_ b: UnsafeRawBufferPointer) -> UInt64 {
        let n = b.count
        let k0: UInt64 = 0xA076_1D64_78BD_642F, k1: UInt64 = 0xE703_7ED1_A0B4_28DB, k2: UInt64 = 0x8EBC_6AF0_9C88_C6E3
        guard n > 0, let p = b.baseAddress else { return mix(k0, k1) }
        var lo: UInt64, hi: UInt64
        if n <= 16 {
            if n >= 8 {
                lo = word(p, 0); hi = word(p, n - 8)
            } else if n >= 4 {
                lo = UInt64(p.loadUnaligned(as: UInt32.self)); hi = UInt64(p.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self))
            } else {
                lo = UInt64(p.load(as: UInt8.self)) << 16 | UInt64(p.load(fromByteOffset: n / 2, as: UInt8.self)) << 8
                    | UInt64(p.load(fromByteOffset: n - 1, as: UInt8.self))
                hi = 0
            }
        } else if n <= 32 {
            let seed = mix(word(p, 0) ^ k1, word(p, 8) ^ k0)
            lo = word(p, n - 16) ^ seed; hi = word(p, n - 8)
        } else {
            return Checksum.xxh64(b)
        }
        return mix(k1 ^ UInt64(n), mix(lo ^ k1, hi ^ k2 ^ UInt64(n)))
    }
}
