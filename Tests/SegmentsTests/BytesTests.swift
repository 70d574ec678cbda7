import Foundation
import Testing
@testable import Segments

/// The inline byte comparisons against memcmp, and the in-memory hash.
@Suite struct BytesTests {
    static func memcmpOrder(_ x: [UInt8], _ y: [UInt8]) -> Int {
        let c = x.withUnsafeBytes { a in y.withUnsafeBytes { b in memcmp(a.baseAddress!, b.baseAddress!, min(x.count, y.count)) } }
        if c != 0 { return c < 0 ? -1 : 1 }
        return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
    }

    /// Every length to 80 bytes (past the 64 compared inline), equal, differing in each
    /// single byte either way, and each proper prefix.
    @Test func compareAndEqualMatchMemcmp() {
        var rng = SeededRNG(42)
        for n in 0...80 {
            let a = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) } + [0xAB] // a byte past the end that must not count
            let x = Array(a[0..<n])
            x.withUnsafeBytes { px in
                #expect(Bytes.compare(px, px) == 0 && Bytes.equal(px, px), "length \(n)")
                for cut in stride(from: 0, to: n, by: max(1, n / 5)) {
                    let shorter = Array(x[0..<cut])
                    shorter.withUnsafeBytes { #expect(Bytes.compare($0, px) == -1 && Bytes.compare(px, $0) == 1 && !Bytes.equal($0, px), "length \(n), prefix \(cut)") }
                }
            }
            for i in 0..<n {
                var y = x
                y[i] = UInt8(truncatingIfNeeded: Int(y[i]) + 1 + Int(rng.next() % 255))
                let expected = Self.memcmpOrder(x, y)
                x.withUnsafeBytes { px in
                    y.withUnsafeBytes { py in
                        #expect(Bytes.compare(px, py) == expected && Bytes.compare(py, px) == -expected, "length \(n), byte \(i)")
                        #expect(!Bytes.equal(px.baseAddress, py.baseAddress, n), "length \(n), byte \(i)")
                        #expect(Bytes.prefix(px) == Bytes.prefix(py) || (Bytes.prefix(px) < Bytes.prefix(py)) == (expected < 0), "length \(n), byte \(i)")
                    }
                }
            }
        }
    }

    /// Every length to 80 bytes is copied exactly, and nothing past it is touched.
    @Test func copyCopiesExactlyTheBytes() {
        var rng = SeededRNG(11)
        for n in 0...80 {
            let src = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            var dst = [UInt8](repeating: 0xEE, count: n + 16)
            src.withUnsafeBytes { s in dst.withUnsafeMutableBytes { d in Bytes.copy(d.baseAddress! + 8, s.baseAddress ?? UnsafeRawPointer(d.baseAddress!), n) } }
            #expect(Array(dst[8..<(8 + n)]) == src, "length \(n)")
            #expect(dst[0..<8].allSatisfy { $0 == 0xEE } && dst[(8 + n)...].allSatisfy { $0 == 0xEE }, "length \(n)")
        }
    }

    /// The 8-byte prefix is the first bytes, big-endian, zero-padded, for every length.
    @Test func prefixIsTheFirstEightBytes() {
        var rng = SeededRNG(9)
        for n in 0...12 {
            let x = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next() | 1) }
            var expected: UInt64 = 0
            for i in 0..<min(n, 8) { expected |= UInt64(x[i]) << UInt64(56 - 8 * i) }
            x.withUnsafeBytes { #expect(Bytes.prefix($0) == expected, "length \(n)") }
        }
    }

    /// Equal bytes hash equal wherever they sit; 200,000 distinct short ids (the shape of
    /// transaction ids) give distinct hashes, and their top 6 bits (the first split of a
    /// spilling hash table) fill the 64 partitions evenly.
    @Test func hashSpreadsShortKeys() {
        var seen = Set<UInt64>()
        var partitions = [Int](repeating: 0, count: 64)
        let keys = 200_000
        for i in 0..<keys {
            let id = Array("TX\(String(repeating: "0", count: 10 - String(i).count))\(i)".utf8)
            let h = id.withUnsafeBytes { Bytes.hash($0) }
            let shifted = ([0x55] + id).withUnsafeBytes { Bytes.hash(UnsafeRawBufferPointer(rebasing: $0[1...])) }
            #expect(h == shifted)
            seen.insert(h)
            partitions[Int(h >> 58)] += 1
        }
        #expect(seen.count == keys)
        let mean = Double(keys) / 64
        #expect(partitions.allSatisfy { abs(Double($0) - mean) < mean * 0.1 }, "\(partitions)")
        // Every length hashes, and lengths differ: zero bytes of another length do not collide.
        var byLength = Set<UInt64>()
        for n in 0...40 { byLength.insert([UInt8](repeating: 0, count: n).withUnsafeBytes { Bytes.hash($0) }) }
        #expect(byLength.count == 41)
    }
}
