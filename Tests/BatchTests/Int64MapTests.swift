import Testing
@testable import Batch

@Suite struct Int64MapTests {
    /// Keys numbered from a base take the dense layout, scattered keys the hashed one;
    /// each is the smaller of the two for its keys.
    @Test func layoutFollowsTheKeysRange() {
        #expect(Int64Map.Layout(count: 2_000_000, range: 1...2_001_000) == .dense(low: 1, slots: 2_001_000))
        #expect(Int64Map.bytes(count: 2_000_000, range: 1...2_001_000) == 2_001_000 * 4)
        // Sparse: 1,000 keys over a range of 10^6 would need 4 MB dense, 32 KiB hashed.
        #expect(Int64Map.Layout(count: 1_000, range: 0...1_000_000) == .hashed(capacity: 2_048))
        #expect(Int64Map.Layout(count: 3, range: Int64.min...Int64.max) == .hashed(capacity: 16))
        #expect(Int64Map.Layout(count: 0, range: nil) == .hashed(capacity: 16))
        // Exactly at the break-even point, dense wins (4 x slots == 16 x capacity).
        #expect(Int64Map.Layout(count: 16, range: -10...117) == .dense(low: -10, slots: 128))
    }

    /// Both layouts answer like a dictionary, for keys set, keys never set and keys
    /// outside the range (either side, and at the ends of Int64); a later set wins.
    @Test(arguments: [(UInt64(1), true), (UInt64(2), false), (UInt64(3), true), (UInt64(4), false)])
    func answersLikeADictionary(seed: UInt64, dense: Bool) {
        var rng = SplitMix64(seed: seed)
        var truth: [Int64: Int32] = [:]
        let base: Int64 = dense ? Int64.max - 50_000 : 0
        for _ in 0..<20_000 {
            let key = dense ? base + Int64(rng.next() % 40_000) : Int64(bitPattern: rng.next())
            truth[key] = Int32(truncatingIfNeeded: rng.next() % 1_000_000)
        }
        if !dense { truth[Int64.min] = 7; truth[Int64.max] = 8 }
        let range = truth.keys.min()!...truth.keys.max()!
        let map = Int64Map(count: truth.count + 10, range: range)
        if case .dense = map.layout { #expect(dense, "seed \(seed)") } else { #expect(!dense, "seed \(seed)") }
        for (k, v) in truth { map.set(k, v &+ 1) }
        for (k, v) in truth { map.set(k, v) } // a repeated key: the later value wins
        for (k, v) in truth { #expect(map.get(k) == v, "seed \(seed), key \(k)") }
        var probes: [Int64] = [range.lowerBound &- 1, range.upperBound &+ 1, Int64.min, Int64.max, 0]
        for _ in 0..<20_000 { probes.append(dense ? base - 10_000 + Int64(rng.next() % 60_000) : Int64(bitPattern: rng.next())) }
        for k in probes {
            map.prefetch(k)
            #expect(map.get(k) == truth[k], "seed \(seed), key \(k)")
            #expect(map.contains(k) == (truth[k] != nil), "seed \(seed), key \(k)")
        }
    }
}
