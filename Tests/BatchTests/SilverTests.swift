import Foundation
import Segments
import Spill
import Testing
@testable import Batch

/// Runs `body` with a budget of `budget` bytes and a spill folder of its own; afterwards
/// every reservation has ended and every spill file is gone.
func withEngine<T>(_ name: String, budget: Int, _ body: (MemoryBudget, SpillManager) throws -> T) throws -> T {
    let spill = try SpillManager(parent: NSTemporaryDirectory() + "batchrun-\(name)-tests-\(UUID().uuidString.prefix(8))")
    defer { spill.close() }
    let b = MemoryBudget(limitBytes: budget)
    let result = try body(b, spill)
    #expect(b.usedBytes == 0)
    #expect(spill.filesPresent().isEmpty)
    return result
}

func stageOptions(_ lake: String, batchRows: Int, threads: Int = 2) -> StageOptions {
    var o = StageOptions(lake: lake)
    o.limits.batchRows = batchRows
    o.limits.threads = threads
    return o
}

func runSilver(_ lake: String, budget: Int = 256 << 20, batchRows: Int = 65_536, threads: Int = 2) throws -> Silver.Report {
    try withEngine("silver", budget: budget) { try Silver(options: stageOptions(lake, batchRows: batchRows, threads: threads), budget: $0, spill: $1).run() }
}

/// A landing zone written by hand: reference files and transaction files.
struct HandZone {
    let s = Scratch()
    static let header = "transaction_id,customer_id,product_id,quantity,unit_price,currency,status,channel,event_time,updated_at\n"

    init() {
        _ = s.write("raw/customers.csv", "customer_id,name,country,segment,signup_date\n1,\"Smith, Ann\",US,consumer,2024-01-01\n2,Bob,DE,corporate,2024-02-01\n")
        _ = s.write("raw/products.csv", "product_id,name,category,list_price\n10,Lamp,Home,20.00\n11,Book,Books,9.99\n")
        _ = s.write("raw/fx_rates.csv", "currency,usd_per_unit\nUSD,1\nEUR,1.083400\nJPY,0.010000\n")
    }

    func transactions(_ name: String, _ rows: [String]) {
        _ = s.write("raw/transactions/" + name, Self.header + rows.joined(separator: "\n") + "\n")
    }

    var raw: String { s.path + "/raw" }
    var lake: String { s.path + "/lake" }

    func export(_ table: String) throws -> [String] {
        try exported(Lake.tablePath(lake: lake, name: table), in: s, as: table).split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
    }
}

@Suite struct SilverTests {
    /// One row per quarantine rule, each failing only that rule, plus one good row.
    @Test func eachRuleSendsItsRowsToQuarantine() throws {
        let z = HandZone()
        defer { z.s.cleanUp() }
        let good = ",1,10,2,5.00,USD,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z"
        z.transactions("a.csv", [
            "R1,1,10,2",                                                                          // malformed_row
            ",1,10,2,5.00,USD,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z",           // missing_id
            "R3,x,10,2,5.00,USD,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z",         // bad_number
            "R4,1,10,2,5.00,USD,completed,web,2025-02-30T10:00:00Z,2025-01-01T10:00:00Z",         // bad_timestamp
            "R5,1,10,0,5.00,USD,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z",         // bad_quantity
            "R6,1,10,2,-5.00,USD,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z",        // bad_price
            "R7,1,10,2,5.00,USD,shipped,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z",           // bad_status
            "R8,1,10,2,5.00,USD,completed,fax,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z",         // bad_channel
            "R9,1,10,2,5.00,XXX,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z",         // unknown_currency
            "R10,3,10,2,5.00,USD,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z",        // unknown_customer
            "R11,1,12,2,5.00,USD,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z",        // unknown_product
            "G1" + good,
            // Earlier rules win: no id and a bad quantity is missing_id.
            ",1,10,0,5.00,USD,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z",
            // Bounds that pass: quantity 1 and 1000, price 0.
            "G2,1,10,1000,0,usd,REFUNDED,Store,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z",
        ])
        _ = try ingest(z.raw, z.lake)
        let report = try runSilver(z.lake)
        var expected: [String: Int] = [:]
        for r in Generator.reasons { expected[r] = 1 }
        expected["missing_id"] = 2
        #expect(report.quarantined == expected)
        #expect(report.silverRows == 2 && report.duplicatesRemoved == 0 && report.bronzeRows == 14)
        let q = try z.export("quarantine")
        #expect(q[0].hasSuffix(",_rescued,reason"))
        let reasons = q.dropFirst().map { String($0.split(separator: ",", omittingEmptySubsequences: false).last ?? "") }
        #expect(reasons == ["malformed_row", "missing_id", "bad_number", "bad_timestamp", "bad_quantity", "bad_price",
                            "bad_status", "bad_channel", "unknown_currency", "unknown_customer", "unknown_product", "missing_id"])
        let silver = try z.export("silver")
        #expect(silver == [
            "transaction_id,customer_id,product_id,quantity,unit_price,currency,amount,amount_usd,status,channel,event_time,updated_at,event_date",
            "G1,1,10,2,5.00,USD,10.00,10.00,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z,2025-01-01",
            "G2,1,10,1000,0.00,USD,0.00,0.00,refunded,store,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z,2025-01-01",
        ])
    }

    /// Versions: the greatest updated_at wins; on a tie, the one ingested last by
    /// (_ingest_seq, _source_file, _source_line). The key space is global across dates.
    @Test func deduplicationKeepsTheLatestVersion() throws {
        let z = HandZone()
        defer { z.s.cleanUp() }
        z.transactions("a.csv", [
            "A,1,10,1,1.00,USD,pending,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z",
            "A,1,10,1,1.00,USD,completed,web,2025-01-01T10:00:00Z,2025-01-02T10:00:00Z",   // A: latest updated_at
            "A,1,10,1,1.00,USD,cancelled,web,2025-01-01T10:00:00Z,2025-01-01T12:00:00Z",
            "B,1,10,1,1.00,USD,pending,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z",
            "B,1,10,1,1.00,USD,refunded,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z",    // B: tie, later line
            "C,1,10,1,1.00,USD,pending,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z",
            "D,1,10,1,1.00,USD,pending,web,2025-01-03T23:00:00Z,2025-01-03T23:00:00Z",
            " D ,1,10,1,1.00,USD,completed,web,2025-01-04T01:00:00Z,2025-01-04T01:00:00Z", // D moves to the next date
        ])
        z.transactions("b.csv", [
            "C,1,10,1,1.00,USD,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z",   // C: tie, later file
        ])
        _ = try ingest(z.raw, z.lake)
        // A second ingestion: its version of B ties on updated_at and wins by _ingest_seq.
        z.transactions("c.csv", ["B,1,10,1,1.00,USD,cancelled,mobile,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z"])
        _ = try ingest(z.raw, z.lake)
        let report = try runSilver(z.lake)
        #expect(report.bronzeRows == 10 && report.silverRows == 4 && report.duplicatesRemoved == 6)
        let silver = try z.export("silver").dropFirst().map { $0.split(separator: ",").map(String.init) }
        #expect(silver.map { $0[0] } == ["A", "B", "C", "D"])
        #expect(silver.map { $0[8] } == ["completed", "cancelled", "completed", "completed"])
        #expect(silver[3][12] == "2025-01-04")
        let partitions = try Table.snapshot(at: Silver.path(lake: z.lake)).partitions.compactMap { $0["event_date"] }
        #expect(partitions == ["2025-01-01", "2025-01-04"])
    }

    /// amount = quantity x unit_price; amount_usd rounds half up to cents.
    @Test func amountsAreExact() throws {
        let z = HandZone()
        defer { z.s.cleanUp() }
        z.transactions("a.csv", [
            "M1,1,10,3,0.35,EUR,completed,web,2025-01-01T10:00:00Z,2025-01-01T10:00:00Z",     // 1.05 x 1.0834 = 1.13757 -> 1.14
            "M2,1,10,1,0.50,JPY,completed,web,2025-01-01T10:00:01Z,2025-01-01T10:00:00Z",     // 0.50 x 0.01 = 0.005 -> 0.01
            "M3,1,10,1,0.49,JPY,completed,web,2025-01-01T10:00:02Z,2025-01-01T10:00:00Z",     // 0.0049 -> 0.00
            "M4,1,10,1000,999999999.99,USD,completed,web,2025-01-01T10:00:03Z,2025-01-01T10:00:00Z",
        ])
        _ = try ingest(z.raw, z.lake)
        _ = try runSilver(z.lake)
        let rows = try z.export("silver").dropFirst().map { $0.split(separator: ",").map(String.init) }
        #expect(rows.map { $0[6] } == ["1.05", "0.50", "0.49", "999999999990.00"])
        #expect(rows.map { $0[7] } == ["1.14", "0.01", "0.00", "999999999990.00"])
    }

    /// A generated landing zone: every count matches _expected.json (silver checks it and
    /// fails otherwise), and the output does not depend on the budget or batch size (nor
    /// on whether the sort runs at once or in day ranges).
    @Test func generatedZoneMatchesExpectedAtAnyBudget() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        var o = Generator.Options(records: 20_000)
        o.files = 3
        o.compressedFiles = 1
        let expected = try Generator(options: o).write(to: s.path + "/raw").expected
        _ = try ingest(s.path + "/raw", s.path + "/lake")
        var exports: [String] = []
        let runs = [(ForceSpill.roomy(256 << 20), 65_536, 2), (6 << 20, 1000, 1), (3 << 20, 333, 2), (3 << 20, 4096, 1)]
        for (budget, rows, threads) in runs {
            let report = try runSilver(s.path + "/lake", budget: budget, batchRows: rows, threads: threads)
            #expect(report.expected == expected)
            #expect(report.silverRows == expected.silver && report.quarantined == expected.quarantined)
            // The smallest budget cannot hold the sort at once: it runs in day ranges,
            // sorted side by side (2 threads) or one after another.
            if budget == 3 << 20 { #expect(report.sort.buckets >= 2, "\(report.sort)") }
            exports.append(try exported(s.path + "/lake/silver", in: s, as: "silver") + exported(s.path + "/lake/quarantine", in: s, as: "q"))
        }
        #expect(exports.count == runs.count && Set(exports).count == 1)
    }

    @Test func aDifferenceFromExpectedIsAnError() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        _ = try Generator(options: Generator.Options(records: 2000)).write(to: s.path + "/raw")
        _ = try ingest(s.path + "/raw", s.path + "/lake")
        // Tamper with the lake's copy of the expected counts.
        let path = Ingest.expectedPath(lake: s.path + "/lake")
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"bronze\":2000", with: "\"bronze\":2001")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try runSilver(s.path + "/lake")
            Issue.record("a wrong expected bronze count passed")
        } catch let e as BatchError {
            #expect(e.code == .reconciliation && e.message.contains("<-- differs"))
        }
        let committed = Table.exists(at: Silver.path(lake: s.path + "/lake")) ? try Table.versions(at: Silver.path(lake: s.path + "/lake")) : []
        #expect(committed.isEmpty)
    }
}

@Suite struct DayHistogramTests {
    /// Against a plain count per day: each range holds exactly the days that fall in it,
    /// ranges are in order and disjoint, the total is kept, and the bins stay 4096 however
    /// wide the days spread (they merge as they must).
    @Test(arguments: [UInt64(1), 2, 3])
    func rangesCountTheirDays(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var h = DayHistogram()
        var exact: [Int64: Int] = [:]
        for i in 0..<20_000 {
            // Near days mostly, far ones (both ways, up to ~290,000 years) now and then.
            let day = i % 97 == 0 ? Int64(rng.next(below: 200_000_000)) - 100_000_000 : 20_000 + Int64(rng.next(below: 400))
            h.add(day: day)
            exact[day, default: 0] += 1
        }
        let ranges = h.ranges
        #expect(h.total == 20_000 && ranges.reduce(0) { $0 + $1.count } == 20_000)
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.days.upperBound <= $1.days.lowerBound }, "seed \(seed)")
        for r in ranges {
            #expect(r.count == exact.filter { r.days.contains($0.key) }.values.reduce(0, +), "seed \(seed), \(r.days)")
        }
        #expect(h.shift > 0 && h.shift < 20, "seed \(seed)")
        // Split so each part holds at most 5,000 where it can.
        let splits = h.splitDays(limit: 5_000)
        var bounds = [Int64.min] + splits + [Int64.max]
        bounds.sort()
        #expect(bounds == [Int64.min] + splits + [Int64.max], "split days ascend")
        for (lo, hi) in zip(bounds, bounds.dropFirst()) {
            let part = exact.filter { $0.key >= lo && $0.key < hi }.values.reduce(0, +)
            let single = ranges.filter { $0.days.lowerBound >= lo && $0.days.upperBound <= hi }.count == 1
            #expect(part <= 5_000 || single, "seed \(seed): \(part) rows in [\(lo), \(hi))")
        }
    }

    @Test func nearDaysKeepOneBinEach() {
        var h = DayHistogram()
        for d in [19_000, 19_001, 19_001, 18_990, 19_400] { h.add(day: Int64(d)) }
        #expect(h.shift == 0)
        #expect(h.ranges.map(\.count) == [1, 1, 2, 1])
        #expect(h.ranges.map(\.days.lowerBound) == [18_990, 19_000, 19_001, 19_400])
        #expect(h.splitDays(limit: 2) == [19_001, 19_400])
        #expect(h.splitDays(limit: 10).isEmpty)
    }
}

@Suite struct SortRangePlanTests {
    /// Rows of a transactions-like silver in the sort.
    static let rowBytes = 118

    /// One day with more rows than half the sort's memory (the 100M case: about 1.1M rows
    /// a day), counted in 15-minute slices of a timestamp, still splits into ranges that
    /// each fit, at slice boundaries inside the day, and the ranges' writers stay within
    /// an eighth of the memory.
    @Test func aDayBiggerThanTheSortSplitsInsideTheDay() {
        var slices = DayHistogram()
        let perDay = Int64(96)
        let day: Int64 = 19_500
        let rows = 200_000
        for i in 0..<rows { slices.add(day: day * perDay + Int64(i) * perDay / Int64(rows)) }
        let plan = Limits.Shares(available: 8 << 20, operators: 1)
        let perHalf = plan.sortEngineBytes / 2 * 4 / 5 / Self.rowBytes
        #expect(perHalf < rows / 2, "the day must be bigger than half the sort for this test")
        let split = SortRangePlan(rowsPerUnit: slices, bytesPerRow: Self.rowBytes).split(plan: plan, sortsAtOnce: 2)
        #expect(split.fit)
        #expect(split.starts.count + 1 >= rows / perHalf)
        #expect(split.starts == split.starts.sorted() && Set(split.starts).count == split.starts.count)
        #expect(split.starts.allSatisfy { $0 > day * perDay && $0 < (day + 1) * perDay })
        #expect((split.starts.count + 1) * SpillWriter.memoryBytes(blockBytes: split.bucketBlockBytes, compresses: false) <= plan.shareBytes / 8)
        // Rows that fit at once: no ranges.
        var few = DayHistogram()
        few.add(day: day * perDay, 1000)
        #expect(SortRangePlan(rowsPerUnit: few, bytesPerRow: Self.rowBytes).split(plan: plan, sortsAtOnce: 2).starts.isEmpty)
    }

    /// Rows that fit in the sort at once but are many are cut in about four ranges for two
    /// threads, so that both sort and write; one thread sorts them in one piece.
    @Test func manyRowsThatFitAreCutForTwoThreads() {
        var days = DayHistogram()
        let rows = 700_000 // 700,000 x 118 bytes: over Limits.rangesWorthBytes
        for i in 0..<rows { days.add(day: 19_500 + Int64(i / 20_000)) }
        let plan = Limits.Shares(available: 4 << 30, operators: 1)
        let sizes = SortRangePlan(rowsPerUnit: days, bytesPerRow: Self.rowBytes)
        #expect(rows * Self.rowBytes >= Limits.rangesWorthBytes && rows * Self.rowBytes < plan.sortEngineBytes / 2)
        let two = sizes.split(plan: plan, sortsAtOnce: 2)
        #expect(two.fit && (3...5).contains(two.starts.count + 1), "\(two.starts.count + 1) ranges")
        #expect(sizes.split(plan: plan, sortsAtOnce: 1).starts.isEmpty)
    }
}
