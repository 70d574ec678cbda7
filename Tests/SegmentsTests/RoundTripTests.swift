import Foundation
import Testing
@testable import Segments

/// Column data of each shape the encoder distinguishes, for one type.
func sampleValues(_ type: ColumnType, rows n: Int, seed: UInt64, nulls: Bool) -> Values {
    var rng = SeededRNG(seed)
    func maybeNull<T>(_ i: Int, _ v: T) -> T? { nulls && i % 7 == 3 ? nil : v }
    switch type {
    case .bool: return .bools((0..<n).map { maybeNull($0, rng.next() & 1 == 1) })
    case .float64:
        let specials: [Double] = [0, -0.0, .infinity, -.infinity, .greatestFiniteMagnitude, .leastNonzeroMagnitude]
        return .doubles((0..<n).map { i in maybeNull(i, i < specials.count ? specials[i] : Double(Int64(bitPattern: rng.next())) / 1e6) })
    case .string:
        let words = ["completed", "pending", "ünïcödé", "日本語テキスト", "", "a,b\"c\nd", "😀 emoji"]
        return .strings((0..<n).map { i in maybeNull(i, Array(words[Int(rng.next() % UInt64(words.count))].utf8)) })
    case .int32, .date:
        return .ints((0..<n).map { i in maybeNull(i, Int64(Int32(truncatingIfNeeded: rng.next()))) })
    default:
        return .ints((0..<n).map { i in maybeNull(i, i == 0 ? Int64.min : (i == 1 ? Int64.max : Int64(bitPattern: rng.next()))) })
    }
}

struct SeededRNG: RandomNumberGenerator {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

let allTypes: [ColumnType] = [.bool, .int32, .int64, .float64, .decimal(scale: 2), .date, .timestamp, .string]
let allCodecs: [Compression] = [.none, .lz4, .zstd(3), .zstd(19)]

@Suite struct RoundTripTests {
    @Test(arguments: allTypes, allCodecs)
    func everyTypeAndCodec(type: ColumnType, codec: Compression) throws {
        let dir = TempDir("rt")
        defer { dir.cleanup() }
        for (rows, nulls) in [(0, false), (1, false), (1, true), (999, true), (2500, false)] {
            let schema = Schema([Field("c", type), Field("k", .int64, nullable: false)])
            let values = sampleValues(type, rows: rows, seed: UInt64(rows) &* 31, nulls: nulls)
            let keys = Values.ints((0..<rows).map { Int64($0) })
            var options = SegmentWriterOptions(compression: codec, rowGroupRows: 1000)
            options.metadata = ["rows": String(rows)]
            let path = dir.path + "/s-\(rows)-\(nulls).seg"
            let summary = try writeSegment(path, schema, [values, keys], options: options)
            #expect(summary.rowCount == rows)
            let reader = try SegmentReader(path: path)
            #expect(reader.rowCount == rows)
            #expect(reader.schema == schema)
            #expect(reader.metadata == ["rows": String(rows)])
            #expect(reader.rowGroups.count == (rows + 999) / 1000)
            let back = try readSegment(reader)
            #expect(back[0].firstDifference(values) == nil, "type \(type) codec \(codec) rows \(rows) nulls \(nulls)")
            #expect(back[1] == keys)
            let nullCount = reader.rowGroups.reduce(0) { $0 + $1.chunks[0].stats.nullCount }
            #expect(nullCount == (nulls ? (0..<rows).filter { $0 % 7 == 3 }.count : 0))
        }
    }

    /// A gather of chosen rows (in any order, some repeated, some in runs of consecutive
    /// rows, some null) appends exactly those rows, after the rows the vector already
    /// holds, for every type; with `gatheringOrNull`, a negative row (inside a run too)
    /// appends a null.
    @Test(arguments: allTypes)
    func gatherAppendsTheChosenRows(type: ColumnType) {
        for nulls in [false, true] {
            for orNull in [false, true] {
                let source = sampleValues(type, rows: 300, seed: 5, nulls: nulls)
                let held = sampleValues(type, rows: 10, seed: 6, nulls: true)
                var rng = SeededRNG(7)
                var picks = (0..<200).map { _ in Int32(rng.next() % 300) } + [299, 0, 0] + Array(40..<120) + [7, 8, 9, 10, 299]
                if orNull { picks += [-1, 3, 4, -1, -1, 5, 6, 7, -1] + Array(200..<230) + [-1] }
                let v = held.vector(type, capacity: 10 + picks.count)
                picks.withUnsafeBufferPointer {
                    if orNull { v.append(contentsOf: source.vector(type), gatheringOrNull: $0) } else { v.append(contentsOf: source.vector(type), gathering: $0) }
                }
                v.append(contentsOf: source.vector(type), gathering: UnsafeBufferPointer(start: nil, count: 0))
                var expected = held
                for p in picks { expected = expected + (p < 0 ? source.oneNull : source.slice(Int(p)..<(Int(p) + 1))) }
                #expect(Values.of(v).firstDifference(expected) == nil, "type \(type) nulls \(nulls) orNull \(orNull)")
                #expect(v.nullCount == expected.nullCount)
            }
        }
    }

    /// A bool vector filled by a test of each string is true exactly where the test
    /// holds, null exactly where the string is (its value then 0), at lengths that end
    /// inside and on a validity word, replacing what it held.
    @Test func fillTestsEachString() {
        for rows in [0, 1, 63, 64, 65, 130] {
            for nulls in [false, true] {
                let texts: [[UInt8]?] = (0..<rows).map { i in nulls && i % 5 == 2 ? nil : Array(["completed", "refunded", "", "pending"][i % 4].utf8) }
                let strings = Values.strings(texts).vector(.string, capacity: max(1, rows))
                let out = Values.bools([true, nil, false]).vector(.bool, capacity: max(3, rows))
                out.fill(rows: rows, testing: strings) { $0.count == 9 || $0.count == 0 }
                let expected = Values.bools(texts.map { t in t.map { $0.count == 9 || $0.isEmpty } })
                #expect(Values.of(out) == expected, "rows \(rows) nulls \(nulls)")
                #expect(out.nullCount == texts.filter { $0 == nil }.count)
                #expect((0..<rows).allSatisfy { !out.isNull($0) || !out.bool($0) })
            }
        }
    }

    /// Matching short texts gives exactly the rows equal to one of them, for texts of 4 to
    /// 16 bytes, strings that share a text's head or tail or length, strings shorter than a
    /// load, and a text at the very end of the heap; negated, the other rows; null rows
    /// stay null.
    @Test func matchingShortTextsIsEquality() {
        #expect(ShortTexts([Array("abc".utf8)]) == nil)
        #expect(ShortTexts([Array("a".utf8), Array("abcd".utf8)]) == nil)
        #expect(ShortTexts([Array(repeating: 65, count: 17)]) == nil)
        #expect(ShortTexts([]) == nil)
        let words = ["completed", "completes", "Completed", "refunded", "pending", "abcd", "abce", "xbcd", "abc", "",
                     "sixteen-bytes-ab", "sixteen-bytes-ac", "twelve-bytes", "twelve-byteZ", "a", "completedX"]
        var rng = SeededRNG(21)
        for textSet in [["completed"], ["completed", "refunded"], ["abcd"], ["sixteen-bytes-ab", "twelve-bytes", "pending"]] {
            let texts = ShortTexts(textSet.map { Array($0.utf8) })!
            for tailWord in words {
                // The last row's text ends where the heap's bytes end (a heap of exactly its bytes).
                var rows: [[UInt8]?] = (0..<150).map { i in i % 11 == 4 ? nil : Array(words[Int(rng.next() % UInt64(words.count))].utf8) }
                rows.append(Array(tailWord.utf8))
                let bytes = rows.reduce(0) { $0 + ($1?.count ?? 0) }
                let strings = ColumnVector(type: .string, capacity: rows.count, heapBytes: max(64, bytes))
                for r in rows { if let r { r.withUnsafeBytes { strings.appendString($0) } } else { strings.appendNull() } }
                for negated in [false, true] {
                    let out = ColumnVector(type: .bool, capacity: rows.count)
                    out.fill(rows: rows.count, matching: strings, texts, negated: negated)
                    let expected = Values.bools(rows.map { r in r.map { textSet.map { Array($0.utf8) }.contains($0) != negated } })
                    #expect(Values.of(out) == expected, "texts \(textSet) last \(tailWord) negated \(negated)")
                }
            }
        }
    }

    /// A gather under a mask appends the value where the mask is true and a null where it
    /// is false or null; the indicators of a mask are 1 and 0, never null.
    @Test func gatherUnderAMaskTakesTheTrueRows() {
        var rng = SeededRNG(11)
        let source = Values.ints((0..<200).map { _ in Int64(bitPattern: rng.next()) })
        let mask = Values.bools((0..<200).map { i in i % 7 == 0 ? nil : rng.next() % 3 != 0 })
        let held = Values.ints([5, nil, 7])
        let picks = (0..<150).map { _ in Int32(rng.next() % 200) } + Array(0..<70)
        let m = mask.vector(.bool)
        let v = held.vector(.int64, capacity: 3 + picks.count)
        let t = Values.ints([1]).vector(.int64, capacity: 1 + picks.count)
        picks.withUnsafeBufferPointer {
            v.append(contentsOf: source.vector(.int64), gathering: $0, where: m)
            t.appendIndicators(of: m, gathering: $0)
        }
        guard case let .ints(values) = source, case let .bools(flags) = mask else { return }
        let taken = picks.map { flags[Int($0)] == true }
        #expect(Values.of(v) == Values.ints([5, nil, 7] + zip(picks, taken).map { p, k in k ? values[Int(p)] : nil }))
        #expect(v.nullCount == 1 + taken.filter { !$0 }.count)
        #expect(Values.of(t) == Values.ints([1] + taken.map { $0 ? 1 : 0 }))
        #expect(t.nullCount == 0)
    }

    /// Each shape of data gets the encoding that is smallest for it.
    @Test func encodingsArePickedBySize() throws {
        let dir = TempDir("enc")
        defer { dir.cleanup() }
        let n = 5000
        var rng = SeededRNG(9)
        let cases: [(String, ColumnType, Values, Encoding)] = [
            ("sorted timestamps", .timestamp, .ints((0..<n).map { (i: Int) -> Int64? in 1_700_000_000_000_000 + Int64(i) * 1_000_003 }), .delta),
            ("small range", .int64, .ints((0..<n).map { _ -> Int64? in Int64(rng.next() % 1000) + 5_000_000 }), .frameOfReference),
            ("constant", .int32, .ints(Array(repeating: 42, count: n)), .frameOfReference),
            ("wide random", .int64, .ints((0..<n).map { _ -> Int64? in Int64(bitPattern: rng.next()) }), .plain),
            ("low cardinality", .string, .strings((0..<n).map { (i: Int) -> [UInt8]? in Array(["web", "mobile", "store"][i % 3].utf8) }), .dictionary),
            ("unique", .string, .strings((0..<n).map { (i: Int) -> [UInt8]? in Array("T\(i * 7919)-\(rng.next())".utf8) }), .plain),
            ("sorted dates with nulls", .date, .ints((0..<n).map { (i: Int) -> Int64? in i % 10 == 0 ? nil : Int64(19_000 + i / 100) }), .delta),
        ]
        for (label, type, values, expected) in cases {
            let path = dir.path + "/\(label).seg"
            try writeSegment(path, Schema([Field("c", type)]), [values], options: SegmentWriterOptions(compression: .lz4))
            let reader = try SegmentReader(path: path)
            #expect(reader.rowGroups[0].chunks[0].encoding == expected, "\(label)")
            #expect(try readSegment(reader)[0].firstDifference(values) == nil, "\(label)")
        }
    }

    @Test func plainOnlyOptionWritesEveryChunkPlain() throws {
        let dir = TempDir("plain")
        defer { dir.cleanup() }
        let n = 4000
        let schema = Schema([Field("t", .timestamp), Field("s", .string)])
        let cols: [Values] = [
            .ints((0..<n).map { (i: Int) -> Int64? in 1_700_000_000_000_000 + Int64(i) }),
            .strings((0..<n).map { (i: Int) -> [UInt8]? in Array(["a", "b"][i % 2].utf8) }),
        ]
        var options = SegmentWriterOptions(compression: .lz4, rowGroupRows: 1000)
        options.choosesEncodings = false
        try writeSegment(dir.path + "/p.seg", schema, cols, options: options)
        let reader = try SegmentReader(path: dir.path + "/p.seg")
        #expect(reader.rowGroups.allSatisfy { $0.chunks.allSatisfy { $0.encoding == .plain && $0.compression.kind == .lz4 } })
        let back = try readSegment(reader)
        #expect(back[0].firstDifference(cols[0]) == nil && back[1].firstDifference(cols[1]) == nil)
    }

    @Test func hugeAndNonASCIIStrings() throws {
        let dir = TempDir("big")
        defer { dir.cleanup() }
        var big = [UInt8](repeating: 0, count: (1 << 20) + 12_345)
        for i in big.indices { big[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 7) }
        big[0] = 0xF4 // sorts above every other value, so it is the max
        let values: Values = .strings([Array("ü€😀".utf8), big, nil, [], Array("Zoë, \"quoted\"\nline".utf8), big])
        for codec in allCodecs {
            let path = dir.path + "/big-\(codec).seg"
            try writeSegment(path, Schema([Field("s", .string)]), [values], options: SegmentWriterOptions(compression: codec))
            let reader = try SegmentReader(path: path)
            #expect(try readSegment(reader)[0].firstDifference(values) == nil)
            let stats = reader.rowGroups[0].chunks[0].stats
            // The max is the big string, cut to a prefix and marked inexact.
            if case .bytes(let b, let exact) = stats.max {
                #expect(b.count == StatValue.stringPrefixBytes && !exact)
            } else {
                Issue.record("string max missing")
            }
        }
    }

    /// Appends of any size give the same rows as one append, across row-group boundaries.
    @Test func appendsInPiecesAcrossRowGroups() throws {
        let dir = TempDir("pieces")
        defer { dir.cleanup() }
        let n = 3_333
        let strings = sampleValues(.string, rows: n, seed: 5, nulls: true)
        let ints = sampleValues(.int64, rows: n, seed: 6, nulls: true)
        let schema = Schema([Field("s", .string), Field("i", .int64)])
        let writer = try SegmentWriter(path: dir.path + "/p.seg", schema: schema, options: SegmentWriterOptions(compression: .zstd(), rowGroupRows: 1000))
        var at = 0
        var step = 1
        while at < n {
            let r = at..<min(n, at + step)
            try writer.append([strings.slice(r).vector(.string), ints.slice(r).vector(.int64)])
            at = r.upperBound
            step = step * 3 + 1
        }
        try writer.finish()
        let reader = try SegmentReader(path: dir.path + "/p.seg")
        #expect(reader.rowGroups.map(\.rowCount) == [1000, 1000, 1000, 333])
        let back = try readSegment(reader)
        #expect(back[0].firstDifference(strings) == nil)
        #expect(back[1].firstDifference(ints) == nil)
    }

    @Test func statisticsAreMinMaxOfNonNullValues() throws {
        let dir = TempDir("stats")
        defer { dir.cleanup() }
        let schema = Schema([Field("i", .int64), Field("d", .float64), Field("b", .bool), Field("s", .string), Field("n", .int32)])
        let cols: [Values] = [
            .ints([5, nil, -3, 9]), .doubles([2.5, nil, -1, 7]), .bools([true, nil, true, true]),
            .strings([Array("m".utf8), Array("b".utf8), nil, Array("x".utf8)]), .ints([nil, nil, nil, nil]),
        ]
        try writeSegment(dir.path + "/s.seg", schema, cols)
        let chunks = try SegmentReader(path: dir.path + "/s.seg").rowGroups[0].chunks
        #expect(chunks[0].stats == ChunkStats(nullCount: 1, min: .int(-3), max: .int(9)))
        #expect(chunks[1].stats == ChunkStats(nullCount: 1, min: .double(-1), max: .double(7)))
        #expect(chunks[2].stats == ChunkStats(nullCount: 1, min: .bool(true), max: .bool(true)))
        #expect(chunks[3].stats == ChunkStats(nullCount: 1, min: .bytes(Array("b".utf8), exact: true), max: .bytes(Array("x".utf8), exact: true)))
        #expect(chunks[4].stats == ChunkStats(nullCount: 4, min: nil, max: nil))
    }

    /// String min and max against a plain byte-order min and max, on strings that share
    /// their first 8 bytes, differ only by trailing zero bytes, or are shorter than 8.
    @Test(arguments: [UInt64(7), 8, 9])
    func stringStatisticsFollowByteOrder(seed: UInt64) throws {
        let dir = TempDir("sstats")
        defer { dir.cleanup() }
        var state = seed
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        let stems: [[UInt8]] = [Array("ABCDEFGH".utf8), Array("ABCDEFG".utf8), Array("AB".utf8), [], [0], Array("ABCDEFGH".utf8) + [0]]
        let strings: [[UInt8]?] = (0..<500).map { _ in
            next(10) == 0 ? nil : stems[next(stems.count)] + (0..<next(4)).map { _ in UInt8([0, 1, 0x41, 0xFF][next(4)]) }
        }
        try writeSegment(dir.path + "/s.seg", Schema([Field("s", .string)]), [.strings(strings)])
        let stats = try SegmentReader(path: dir.path + "/s.seg").rowGroups[0].chunks[0].stats
        let values = strings.compactMap { $0 }
        let lo = values.min { $0.lexicographicallyPrecedes($1) }!, hi = values.max { $0.lexicographicallyPrecedes($1) }!
        func stat(_ b: [UInt8]) -> StatValue { .bytes(Array(b.prefix(StatValue.stringPrefixBytes)), exact: b.count <= StatValue.stringPrefixBytes) }
        #expect(stats.min == stat(lo) && stats.max == stat(hi), "seed \(seed)")
    }

    /// Reading k of n columns checksums and decompresses only those k.
    @Test func readingSomeColumnsDecodesOnlyThose() throws {
        let dir = TempDir("sel")
        defer { dir.cleanup() }
        let n = 20_000
        let fields = (0..<10).map { Field("c\($0)", $0 % 2 == 0 ? .int64 : .string) }
        let cols = fields.enumerated().map { i, f in
            f.type == .string ? .strings((0..<n).map { (r: Int) -> [UInt8]? in Array("label-\(r % 100)".utf8) })
                : sampleValues(f.type, rows: n, seed: UInt64(i), nulls: false)
        }
        try writeSegment(dir.path + "/w.seg", Schema(fields), cols, options: SegmentWriterOptions(compression: .lz4, rowGroupRows: 4096))
        let reader = try SegmentReader(path: dir.path + "/w.seg")
        // Column 7 (strings of few values) compresses; column 2 (random int64) is stored as is.
        #expect(reader.rowGroups[0].chunks[7].compression.kind == .lz4)
        for c in [2, 7] {
            let v = reader.makeVector(column: c)
            for g in reader.rowGroups.indices { try reader.read(column: c, rowGroup: g, into: v) }
        }
        for c in 0..<10 {
            let counters = reader.counters[c]
            if c == 2 || c == 7 {
                let stored = reader.rowGroups.reduce(0) { $0 + $1.chunks[c].storedBytes }
                #expect(counters.chunksRead == reader.rowGroups.count)
                #expect(counters.storedBytesRead == stored)
                let compressed = reader.rowGroups.map(\.chunks[c]).filter { $0.compression.kind != .none }
                #expect(counters.decompressedBytes == compressed.reduce(0) { $0 + $1.encodedBytes })
                #expect(counters.releasedBytes >= stored)
            } else {
                #expect(counters == ColumnReadCounters(), "column \(c) was touched")
            }
        }
    }
}
