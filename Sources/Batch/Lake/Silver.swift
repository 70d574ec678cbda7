import Foundation
import Segments
import Spill

/// bronze -> silver + quarantine of a lake, for the lake's pipeline file (docs/PIPELINES.md):
/// the generic `SilverStage`, with what a lake adds around it. Its inputs (bronze and the
/// pipeline's reference tables) are pinned when it starts and recorded as the lineage of
/// what it commits; a damaged silver or quarantine table is set aside and rebuilt; the
/// counts are checked against the landing zone's `_expected.json` when the lake holds a
/// copy of it. Both tables are rebuilt from the whole of bronze and each is replaced by
/// one atomic commit.
public struct Silver {
    /// With 2 threads, the pass over bronze runs as two stages (scan and route, then dedup
    /// and sort), and the sorted ranges are written two at a time.
    public typealias Options = StageOptions

    /// The stage's report (its fields read through), with what the lake adds.
    @dynamicMemberLookup
    public struct Report: Sendable {
        public var stage = SilverStage.Report()
        /// The pipeline's quarantine reasons, in order.
        public var reasons: [String] = []
        /// The expected counts it was checked against, when the lake has them.
        public var expected: Generator.Expected?
        /// Where damaged silver or quarantine tables were moved before they were rebuilt.
        public var setAside: [String] = []

        public subscript<T>(dynamicMember path: KeyPath<SilverStage.Report, T>) -> T { stage[keyPath: path] }
    }

    public let options: Options
    public let budget: MemoryBudget
    public let spill: SpillManager

    public init(options: Options, budget: MemoryBudget, spill: SpillManager) {
        self.options = options
        self.budget = budget
        self.spill = spill
    }

    public static func path(lake: String) -> String { lake + "/silver" }
    public static func quarantinePath(lake: String) -> String { lake + "/quarantine" }

    /// The tables silver is built from, by the names its commits record them under.
    static func inputTables(lake: String, pipeline: CheckedPipeline) -> [(name: String, path: String)] {
        [("bronze", Ingest.bronzePath(lake: lake))] + pipeline.file.references.map { ($0.name, Reference.tablePath(lake: lake, $0.name)) }
    }

    /// Why silver and quarantine must be built again, or nil when both were built from
    /// the current bronze and reference tables (by identity) and their files are whole.
    public static func staleness(lake: String, pipeline: CheckedPipeline) -> String? {
        Lake.staleness(of: [("silver", path(lake: lake)), ("quarantine", quarantinePath(lake: lake))],
                       inputs: inputTables(lake: lake, pipeline: pipeline), pipeline: pipeline)
    }

    public func run() throws -> Report {
        let pipeline = options.pipeline
        try Lake.requireFolder(options.lake)
        let bronzePath = Ingest.bronzePath(lake: options.lake)
        guard Table.exists(at: bronzePath) else {
            throw BatchError(.missingInput, path: bronzePath, "the lake has no bronze table; run batchrun ingest first")
        }
        for f in pipeline.file.references where !Table.exists(at: Reference.tablePath(lake: options.lake, f.name)) {
            let files = pipeline.file.references.map(\.files).joined(separator: ", ")
            throw BatchError(.missingInput, path: Reference.tablePath(lake: options.lake, f.name),
                             "the lake has no reference table '\(f.name)'; ingest a landing zone with \(files) first")
        }
        try Lake.keep(pipeline.file, lake: options.lake)
        Lake.removeNeverCommitted(lake: options.lake)
        let inputs = try Lake.pin(Self.inputTables(lake: options.lake, pipeline: pipeline))
        let bronze = inputs.reader("bronze")
        var stage = SilverStage(pipeline: pipeline, budget: budget, spill: spill)
        stage.limits = options.limits
        var report = Report()
        report.reasons = pipeline.reasons
        let quarantineWriter = try Lake.derivedWriter(lake: options.lake, path: Self.quarantinePath(lake: options.lake),
                                                      schema: stage.quarantineSchema(bronze), setAside: &report.setAside)
        defer { quarantineWriter.close() }
        let silverWriter = try Lake.derivedWriter(lake: options.lake, path: Self.path(lake: options.lake), schema: stage.silverSchema,
                                                  partitionColumns: [pipeline.silver.partition ?? "date"], setAside: &report.setAside)
        defer { silverWriter.close() }
        var references: [String: TableReader] = [:]
        for f in pipeline.file.references { references[f.name] = inputs.reader(f.name) }
        let lakeExpected = try Self.loadExpected(lake: options.lake, reasons: pipeline.reasons)
        let done = try stage.run(bronze: bronze, references: references, silver: silverWriter, quarantine: quarantineWriter) { r in
            // Checked before anything is committed: a mismatch commits nothing.
            guard let expected = lakeExpected else { return }
            let actual = Generator.Expected(reasons: pipeline.reasons, bronze: r.bronzeRows, quarantined: r.quarantined, duplicatesRemoved: r.duplicatesRemoved, silver: r.silverRows)
            if actual != expected {
                throw BatchError(.reconciliation, path: Ingest.expectedPath(lake: options.lake),
                                 "counts differ from the landing zone's _expected.json:\n" + Self.table(Report(stage: r, reasons: pipeline.reasons), expected: expected))
            }
        }
        report.stage = done
        report.expected = lakeExpected
        var info = inputs.lineage
        info["pipeline"] = pipeline.file.name
        info["pipeline_digest"] = pipeline.digest
        info["bronze_rows"] = String(report.bronzeRows)
        info["quarantined"] = String(report.quarantinedTotal)
        info["duplicates_removed"] = String(report.duplicatesRemoved)
        info["silver_rows"] = String(report.silverRows)
        try quarantineWriter.commit(operation: "silver", replaceAll: true, info: info)
        try silverWriter.commit(operation: "silver", replaceAll: true, info: info)
        return report
    }

    static func loadExpected(lake: String, reasons: [String]) throws -> Generator.Expected? {
        let path = Ingest.expectedPath(lake: lake)
        guard SystemIO.exists(path) else { return nil }
        let bytes = try SystemIO.readFile(path)
        guard let obj = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any], // a parse failure is reported just below
              let bronze = obj["bronze"] as? Int, let q = obj["quarantined"] as? [String: Int],
              let d = obj["duplicates_removed"] as? Int, let s = obj["silver"] as? Int else {
            throw BatchError(.reconciliation, path: path, "is not a valid _expected.json ({\"bronze\": N, \"quarantined\": {...}, \"duplicates_removed\": N, \"silver\": N})")
        }
        var quarantined: [String: Int] = [:]
        for r in reasons { quarantined[r] = q[r] ?? 0 }
        return Generator.Expected(reasons: reasons, bronze: bronze, quarantined: quarantined, duplicatesRemoved: d, silver: s)
    }

    /// The per-layer table of a reconciliation message.
    public static func table(_ r: Report, expected: Generator.Expected?) -> String {
        var lines = ["  layer                    actual     expected"]
        func line(_ name: String, _ actual: Int, _ exp: Int?) {
            let mark = exp.map { $0 == actual ? "" : "   <-- differs" } ?? ""
            lines.append("  " + name.rightPadded(22)
                         + String(actual).leftPadded(10) + (exp.map { String($0).leftPadded(13) } ?? "            -") + mark)
        }
        line("bronze", r.bronzeRows, expected?.bronze)
        for name in r.reasons { line("quarantined " + name, r.quarantined[name] ?? 0, expected?.quarantined[name]) }
        line("duplicates removed", r.duplicatesRemoved, expected?.duplicatesRemoved)
        line("silver", r.silverRows, expected?.silver)
        lines.append("  bronze = quarantined (\(r.quarantinedTotal)) + silver (\(r.silverRows)) + duplicates removed (\(r.duplicatesRemoved))")
        return lines.joined(separator: "\n")
    }
}

extension String {
    /// The string right-aligned in `n` columns (for the text reports).
    public func leftPadded(_ n: Int) -> String { String(repeating: " ", count: max(0, n - count)) + self }
    /// The string left-aligned in `n` columns.
    public func rightPadded(_ n: Int) -> String { self + String(repeating: " ", count: max(0, n - count)) }
}
