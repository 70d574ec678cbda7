import Foundation
import Segments
import Spill
import Testing
@testable import Batch

/// The router, driven by pipelines/transactions.yaml, sends every bronze row where the
/// lake's silver sent it (the quarantine `make oracle` compares with the independent
/// oracle), and its counts per reason are those the generator wrote in _expected.json.
@Suite struct ExpectationRouterTests {
    /// A generated zone in each order, the hand-written edge zone of Tests/Oracle, and a
    /// zone of amounts that do not fit (bad_price through silver's overflow key).
    @Test(arguments: ["time", "random", "edge", "overflow"])
    func routesAsSilverAndAsTheGeneratorExpects(_ zone: String) throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let raw = try transactionsZone(zone, records: 20_000, seed: 5, in: s)
        let lake = s.path + "/lake"
        _ = try runPipeline(raw, lake)

        // What silver decided: the quarantine table, by lineage.
        let quarantine = try TableReader(path: lake + "/quarantine")
        let q = TableScan(quarantine, columns: [10, 11, 15])
        var decided: [String: String] = [:]
        while case let n = try q.next(), n > 0 {
            for r in 0..<n { decided["\(q.vectors[0].string(r)):\(q.vectors[1].int64(r))"] = q.vectors[2].string(r) }
        }
        #expect(decided.count > ["edge": 30, "overflow": 2][zone, default: 300], "the zone has dirty rows of every kind: \(decided)")
        if zone == "overflow" { #expect(decided.values.filter { $0 == "bad_price" }.count >= 2, "\(decided)") }

        // The router, over bronze, with the reference tables in memory.
        let pipeline = try PipelineLoader.checked(path: nil)
        let budget = MemoryBudget(limitBytes: 256 << 20)
        var tables: [String: LookupTable] = [:]
        for feed in Landing.builtin.references {
            tables[feed.name] = try LookupTable(name: feed.name, reader: try TableReader(path: lake + "/reference/" + feed.name),
                                                keyColumn: feed.keyColumn, budget: budget)
        }
        let bronze = try TableReader(path: lake + "/bronze")
        let scan = TableScan(bronze)
        let router = try ExpectationRouter(pipeline: pipeline, references: tables, capacity: scan.vectors[0].capacity)
        let reasons = UnsafeMutablePointer<UInt8>.allocate(capacity: scan.vectors[0].capacity)
        defer { reasons.deallocate() }
        var rows = 0, agree = 0
        var disagreements: [String] = []
        var counts: [String: Int] = [:]
        while case let n = try scan.next(), n > 0 {
            try router.route(scan.vectors, rows: n, into: reasons)
            for r in 0..<n {
                let key = "\(scan.vectors[10].string(r)):\(scan.vectors[11].int64(r))"
                let mine = reasons[r] == ExpectationRouter.valid ? nil : pipeline.reasons[Int(reasons[r])]
                if let mine { counts[mine, default: 0] += 1 }
                if mine == decided[key] { agree += 1 } else if disagreements.count < 5 { disagreements.append("\(key): router \(mine ?? "valid"), silver \(decided[key] ?? "valid")") }
                rows += 1
            }
        }
        #expect(rows == bronze.snapshot.rowCount && agree == rows, "\(disagreements)")
        if let expected = try Silver.loadExpected(lake: lake, reasons: pipeline.reasons) {
            #expect(counts.filter { $0.value > 0 } == expected.quarantined.filter { $0.value > 0 }, "\(counts) against _expected.json \(expected.quarantined)")
        } else {
            #expect(zone == "edge" || zone == "overflow", "a generated zone comes with _expected.json")
        }
    }
}

/// A landing zone of the transactions pipeline for the engine's tests: `time` or `random`
/// (generated, in that order), `edge` (the hand-written zone of Tests/Oracle), or
/// `overflow` (amounts and USD amounts beyond int64, beside good rows).
func transactionsZone(_ zone: String, records: Int, seed: UInt64, in s: Scratch) throws -> String {
    let edge = repositoryRoot + "/Tests/Oracle/zones/edge"
    if zone == "edge" { return edge }
    let raw = s.path + "/raw"
    if zone == "overflow" {
        try FileManager.default.createDirectory(atPath: raw + "/transactions", withIntermediateDirectories: true)
        for f in ["customers.csv", "products.csv", "fx_rates.csv"] { try FileManager.default.copyItem(atPath: edge + "/" + f, toPath: raw + "/" + f) }
        let t = "2025-03-01T10:00:00Z"
        try """
        transaction_id,customer_id,product_id,quantity,unit_price,currency,status,channel,event_time,updated_at
        A1,1,10,1000,999999999999999.99,USD,completed,web,\(t),\(t)
        A2,1,10,92,999999999999999.99,GBP,completed,web,\(t),\(t)
        A3,1,10,2,5.00,USD,completed,web,\(t),\(t)
        A4,1,10,1000,999999999999999.99,XXX,completed,web,\(t),\(t)
        A5,1,10,92,99999999999999999,USD,completed,web,\(t),\(t)

        """.write(toFile: raw + "/transactions/a.csv", atomically: true, encoding: .utf8)
        return raw
    }
    var o = Generator.Options(records: records)
    o.files = 2
    o.order = Generator.Order(rawValue: zone) ?? .time
    o.seed = seed
    _ = try Generator(options: o).write(to: raw)
    return raw
}
