import Foundation
import Spill

/// The model of `batchrun bench`: the whole pipeline run at several sizes and settings,
/// each stage in its own process from a clean state; medians over repeats, the change of
/// time per row with size, comparison with an earlier report, and a chart.
///
/// The command line runs the processes (Sources/batchrun); everything that turns their
/// measurements into a report is here, where the tests reach it.
public enum ScaleBench {
    /// The pipeline's stages in the order they run.
    public static let stages = ["ingest", "silver", "gold"]
    /// The name of the row that adds the stages up.
    public static let total = "total"

    /// A record count: `10000`, `10k`, `1.5M`, `2G` (k = 10^3, M = 10^6, G or B = 10^9,
    /// any letter case), or nil.
    public static func parseCount(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
        guard let last = t.last else { return nil }
        let multipliers: [Character: Double] = ["k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9]
        let multiplier = last.isLetter ? multipliers[Character(last.lowercased())] : 1
        guard let multiplier, let number = Double(last.isLetter ? String(t.dropLast()) : t), number >= 0 else { return nil }
        let n = number * multiplier
        guard n < 1e15, n == n.rounded() else { return nil }
        return Int(n)
    }

    /// `10K`, `1M`, `2.5M`, `1234`: the short form of a record count.
    public static func formatCount(_ n: Int) -> String {
        for (scale, suffix) in [(1_000_000_000, "G"), (1_000_000, "M"), (1_000, "K")] where n >= scale {
            if n % scale == 0 { return "\(n / scale)\(suffix)" }
            if (n * 10) % scale == 0 { return String(format: "%.1f%@", Double(n) / Double(scale), suffix) }
        }
        return String(n)
    }

    /// A comma-separated list, each item parsed by `parse`; nil when any item fails or the
    /// list is empty. Repeated items are kept once, in their first place.
    public static func parseList<T: Equatable>(_ text: String, _ parse: (String) -> T?) -> [T]? {
        var out: [T] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let v = parse(String(item)) else { return nil }
            if !out.contains(v) { out.append(v) }
        }
        return out.isEmpty ? nil : out
    }

    /// The median: the middle value, or the mean of the two middle values.
    public static func median(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return 0 }
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// One stage of one run, as measured from outside its process.
    public struct StageRun: Sendable {
        public var stage: String
        /// Wall time of the process, start to exit.
        public var seconds: Double
        /// The process's maximum resident set size.
        public var peakRSSBytes: Int
        public var rowsIn: Int
        public var rowsOut: Int

        public init(stage: String, seconds: Double, peakRSSBytes: Int, rowsIn: Int, rowsOut: Int) {
            self.stage = stage
            self.seconds = seconds
            self.peakRSSBytes = peakRSSBytes
            self.rowsIn = rowsIn
            self.rowsOut = rowsOut
        }
    }

    /// Differences below these are noise (timer, process start, allocator), never a regression.
    public static let timeNoiseSeconds = 0.05
    public static let memoryNoiseBytes = 4 << 20

    /// What changed against a baseline report.
    public struct Comparison: Sendable {
        /// A stage slower or larger than the tolerance allows.
        public var regressions: [String] = []
        /// Everything else worth a line: improvements, measurements without a baseline.
        public var notes: [String] = []
        /// One line per compared stage: baseline and current time and peak RSS.
        public var lines: [String] = []
    }

    /// Compares each stage of `current` with the same records, batch rows, memory limit
    /// and stage of `baseline`. A regression: a median time above the baseline's by more
    /// than `tolerance` (0.1 = 10%) and by more than `timeNoiseSeconds`, or a peak RSS
    /// above by more than `tolerance` and `memoryNoiseBytes`.
    public static func compare(_ current: ScaleReport, baseline: ScaleReport, tolerance: Double) -> Comparison {
        var c = Comparison()
        for r in current.results {
            guard let b = baseline.results.first(where: { $0.sameSettings(as: r) }) else {
                c.notes.append("\(r.label): no measurement in the baseline")
                continue
            }
            for s in r.stages {
                guard let bs = b.stages.first(where: { $0.stage == s.stage }) else { continue }
                let timeChange = bs.medianSeconds > 0 ? s.medianSeconds / bs.medianSeconds - 1 : 0
                let memoryChange = bs.peakRSSBytes > 0 ? Double(s.peakRSSBytes) / Double(bs.peakRSSBytes) - 1 : 0
                let line = "\(r.label) \(s.stage): " + String(format: "%.3f s -> %.3f s (%+.1f%%), peak RSS %@ -> %@ (%+.1f%%)",
                                                               bs.medianSeconds, s.medianSeconds, timeChange * 100,
                                                               ByteSize.format(bs.peakRSSBytes), ByteSize.format(s.peakRSSBytes),
                                                               memoryChange * 100)
                c.lines.append(line)
                if timeChange > tolerance && s.medianSeconds - bs.medianSeconds > timeNoiseSeconds {
                    c.regressions.append("\(r.label) \(s.stage) got slower: " + String(format: "%.3f s -> %.3f s (%+.1f%%, tolerance %.0f%%)",
                                                                                            bs.medianSeconds, s.medianSeconds, timeChange * 100, tolerance * 100))
                }
                if memoryChange > tolerance && s.peakRSSBytes - bs.peakRSSBytes > memoryNoiseBytes {
                    c.regressions.append("\(r.label) \(s.stage) used more memory: peak RSS \(ByteSize.format(bs.peakRSSBytes)) -> \(ByteSize.format(s.peakRSSBytes))"
                                         + String(format: " (%+.1f%%, tolerance %.0f%%)", memoryChange * 100, tolerance * 100))
                }
            }
        }
        for b in baseline.results where !current.results.contains(where: { $0.sameSettings(as: b) }) {
            c.notes.append("\(b.label): in the baseline, not measured now")
        }
        return c
    }
}

/// A `batchrun bench` report: what `--out` writes and `--baseline` reads.
public struct ScaleReport: Codable, Sendable {
    public static let currentFormat = 1

    public struct Machine: Codable, Sendable {
        public var cores: Int
        public var memoryBytes: Int
        public var system: String

        public init(cores: Int, memoryBytes: Int, system: String) {
            self.cores = cores
            self.memoryBytes = memoryBytes
            self.system = system
        }
    }

    public struct Settings: Codable, Sendable {
        public var repeats: Int
        public var threads: Int
        public var compression: String
        public var seed: UInt64

        public init(repeats: Int, threads: Int, compression: String, seed: UInt64) {
            self.repeats = repeats
            self.threads = threads
            self.compression = compression
            self.seed = seed
        }
    }

    public var format: Int
    public var createdAt: String
    public var machine: Machine
    public var settings: Settings
    public var results: [ScaleResult]

    public init(createdAt: String, machine: Machine, settings: Settings, results: [ScaleResult]) {
        format = Self.currentFormat
        self.createdAt = createdAt
        self.machine = machine
        self.settings = settings
        self.results = results
    }

    enum CodingKeys: String, CodingKey {
        case format, createdAt = "created_at", machine, settings, results
    }

    public func encoded() -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? e.encode(self)) ?? Data() // plain numbers and strings always encode
    }

    /// Reads a report an earlier `bench --out` (or `--json`) wrote.
    public static func decode(_ data: Data, path: String) throws -> ScaleReport {
        do {
            let r = try JSONDecoder().decode(ScaleReport.self, from: data)
            guard r.format == currentFormat else {
                throw BatchError(.invalidArgument, path: path, "is a bench report of format \(r.format); this batchrun reads format \(currentFormat): make a new baseline with bench --out")
            }
            return r
        } catch let e as BatchError {
            throw e
        } catch {
            throw BatchError(.invalidArgument, path: path, "is not a batchrun bench report (\(error)); give --baseline a file written by bench --out")
        }
    }
}

/// The measurements of one size and setting: each stage and the total, over the repeats.
public struct ScaleResult: Codable, Sendable {
    public var records: Int
    public var batchRows: Int
    public var memoryLimit: String
    public var memoryLimitBytes: Int
    /// ingest, silver, gold, then total.
    public var stages: [StageResult]

    enum CodingKeys: String, CodingKey {
        case records, batchRows = "batch_rows", memoryLimit = "memory_limit", memoryLimitBytes = "memory_limit_bytes", stages
    }

    /// `runs[i]` holds the stages of repeat i, in order.
    public init(records: Int, batchRows: Int, memoryLimit: String, memoryLimitBytes: Int, runs: [[ScaleBench.StageRun]]) {
        self.records = records
        self.batchRows = batchRows
        self.memoryLimit = memoryLimit
        self.memoryLimitBytes = memoryLimitBytes
        var stages: [StageResult] = []
        for name in ScaleBench.stages {
            let samples = runs.compactMap { $0.first { $0.stage == name } }
            guard let first = samples.first else { continue }
            stages.append(StageResult(stage: name, seconds: samples.map(\.seconds), peakRSSBytes: samples.map(\.peakRSSBytes).max() ?? 0,
                                      rowsIn: first.rowsIn, rowsOut: first.rowsOut))
        }
        if let first = stages.first, let last = stages.last {
            let totals = runs.map { run in run.map(\.seconds).reduce(0, +) }
            stages.append(StageResult(stage: ScaleBench.total, seconds: totals, peakRSSBytes: stages.map(\.peakRSSBytes).max() ?? 0,
                                      rowsIn: first.rowsIn, rowsOut: last.rowsOut))
        }
        self.stages = stages
    }

    public var label: String {
        "\(ScaleBench.formatCount(records)) records, batch \(batchRows), \(memoryLimit)"
    }

    func sameSettings(as other: ScaleResult) -> Bool {
        records == other.records && batchRows == other.batchRows && memoryLimitBytes == other.memoryLimitBytes
    }

    public func stage(_ name: String) -> StageResult? { stages.first { $0.stage == name } }
}

/// One stage over the repeats of one size and setting.
public struct StageResult: Codable, Sendable {
    public var stage: String
    /// Each repeat's wall time.
    public var seconds: [Double]
    public var medianSeconds: Double
    /// The highest peak RSS of the repeats.
    public var peakRSSBytes: Int
    public var rowsIn: Int
    public var rowsOut: Int
    /// rowsIn / medianSeconds.
    public var rowsPerSecond: Double
    /// medianSeconds / rowsIn, in nanoseconds.
    public var nanosecondsPerRow: Double

    enum CodingKeys: String, CodingKey {
        case stage, seconds, medianSeconds = "median_seconds", peakRSSBytes = "peak_rss_bytes", rowsIn = "rows_in", rowsOut = "rows_out"
        case rowsPerSecond = "rows_per_second", nanosecondsPerRow = "ns_per_row"
    }

    public init(stage: String, seconds: [Double], peakRSSBytes: Int, rowsIn: Int, rowsOut: Int) {
        self.stage = stage
        self.seconds = seconds
        medianSeconds = ScaleBench.median(seconds)
        self.peakRSSBytes = peakRSSBytes
        self.rowsIn = rowsIn
        self.rowsOut = rowsOut
        rowsPerSecond = medianSeconds > 0 ? Double(rowsIn) / medianSeconds : 0
        nanosecondsPerRow = rowsIn > 0 ? medianSeconds * 1e9 / Double(rowsIn) : 0
    }
}
