import Testing
@testable import Spill

@Suite struct ByteSizeTests {
    @Test func acceptedForms() {
        let mem = 16 * 1_073_741_824
        #expect(ByteSize.parse("1048576", memoryBytes: mem) == 1_048_576)
        #expect(ByteSize.parse("512MB", memoryBytes: mem) == 512_000_000)
        #expect(ByteSize.parse("1GB", memoryBytes: mem) == 1_000_000_000)
        #expect(ByteSize.parse("256MiB", memoryBytes: mem) == 268_435_456)
        #expect(ByteSize.parse("4 GiB", memoryBytes: mem) == 4_294_967_296)
        #expect(ByteSize.parse("64kib", memoryBytes: mem) == 65_536)
        #expect(ByteSize.parse("1.5GiB", memoryBytes: mem) == 1_610_612_736)
        #expect(ByteSize.parse("25%", memoryBytes: mem) == 4 * 1_073_741_824)
        #expect(ByteSize.parse("100B", memoryBytes: mem) == 100)
        // The single letters of sort -S, Docker and DuckDB: powers of 2.
        #expect(ByteSize.parse("64M", memoryBytes: mem) == 67_108_864)
        #expect(ByteSize.parse("64m", memoryBytes: mem) == 67_108_864)
        #expect(ByteSize.parse("1G", memoryBytes: mem) == 1_073_741_824)
        #expect(ByteSize.parse("1g", memoryBytes: mem) == 1_073_741_824)
        #expect(ByteSize.parse("512K", memoryBytes: mem) == 524_288)
    }

    @Test func problemsSayWhat() {
        #expect(ByteSize.problem("200%")?.contains("at most 100%") == true)
        #expect(ByteSize.problem("0%")?.contains("more than 0%") == true)
        #expect(ByteSize.problem("lots")?.contains("K/M/G/T") == true)
        #expect(ByteSize.problem("64M") == nil)
    }

    @Test func rejectedForms() {
        for bad in ["", "abc", "12XB", "-5MB", "0%", "101%", "1.5", "MiB", "5 M B", "1e3"] {
            #expect(ByteSize.parse(bad, memoryBytes: 1 << 30) == nil, "'\(bad)' should be rejected")
        }
    }

    @Test func machineMemoryIsPlausible() {
        let m = ByteSize.machineMemoryBytes()
        #expect(m >= 64 * 1_048_576)
    }

    @Test func formatting() {
        #expect(ByteSize.format(512) == "512 B")
        #expect(ByteSize.format(268_435_456) == "256.0 MiB")
    }
}
