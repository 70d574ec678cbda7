import Foundation
import Segments
import Spill
import Testing
@testable import Batch

/// The generic silver stage, driven by pipelines/transactions.yaml, writes the same silver
/// and quarantine tables as the hand-wired stage, byte for byte in their exports, roomy
/// and at a budget where its dedup and sort spill.
@Suite struct SilverStageTests {
    @Test(arguments: [("time", 256 << 20), ("random", 256 << 20), ("random", 12 << 20), ("edge", 256 << 20)])
    func writesWhatTheHandWiredSilverWrites(_ zone: String, _ budget: Int) throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let raw = try transactionsZone(zone, records: 30_000, seed: 8, in: s)
        let lake = s.path + "/lake"
        _ = try runPipeline(raw, lake)
        let report = try withEngine("silver-stage", budget: budget) { budget, spill in
            try SilverStage(pipeline: try PipelineLoader.checked(path: nil), budget: budget, spill: spill)
                .run(bronze: lake + "/bronze", references: lake + "/reference", silver: s.path + "/out/silver", quarantine: s.path + "/out/quarantine")
        }
        for table in ["silver", "quarantine"] {
            let handWired = try exported(lake + "/" + table, in: s, as: table + "-hand-wired")
            let generic = try exported(s.path + "/out/" + table, in: s, as: table + "-generic")
            #expect(generic == handWired, "\(zone): \(table) differs (\(generic.count) and \(handWired.count) bytes)")
        }
        let silverInfo = try Table.snapshot(at: lake + "/silver").commitInfos.last ?? [:]
        #expect(String(report.duplicatesRemoved) == silverInfo["duplicates_removed"] && String(report.silverRows) == silverInfo["silver_rows"])
    }
}
