import Segments
import Spill

/// raw -> bronze -> silver -> gold: the three stages in order, in one budget and one
/// spill folder.
///
/// Exactly-once end to end: ingest skips raw files it already holds, and a stage whose
/// inputs (table versions, recorded in its commits) did not change is not run again, so
/// a second run on the same landing zone changes no table. A new raw file gives a new
/// bronze version, and silver and gold are rebuilt from it.
public struct Pipeline {
    public struct Options: Sendable {
        public var ingest: Ingest.Options
        /// Every stage's limits (ingest's options hold them).
        public var limits: Limits {
            get { ingest.limits }
            set { ingest.limits = newValue }
        }
        /// Rebuild silver and gold even when their inputs did not change.
        public var rebuild = false
        /// Where to keep a published Delta copy (`Publish`); nil: the pipeline file's
        /// `publish:`, else none.
        public var publish: String?
        /// The pipeline run (its landing zone is ingest's).
        public var pipeline = BuiltinPipelines.defaultChecked {
            didSet { ingest.landing = Landing(pipeline.file) }
        }

        public init(raw: String, lake: String) {
            ingest = Ingest.Options(raw: raw, lake: lake)
        }
    }

    public enum Stage: String, Sendable, CaseIterable { case ingest, silver, gold }

    public struct Report: Sendable {
        public var ingest = Ingest.Report()
        /// nil when the stage was up to date and did not run.
        public var silver: Silver.Report?
        public var gold: Gold.Report?
        public var seconds: [Stage: Double] = [:]
        /// Tables as they stand after the run (rows, stored bytes).
        public var bronze = TableSize()
        public var silverTable = TableSize()
        public var quarantine = TableSize()
        public var goldTables: [String: TableSize] = [:]
        /// The pipeline's gold tables, in its order.
        public var goldOrder: [String] = []
        /// Why silver or gold ran (an input changed, a table was damaged or never built,
        /// --rebuild); absent for a stage that was up to date.
        public var reasons: [Stage: String] = [:]
        /// The published tables, when the run publishes, and the time it took.
        public var published: [Publish.Table] = []
        public var publishSeconds = 0.0
        public var totalSeconds: Double { seconds.values.reduce(0, +) + publishSeconds }
        /// Where damaged tables went before this run rebuilt them.
        public var setAside: [String] {
            ingest.setAside + ingest.reference.compactMap(\.setAside) + (silver?.setAside ?? []) + (gold?.setAside ?? [])
        }
    }

    public struct TableSize: Sendable {
        public var rows = 0
        public var bytes = 0
        public init(rows: Int = 0, bytes: Int = 0) {
            self.rows = rows
            self.bytes = bytes
        }

        static func of(_ path: String) -> TableSize {
            guard Table.exists(at: path), let s = try? Table.snapshot(at: path) else { return TableSize() } // not there: nothing to size
            return TableSize(rows: s.rowCount, bytes: s.bytes)
        }
    }

    /// A run that stopped: the stage it stopped in, the error, and what it had committed
    /// by then, so a user knows which stages need not run again.
    public struct Failure: Error, CustomStringConvertible {
        public var stage: Stage
        public var underlying: Error
        /// Each table that got a new committed version in this run, as `name version N`.
        public var committed: [String]

        public var description: String {
            (committed.isEmpty ? "nothing was committed by this run"
                               : "committed by this run before it stopped: " + committed.joined(separator: ", "))
                + "; the \(stage.rawValue) stage did not finish, and every table it had not committed keeps its last committed version"
        }
    }

    /// The identity of every table of the lake now (nil: absent or unreadable).
    static func identities(lake: String) -> [String: String] {
        var out: [String: String] = [:]
        for (name, path) in Lake.allTables(lake: lake) where Table.exists(at: path) {
            if let s = try? Table.snapshot(at: path) { out[name] = s.identity } // unreadable: not committed by this run
        }
        return out
    }

    public let options: Options
    public let budget: MemoryBudget
    public let spill: SpillManager

    public init(options: Options, budget: MemoryBudget, spill: SpillManager) {
        self.options = options
        self.budget = budget
        self.spill = spill
    }

    /// Runs the stages; `starting` is called as each stage begins, `finished` as it ends.
    public func run(starting: (Stage) -> Void = { _ in }, finished: (Stage, Report) -> Void = { _, _ in }) throws -> Report {
        let before = Self.identities(lake: options.ingest.lake)
        var current = Stage.ingest
        do {
            return try runStages(starting: { current = $0; starting($0) }, finished: finished)
        } catch {
            let after = Self.identities(lake: options.ingest.lake)
            let committed = Lake.allTables(lake: options.ingest.lake).compactMap { t -> String? in
                guard let now = after[t.name], now != before[t.name], let v = now.split(separator: "@").last else { return nil }
                return "\(t.name) version \(v)"
            }
            throw Failure(stage: current, underlying: error, committed: committed)
        }
    }

    private func runStages(starting: (Stage) -> Void, finished: (Stage, Report) -> Void) throws -> Report {
        let lake = options.ingest.lake
        var report = Report()
        let clock = ContinuousClock()
        func timed<T>(_ stage: Stage, _ body: () throws -> T) rethrows -> T {
            starting(stage)
            let t0 = clock.now
            let result = try body()
            let d = clock.now - t0
            report.seconds[stage] = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            return result
        }

        report.ingest = try timed(.ingest) { try Ingest(options: options.ingest, budget: budget, spill: spill).run() }
        finished(.ingest, report)

        var stage = StageOptions(lake: lake)
        stage.pipeline = options.pipeline
        stage.limits = options.limits
        // Gold refuses a silver whose reference tables were replaced after silver began
        // (an ingest of another landing zone meanwhile): silver is then built again.
        var attempts = 0
        while true {
            attempts += 1
            let silverStale = options.rebuild ? "--rebuild asked for it" : Silver.staleness(lake: lake, pipeline: stage.pipeline)
            report.silver = try timed(.silver) {
                silverStale != nil ? try Silver(options: stage, budget: budget, spill: spill).run() : nil
            }
            if let why = silverStale { report.reasons[.silver] = why }
            finished(.silver, report)
            do {
                let goldStale = options.rebuild ? "--rebuild asked for it" : Gold.staleness(lake: lake, pipeline: stage.pipeline)
                report.gold = try timed(.gold) {
                    goldStale != nil ? try Gold(options: stage, budget: budget, spill: spill).run() : nil
                }
                if let why = goldStale { report.reasons[.gold] = why }
                break
            } catch let error as BatchError where error.code == .staleInput && attempts < 3 {
                continue
            }
        }
        report.bronze = .of(Ingest.bronzePath(lake: lake))
        report.silverTable = .of(Silver.path(lake: lake))
        report.quarantine = .of(Silver.quarantinePath(lake: lake))
        report.goldOrder = options.pipeline.file.gold.map(\.name)
        for name in report.goldOrder { report.goldTables[name] = .of(Gold.path(lake: lake, name)) }
        if let dir = options.publish ?? options.pipeline.file.publish {
            let t0 = clock.now
            report.published = try Publish.run(lake: lake, pipeline: options.pipeline, to: dir, limits: options.limits)
            let d = clock.now - t0
            report.publishSeconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        finished(.gold, report)
        return report
    }
}
