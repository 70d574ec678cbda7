/// Wall time of a stage's phases, in the order they ran: where a stage spends its time,
/// in its report.
public struct PhaseTimes: Sendable {
    public private(set) var phases: [(name: String, seconds: Double)] = []
    private let clock = ContinuousClock()
    private var mark: ContinuousClock.Instant

    public init() { mark = clock.now }

    /// Ends the phase that began at the previous lap (or at init) and names it.
    public mutating func lap(_ name: String) {
        let now = clock.now
        let d = now - mark
        phases.append((name, Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18))
        mark = now
    }
}
