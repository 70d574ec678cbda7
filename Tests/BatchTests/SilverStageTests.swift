import Foundation
import Segments
import Spill
import Testing
@testable import Batch

/// The generic silver stage, driven by pipelines/transactions.yaml, writes the same silver
/// and quarantine tables as the hand-wired stage, byte for byte in their exports, roomy
/// and at a budget where its dedup and sort spill.
@Suite struct SilverStageTests {
    /// (zone, budget, batch rows, threads): roomy; spilling, with ranges sorted side by
    /// side; batches smaller than bronze's row groups, on one thread.
    @Test(arguments: [("time", 256 << 20, 65_536, 2), ("random", 256 << 20, 65_536, 2), ("random", 8 << 20, 65_536, 2),
                      ("random", 8 << 20, 3_000, 1), ("edge", 256 << 20, 65_536, 2)])
    func writesWhatTheHandWiredSilverWrites(_ zone: String, _ budget: Int, _ batchRows: Int, _ threads: Int) throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let raw = try transactionsZone(zone, records: 30_000, seed: 8, in: s)
        let lake = s.path + "/lake"
        _ = try runPipeline(raw, lake)
        let report = try withEngine("silver-stage", budget: budget) { budget, spill in
            var stage = SilverStage(pipeline: try PipelineLoader.checked(path: nil), budget: budget, spill: spill)
            stage.batchRows = batchRows
            stage.threads = threads
            return try stage.run(bronze: lake + "/bronze", references: lake + "/reference", silver: s.path + "/out/silver", quarantine: s.path + "/out/quarantine")
        }
        // At 8 MiB the sort's rows do not fit: they are cut in date ranges.
        #expect(budget > 100 << 20 || report.sort.buckets > 1, "\(report.sort)")
        for table in ["silver", "quarantine"] {
            let handWired = try exported(lake + "/" + table, in: s, as: table + "-hand-wired")
            let generic = try exported(s.path + "/out/" + table, in: s, as: table + "-generic")
            #expect(generic == handWired, "\(zone): \(table) differs (\(generic.count) and \(handWired.count) bytes)")
        }
        let silverInfo = try Table.snapshot(at: lake + "/silver").commitInfos.last ?? [:]
        #expect(String(report.duplicatesRemoved) == silverInfo["duplicates_removed"] && String(report.silverRows) == silverInfo["silver_rows"])
    }
}
