import Foundation
import Segments
import Spill
import Testing
@testable import Batch

func runGold(_ lake: String, budget: Int = 256 << 20, batchRows: Int = 65_536) throws -> Gold.Report {
    try withEngine("gold", budget: budget) { try Gold(options: stageOptions(lake, batchRows: batchRows), budget: $0, spill: $1).run() }
}

/// Runs ingest, silver and gold with the given flags; returns the report.
func runPipeline(_ raw: String, _ lake: String, budget: Int = 256 << 20, batchRows: Int = 65_536, threads: Int = 2,
                 rebuild: Bool = false) throws -> Pipeline.Report {
    var o = Pipeline.Options(raw: raw, lake: lake)
    o.limits.threads = threads
    o.ingest.ingestedAt = 1_750_000_000_000_000 // fixed, so bronze exports compare across runs
    o.limits.batchRows = batchRows
    o.rebuild = rebuild
    return try withEngine("pipeline", budget: budget) { try Pipeline(options: o, budget: $0, spill: $1).run() }
}

@Suite struct GoldTests {
    /// Every gold table of a small zone, worked out by hand.
    @Test func goldTablesByHand() throws {
        let z = HandZone()
        defer { z.s.cleanUp() }
        _ = z.s.write("raw/products.csv", "product_id,name,category,list_price\n10,Lamp,Home,20.00\n11,Book,Books,9.99\n12,Pen,,1.50\n13,Mug,Home,4.00\n")
        z.transactions("a.csv", [
            "T1,1,10,2,5.00,USD,completed,web,2025-01-31T23:59:59Z,2025-01-31T23:59:59Z",
            "T2,1,13,1,3.00,EUR,completed,web,2025-01-31T10:00:00Z,2025-01-31T10:00:00Z",   // 3.00 x 1.0834 = 3.2502 -> 3.25
            "T3,2,11,4,2.50,USD,refunded,store,2025-01-31T12:00:00Z,2025-01-31T12:00:00Z",
            "T4,2,12,1,1.00,USD,completed,mobile,2025-02-02T08:00:00.5Z,2025-02-02T08:00:00Z", // no category
            "T5,1,10,1,7.00,USD,pending,web,2025-02-03T00:00:00Z,2025-02-03T00:00:00Z",
            "T7,1,11,3,4.00,USD,completed,store,2025-02-01T09:00:00Z,2025-02-01T09:00:00Z",
            "T8,2,10,1,1.00,USD,completed,mobile,2025-01-31T01:00:00Z,2025-01-31T01:00:00Z",
            "T9,2,10,1,1.00,USD,refunded,web,2025-02-02T09:00:00Z,2025-02-02T09:00:00Z",
            "T6,1,11,1,1.00,USD,cancelled,web,2025-02-02T09:00:00Z,2025-02-02T09:00:00Z",  // same time as T9: T6 first
        ])
        _ = try ingest(z.raw, z.lake)
        _ = try runSilver(z.lake)
        let report = try runGold(z.lake)
        #expect(report.silverRows == 9 && report.partitions == 2 && report.rows["fact_transactions"] == 9 && report.sorted.isEmpty, "\(report)")

        #expect(try z.export("dim_date") == [
            "date_key,date,year,quarter,month,day,day_of_week,iso_week,is_weekend",
            "20250131,2025-01-31,2025,1,1,31,5,5,false",
            "20250201,2025-02-01,2025,1,2,1,6,5,true",
            "20250202,2025-02-02,2025,1,2,2,7,5,true",
            "20250203,2025-02-03,2025,1,2,3,1,6,false",
        ])
        #expect(try z.export("dim_customer") == [
            "customer_id,name,country,segment,signup_date",
            "1,\"Smith, Ann\",US,consumer,2024-01-01",
            "2,Bob,DE,corporate,2024-02-01",
        ])
        #expect(try z.export("dim_product") == [
            "product_id,name,category,list_price",
            "10,Lamp,Home,20.00", "11,Book,Books,9.99", "12,Pen,,1.50", "13,Mug,Home,4.00",
        ])
        #expect(try z.export("fact_transactions") == [
            "transaction_id,date_key,customer_id,product_id,quantity,unit_price,amount,currency,amount_usd,status,channel,event_time",
            "T8,20250131,2,10,1,1.00,1.00,USD,1.00,completed,mobile,2025-01-31T01:00:00Z",
            "T2,20250131,1,13,1,3.00,3.00,EUR,3.25,completed,web,2025-01-31T10:00:00Z",
            "T3,20250131,2,11,4,2.50,10.00,USD,10.00,refunded,store,2025-01-31T12:00:00Z",
            "T1,20250131,1,10,2,5.00,10.00,USD,10.00,completed,web,2025-01-31T23:59:59Z",
            "T7,20250201,1,11,3,4.00,12.00,USD,12.00,completed,store,2025-02-01T09:00:00Z",
            "T4,20250202,2,12,1,1.00,1.00,USD,1.00,completed,mobile,2025-02-02T08:00:00.500000Z",
            "T6,20250202,1,11,1,1.00,1.00,USD,1.00,cancelled,web,2025-02-02T09:00:00Z",
            "T9,20250202,2,10,1,1.00,1.00,USD,1.00,refunded,web,2025-02-02T09:00:00Z",
            "T5,20250203,1,10,1,7.00,7.00,USD,7.00,pending,web,2025-02-03T00:00:00Z",
        ])
        let fact = try Table.snapshot(at: Gold.path(lake: z.lake, "fact_transactions"))
        #expect(fact.partitionColumns == ["year", "month"])
        #expect(fact.partitions == [["year": "2025", "month": "01"], ["year": "2025", "month": "02"]])
        #expect(fact.files.allSatisfy { $0.path.hasPrefix("year=2025/month=0") })
        // Null category first; categories and channels by their bytes.
        #expect(try z.export("daily_sales") == [
            "date_key,category,channel,orders,units,revenue_usd,refunds,refunded_usd",
            "20250131,Books,store,0,0,0.00,1,10.00",
            "20250131,Home,mobile,1,1,1.00,0,0.00",
            "20250131,Home,web,2,3,13.25,0,0.00",
            "20250201,Books,store,1,3,12.00,0,0.00",
            "20250202,,mobile,1,1,1.00,0,0.00",
            "20250202,Home,web,0,0,0.00,1,1.00",
        ])
        #expect(try z.export("customer_monthly") == [
            "customer_id,year,month,orders,revenue_usd,first_purchase_at,last_purchase_at",
            "1,2025,1,2,13.25,2025-01-31T10:00:00Z,2025-01-31T23:59:59Z",
            "1,2025,2,1,12.00,2025-02-01T09:00:00Z,2025-02-01T09:00:00Z",
            "2,2025,1,1,1.00,2025-01-31T01:00:00Z,2025-01-31T01:00:00Z",
            "2,2025,2,1,1.00,2025-02-02T08:00:00.500000Z,2025-02-02T08:00:00.500000Z",
        ])
        let verify = try Verify.run(lake: z.lake)
        #expect(verify.isSound, "\(verify.allProblems)")
    }

    /// ISO weeks and days at the year's edges, quarters at their bounds.
    @Test func calendarColumns() {
        func day(_ y: Int, _ m: Int, _ d: Int) -> Int64 { CivilTime.days(year: y, month: m, day: d) }
        let weeks: [((Int, Int, Int), Int, Int)] = [
            ((2021, 1, 1), 53, 5), ((2021, 1, 4), 1, 1), ((2024, 12, 30), 1, 1), ((2026, 12, 31), 53, 4),
            ((2027, 1, 1), 53, 5), ((2008, 12, 29), 1, 1), ((2025, 1, 1), 1, 3), ((2020, 12, 31), 53, 4),
            ((1970, 1, 1), 1, 4), ((1969, 12, 28), 52, 7), ((2000, 2, 29), 9, 2),
        ]
        for ((y, m, d), week, dow) in weeks {
            #expect(CivilTime.isoWeek(day(y, m, d)) == week, "\(y)-\(m)-\(d)")
            #expect(CivilTime.isoDayOfWeek(day(y, m, d)) == dow, "\(y)-\(m)-\(d)")
        }
        let month = CalendarMonth(containing: day(2024, 2, 15))
        #expect(month.days == day(2024, 2, 1)..<day(2024, 3, 1) && month.partition == ["2024", "02"] && month.dateKeyBase == 20_240_200)
    }

    @Test func goldNeedsSilver() throws {
        let z = HandZone()
        defer { z.s.cleanUp() }
        do {
            _ = try runGold(z.lake)
            Issue.record("gold ran without silver")
        } catch let e as BatchError {
            #expect(e.code == .missingInput && e.message.contains("batchrun silver"))
        }
    }

    /// The same landing zone gives byte-identical tables whatever --batch-rows,
    /// --memory-limit and --threads; the smallest budgets make gold's operators spill.
    @Test func outputDoesNotDependOnTheFlags() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        var o = Generator.Options(records: 30_000)
        o.files = 3
        o.compressedFiles = 1
        o.customers = 3000
        _ = try Generator(options: o).write(to: s.path + "/raw")
        var exports: [String] = []
        func export(_ lake: String) throws -> String {
            try (Lake.topTables + Lake.goldTables).map { try exported(try Lake.tablePath(lake: lake, name: $0), in: s, as: $0) }.joined()
        }
        for (k, (budget, rows, threads)) in [(4 << 30, 1_000_000, 2), (16 << 20, 1000, 1), (16 << 20, 777, 2)].enumerated() {
            let lake = s.path + "/lake\(k)"
            _ = try runPipeline(s.path + "/raw", lake, budget: budget, batchRows: rows, threads: threads)
            exports.append(try export(lake))
            #expect(try Verify.run(lake: lake).isSound)
        }
        // Gold alone in a budget so small that its customer aggregation spills.
        let spilling = try runGold(s.path + "/lake0", budget: 2 << 20, batchRows: 500)
        #expect(spilling.aggregates.spills > 0, "\(spilling)")
        exports.append(try export(s.path + "/lake0"))
        #expect(exports.count == 4 && Set(exports).count == 1)
    }

    /// Running twice changes no table; a new raw file adds exactly its rows and rebuilds
    /// silver and gold.
    @Test func runsAreExactlyOnce() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        var o = Generator.Options(records: 5000)
        o.files = 2
        let generated = try Generator(options: o).write(to: s.path + "/raw")
        let raw = s.path + "/raw", lake = s.path + "/lake"
        func versions() throws -> [String: Int] {
            var out: [String: Int] = [:]
            for t in Lake.topTables + Lake.goldTables + Lake.referenceTables { out[t] = try Table.snapshot(at: try Lake.tablePath(lake: lake, name: t)).version }
            return out
        }
        func exports() throws -> String {
            try (Lake.topTables + Lake.goldTables).map { try exported(try Lake.tablePath(lake: lake, name: $0), in: s, as: $0) }.joined()
        }
        let first = try runPipeline(raw, lake)
        #expect(first.ingest.rowsAdded == 5000 && first.silver?.silverRows == generated.expected.silver && first.gold != nil)
        let v1 = try versions(), e1 = try exports()

        let second = try runPipeline(raw, lake)
        #expect(second.ingest.rowsAdded == 0 && second.ingest.version == nil)
        #expect(second.silver == nil && second.gold == nil)
        #expect(try versions() == v1)
        #expect(try exports() == e1)

        // A rebuild changes versions but not one byte of the tables.
        let rebuilt = try runPipeline(raw, lake, rebuild: true)
        #expect(rebuilt.silver != nil && rebuilt.gold != nil)
        #expect(try exports() == e1)

        // One new file: exactly its rows are added; silver and gold see them.
        _ = s.write("raw/transactions/zz-late.csv", HandZone.header
            + "LATE-1,1,1,2,3.00,USD,completed,web,2025-06-01T10:00:00Z,2025-06-01T10:00:00Z\n"
            + "LATE-2,1,1,1,1.00,USD,pending,web,2025-06-02T10:00:00Z,2025-06-02T10:00:00Z\n")
        let third = try runPipeline(raw, lake)
        #expect(third.ingest.rowsAdded == 2 && third.ingest.bronzeRows == 5002)
        #expect(third.silver?.silverRows == generated.expected.silver + 2)
        #expect(third.gold?.rows["fact_transactions"] == generated.expected.silver + 2)
        #expect(first.gold?.rows["dim_date"] == 90 && third.gold?.rows["dim_date"] == 153) // 2025-01-01 ... 2025-06-02
        let fact = try exported(Gold.path(lake: lake, "fact_transactions"), in: s, as: "fact")
        #expect(fact.hasSuffix("LATE-2,20250602,1,1,1,1.00,1.00,USD,1.00,pending,web,2025-06-02T10:00:00Z\n"))
        #expect(try Verify.run(lake: lake).isSound)
    }

    /// A damaged gold segment: verify names the file and the column; a stale gold is a note.
    @Test func verifyFindsDamage() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        _ = try Generator(options: Generator.Options(records: 3000)).write(to: s.path + "/raw")
        let lake = s.path + "/lake"
        _ = try runPipeline(s.path + "/raw", lake)
        #expect(try Verify.run(lake: lake).isSound)
        // Silver rebuilt without gold: gold is stale, which is a note, not a problem.
        _ = try runSilver(lake)
        let stale = try Verify.run(lake: lake)
        #expect(stale.isSound && stale.notes.contains { $0.contains("gold was built from silver version 1") }, "\(stale.notes)")

        let table = Gold.path(lake: lake, "daily_sales")
        let file = table + "/" + (try Table.snapshot(at: table).files[0].path)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[bytes.count / 3] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let damaged = try Verify.run(lake: lake)
        #expect(!damaged.isSound)
        let problems = damaged.allProblems.joined(separator: "\n")
        #expect(problems.contains("gold/daily_sales") && problems.contains(file), "\(problems)")
    }
}
