import Foundation
import Segments
import Spill
import Testing
@testable import Batch

/// A table's rows as CSV text (the export), with `_ingested_at` as given.
func exported(_ table: String, in s: Scratch, as name: String) throws -> String {
    let file = s.path + "/" + name + ".csv"
    _ = try TableExport.csv(table: table, to: file)
    return try String(contentsOfFile: file, encoding: .utf8)
}

func ingest(_ raw: String, _ lake: String, mode: Ingest.Mode = .append, threads: Int = 2, tiny: Bool = false,
            budget: MemoryBudget = MemoryBudget(limitBytes: 256 << 20)) throws -> Ingest.Report {
    var o = Ingest.Options(raw: raw, lake: lake)
    o.mode = mode
    o.limits.threads = threads
    o.ingestedAt = 1_750_000_000_000_000
    o.limits.batchRows = 1000
    if tiny {
        // Ranges of a few hundred bytes: every file is split many times.
        o.checksumBlockBytes = 256
        o.rangeBytes = 512
        o.chunkBytes = 128
    }
    let spill = try SpillManager(parent: NSTemporaryDirectory() + "batchrun-ingest-tests-\(UUID().uuidString.prefix(8))")
    defer { spill.close() }
    return try Ingest(options: o, budget: budget, spill: spill).run()
}

@Suite struct IngestTests {
    func generate(_ s: Scratch, records: Int, files: Int = 3, zst: Int = 1, seed: UInt64 = 9) throws -> Generator.Result {
        var o = Generator.Options(records: records)
        o.files = files
        o.compressedFiles = zst
        o.seed = seed
        return try Generator(options: o).write(to: s.path + "/raw")
    }

    @Test func generatedZoneMatchesExpectedAndIngestsOnce() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let gen = try generate(s, records: 6000)
        let first = try ingest(s.path + "/raw", s.path + "/lake")
        #expect(first.rowsAdded == gen.expected.bronze)
        #expect(first.bronzeRows == 6000)
        #expect(first.version == 1 && first.ingestSeq == 1)
        #expect(first.files.map(\.malformed).reduce(0, +) == gen.expected.quarantined["malformed_row"])
        #expect(first.files.allSatisfy { $0.skipped == nil })
        let before = try exported(s.path + "/lake/bronze", in: s, as: "before")

        // The same landing zone again: nothing added, every file named as skipped.
        let second = try ingest(s.path + "/raw", s.path + "/lake")
        #expect(second.version == nil && second.rowsAdded == 0 && second.bronzeRows == 6000)
        #expect(second.files.allSatisfy { $0.skipped == "already ingested" })
        #expect(try Table.versions(at: s.path + "/lake/bronze") == [1])
        #expect(try exported(s.path + "/lake/bronze", in: s, as: "after") == before)
    }

    /// --order random scatters ids and event times over the files; the records, their
    /// kinds and the expected counts are those of time order.
    @Test func randomOrderScattersIdsAndTimes() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        func zone(_ order: Generator.Order) throws -> (Generator.Expected, [Int64], Set<String>) {
            var o = Generator.Options(records: 3000)
            o.files = 2
            o.order = order
            o.noise = false
            let raw = s.path + "/raw-\(order.rawValue)"
            let result = try Generator(options: o).write(to: raw)
            let lake = s.path + "/lake-\(order.rawValue)"
            _ = try ingest(raw, lake)
            let reader = try TableReader(path: lake + "/bronze")
            let scan = TableScan(reader, columns: [0, 8])
            var times: [Int64] = []
            var ids = Set<String>()
            while case let n = try scan.next(), n > 0 {
                for r in 0..<n where !scan.vectors[1].isNull(r) && !scan.vectors[0].isNull(r) {
                    times.append(scan.vectors[1].int64(r))
                    ids.insert(scan.vectors[0].string(r))
                }
            }
            return (result.expected, times, ids)
        }
        let (timeExpected, timeTimes, timeIds) = try zone(.time)
        let (randomExpected, randomTimes, randomIds) = try zone(.random)
        #expect(timeExpected == randomExpected)
        #expect(timeIds.count == randomIds.count && timeIds != randomIds, "as many ids, other ones")
        // A step back of more than two hours between neighbours: in time order only the
        // re-sent and updated versions of earlier records (7%); in random order about half.
        func stepsBack(_ t: [Int64]) -> Int { zip(t, t.dropFirst()).filter { $1 < $0 - 7_200_000_000 }.count }
        #expect(stepsBack(timeTimes) < timeTimes.count * 15 / 100, "\(stepsBack(timeTimes)) of \(timeTimes.count)")
        #expect(stepsBack(randomTimes) > randomTimes.count * 35 / 100, "\(stepsBack(randomTimes)) of \(randomTimes.count)")
    }

    @Test func theGeneratorIsDeterministic() throws {
        let a = Scratch(), b = Scratch()
        defer { a.cleanUp(); b.cleanUp() }
        let ga = try generate(a, records: 3000, seed: 5)
        let gb = try generate(b, records: 3000, seed: 5)
        #expect(ga.expected == gb.expected)
        for f in ga.files + ["_expected.json"] {
            let x = FileManager.default.contents(atPath: a.path + "/raw/" + f)
            #expect(x != nil && x == FileManager.default.contents(atPath: b.path + "/raw/" + f), "\(f)")
        }
        let total = ga.expected.silver + ga.expected.duplicatesRemoved + ga.expected.quarantined.values.reduce(0, +)
        #expect(total == ga.expected.bronze)
        #expect(Generator.reasons.allSatisfy { (ga.expected.quarantined[$0] ?? 0) > 0 })
    }

    /// Splitting files into many ranges on two threads gives exactly the rows of one
    /// thread reading each file whole, even when quoted newlines fool the range guesses.
    @Test func rangesAndThreadsDoNotChangeTheResult() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        _ = try generate(s, records: 3000, files: 2, zst: 1)
        // A file where many records hold quoted newlines, so guessed starts are often wrong.
        var text = "transaction_id,customer_id,product_id,quantity,unit_price,currency,status,channel,event_time,updated_at\n"
        for i in 0..<400 {
            let id = i % 3 == 0 ? "\"T\(i)\nsecond line\nthird\"" : "T\(i)"
            text += "\(id),\(i),2,3,4.50,usd,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z\n"
        }
        _ = s.write("raw/transactions/quoted.csv", text)
        let whole = try ingest(s.path + "/raw", s.path + "/one", threads: 1)
        let split = try ingest(s.path + "/raw", s.path + "/two", threads: 2, tiny: true)
        #expect(split.rangesReparsed > 0)
        #expect(split.segmentsWritten > whole.segmentsWritten)
        #expect(split.rowsAdded == whole.rowsAdded)
        #expect(try exported(s.path + "/one/bronze", in: s, as: "one") == exported(s.path + "/two/bronze", in: s, as: "two"))
        // Source lines count every LF, quoted ones too.
        let reader = try TableReader(path: s.path + "/two/bronze")
        var lines: [Int64] = []
        for seg in try (0..<reader.segmentCount).map({ try reader.segment($0) }) where seg.metadata["source_file"] == "transactions/quoted.csv" {
            let v = seg.makeVector(column: 11)
            for g in seg.rowGroups.indices {
                try seg.read(column: 11, rowGroup: g, into: v)
                for r in 0..<v.count { lines.append(v.int64(r)) }
            }
        }
        var expected: [Int64] = []
        var line: Int64 = 2
        for i in 0..<400 {
            expected.append(line)
            line += i % 3 == 0 ? 3 : 1
        }
        #expect(lines == expected)
    }

    @Test func overwriteAndNewFiles() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let header = "transaction_id,customer_id,product_id,quantity,unit_price,currency,status,channel,event_time,updated_at\n"
        let row = ",1,2,3,4.50,USD,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z\n"
        _ = s.write("raw/transactions/a.csv", header + "A1" + row + "A2" + row)
        _ = s.write("raw/transactions/b.csv", header + "B1" + row)
        let lake = s.path + "/lake"
        #expect(try ingest(s.path + "/raw", lake).rowsAdded == 3)
        // One new file: exactly its rows are added, with the next ingestion number.
        _ = s.write("raw/transactions/sub/c.csv", header + "C1" + row + "C2" + row + "C3" + row)
        let third = try ingest(s.path + "/raw", lake)
        #expect(third.rowsAdded == 3 && third.bronzeRows == 6 && third.ingestSeq == 2)
        #expect(third.files.filter { $0.skipped == nil }.map(\.path) == ["transactions/sub/c.csv"])
        // A file with the same bytes under another name is the same content.
        _ = s.write("raw/transactions/z-copy.csv", header + "B1" + row)
        let copy = try ingest(s.path + "/raw", lake)
        #expect(copy.rowsAdded == 0)
        #expect(copy.files.last?.skipped == "same content as transactions/b.csv, already ingested")
        // Overwrite: exactly the given files, numbered from 1 again.
        try FileManager.default.removeItem(atPath: s.path + "/raw/transactions/a.csv")
        try FileManager.default.removeItem(atPath: s.path + "/raw/transactions/z-copy.csv")
        let over = try ingest(s.path + "/raw", lake, mode: .overwrite)
        #expect(over.rowsAdded == 4 && over.bronzeRows == 4 && over.ingestSeq == 1)
        let text = try exported(lake + "/bronze", in: s, as: "bronze")
        #expect(!text.contains("A1") && text.contains("B1") && text.contains("C3"))
        // After an overwrite, append mode knows only the files it holds now.
        _ = s.write("raw/transactions/a.csv", header + "A1" + row + "A2" + row)
        let again = try ingest(s.path + "/raw", lake)
        #expect(again.rowsAdded == 2 && again.bronzeRows == 6 && again.ingestSeq == 2)
    }

    @Test func aMissingColumnRefusesTheWholeIngestion() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let good = "transaction_id,customer_id,product_id,quantity,unit_price,currency,status,channel,event_time,updated_at\nT1,1,2,3,4.50,USD,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z\n"
        _ = s.write("raw/transactions/a.csv", good)
        _ = s.write("raw/transactions/b.csv", "transaction_id,customer_id,product_id,quantity,unit_price,currency,status,event_time,updated_at\nT2,1,2,3,4.50,USD,completed,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z\n")
        do {
            _ = try ingest(s.path + "/raw", s.path + "/lake")
            Issue.record("an ingestion with a file lacking 'channel' committed")
        } catch let e as BatchError {
            #expect(e.code == .missingColumn && e.path == "transactions/b.csv" && e.column == "channel")
        }
        #expect(try Table.versions(at: s.path + "/lake/bronze").isEmpty)
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: s.path + "/lake/bronze").filter { $0.hasSuffix(".seg") }
        #expect(leftovers.isEmpty)
    }

    @Test func missingAndUnreadableInputs() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        #expect(throws: BatchError.self) { _ = try ingest(s.path + "/nope", s.path + "/lake") }
        do { _ = try ingest(s.path + "/nope", s.path + "/lake") } catch let e as BatchError { #expect(e.code == .missingInput) }
        _ = s.write("raw/transactions/empty.csv", "")
        do {
            _ = try ingest(s.path + "/raw", s.path + "/lake")
            Issue.record("an empty file was ingested")
        } catch let e as BatchError {
            #expect(e.code == .noHeader && e.path == "transactions/empty.csv")
        }
        try FileManager.default.removeItem(atPath: s.path + "/raw/transactions/empty.csv")
        _ = s.write("raw/transactions/locked.csv", "transaction_id\n")
        SystemIO.setFaults([SystemIO.Fault(.open, pathContains: s.path + "/raw/transactions/locked.csv", errno: EACCES)])
        defer { SystemIO.setFaults([]) }
        do {
            _ = try ingest(s.path + "/raw", s.path + "/lake", threads: 1)
            Issue.record("an unreadable file was ingested")
        } catch let e as BatchError {
            #expect(e.code == .unreadable && e.errno == EACCES && e.path == "transactions/locked.csv")
            #expect(e.message.contains("chmod"))
        }
    }

    @Test func rescuedRowsKeepWhatDidNotParse() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let header = "transaction_id,customer_id,product_id,quantity,unit_price,currency,status,channel,event_time,updated_at\n"
        var bytes = Array((header
            + "T1,x1,2,3,4.5,usd,COMPLETED, Web ,2025-01-01T10:00:00Z,2025-13-01T00:00:00Z\n"
            + "T2,1,2\n"
            + "  ,1,2,3,4.50,USD,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z\n").utf8)
        bytes += Array("T\\3,1,2,3,4.50,".utf8) + [0xFF] + Array("SD,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z\n".utf8)
        _ = s.write("raw/transactions/a.csv", bytes)
        let report = try ingest(s.path + "/raw", s.path + "/lake")
        #expect(report.files[0].rows == 4 && report.files[0].rescued == 3 && report.files[0].malformed == 2)
        let lines = try exported(s.path + "/lake/bronze", in: s, as: "b").split(separator: "\n").map(String.init)
        #expect(lines[1] == "T1,,2,3,4.50,USD,completed,web,2025-01-01T10:00:00Z,,transactions/a.csv,2,1,2025-06-15T15:06:40Z,\"{\"\"customer_id\"\":\"\"x1\"\",\"\"updated_at\"\":\"\"2025-13-01T00:00:00Z\"\"}\"")
        #expect(lines[2] == ",,,,,,,,,,transactions/a.csv,3,1,2025-06-15T15:06:40Z,\"T2,1,2\"")
        #expect(lines[3] == ",1,2,3,4.50,USD,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z,transactions/a.csv,4,1,2025-06-15T15:06:40Z,")
        #expect(lines[4].hasPrefix(",,,,,,,,,,transactions/a.csv,5,1,2025-06-15T15:06:40Z,\"T\\\\3,1,2,3,4.50,\\xFFSD"))
    }
}
