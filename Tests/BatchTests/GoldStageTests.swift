import Foundation
import Segments
import Spill
import Testing
@testable import Batch

/// The gold stage, driven by pipelines/transactions.yaml, writes the same gold tables
/// (byte for byte in their exports) as the lake's run at its defaults, roomy and at a
/// budget where its aggregations and sorts spill with small batches; silver comes in the
/// fact table's order, so the fact table streams. (The hand-wired gold it replaced wrote
/// these same exports when this test was written; GoldTests and the oracle hold them.)
@Suite struct GoldStageTests {
    /// (zone, budget, batch rows).
    @Test(arguments: [("time", 256 << 20, 65_536), ("random", 256 << 20, 65_536), ("random", 8 << 20, 3_000), ("edge", 256 << 20, 65_536)])
    func writesTheSameTablesAtEverySetting(_ zone: String, _ budget: Int, _ batchRows: Int) throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let raw = try transactionsZone(zone, records: 30_000, seed: 9, in: s)
        let lake = s.path + "/lake"
        _ = try runPipeline(raw, lake)
        let pipeline = try PipelineLoader.checked(path: nil)
        let out = s.path + "/out"
        let report = try withEngine("gold-stage", budget: budget) { budget, spill in
            var stage = GoldStage(pipeline: pipeline, budget: budget, spill: spill)
            stage.batchRows = batchRows
            var writers: [String: TableWriter] = [:]
            for t in pipeline.file.gold {
                writers[t.name] = try TableWriter(path: out + "/" + t.name, schema: stage.schema(t.name), partitionColumns: stage.partitionColumns(t.name))
            }
            defer { for w in writers.values { w.close() } }
            var references: [String: TableReader] = [:]
            for f in pipeline.file.references { references[f.name] = try TableReader(path: lake + "/reference/" + f.name) }
            let report = try stage.run(silver: try TableReader(path: lake + "/silver"), references: references, writers: writers)
            for w in writers.values { try w.commit(operation: "gold", replaceAll: true, info: [:]) }
            return report
        }
        #expect(report.sorted.isEmpty, "silver comes in the fact table's order: \(report.sorted)")
        for t in pipeline.file.gold {
            let handWired = try exported(lake + "/gold/" + t.name, in: s, as: t.name + "-lake")
            let generic = try exported(out + "/" + t.name, in: s, as: t.name + "-generic")
            #expect(generic == handWired, "\(zone): \(t.name) differs (\(generic.count) and \(handWired.count) bytes)")
            if generic != handWired {
                let a = generic.split(separator: "\n"), b = handWired.split(separator: "\n")
                if let i = a.indices.first(where: { $0 < b.count && a[$0] != b[$0] }) { print(t.name, "line", i, "generic:", a[i], "lake:", b[i]) } else { print(t.name, a.count, b.count) }
            }
        }
    }
}
