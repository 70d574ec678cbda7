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
