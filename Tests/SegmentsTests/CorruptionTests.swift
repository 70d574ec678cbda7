import Foundation
import Testing
@testable import Segments

/// Every damaged byte is caught by a checksum or a bounds check, or is harmless.
@Suite struct CorruptionTests {
    static let schema = Schema([Field("id", .int64), Field("label", .string), Field("at", .timestamp), Field("price", .decimal(scale: 2))])

    static func columns(_ n: Int) -> [Values] {
        [
            .ints((0..<n).map { Int64($0 * 37 % 1000) }),
            .strings((0..<n).map { $0 % 11 == 0 ? nil : Array(["web", "mobile", "störe"][$0 % 3].utf8) }),
            .ints((0..<n).map { 1_700_000_000_000_000 + Int64($0) * 1_000_000 }),
            .ints((0..<n).map { $0 % 5 == 0 ? nil : Int64($0 * 101) }),
        ]
    }

    /// A small segment with three row groups and chunks in every codec.
    static func writeSmall(_ path: String) throws -> [Values] {
        var options = SegmentWriterOptions(compression: .lz4, rowGroupRows: 100)
        options.columnCompression = ["label": .zstd(3), "at": .none]
        options.metadata = ["origin": "corruption test"]
        let cols = columns(260)
        try writeSegment(path, schema, cols, options: options)
        return cols
    }

    /// The chunk (column name) that owns byte `offset`, if any.
    static func owner(_ offset: Int, _ groups: [RowGroupInfo]) -> String? {
        for g in groups {
            for (c, chunk) in g.chunks.enumerated() where (chunk.offset..<(chunk.offset + chunk.storedBytes)).contains(offset) {
                return schema.fields[c].name
            }
        }
        return nil
    }

    @Test func everySingleByteFlipIsCaughtOrHarmless() throws {
        let dir = TempDir("flip")
        defer { dir.cleanup() }
        let path = dir.path + "/small.seg"
        let original = try Self.writeSmall(path)
        let pristine = try SegmentReader(path: path)
        let groups = pristine.rowGroups
        var bytes = try SystemIO.readFile(path)
        #expect(bytes.count > 500)
        var caught = 0
        var harmless = 0
        let fd = open(path, O_WRONLY)
        defer { close(fd) }
        for offset in 0..<bytes.count {
            for mask: UInt8 in [0x01, 0xFF] {
                let saved = bytes[offset]
                var flipped = saved ^ mask
                _ = pwrite(fd, &flipped, 1, off_t(offset))
                do {
                    let reader = try SegmentReader(path: path)
                    let back = try readSegment(reader)
                    #expect(back == original, "flip at \(offset) read back different data without an error")
                    #expect(reader.metadata == ["origin": "corruption test"], "flip at \(offset) changed metadata silently")
                    harmless += 1
                } catch let e as SegmentError {
                    caught += 1
                    #expect(e.path == path)
                    #expect(e.offset != nil, "flip at \(offset): error without offset: \(e)")
                    #expect(e.code != .io)
                    if let column = Self.owner(offset, groups) {
                        #expect(e.column == column, "flip at \(offset) in a chunk of \(column) reported \(e)")
                    }
                }
                _ = pwrite(fd, &bytes[offset], 1, off_t(offset))
                bytes[offset] = saved
            }
        }
        // Every byte of this format is covered by a magic, a version, or a checksum.
        #expect(caught == 2 * bytes.count, "\(harmless) flips went unnoticed")
    }

    @Test func everyTruncationIsATypedError() throws {
        let dir = TempDir("trunc")
        defer { dir.cleanup() }
        let path = dir.path + "/small.seg"
        _ = try Self.writeSmall(path)
        let bytes = try SystemIO.readFile(path)
        let cut = dir.path + "/cut.seg"
        for length in 0..<bytes.count {
            #expect(FileManager.default.createFile(atPath: cut, contents: Data(bytes[0..<length])))
            do {
                _ = try readSegment(try SegmentReader(path: cut))
                Issue.record("a file truncated to \(length) of \(bytes.count) bytes was read")
            } catch let e as SegmentError {
                #expect([.truncated, .notASegment, .corrupt].contains(e.code), "length \(length): \(e)")
                #expect(e.path == cut && e.offset != nil)
            }
        }
    }

    @Test func errorsNameFileColumnAndOffset() throws {
        let dir = TempDir("msg")
        defer { dir.cleanup() }
        let path = dir.path + "/small.seg"
        _ = try Self.writeSmall(path)
        let reader = try SegmentReader(path: path)
        let chunk = reader.rowGroups[1].chunks[1]
        var bytes = try SystemIO.readFile(path)
        bytes[chunk.offset + 3] ^= 0x40
        try SystemIO.writeFileAtomically(path, bytes)
        let damaged = try SegmentReader(path: path)
        let v = damaged.makeVector(column: 1)
        try damaged.read(column: 0, rowGroup: 1, into: damaged.makeVector(column: 0))
        #expect(throws: SegmentError.self) { try damaged.read(column: 1, rowGroup: 1, into: v) }
        do {
            try damaged.read(column: 1, rowGroup: 1, into: v)
        } catch {
            #expect(error.code == .corrupt)
            #expect(error.column == "label")
            #expect(error.offset == chunk.offset)
            #expect(error.description.contains(path) && error.description.contains("label") && error.description.contains("\(chunk.offset)"))
        }
    }

    @Test func notASegmentAndMissingFile() throws {
        let dir = TempDir("bad")
        defer { dir.cleanup() }
        let csv = dir.path + "/x.csv"
        #expect(FileManager.default.createFile(atPath: csv, contents: Data(String(repeating: "a,b,c\n", count: 20).utf8)))
        #expect { try SegmentReader(path: csv) } throws: { ($0 as? SegmentError)?.code == .notASegment }
        #expect { try SegmentReader(path: dir.path + "/missing.seg") } throws: {
            ($0 as? SegmentError)?.code == .io && ($0 as? SegmentError)?.errno == ENOENT
        }
    }
}
