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
    /// Runs the gold stage of `pipeline` over `lake`'s silver and reference tables into
    /// tables under `out`, committed.
    static func build(_ pipeline: CheckedPipeline, lake: String, out: String, budget: Int, batchRows: Int, threads: Int) throws -> GoldStage.Report {
        try withEngine("gold-stage", budget: budget) { budget, spill in
            var stage = GoldStage(pipeline: pipeline, budget: budget, spill: spill)
            stage.limits.batchRows = batchRows
            stage.limits.threads = threads
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
    }

    /// (zone, budget, batch rows, threads).
    @Test(arguments: [("time", 256 << 20, 65_536, 2), ("random", 256 << 20, 65_536, 1), ("random", 4 << 20, 3_000, 2), ("edge", 256 << 20, 65_536, 2)])
    func writesTheSameTablesAtEverySetting(_ zone: String, _ budget: Int, _ batchRows: Int, _ threads: Int) throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let raw = try transactionsZone(zone, records: 30_000, seed: 9, in: s)
        let lake = s.path + "/lake"
        _ = try runPipeline(raw, lake)
        let pipeline = try PipelineLoader.checked(path: nil)
        let out = s.path + "/out"
        let report = try Self.build(pipeline, lake: lake, out: out, budget: budget, batchRows: batchRows, threads: threads)
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

    /// A projection whose source is not in its order is sorted (the streaming pass stops
    /// at the first row out of order and runs again), and a gold table can read one built
    /// before it: both checked against the rows of silver, worked out here.
    @Test func sortsWhatDoesNotStreamAndReadsGoldTables() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let raw = try transactionsZone("random", records: 5_000, seed: 3, in: s)
        let lake = s.path + "/lake"
        _ = try runPipeline(raw, lake)
        let text = BuiltinPipelines.defaultText + """

          - name: by_customer
            from: silver
            columns: [transaction_id, customer_id]
            order: [customer_id, transaction_id]

          - name: customer_units
            from: fact_transactions
            group_by: [customer_id]
            measures:
              - units: sum(quantity)
              - average_price: avg(unit_price)
            order: [customer_id]

        """
        let pipeline = try TypeChecker.check(try PipelineLoader.load(text: text, path: "extra.yaml"))
        let out = s.path + "/out"
        let report = try Self.build(pipeline, lake: lake, out: out, budget: 64 << 20, batchRows: 1_000, threads: 2)
        #expect(report.sorted == ["by_customer"])
        let silver = try exported(lake + "/silver", in: s, as: "silver").split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        // silver: transaction_id 0, customer_id 1, quantity 3, unit_price 4 (no quoted fields in generated ids and numbers).
        let byCustomer = silver.map { ($0[1], $0[0]) }.sorted { a, b in
            Int(a.0)! != Int(b.0)! ? Int(a.0)! < Int(b.0)! : Array(a.1.utf8).lexicographicallyPrecedes(Array(b.1.utf8))
        }
        #expect(try exported(out + "/by_customer", in: s, as: "by_customer") == "transaction_id,customer_id\n" + byCustomer.map { "\($0.1),\($0.0)\n" }.joined())
        var units: [Int: (Int, Int, Int)] = [:] // customer: (units, cents, rows)
        for r in silver {
            let cents = Int(r[4].replacingOccurrences(of: ".", with: ""))!
            let u = units[Int(r[1])!] ?? (0, 0, 0)
            units[Int(r[1])!] = (u.0 + Int(r[3])!, u.1 + cents, u.2 + 1)
        }
        func average(_ cents: Int, _ n: Int) -> String { // to 6 places, half up: cents x 10^4 / n
            let scaled = cents * 10_000, q = scaled / n + (2 * (scaled % n) >= n ? 1 : 0)
            return "\(q / 1_000_000).\(String(q % 1_000_000).leftPadded(6).replacingOccurrences(of: " ", with: "0"))"
        }
        let expected = units.keys.sorted().map { c in "\(c),\(units[c]!.0),\(average(units[c]!.1, units[c]!.2))\n" }.joined()
        #expect(try exported(out + "/customer_units", in: s, as: "customer_units") == "customer_id,units,average_price\n" + expected)
    }
}

/// The lanes of a gold pass: the builders split so the slower lane is as fast as can be.
@Suite struct GoldLaneTests {
    final class Timed: TableBuilder {
        let table: String
        let inputColumns: [Int] = []
        let written: [SegmentSummary] = []
        init(_ name: String) { table = name }
        func consume(_ batch: [ColumnVector], rows n: Int) throws {}
        func finish(_ threads: BusyWorkers) throws {}
        func abandon() {}
    }

    /// A finishing builder gets a second thread only when a worker has left (or it runs
    /// alone with two threads), never with one thread.
    @Test func aSecondThreadIsLentOnlyWhenAWorkerLeft() {
        let busy = BusyWorkers(busy: 2, threads: 2)
        #expect(busy.available == 1)
        busy.leave()
        #expect(busy.available == 2)
        #expect(BusyWorkers(busy: 1, threads: 2).available == 2)
        #expect(BusyWorkers(busy: 1, threads: 1).available == 1)
    }

    /// A looked-up string group key groups by dictionary codes: one code per distinct
    /// text (shared by the rows that hold it), null where the text is, and the text back
    /// by code.
    @Test func dictionaryCodesOfAStringColumn() {
        let column = ColumnVector(type: .string, capacity: 5)
        for s in ["toys", "books", nil, "toys", "b\u{f6}oks"] {
            if let s { Array(s.utf8).withUnsafeBytes { column.appendString($0) } } else { column.appendNull() }
        }
        let (codes, dictionary) = AggregateBuilder.dictionaryCodes(column)
        #expect((0..<5).map { codes.isNull($0) ? -1 : Int(codes.int32($0)) } == [0, 1, -1, 0, 2])
        #expect((0..<dictionary.count).map { dictionary.string($0) } == ["toys", "books", "b\u{f6}oks"])
    }

    @Test func splitsByMeasuredTime() {
        let builders = ["calendar", "fact", "daily", "monthly"].map(Timed.init)
        let ms = { (x: Int) in Duration.milliseconds(x) }
        // The scan takes 1000 ms beside lane 0: {scan, calendar, fact} = 4010 against
        // {daily, monthly} = 4600 is the best split (the slower lane at 4600 ms).
        let (first, second) = GoldStage.split(builders, spent: [ms(10), ms(3000), ms(2600), ms(2000)], scanning: ms(1000))
        #expect(first.map(\.table) == ["calendar", "fact"] && second.map(\.table) == ["daily", "monthly"])
        // A scan slower than everything else leaves lane 0 to it alone.
        let (alone, rest) = GoldStage.split(builders, spent: [ms(10), ms(300), ms(260), ms(200)], scanning: ms(5000))
        #expect(alone.isEmpty && rest.count == 4)
    }
}
