/// XXH64, the 64-bit xxHash, written from its published specification.
///
/// Used for every chunk checksum and the footer checksum of a segment, for the
/// commit-log entries and for string hashing. It reads its input with unaligned
/// little-endian loads, so any byte range works.
public enum Checksum {
    static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    @inline(__always)
    static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x &<< r) | (x &>> (64 &- r)) }

    @inline(__always)
    static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        rotl(acc &+ input &* p2, 31) &* p1
    }

    @inline(__always)
    static func merge(_ acc: UInt64, _ val: UInt64) -> UInt64 {
        (acc ^ round(0, val)) &* p1 &+ p4
    }

    /// XXH64 of `bytes` with `seed`.
    public static func xxh64(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        let n = bytes.count
        guard let base = bytes.baseAddress, n > 0 else { return avalanche(seed &+ p5) }
        var i = 0
        var h: UInt64
        if n >= 32 {
            var v1 = seed &+ p1 &+ p2
            var v2 = seed &+ p2
            var v3 = seed
            var v4 = seed &- p1
            while i + 32 <= n {
                v1 = round(v1, base.loadLE64(i))
                v2 = round(v2, base.loadLE64(i + 8))
                v3 = round(v3, base.loadLE64(i + 16))
                v4 = round(v4, base.loadLE64(i + 24))
                i += 32
            }
            h = converge(v1, v2, v3, v4)
        } else {
            h = seed &+ p5
        }
        return finish(h &+ UInt64(n), base + i, n - i)
    }

    /// The four lanes' accumulators folded into one (inputs of 32 bytes or more).
    @inline(__always)
    static func converge(_ v1: UInt64, _ v2: UInt64, _ v3: UInt64, _ v4: UInt64) -> UInt64 {
        var h = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
        h = merge(h, v1)
        h = merge(h, v2)
        h = merge(h, v3)
        return merge(h, v4)
    }

    /// The last steps: the bytes after the last whole 32-byte stripe (fewer than 32),
    /// then the avalanche.
    @inline(__always)
    static func finish(_ acc: UInt64, _ tail: UnsafeRawPointer, _ n: Int) -> UInt64 {
        var h = acc
        var i = 0
        while i + 8 <= n {
            h ^= round(0, tail.loadLE64(i))
            h = rotl(h, 27) &* p1 &+ p4
            i += 8
        }
        if i + 4 <= n {
            h ^= UInt64(tail.loadLE32(i)) &* p1
            h = rotl(h, 23) &* p2 &+ p3
            i += 4
        }
        while i < n {
            h ^= UInt64(tail.load(fromByteOffset: i, as: UInt8.self)) &* p5
            h = rotl(h, 11) &* p1
            i += 1
        }
        return avalanche(h)
    }

    /// XXH64 fed in pieces: the same value as `xxh64` of the pieces joined, with a state
    /// of 80 bytes whatever their total length, so a file is hashed through a small buffer.
    public struct Stream {
        private let seed: UInt64
        private var v1, v2, v3, v4: UInt64
        private var total = 0
        /// Bytes of a stripe not yet whole, and how many.
        private var pending: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        private var pendingCount = 0

        public init(seed: UInt64 = 0) {
            self.seed = seed
            v1 = seed &+ p1 &+ p2
            v2 = seed &+ p2
            v3 = seed
            v4 = seed &- p1
        }

        @inline(__always)
        private mutating func stripe(_ p: UnsafeRawPointer) {
            v1 = round(v1, p.loadLE64(0))
            v2 = round(v2, p.loadLE64(8))
            v3 = round(v3, p.loadLE64(16))
            v4 = round(v4, p.loadLE64(24))
        }

        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
            let n = bytes.count
            total += n
            var i = 0
            if pendingCount > 0 {
                let take = min(32 - pendingCount, n)
                withUnsafeMutablePointer(to: &pending) { UnsafeMutableRawPointer($0).advanced(by: pendingCount).copyMemory(from: base, byteCount: take) }
                pendingCount += take
                i = take
                guard pendingCount == 32 else { return }
                var full = pending
                withUnsafePointer(to: &full) { stripe(UnsafeRawPointer($0)) }
                pendingCount = 0
            }
            while i + 32 <= n {
                stripe(base + i)
                i += 32
            }
            if i < n {
                withUnsafeMutablePointer(to: &pending) { UnsafeMutableRawPointer($0).copyMemory(from: base + i, byteCount: n - i) }
                pendingCount = n - i
            }
        }

        public func digest() -> UInt64 {
            var h: UInt64
            if total >= 32 {
                h = converge(v1, v2, v3, v4)
            } else {
                h = seed &+ p5
            }
            var tail = pending
            let count = pendingCount
            return withUnsafePointer(to: &tail) { finish(h &+ UInt64(total), UnsafeRawPointer($0), count) }
        }
    }

    public static func xxh64(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { xxh64($0, seed: seed) }
    }

    @inline(__always)
    static func avalanche(_ x: UInt64) -> UInt64 {
        var h = x
        h ^= h >> 33
        h = h &* p2
        h ^= h >> 29
        h = h &* p3
        h ^= h >> 32
        return h
    }
}

extension UnsafeRawPointer {
    @inline(__always)
    func loadLE64(_ offset: Int) -> UInt64 {
        UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always)
    func loadLE32(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    func loadLE16(_ offset: Int) -> UInt16 {
        UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
}
