// What every benchmark target shares: the smoke switch, the self-check failure, time in
// seconds, and the tolerances of the committed static thresholds (Bench/Thresholds).
import Benchmark
import Foundation

/// BENCH_SMOKE=1 (`make test`): a tiny size and one iteration, so the benchmarks cannot rot.
public let smoke = ProcessInfo.processInfo.environment["BENCH_SMOKE"] != nil

/// A benchmark whose own check of its result failed: a fast wrong answer.
public struct BenchFailure: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

public func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// Rows per second, as a custom metric (the tables scale it: K, M).
public let rowsPerSecond = BenchmarkMetric.custom("rows/s", polarity: .prefersLarger, useScalingFactor: false)

public func recordRowsPerSecond(_ benchmark: Benchmark, rows: Int, seconds: Double) {
    benchmark.measurement(rowsPerSecond, Int(Double(rows) / seconds))
}

/// How far a run may drift from the committed p90 thresholds before `make bench` calls
/// it a regression (or an improvement worth a threshold update). The machine is shared
/// and noisy (a benchmark's p90 of 5 runs moved by up to 40% between two runs with no
/// change in the code), so time and throughput get a wide band; allocation counts and
/// memory a narrower one. Metrics not listed (spill counts, compression ratios) must
/// match exactly.
public enum BenchTolerances {
    /// The tolerances of the built-in metrics, plus `throughput` (rows/s, MB/s: custom
    /// metrics of the benchmark) at the time tolerance.
    public static func thresholds(throughput: [BenchmarkMetric] = []) -> [BenchmarkMetric: BenchmarkThresholds] {
        var t: [BenchmarkMetric: BenchmarkThresholds] = [
            .wallClock: BenchmarkThresholds(relative: [.p90: 35]),
            .mallocCountTotal: BenchmarkThresholds(relative: [.p90: 20]),
            .peakMemoryResident: BenchmarkThresholds(relative: [.p90: 15]),
        ]
        for m in throughput + [rowsPerSecond] { t[m] = BenchmarkThresholds(relative: [.p90: 35]) }
        return t
    }
}
