import Foundation
import Segments
import Spill
import Testing
@testable import Batch

/// The silver stage, driven by pipelines/transactions.yaml, writes the same silver and
/// quarantine tables (byte for byte in their exports) as the lake's run at its defaults,
/// at every setting: roomy, at a budget where its dedup spills and its sort is cut in
/// ranges, and with batches smaller than bronze's row groups on one thread. (The
/// hand-wired silver it replaced wrote these same exports when this test was written; the
/// oracle and SilverTests hold them.)
@Suite struct SilverStageTests {
    /// (zone, budget, batch rows, threads): roomy; spilling, with ranges sorted side by
    /// side; batches smaller than bronze's row groups, on one thread.
    @Test(arguments: [("time", 256 << 20, 65_536, 2), ("random", 256 << 20, 65_536, 2), ("random", 8 << 20, 65_536, 2),
                      ("random", 8 << 20, 3_000, 1), ("edge", 256 << 20, 65_536, 2)])
    func writesTheSameTablesAtEverySetting(_ zone: String, _ budget: Int, _ batchRows: Int, _ threads: Int) throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let raw = try transactionsZone(zone, records: 30_000, seed: 8, in: s)
        let lake = s.path + "/lake"
        _ = try runPipeline(raw, lake)
        let report = try withEngine("silver-stage", budget: budget) { budget, spill in
            var stage = SilverStage(pipeline: try PipelineLoader.checked(path: nil), budget: budget, spill: spill)
            stage.limits.batchRows = batchRows
            stage.limits.threads = threads
            return try stage.run(bronze: lake + "/bronze", references: lake + "/reference", silver: s.path + "/out/silver", quarantine: s.path + "/out/quarantine")
        }
        // At 8 MiB the sort's rows do not fit: they are cut in time ranges.
        #expect(budget > 100 << 20 || report.sort.buckets > 1, "\(report.sort)")
        for table in ["silver", "quarantine"] {
            let atDefaults = try exported(lake + "/" + table, in: s, as: table + "-lake")
            let generic = try exported(s.path + "/out/" + table, in: s, as: table + "-generic")
            #expect(generic == atDefaults, "\(zone): \(table) differs (\(generic.count) and \(atDefaults.count) bytes)")
        }
        let silverInfo = try Table.snapshot(at: lake + "/silver").commitInfos.last ?? [:]
        #expect(String(report.duplicatesRemoved) == silverInfo["duplicates_removed"] && String(report.silverRows) == silverInfo["silver_rows"])
    }
}
