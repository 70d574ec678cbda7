import Foundation
import Segments
import Spill
import Testing
@testable import Batch

/// A folder for one test, removed by `cleanUp()`.
struct Scratch {
    let path = NSTemporaryDirectory() + "batchrun-test-\(UUID().uuidString.prefix(8))"

    init() { try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }

    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let full = path + "/" + name
        try? FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let created = FileManager.default.createFile(atPath: full, contents: Data(bytes))
        precondition(created, "test fixture: cannot write \(full)")
        return full
    }

    func write(_ name: String, _ text: String) -> String { write(name, Array(text.utf8)) }

    func cleanUp() { try? FileManager.default.removeItem(atPath: path) } // best effort
}

/// Every record of a file as (line, fields), read with a given chunk size.
func scanAll(_ path: String, chunkBytes: Int) throws -> [(Int, [String])] {
    let scanner = try CSVScanner(source: RawSource(path: path, displayPath: "f.csv"), chunkBytes: chunkBytes)
    var out: [(Int, [String])] = []
    while try scanner.next() {
        out.append((scanner.recordLine, (0..<scanner.fieldCount).map { scanner.fieldText($0) }))
    }
    return out
}

@Suite struct CSVScannerTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var input: [UInt8]
        var records: [[String]]
        var lines: [Int]?
        var testDescription: String { name }

        init(_ name: String, _ input: String, _ records: [[String]], lines: [Int]? = nil) {
            self.name = name
            self.input = Array(input.utf8)
            self.records = records
            self.lines = lines
        }

        init(_ name: String, bytes: [UInt8], _ records: [[String]]) {
            self.name = name
            self.input = bytes
            self.records = records
        }
    }

    static let cases: [Case] = [
        Case("plain", "a,b\n1,2\n", [["a", "b"], ["1", "2"]], lines: [1, 2]),
        Case("quoted separator", "\"a,b\",c\n", [["a,b", "c"]]),
        Case("CR and LF inside quotes", "\"x\r\ny\",z\nnext,1\n", [["x\r\ny", "z"], ["next", "1"]], lines: [1, 3]),
        Case("doubled quotes", "\"say \"\"hi\"\"\",2\n", [["say \"hi\"", "2"]]),
        Case("CRLF line ends", "a,b\r\n1,2\r\n", [["a", "b"], ["1", "2"]]),
        Case("byte-order mark", bytes: [0xEF, 0xBB, 0xBF] + Array("id,x\n1,2\n".utf8), [["id", "x"], ["1", "2"]]),
        Case("blank lines skipped, lines still counted", "a\n\n\r\n  \t\nb\n", [["a"], ["b"]], lines: [1, 5]),
        Case("no final line end", "a,b\n1,2", [["a", "b"], ["1", "2"]]),
        Case("no final line end after CR", "a,b\r\n1,2\r", [["a", "b"], ["1", "2"]]),
        Case("empty fields and trailing comma", "a,,c,\n", [["a", "", "c", ""]]),
        Case("padding trimmed, quotes after padding", "  x ,\t\"y, z\"  , \" w \"\n", [["x", "y, z", "w"]]),
        Case("quote inside an unquoted field is data", "ab\"c,d\n", [["ab\"c", "d"]]),
        Case("text after the closing quote is kept", "\"ab\"cd,e\n", [["abcd", "e"]]),
        Case("unclosed quote runs to the end", "a,\"bc\nd", [["a", "bc\nd"]]),
        Case("quoted empty field", "\"\",x\n", [["", "x"]]),
        Case("lone CR inside a field is data", "a\rb,c\n", [["a\rb", "c"]]),
        Case("only blank lines", "\n\r\n\n", []),
        Case("empty input", "", []),
        Case("quoted field at the very end", "a,\"b\"", [["a", "b"]]),
        Case("multi-line quoted fields move line numbers", "h\n\"1\n2\n3\"\nx\n", [["h"], ["1\n2\n3"], ["x"]], lines: [1, 2, 5]),
    ]

    @Test(arguments: cases)
    func dialect(_ c: Case) throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let path = s.write("f.csv", c.input)
        // Every chunk size gives the same records: a record may span any number of reads.
        for chunk in [16, 17, 23, 64, 4096] {
            let got = try scanAll(path, chunkBytes: chunk)
            #expect(got.map(\.1) == c.records, "chunk \(chunk)")
            if let lines = c.lines { #expect(got.map(\.0) == lines, "chunk \(chunk)") }
        }
    }

    @Test func recordLongerThanTheChunkParses() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let long = String(repeating: "x", count: 100_000)
        let path = s.write("f.csv", "a,b\n\"\(long)\",\(long)\n1,2\n")
        let got = try scanAll(path, chunkBytes: 1024)
        #expect(got.count == 3)
        #expect(got[1].1 == [long, long])
        #expect(got[2].1 == ["1", "2"])
    }

    @Test func recordGrowthIsReservedFromTheBudget() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let path = s.write("f.csv", "a\n" + String(repeating: "y", count: 50_000) + "\n")
        let budget = MemoryBudget(limitBytes: 16_384)
        let scanner = try CSVScanner(source: RawSource(path: path, displayPath: "f.csv"), chunkBytes: 4096, budget: budget)
        #expect(budget.usedBytes == 4096)
        #expect(try scanner.next())
        do {
            _ = try scanner.next()
            Issue.record("a 50 KB record fit a 16 KiB budget")
        } catch let e as BatchError {
            #expect(e.path == "f.csv" && e.line == 2)
            #expect(e.message.contains("memory budget"))
        }
    }

    @Test func compressedInputStreams() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        var text = "id,v\n"
        for i in 0..<20_000 { text += "\(i),\"v \(i)\"\n" }
        let plain = Array(text.utf8)
        // Compress with the stream encoder in small pieces.
        let encoder = ZstdStreamEncoder(level: 3)
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: ZstdStreamEncoder.outputSizeBytes, alignment: 16)
        defer { out.deallocate() }
        var compressed: [UInt8] = []
        try plain.withUnsafeBytes { all in
            var at = 0
            while at < all.count {
                let end = min(all.count, at + 7_777)
                try encoder.compress(UnsafeRawBufferPointer(rebasing: all[at..<end]), end: end == all.count, output: out) { compressed += $0 }
                at = end
            }
        }
        let path = s.write("f.csv.zst", compressed)
        let got = try scanAll(path, chunkBytes: 1000)
        #expect(got.count == 20_001)
        #expect(got.last?.1 == ["19999", "v 19999"])
        // A truncated file is an error naming the file, not a short read.
        let cut = s.write("cut.csv.zst", Array(compressed.prefix(compressed.count / 2)))
        #expect(throws: BatchError.self) { _ = try scanAll(cut, chunkBytes: 1000) }
        let junk = s.write("junk.csv.zst", Array("not zstd at all".utf8))
        do {
            _ = try scanAll(junk, chunkBytes: 1000)
            Issue.record("junk decompressed")
        } catch let e as BatchError {
            #expect(e.code == .unreadable && e.message.contains("zstd"))
        }
    }

    /// Random bytes from an alphabet rich in separators, quotes and line ends, and any
    /// byte value: the scanner and the bronze builder never crash, every byte of input
    /// lands in exactly one record or blank line, and memory stays bounded.
    @Test func fuzz() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("CSV fuzz seed: \(seed)")
        var rng = SplitMix64(seed: seed)
        let s = Scratch()
        defer { s.cleanUp() }
        let alphabet: [UInt8] = Array(",\"\n\r \tab1.-:Z".utf8) + [0xC3, 0xA9, 0xFF, 0x80, 0xEF, 0xBB, 0xBF]
        let header = Array("transaction_id,customer_id,product_id,quantity,unit_price,currency,status,channel,event_time,updated_at\n".utf8)
        for round in 0..<40 {
            var bytes = header
            let n = rng.next(below: 20_000)
            for _ in 0..<n {
                bytes.append(rng.next(below: 4) == 0 ? UInt8(truncatingIfNeeded: rng.next()) : alphabet[rng.next(below: alphabet.count)])
            }
            let path = s.write("fuzz\(round).csv", bytes)
            let budget = MemoryBudget(limitBytes: 1 << 20)
            let scanner = try CSVScanner(source: RawSource(path: path, displayPath: "fuzz.csv"), chunkBytes: 64, budget: budget)
            let header = try FeedHeader.parse(scanner, feed: Landing.builtin.facts.feed, path: "fuzz.csv", advice: "fix the file")
            let builder = BronzeBuilder(capacity: 128, layout: Landing.builtin.facts, header: header, sourceFile: "fuzz.csv", ingestSeq: 1, ingestedAt: 0)
            var lastLine = 1
            var rows = 0
            while try scanner.next() {
                #expect(scanner.recordLine > lastLine, "seed \(seed) round \(round)")
                lastLine = scanner.recordLine
                builder.append(scanner)
                rows += 1
                if builder.isFull { builder.reset() }
            }
            #expect(scanner.nextRecordOffset == bytes.count, "seed \(seed) round \(round)")
            // Every LF is counted once, quoted or not: line numbers never drift.
            #expect(scanner.nextLine == 1 + bytes.filter { $0 == 0x0A }.count, "seed \(seed) round \(round)")
            #expect(builder.count + rows / 128 * 128 == rows)
            #expect(scanner.capacityBytes <= 1 << 20 && budget.usedBytes == scanner.capacityBytes, "seed \(seed)")
        }
    }
}

@Suite struct HeaderTests {
    @Test func columnsByNameInAnyOrderWithExtras() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let path = s.write("t.csv", " UPDATED_AT ,extra,channel,Status,currency,unit_price,quantity,product_id,customer_id,\tTransaction_Id,event_time,extra\n")
        let scanner = try CSVScanner(source: RawSource(path: path, displayPath: "t.csv"))
        let h = try FeedHeader.parse(scanner, feed: Landing.builtin.facts.feed, path: "t.csv", advice: "fix the file")
        #expect(h.positions == [9, 8, 7, 6, 5, 4, 3, 2, 10, 0])
        #expect(h.fieldCount == 12)
    }

    @Test func aMissingColumnIsNamed() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let path = s.write("t.csv", "transaction_id,customer_id,product_id,quantity,unit_price,currency,status,channel,updated_at\n")
        let scanner = try CSVScanner(source: RawSource(path: path, displayPath: "transactions/t.csv"))
        do {
            _ = try FeedHeader.parse(scanner, feed: Landing.builtin.facts.feed, path: "transactions/t.csv", advice: "fix the file")
            Issue.record("a header without event_time was accepted")
        } catch let e as BatchError {
            #expect(e.code == .missingColumn && e.column == "event_time" && e.path == "transactions/t.csv")
        }
    }

    @Test func anEmptyFileHasNoHeader() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let path = s.write("t.csv", "\n\r\n")
        let scanner = try CSVScanner(source: RawSource(path: path, displayPath: "t.csv"))
        #expect(throws: BatchError(.noHeader, path: "t.csv", line: 1, "has no header record (the file is empty or blank); the first line must name the columns")) {
            _ = try FeedHeader.parse(scanner, feed: Landing.builtin.facts.feed, path: "t.csv", advice: "fix the file")
        }
    }
}

@Suite struct FieldParserTests {
    func p<T>(_ s: String, _ f: (UnsafeRawBufferPointer) -> T?) -> T? {
        var s = s
        return s.withUTF8 { f(UnsafeRawBufferPointer($0)) }
    }

    @Test func integers() {
        #expect(p("42", FieldParsers.int64) == 42)
        #expect(p("+7", FieldParsers.int64) == 7)
        #expect(p("-0", FieldParsers.int64) == 0)
        #expect(p("007", FieldParsers.int64) == 7)
        #expect(p("9223372036854775807", FieldParsers.int64) == Int64.max)
        #expect(p("-9223372036854775808", FieldParsers.int64) == Int64.min)
        for bad in ["9223372036854775808", "-9223372036854775809", "", "+", "-", "1.0", "1e3", "12x", " 1", "--1", "1_000"] {
            #expect(p(bad, FieldParsers.int64) == nil, "\(bad)")
        }
    }

    @Test func decimals() {
        // decimal(17,2): the contract's unit_price; decimal(18,6) unsigned: its fx rates.
        func decimal2(_ t: UnsafeRawBufferPointer) -> Int64? { FieldParsers.decimal(t, wholeDigits: 15, scale: 2) }
        func micros6(_ t: UnsafeRawBufferPointer) -> Int64? { FieldParsers.decimal(t, wholeDigits: 12, scale: 6, signed: false) }
        #expect(p("12.34", decimal2) == 1234)
        #expect(p("12.3", decimal2) == 1230)
        #expect(p("12", decimal2) == 1200)
        #expect(p("-0.05", decimal2) == -5)
        #expect(p("+1.50", decimal2) == 150)
        #expect(p("999999999999999.99", decimal2) == 99_999_999_999_999_999)
        for bad in ["1.", ".5", "1.234", "1234567890123456", "1,5", "$1", "", "-", "1.2.3", "1e2", "1. 5"] {
            #expect(p(bad, decimal2) == nil, "\(bad)")
        }
        #expect(p("1.083400", micros6) == 1_083_400)
        #expect(p("0.006712", micros6) == 6_712)
        #expect(p("3", micros6) == 3_000_000)
        for bad in ["-1.0", "1.1234567", ".5", "1.", "", "x"] { #expect(p(bad, micros6) == nil, "\(bad)") }
    }

    @Test func timestamps() {
        let base: Int64 = 1_735_689_600_000_000 // 2025-01-01T00:00:00Z
        #expect(p("2025-01-01T00:00:00Z", FieldParsers.timestamp) == base)
        #expect(p("2025-01-01 00:00:00", FieldParsers.timestamp) == base)
        #expect(p("2025-01-01t00:00:00z", FieldParsers.timestamp) == base)
        #expect(p("2025-01-01T01:00:00+01:00", FieldParsers.timestamp) == base)
        #expect(p("2024-12-31T19:30:00-04:30", FieldParsers.timestamp) == base)
        #expect(p("2025-01-01T00:00:00.5Z", FieldParsers.timestamp) == base + 500_000)
        #expect(p("2025-01-01T00:00:00.000001", FieldParsers.timestamp) == base + 1)
        #expect(p("2025-01-01T00:00:00+18:00", FieldParsers.timestamp) == base - 18 * 3_600_000_000)
        #expect(p("2024-02-29T12:00:00Z", FieldParsers.timestamp) != nil)
        #expect(p("2000-02-29T12:00:00Z", FieldParsers.timestamp) != nil)
        #expect(p("1969-12-31T23:59:59Z", FieldParsers.timestamp) == -1_000_000)
        for bad in ["2025-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2025-13-01T00:00:00Z", "2025-00-10T00:00:00Z",
                    "2025-04-31T00:00:00Z", "2025-01-01T24:00:00Z", "2025-01-01T23:60:00Z", "2025-01-01T23:59:60Z",
                    "2025-01-01T00:00:00+18:01", "2025-01-01T00:00:00+19:00", "2025-01-01T00:00:00+0100",
                    "2025-01-01T00:00:00.Z", "2025-01-01T00:00:00.1234567Z", "2025-01-01", "2025-1-01T00:00:00Z",
                    "2025-01-01X00:00:00Z", "2025-01-01T00:00:00ZZ", "2025-01-01T00:00:00 Z", "yesterday", ""] {
            #expect(p(bad, FieldParsers.timestamp) == nil, "\(bad)")
        }
        #expect(p("2025-03-01", FieldParsers.date) == 20_148)
        #expect(p("2025-02-29", FieldParsers.date) == nil)
    }

    @Test func utf8Validation() {
        func valid(_ b: [UInt8]) -> Bool { b.withUnsafeBytes { UTF8Check.isValid($0) } }
        #expect(valid(Array("héllo ✓ 𝄞".utf8)))
        #expect(!valid([0xFF]))
        #expect(!valid([0xC3]))            // cut short
        #expect(!valid([0xC0, 0x80]))      // overlong
        #expect(!valid([0xED, 0xA0, 0x80])) // surrogate
        #expect(!valid([0xF4, 0x90, 0x80, 0x80])) // above U+10FFFF
        let out = ByteScratch()
        [UInt8](Array("a\\b".utf8) + [0xFF] + Array("é".utf8)).withUnsafeBytes { UTF8Check.appendEscaped($0, to: out) }
        #expect(String(decoding: out.bytes, as: UTF8.self) == "a\\\\b\\xFFé")
    }
}
