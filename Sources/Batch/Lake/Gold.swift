import Segments
import Spill

/// silver -> the gold tables of a lake, for the lake's pipeline file (docs/PIPELINES.md):
/// the generic `GoldStage`, with what a lake adds around it. Its inputs (silver and the
/// reference tables gold reads) are pinned when it starts and recorded as the lineage of
/// what it commits; gold refuses a silver checked against reference tables that were
/// replaced since; a damaged gold table is set aside and rebuilt. Every table is rebuilt
/// from the whole of silver and replaced by one commit.
public struct Gold {
    public typealias Options = StageOptions

    /// The stage's report (its fields read through), with what the lake adds.
    @dynamicMemberLookup
    public struct Report: Sendable {
        public var stage = GoldStage.Report()
        /// The pipeline's gold tables, in order.
        public var tables: [String] = []
        public var silverRows = 0
        /// Where damaged gold tables were moved before they were rebuilt.
        public var setAside: [String] = []

        public subscript<T>(dynamicMember path: KeyPath<GoldStage.Report, T>) -> T { stage[keyPath: path] }
    }

    public let options: Options
    public let budget: MemoryBudget
    public let spill: SpillManager

    public init(options: Options, budget: MemoryBudget, spill: SpillManager) {
        self.options = options
        self.budget = budget
        self.spill = spill
    }

    public static func path(lake: String, _ table: String) -> String { lake + "/gold/" + table }

    /// The reference tables gold reads (copies, lookups and `x in R`), in the file's order.
    static func references(_ pipeline: CheckedPipeline) -> [PipelineFile.Feed] {
        var used = Set(pipeline.goldPlans.flatMap { $0.lookups.map(\.feed.name) })
        for t in pipeline.file.gold { if case let .reference(r) = t.kind { used.insert(r) } }
        for p in pipeline.goldPlans {
            for e in p.columns + p.groupBy + (p.filter.map { [$0] } ?? []) + p.lookups.map(\.on) {
                e.forEachNode { n in if case let .inReference(_, r, _) = n.node { used.insert(r) } }
            }
        }
        return pipeline.file.references.filter { used.contains($0.name) }
    }

    /// The tables gold is built from, by the names its commits record them under.
    static func inputTables(lake: String, pipeline: CheckedPipeline) -> [(name: String, path: String)] {
        [("silver", Silver.path(lake: lake))] + references(pipeline).map { ($0.name, Reference.tablePath(lake: lake, $0.name)) }
    }

    /// Why the gold tables must be built again, or nil when every one was built from the
    /// current silver and reference tables (by identity) and its files are whole.
    public static func staleness(lake: String, pipeline: CheckedPipeline) -> String? {
        Lake.staleness(of: pipeline.file.gold.map { ($0.name, path(lake: lake, $0.name)) },
                       inputs: inputTables(lake: lake, pipeline: pipeline), pipeline: pipeline)
    }

    public func run() throws -> Report {
        let lake = options.lake, pipeline = options.pipeline
        try Lake.requireFolder(lake)
        let silverPath = Silver.path(lake: lake)
        guard Table.exists(at: silverPath) else {
            throw BatchError(.missingInput, path: silverPath, "the lake has no silver table; run batchrun silver first")
        }
        let feeds = Self.references(pipeline)
        for f in feeds where !Table.exists(at: Reference.tablePath(lake: lake, f.name)) {
            throw BatchError(.missingInput, path: Reference.tablePath(lake: lake, f.name),
                             "the lake has no reference table '\(f.name)'; ingest a landing zone with its reference files first")
        }
        var stage = GoldStage(pipeline: pipeline, budget: budget, spill: spill)
        stage.limits = options.limits
        try Lake.keep(pipeline.file, lake: lake)
        Lake.removeNeverCommitted(lake: lake)
        let inputs = try Lake.pin(Self.inputTables(lake: lake, pipeline: pipeline))
        let silver = inputs.reader("silver")
        // Gold joins silver with the reference tables silver was checked against: if they
        // were replaced since (another landing zone ingested), silver is out of date.
        let silverInfo = silver.snapshot.commitInfos.last ?? [:]
        for f in feeds where silverInfo[f.name + "_table"] != nil {
            let key = f.name + "_table", version = f.name + "_version"
            if silverInfo[key] != inputs.lineage[key] || silverInfo[version] != inputs.lineage[version] {
                throw BatchError(.staleInput, path: Reference.tablePath(lake: lake, f.name),
                                 "silver was built from \(f.name) version \(silverInfo[version] ?? "?"), but \(f.name) is now at version \(inputs.lineage[version] ?? "?")\(silverInfo[key] == inputs.lineage[key] ? "" : " of a table made anew"); run batchrun silver first (batchrun run does both)")
            }
        }
        var report = Report()
        report.tables = pipeline.file.gold.map(\.name)
        report.silverRows = silver.snapshot.rowCount
        var writers: [String: TableWriter] = [:]
        defer { for w in writers.values { w.close() } }
        for t in pipeline.file.gold {
            writers[t.name] = try Lake.derivedWriter(lake: lake, path: Self.path(lake: lake, t.name), schema: stage.schema(t.name),
                                                     partitionColumns: stage.partitionColumns(t.name), setAside: &report.setAside)
        }
        var references: [String: TableReader] = [:]
        for f in feeds { references[f.name] = inputs.reader(f.name) }
        report.stage = try stage.run(silver: silver, references: references, writers: writers)
        var info = inputs.lineage
        info["pipeline"] = pipeline.file.name
        info["pipeline_digest"] = pipeline.digest
        info["silver_rows"] = String(report.silverRows)
        for t in pipeline.file.gold {
            info["rows"] = String(report.rows[t.name] ?? 0)
            try writers[t.name]?.commit(operation: "gold", replaceAll: true, info: info)
        }
        return report
    }
}
