import Foundation
import Segments
import Spill
import Testing
@testable import Batch

/// `generate --pipeline`: landing zones for any pipeline file from its types and hints,
/// whose `_expected.json` the engine's run then meets. The values of the tables are
/// checked by Tests/Oracle/sensors_oracle.py (`make oracle`); these tests check the
/// generator's own promises.
@Suite struct PipelineGeneratorTests {
    static let sensorsPath = repositoryRoot + "/pipelines/sensors.yaml"

    static func sensors(_ edit: (String) -> String = { $0 }) throws -> CheckedPipeline {
        let text = edit(try String(contentsOfFile: sensorsPath, encoding: .utf8))
        return try TypeChecker.check(try PipelineLoader.load(text: text, path: "sensors.yaml"))
    }

    func generate(_ pipeline: CheckedPipeline, records: Int, threads: Int = 2, broken: Double? = nil, to raw: String) throws -> Generator.Result {
        var o = PipelineGenerator.Options(records: records)
        o.files = 3
        o.compressedFiles = 1
        o.threads = threads
        o.broken = broken
        o.order = .random
        return try PipelineGenerator(pipeline: pipeline, options: o).write(to: raw)
    }

    func run(_ pipeline: CheckedPipeline, raw: String, lake: String, budget: Int, batchRows: Int, threads: Int) throws -> Pipeline.Report {
        var o = Pipeline.Options(raw: raw, lake: lake)
        o.pipeline = pipeline
        o.limits.threads = threads
        o.limits.batchRows = batchRows
        return try withEngine("generated", budget: budget) { try Pipeline(options: o, budget: $0, spill: $1).run() }
    }

    /// Every reason gets records, the counts add up, and a run meets them (silver checks
    /// `_expected.json` before it commits) roomy and at 16MiB with 7-row batches.
    @Test func aSensorsZoneMeetsItsExpectedCounts() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let pipeline = try Self.sensors()
        let result = try generate(pipeline, records: 6000, broken: 0.3, to: s.path + "/raw")
        let e = result.expected
        #expect(e.bronze == 6000)
        #expect(e.bronze == e.quarantined.values.reduce(0, +) + e.silver + e.duplicatesRemoved)
        for reason in pipeline.reasons { #expect((e.quarantined[reason] ?? 0) > 100, "\(reason): \(e.quarantined)") }
        #expect(e.duplicatesRemoved > 200, "\(e)")
        #expect(result.notes.isEmpty, "\(result.notes)")
        // The first file lacks the optional battery column; the others have it.
        let first = try String(contentsOfFile: s.path + "/raw/readings/part-00000.csv", encoding: .utf8)
        let second = try String(contentsOfFile: s.path + "/raw/readings/part-00001.csv", encoding: .utf8)
        #expect(first.hasPrefix("device_id,sequence,recorded_at,received_at,temperature,humidity\n"))
        #expect(second.hasPrefix("device_id,sequence,recorded_at,received_at,temperature,humidity,battery\n"))
        #expect(SystemIO.exists(s.path + "/raw/readings/part-00002.csv.zst"))
        for (k, setting) in [(256 << 20, 65_536, 2), (16 << 20, 7, 1)].enumerated() {
            let report = try run(pipeline, raw: s.path + "/raw", lake: s.path + "/lake\(k)", budget: setting.0, batchRows: setting.1, threads: setting.2)
            #expect(report.silver?.expected == e, "\(String(describing: report.silver?.expected))")
            #expect(report.silver?.silverRows == e.silver)
        }
    }

    /// The same flags give the same bytes, whatever the threads.
    @Test func theSameFlagsGiveTheSameBytes() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let pipeline = try Self.sensors()
        let a = try generate(pipeline, records: 3000, threads: 1, to: s.path + "/a")
        let b = try generate(pipeline, records: 3000, threads: 2, to: s.path + "/b")
        #expect(a.files == b.files && a.expected == b.expected)
        for f in a.files + ["_expected.json"] {
            #expect(try SystemIO.readFile(s.path + "/a/" + f) == SystemIO.readFile(s.path + "/b/" + f), "\(f)")
        }
    }

    /// Hints that draw failing values are counted as what they are, and said: a
    /// transactions file edited so that it is not the built-in text gets the generic
    /// generator, whose default strings fail bad_status and bad_channel.
    @Test func hintsThatFailAnExpectationAreNamed() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let text = BuiltinPipelines.defaultText + "# edited\n"
        let pipeline = try TypeChecker.check(try PipelineLoader.load(text: text, path: "t.yaml"))
        let result = try generate(pipeline, records: 2000, to: s.path + "/raw")
        #expect(result.notes.contains { $0.contains("fail bad_status; give its columns generate: hints") }, "\(result.notes)")
        #expect((result.expected.quarantined["bad_status"] ?? 0) > 1500, "\(result.expected)")
        let report = try run(pipeline, raw: s.path + "/raw", lake: s.path + "/lake", budget: 64 << 20, batchRows: 1000, threads: 2)
        #expect(report.silver?.expected == result.expected)
    }

    @Test(arguments: [
        ("generate: {range: [-25, 45]}", "generate: {values: [1.5, 2], range: [1, 2]}", "give range or values, not both", "{values"),
        ("{range: [5, 100]}", "{range: [100, 5]}", "range: the low end is above the high end", "100, 5"),
        ("{range: [2.9, 4.2], nulls: 0.05}", "{range: [2.9, 4.2], nulls: 5}", "nulls is a share of the rows, 0 to 1", "5}"),
        ("{after: recorded_at, seconds: [0, 129600]}", "{after: humidity, seconds: [0, 129600]}", "after names a timestamp column listed before received_at: one of recorded_at", "humidity,"),
        ("{after: recorded_at, seconds: [0, 129600]}", "{seconds: [0, 129600]}", "seconds goes with after", "[0, 129600]"),
        ("generate: {values: [TH-10", "generate: {range: [TH-10", "range applies to numbers, dates and timestamps; model is string", "[TH-10"),
        ("{range: [5, 100]}", "{range: [5, lots]}", "'lots' is not a value of type int32, as column humidity needs", "lots"),
        ("rows: {devices: 2000, sites: 40}", "rows: {device: 2000, sites: 40}", "unknown key 'device' in generate.rows; did you mean 'devices'?", "device:"),
        ("  broken: 0.03 ", "  broken: {bad_tme: 0.03} ", "unknown key 'bad_tme' in generate.broken; did you mean 'bad_time'?", "bad_tme"),
        ("  days: 60", "  dayz: 60", "unknown key 'dayz' in generate; did you mean 'days'?", "dayz"),
        ("name: sensors\n", "name: sensors\npublish: ''\n", "publish is a folder for the published Delta tables", "''"),
    ])
    func badHintsAreNamedWithLineAndColumn(_ replace: String, _ with: String, _ message: String, _ pointer: String) throws {
        let original = try String(contentsOfFile: Self.sensorsPath, encoding: .utf8)
        #expect(original.contains(replace), "the test's text to replace is not in the file: \(replace)")
        try expectMistake(in: original.replacingOccurrences(of: replace, with: with), changed: with, message: message, pointer: pointer)
    }
}

/// `batchrun plan`: each stage's operators with the grants the stages compute.
@Suite struct OperatorPlanTests {
    func plan(_ memory: Int, threads: Int = 2) throws -> OperatorPlan {
        try OperatorPlan(try PipelineGeneratorTests.sensors(), limits: Limits(memoryBytes: memory, batchRows: 65_536, threads: threads))
    }

    func grant(_ p: OperatorPlan, _ stage: String, _ kind: String) -> Int? {
        p.stages.first { $0.name == stage }?.operators.first { $0.kind == kind }?.memoryBytes
    }

    @Test func stagesListTheirOperatorsInOrder() throws {
        let p = try plan(256 << 20)
        #expect(p.stages.map(\.name) == ["ingest", "silver", "gold"])
        #expect(p.stages[1].operators.map(\.kind) == ["scan", "lookup", "lookup", "route", "project", "dedup", "sort", "sink", "reconcile"])
        #expect(p.stages[2].operators.map(\.kind) == ["copy", "calendar", "project", "aggregate"])
        #expect(p.text.contains("dedup      one row per (device_id, sequence), the least (received_at), ties to the row ingested last"), "\(p.text)")
    }

    /// The grants are the stages' own: silver's dedup has all that its batches leave
    /// when the sort is cut in ranges; gold's aggregate half of the budget.
    @Test func grantsAreTheStagesOwn() throws {
        let limits = Limits(memoryBytes: 64 << 20, batchRows: 65_536, threads: 2)
        let p = try plan(64 << 20)
        let pipeline = try PipelineGeneratorTests.sensors()
        let bronze = Schema(pipeline.bronze.columns.map { Field($0.name, ExpressionKernel.columnType($0.type), nullable: $0.nullable) })
        let batches = SilverStage.batching(pipeline: pipeline, limits: limits, bronze: bronze, capacity: Lake.rowGroupRows, available: 64 << 20)
        #expect(grant(p, "silver", "scan") == batches.bytes)
        #expect(grant(p, "silver", "dedup") == Limits.Shares(available: (64 << 20) - batches.bytes, operators: 1).shareBytes)
        #expect(grant(p, "gold", "aggregate") == (64 << 20) * 9 / 10 / 2)
        // A quarter of the memory: smaller grants; one thread: gold's copies sort alone.
        let small = try plan(16 << 20)
        #expect(try #require(grant(small, "silver", "dedup")) < (try #require(grant(p, "silver", "dedup"))) / 3)
        #expect(grant(try plan(64 << 20, threads: 1), "gold", "copy") == (64 << 20) * 9 / 10)
    }
}
