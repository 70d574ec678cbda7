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
        public var batchRows: Int
        public var compression: Compression
        /// Rebuild silver and gold even when their inputs did not change.
        public var rebuild = false

        public init(raw: String, lake: String) {
            ingest = Ingest.Options(raw: raw, lake: lake)
            batchRows = ingest.batchRows
            compression = ingest.compression
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
        public var totalSeconds: Double { seconds.values.reduce(0, +) }
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

        var ingestOptions = options.ingest
        ingestOptions.batchRows = options.batchRows
        ingestOptions.compression = options.compression
        report.ingest = try timed(.ingest) { try Ingest(options: ingestOptions, budget: budget, spill: spill).run() }
        finished(.ingest, report)

        var stage = StageOptions(lake: lake)
        stage.batchRows = options.batchRows
        stage.compression = options.compression
        stage.threads = options.ingest.threads
        report.silver = try timed(.silver) {
            options.rebuild || !Silver.isUpToDate(lake: lake) ? try Silver(options: stage, budget: budget, spill: spill).run() : nil
        }
        finished(.silver, report)

        report.gold = try timed(.gold) {
            options.rebuild || !Gold.isUpToDate(lake: lake) ? try Gold(options: stage, budget: budget, spill: spill).run() : nil
        }
        report.bronze = .of(Ingest.bronzePath(lake: lake))
        report.silverTable = .of(Silver.path(lake: lake))
        report.quarantine = .of(Silver.quarantinePath(lake: lake))
        for name in Gold.tables { report.goldTables[name] = .of(Gold.path(lake: lake, name)) }
        finished(.gold, report)
        return report
    }
}
