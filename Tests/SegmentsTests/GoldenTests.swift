import Foundation
import Testing
@testable import Segments

/// Segment files written by format version 1, committed under Tests/SegmentsTests/Golden.
/// Every later build must read them back to exactly these values.
///
/// To write them anew (only when the format version changes, into a new folder name):
/// `BATCHRUN_WRITE_GOLDEN=Tests/SegmentsTests/Golden swift test --filter GoldenTests`.
@Suite struct GoldenTests {
    static let schema = Schema([
        Field("flag", .bool), Field("small", .int32), Field("id", .int64), Field("ratio", .float64),
        Field("price", .decimal(scale: 2)), Field("day", .date), Field("at", .timestamp), Field("text", .string),
    ])

    /// The values, as formulas that do not depend on any generator.
    static func values(_ n: Int) -> [Values] {
        let words = ["completed", "pending", "Zoë", "東京", "", "a,\"b\"\nc"]
        let flags: [Bool?] = (0..<n).map { $0 % 9 == 4 ? nil : $0 % 3 == 0 }
        let small: [Int64?] = (0..<n).map { (i: Int) -> Int64? in
            let v: Int = (i * 7919) % 2001 - 1000
            return i % 13 == 0 ? nil : Int64(v)
        }
        let ids: [Int64?] = (0..<n).map { Int64(1_000_000_000_000 + $0 * 3) }
        let ratios: [Double?] = (0..<n).map { (i: Int) -> Double? in
            let v: Double = Double(i) / 8
            return i % 10 == 0 ? nil : v - 17.25
        }
        let prices: [Int64?] = (0..<n).map { (i: Int) -> Int64? in
            let v: Int = (i * 104_729) % 100_000 - 5000
            return i % 6 == 1 ? nil : Int64(v)
        }
        let days: [Int64?] = (0..<n).map { Int64(20_000 + $0 / 50) }
        let times: [Int64?] = (0..<n).map { (i: Int) -> Int64? in
            let step: Int64 = Int64(i) * 1_000_123
            return 1_741_910_400_000_000 + step
        }
        let texts: [[UInt8]?] = (0..<n).map { $0 % 17 == 0 ? nil : Array(words[$0 % words.count].utf8) }
        return [.bools(flags), .ints(small), .ints(ids), .doubles(ratios), .ints(prices), .ints(days), .ints(times), .strings(texts)]
    }

    static let files: [(name: String, rows: Int, compression: Compression, rowGroupRows: Int)] = [
        ("v1-lz4.seg", 700, .lz4, 256),
        ("v1-zstd.seg", 700, .zstd(3), 1000),
        ("v1-none.seg", 300, .none, 100),
        ("v1-empty.seg", 0, .lz4, 100),
    ]

    static func goldenFolder() -> String? {
        Bundle.module.resourceURL?.appendingPathComponent("Golden").path
    }

    @Test func writeGoldenFilesWhenAsked() throws {
        guard let out = ProcessInfo.processInfo.environment["BATCHRUN_WRITE_GOLDEN"] else { return }
        for f in Self.files {
            var options = SegmentWriterOptions(compression: f.compression, rowGroupRows: f.rowGroupRows)
            options.metadata = ["golden": f.name]
            try writeSegment(out + "/" + f.name, Self.schema, Self.values(f.rows), options: options)
        }
    }

    @Test(arguments: GoldenTests.files.map(\.name))
    func goldenFilesReadBack(name: String) throws {
        guard let folder = Self.goldenFolder() else {
            Issue.record("Golden resources are missing from the test bundle")
            return
        }
        let spec = Self.files.first { $0.name == name }!
        let reader = try SegmentReader(path: folder + "/" + name)
        #expect(reader.schema == Self.schema)
        #expect(reader.rowCount == spec.rows)
        #expect(reader.metadata == ["golden": name])
        let back = try readSegment(reader)
        let expected = Self.values(spec.rows)
        for c in 0..<Self.schema.count {
            #expect(back[c].firstDifference(expected[c]) == nil, "\(name) column \(Self.schema.fields[c].name)")
        }
    }
}
