import Testing
@testable import Segments

@Suite struct ChecksumTests {
    // Reference values from the xxHash reference implementation (Python's xxhash package).
    @Test func knownVectors() {
        #expect(Checksum.xxh64([]) == 0xEF46_DB37_51D8_E999)
        #expect(Checksum.xxh64(Array("a".utf8)) == 0xD24E_C4F1_A98C_6E5B)
        #expect(Checksum.xxh64(Array("abc".utf8)) == 0x44BC_2CF5_AD77_0999)
        let long = (0..<3).flatMap { _ in (0..<256).map { UInt8($0) } } + Array("xyz".utf8)
        #expect(Checksum.xxh64(long) == 0xE921_A1B4_5BD7_79F8)
        #expect(Checksum.xxh64((0..<100).map { UInt8($0) }, seed: 7) == 0x8065_3E7E_9B88_7CDD)
    }
}

@Suite struct ChecksumStreamTests {
    /// Fed in pieces of any sizes, the stream gives the one-shot value, for lengths around
    /// the 32-byte stripe and the 8- and 4-byte tails.
    @Test func piecesGiveTheOneShotValue() {
        var rng = SystemRandomNumberGenerator()
        let seed = UInt64.random(in: 0...UInt64.max, using: &rng)
        var gen = SeededRNG(seed)
        for length in [0, 1, 3, 4, 7, 8, 31, 32, 33, 63, 64, 65, 100, 1000, 4099, 70_001] {
            let bytes = gen.bytes(length)
            for hashSeed: UInt64 in [0, 12345] {
                let whole = Checksum.xxh64(bytes, seed: hashSeed)
                for _ in 0..<4 {
                    var stream = Checksum.Stream(seed: hashSeed)
                    var at = 0
                    while at < length {
                        let piece = min(length - at, 1 + Int(gen.next() % 70))
                        bytes.withUnsafeBytes { stream.update(UnsafeRawBufferPointer(rebasing: $0[at..<(at + piece)])) }
                        at += piece
                    }
                    #expect(stream.digest() == whole, "length \(length), seed \(seed)")
                }
            }
        }
    }
}

extension SeededRNG {
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
}
