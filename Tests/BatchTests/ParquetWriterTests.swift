import Foundation
import Segments
import Testing
@testable import Batch

/// The Parquet writer's pieces against bytes worked out by hand from parquet.thrift and
/// the format's encodings; whole files are read back by pyarrow, DuckDB and Polars in
/// `make parquet-check` (Tests/Parquet/check_exports.py, part of `make test`).
@Suite struct ParquetWriterTests {
    @Test func thriftCompactBytes() {
        var t = ThriftCompactWriter()
        t.i32(1, 1)            // delta 1, i32: 0x15; zigzag(1) = 2
        t.string(4, "ab")      // delta 3, binary: 0x38; length 2; 'a' 'b'
        t.i64(20, -1)          // delta 16: type byte 0x06, then zigzag(20) = 40; zigzag(-1) = 1
        t.bool(21, true)       // delta 1, true: 0x11
        t.beginStruct(22)      // delta 1, struct: 0x1C; ids restart inside
        t.i32(1, -2)           // 0x15; zigzag(-2) = 3
        t.end()                // stop
        t.beginList(23, of: .i32, count: 2) // delta 1 (from 22), list: 0x19; 2 << 4 | 5
        t.element(300)         // zigzag 600 = varint 0xD8 0x04
        t.element(-1)          // 0x01
        t.end()
        #expect(t.bytes == [0x15, 0x02, 0x38, 0x02, 0x61, 0x62, 0x06, 0x28, 0x01, 0x11, 0x1C, 0x15, 0x03, 0x00,
                            0x19, 0x25, 0xD8, 0x04, 0x01, 0x00])
        var long = ThriftCompactWriter()
        long.beginList(1, of: .i32, count: 20) // 15 or more: 0xF0 | 5, then varint 20
        #expect(long.bytes == [0x19, 0xF5, 0x14])
    }

    /// The format's own example: 0...7 bit-packed at width 3 is 0x88 0xC6 0xFA, after the
    /// run header (1 group << 1 | 1).
    @Test func bitPackedRun() {
        var out: [UInt8] = []
        ParquetWriter.bitPacked(width: 3, into: &out) { emit in for v in 0..<8 { emit(UInt32(v)) } }
        #expect(out == [0x03, 0x88, 0xC6, 0xFA])
        // 3 values pad to a group of 8; width 1 is the validity bits.
        var bits: [UInt8] = []
        ParquetWriter.bitPacked(width: 1, into: &bits) { emit in for v: UInt32 in [1, 0, 1] { emit(v) } }
        #expect(bits == [0x03, 0b101])
    }

    func write(_ fields: [Field], _ columns: [ColumnVector], options: ParquetWriter.Options = .init(), in s: Scratch) throws -> (ParquetWriter, [UInt8]) {
        let path = s.path + "/t.parquet"
        let w = try ParquetWriter(path: path, fields: fields, options: options)
        if let n = columns.first?.count, n > 0 { try w.append(columns, rows: 0..<n) }
        try w.finish()
        return (w, Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    /// An empty table is a valid file: magic, an empty row group list, the footer and its
    /// length, magic.
    @Test func emptyAndOneRowFiles() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let fields = [Field("id", .int64, nullable: false), Field("name", .string)]
        let (_, empty) = try write(fields, [], in: s)
        #expect(Array(empty.prefix(4)) == Array("PAR1".utf8) && Array(empty.suffix(4)) == Array("PAR1".utf8))
        let footer = Int(UInt32(empty[empty.count - 8]) | UInt32(empty[empty.count - 7]) << 8 | UInt32(empty[empty.count - 6]) << 16)
        #expect(footer + 12 == empty.count)
        let id = ColumnVector(type: .int64, capacity: 1), name = ColumnVector(type: .string, capacity: 1)
        id.appendInt64(7)
        name.appendNull()
        let (w, one) = try write(fields, [id, name], in: s)
        #expect(w.rows == 1 && one.count > empty.count)
    }

    /// A dictionary that grows past its limit falls back to PLAIN; statistics order
    /// strings by unsigned bytes (é, 0xC3, after z) and leave out a bound too long.
    @Test func dictionaryFallbackAndStringStatistics() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let v = ColumnVector(type: .string, capacity: 5000)
        let prefix = String(repeating: "p", count: 70)
        for i in 0..<5000 { v.appendString(i == 0 ? "é" : i == 1 ? "z" : prefix + String(i)) }
        var options = ParquetWriter.Options()
        options.dictionaryBytesMax = 4096
        let plainChunk = try ParquetWriter(path: s.path + "/a.parquet", fields: [Field("s", .string)], options: options)
        try plainChunk.append([v], rows: 0..<5000)
        try plainChunk.finish()
        let few = ColumnVector(type: .string, capacity: 5000)
        for i in 0..<5000 { few.appendString(["x", "y", "z"][i % 3]) }
        let dictChunk = try ParquetWriter(path: s.path + "/b.parquet", fields: [Field("s", .string)], options: options)
        try dictChunk.append([few], rows: 0..<5000)
        try dictChunk.finish()
        let a = try #require(plainChunk.writtenChunks.first), b = try #require(dictChunk.writtenChunks.first)
        #expect(!a.encodings.contains(.rleDictionary) && a.dictionaryPageOffset == nil)
        #expect(b.encodings.contains(.rleDictionary) && b.dictionaryPageOffset == 4)
        #expect(a.max == Array("é".utf8) && a.min == nil, "the least is 70+ bytes long: left out")
        #expect(b.min == [0x78] && b.max == [0x7A])
        // With room for them, bounds that share a 70-byte prefix order by the bytes after
        // it: "10" before "100" before "2".
        options.statisticsBytesMax = 100
        let roomy = try ParquetWriter(path: s.path + "/c.parquet", fields: [Field("s", .string)], options: options)
        try roomy.append([v], rows: 0..<5000)
        try roomy.finish()
        #expect(roomy.writtenChunks.first?.min == Array((prefix + "10").utf8) && roomy.writtenChunks.first?.max == Array("é".utf8))
    }

    /// Nulls in every type: the null count, and min/max of the values alone.
    @Test func nullsInEveryType() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let types: [ColumnType] = [.bool, .int32, .int64, .float64, .decimal(scale: 2), .date, .timestamp, .string]
        let columns = types.map { ColumnVector(type: $0, capacity: 3) }
        for (c, type) in types.enumerated() {
            columns[c].appendNull()
            switch type {
            case .bool: columns[c].appendBool(true); columns[c].appendBool(false)
            case .int32, .date: columns[c].appendInt32(5); columns[c].appendInt32(-3)
            case .float64: columns[c].appendDouble(2.5); columns[c].appendDouble(-0.5)
            case .string: columns[c].appendString("b"); columns[c].appendString("a")
            default: columns[c].appendInt64(5); columns[c].appendInt64(-3)
            }
        }
        let (w, _) = try write(types.enumerated().map { Field("c\($0.offset)", $0.element) }, columns, in: s)
        let chunks = w.writtenChunks
        #expect(chunks.count == types.count && chunks.allSatisfy { $0.nullCount == 1 && $0.values == 3 })
        #expect(chunks[0].min == [0] && chunks[0].max == [1])
        #expect(chunks[1].min == [0xFD, 0xFF, 0xFF, 0xFF] && chunks[1].max == [5, 0, 0, 0])
        #expect(chunks[3].min == Array(withUnsafeBytes(of: (-0.5).bitPattern.littleEndian) { Array($0) }))
        #expect(chunks[7].min == [0x61] && chunks[7].max == [0x62])
    }

    /// Values larger than a row group's bytes still write: each makes a row group of its
    /// own, and memory stays near the largest value.
    @Test func hugeStringsMakeTheirOwnRowGroups() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let v = ColumnVector(type: .string, capacity: 4)
        let big = String(repeating: "x", count: 3 << 20)
        for k in 0..<3 { v.appendString(big + String(k)) }
        v.appendString("small")
        var options = ParquetWriter.Options()
        options.rowGroupBytes = 1 << 20
        let (w, bytes) = try write([Field("s", .string)], [v], options: options, in: s)
        #expect(w.rows == 4 && w.writtenChunks.count >= 3, "\(w.writtenChunks.count) row groups")
        #expect(w.writtenChunks.allSatisfy { $0.min == nil || $0.min == Array("small".utf8) }, "long bounds are left out")
        #expect(bytes.count < 1 << 20, "zstd keeps 9 MiB of x small: \(bytes.count)")
    }
}

/// The Delta log's own rules: a commit never replaces a version another writer put
/// there, and its files go when it loses; the log is replayed in order.
@Suite struct DeltaTableTests {
    @Test func aLosingWriterLeavesNothingVisible() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let dir = s.path + "/t"
        try DeltaTable.commit("{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n{\"add\":{\"path\":\"a.parquet\"}}\n",
                              version: 0, dir: dir, files: [])
        try SystemIO.writeFileAtomically(dir + "/b.parquet", [1, 2, 3])
        #expect(throws: BatchError.self) {
            try DeltaTable.commit("{\"add\":{\"path\":\"b.parquet\"}}\n", version: 0, dir: dir, files: ["b.parquet"])
        }
        #expect(!SystemIO.exists(dir + "/b.parquet"), "the loser's file is deleted")
        let state = try DeltaTable.readLog(dir)
        #expect(state.version == 0 && state.files == ["a.parquet"])
        #expect(try SystemIO.listDirectory(dir + "/_delta_log") == ["00000000000000000000.json"], "no temporary file is left")
    }

    @Test func replayFollowsAddsRemovesAndTxn() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let dir = s.path + "/t"
        try DeltaTable.commit("{\"add\":{\"path\":\"a\"}}\n{\"add\":{\"path\":\"b\"}}\n{\"txn\":{\"appId\":\"batchrun:x\",\"version\":3}}\n", version: 0, dir: dir, files: [])
        try DeltaTable.commit("{\"remove\":{\"path\":\"a\"}}\n{\"add\":{\"path\":\"c\"}}\n{\"txn\":{\"appId\":\"batchrun:x\",\"version\":4}}\n", version: 1, dir: dir, files: [])
        let state = try DeltaTable.readLog(dir)
        #expect(state.version == 1 && state.files == ["b", "c"] && state.txn["batchrun:x"] == 4)
        // A gap in the versions is a log batchrun does not extend.
        try SystemIO.writeFileAtomically(dir + "/_delta_log/00000000000000000003.json", Array("{}\n".utf8))
        #expect(throws: BatchError.self) { try DeltaTable.readLog(dir) }
    }
}
