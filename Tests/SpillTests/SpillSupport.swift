import Foundation
@testable import Spill

/// BATCHRUN_FORCE_SPILL=1 shrinks the "roomy" budgets of the operator tests to a size
/// that makes every operator spill, so the out-of-core paths run as often as the fast
/// ones (`make test` runs the suites both ways).
enum ForceSpill {
    static var isOn: Bool { ProcessInfo.processInfo.environment["BATCHRUN_FORCE_SPILL"] == "1" }

    /// `bytes`, or a tiny budget when force-spill is on.
    static func roomy(_ bytes: Int) -> Int { isOn ? 96 << 10 : bytes }
}

/// A spill folder for one test under the system temp dir.
func makeSpill(quota: Int = Int.max) throws -> SpillManager {
    try SpillManager(parent: NSTemporaryDirectory() + "batchrun-spill-tests-\(UUID().uuidString.prefix(8))", quotaBytes: quota)
}

struct Rng {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// Seeded random keys of a given shape.
enum KeyShape: String, CaseIterable, Sendable {
    case uniform, skewed, allEqual, long

    func key(_ rng: inout Rng) -> [UInt8] {
        switch self {
        case .uniform: return (0..<(1 + rng.below(20))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        case .skewed:
            // Most keys from a few values; prefixes of one another too.
            let base: [UInt8] = Array("customer-000".utf8)
            return rng.below(10) < 8 ? Array(base.prefix(rng.below(base.count + 1))) + [UInt8(rng.below(3))] : (0..<8).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        case .allEqual: return Array("same".utf8)
        case .long: return Array(repeating: UInt8(ascii: "k"), count: 500 + rng.below(3000)) + [UInt8(rng.below(256))]
        }
    }
}
