import Foundation
import Testing
@testable import Spill

@Suite struct ExternalSorterTests {
    struct Setting: CustomTestStringConvertible, Sendable {
        var budget: Int
        var fanInMax: Int
        var expect: String
        /// Range mode: this many split keys, drawn from the input's own keys (0: off).
        var splits = 0
        var testDescription: String { "\(expect), budget \(budget), fan-in \(fanInMax), \(splits) split keys" }
    }

    static let settings = [
        Setting(budget: ForceSpill.roomy(64 << 20), fanInMax: 64, expect: "no spill"),
        Setting(budget: 600 << 10, fanInMax: 64, expect: "spill"),
        Setting(budget: 120 << 10, fanInMax: 3, expect: "many runs, multi-pass"),
        Setting(budget: ForceSpill.roomy(64 << 20), fanInMax: 64, expect: "buckets in memory", splits: 6),
        Setting(budget: 400 << 10, fanInMax: 4, expect: "buckets that spill", splits: 2),
    ]

    static let cases: [(KeyShape, Int)] = [(.uniform, 20_000), (.skewed, 20_000), (.allEqual, 20_000), (.long, 600), (.uniform, 0), (.uniform, 1)]

    @Test(arguments: settings)
    func matchesAStableInMemorySort(_ setting: Setting) throws {
        // Fixed seeds: the expectations on runs and buckets hold for these inputs (a random
        // seed could give split keys under which a skewed input's buckets all fit).
        for (k, (shape, count)) in Self.cases.enumerated() {
            let seed = 0x5EED_0000 &+ UInt64(k) &* 0x9E37_79B9
            var rng = Rng(seed)
            let spill = try makeSpill()
            defer { spill.close() }
            let budget = MemoryBudget(limitBytes: setting.budget)
            var input: [([UInt8], UInt64)] = []
            var stats = ExternalSorter.Stats()
            var output: [([UInt8], UInt64)] = []
            // Split keys: keys of the same shape, some of them equal to input keys.
            var sampler = Rng(seed ^ 0x5EED)
            let splitters = Array(Set((0..<setting.splits).map { _ in shape.key(&sampler) })).sorted { $0.lexicographicallyPrecedes($1) }
            do {
                let sorter = try ExternalSorter(budget: budget, spill: spill, blockBytes: 4096, fanInMax: setting.fanInMax, splitters: splitters)
                for i in 0..<count {
                    let key = shape.key(&rng)
                    var payload = UInt64(i)
                    input.append((key, payload))
                    try key.withUnsafeBytes { k in try withUnsafeBytes(of: &payload) { p in try sorter.add(key: k, payload: p) } }
                }
                try sorter.finish()
                while let r = try sorter.next() {
                    output.append((Array(r.key), r.payload.loadUnaligned(as: UInt64.self)))
                }
                stats = sorter.stats
            }
            let oracle = input.sorted { a, b in
                a.0.lexicographicallyPrecedes(b.0) || (a.0 == b.0 && a.1 < b.1)
            }
            let context = "seed \(seed), shape \(shape), \(count) records, \(setting.testDescription)"
            #expect(output.count == oracle.count, "\(context)")
            #expect(output.elementsEqual(oracle) { $0.0 == $1.0 && $0.1 == $1.1 }, "\(context)")
            if count >= 8_000 {
                switch setting.expect {
                case "no spill":
                    if !ForceSpill.isOn { #expect(stats.runsSpilled == 0 && stats.mergePasses == 0, "\(context)") }
                case "spill": #expect(stats.runsSpilled >= 1 && stats.mergePasses == 1, "\(context)")
                case "buckets in memory":
                    #expect(stats.buckets >= 1 && stats.buckets <= splitters.count + 1 && stats.bucketBytesWritten > 0, "\(context): \(stats)")
                    if !ForceSpill.isOn { #expect(stats.runsSpilled == 0, "\(context): \(stats)") }
                case "buckets that spill":
                    #expect(stats.buckets >= 1 && stats.runsSpilled > 1 && stats.mergePasses >= 1, "\(context): \(stats)")
                default: #expect(stats.runsSpilled > 3 && stats.mergePasses >= 2, "\(context): \(stats)")
                }
            }
            // Everything given back: memory, spill bytes, files.
            #expect(budget.usedBytes == 0 && budget.liveReservations == 0, "\(context)")
            #expect(budget.peakBytes <= setting.budget)
            #expect(spill.bytesOnDisk == 0 && spill.filesPresent().isEmpty, "\(context)")
        }
    }

    @Test func aKeyGoesToTheBucketOfTheSplitKeysAtOrBelowIt() throws {
        let spill = try makeSpill()
        defer { spill.close() }
        let budget = MemoryBudget(limitBytes: 16 << 20)
        // Split keys "b" and "d": buckets (..b), [b..d), [d..); a key equal to a split
        // key, or longer with it as a prefix, goes above it.
        let sorter = try ExternalSorter(budget: budget, spill: spill, blockBytes: 4096, splitters: [Array("b".utf8), Array("d".utf8)])
        for (i, k) in ["a", "b", "ba", "c", "d", "", "zz"].enumerated() {
            var p = UInt64(i)
            try Array(k.utf8).withUnsafeBytes { key in try withUnsafeBytes(of: &p) { try sorter.add(key: key, payload: $0) } }
        }
        try sorter.finish()
        #expect(sorter.stats.buckets == 3)
        var out: [String] = []
        while let r = try sorter.next() { out.append(String(decoding: r.key, as: UTF8.self)) }
        #expect(out == ["", "a", "b", "ba", "c", "d", "zz"])
        #expect(spill.filesPresent().isEmpty)
    }

    @Test func anAbandonedRangeSorterLeavesNoFiles() throws {
        let spill = try makeSpill()
        defer { spill.close() }
        let budget = MemoryBudget(limitBytes: 16 << 20)
        do {
            let sorter = try ExternalSorter(budget: budget, spill: spill, blockBytes: 4096, splitters: [[5], [9]])
            for k: UInt8 in 0..<12 { try [k].withUnsafeBytes { try sorter.add(key: $0, payload: $0) } }
            try sorter.finish()
            _ = try sorter.next() // the first bucket is being read; the other two are not
        }
        #expect(spill.filesPresent().isEmpty && spill.bytesOnDisk == 0)
        #expect(budget.usedBytes == 0 && budget.liveReservations == 0)
    }

    /// A bucket sorter read to its end lends itself (its mapped memory) to the next
    /// bucket; one not read to its end does not, and neither does one that spilled runs.
    @Test func aBucketReadToItsEndLendsItsSorterToTheNext() throws {
        let spill = try makeSpill()
        defer { spill.close() }
        let budget = MemoryBudget(limitBytes: 16 << 20)
        do {
            let sorter = try ExternalSorter(budget: budget, spill: spill, blockBytes: 4096, splitters: [[50], [100], [150]])
            for i in 0..<2000 {
                let k = UInt8((i * 97) % 200)
                var p = UInt64(i)
                try [k].withUnsafeBytes { k in try withUnsafeBytes(of: &p) { try sorter.add(key: k, payload: $0) } }
            }
            try sorter.finish()
            func keys(_ s: ExternalSorter) throws -> [UInt8] {
                var out: [UInt8] = []
                while let r = try s.next() { out.append(r.key[0]) }
                return out
            }
            let first = try #require(try sorter.sortedBucket(0, memoryMaxBytes: 1 << 20))
            #expect(try keys(first) == (0..<50).flatMap { [UInt8](repeating: UInt8($0), count: 10) })
            let second = try #require(try sorter.sortedBucket(1, memoryMaxBytes: 1 << 20, reusing: first))
            #expect(second === first)
            #expect(try second.next()?.key[0] == 50) // bucket 1 is not read to its end
            let third = try #require(try sorter.sortedBucket(2, memoryMaxBytes: 1 << 20, reusing: second))
            #expect(third !== second)
            #expect(try keys(third) == (100..<150).flatMap { [UInt8](repeating: UInt8($0), count: 10) })
            // A share too small for the bucket (an index of 1024 entries and one 4 KiB
            // page): it spills runs, and is not lent on.
            let fourth = try #require(try sorter.sortedBucket(3, memoryMaxBytes: 30 << 10, reusing: third))
            #expect(fourth.stats.runsSpilled > 0)
            #expect(try keys(fourth) == (150..<200).flatMap { [UInt8](repeating: UInt8($0), count: 10) })
            #expect(!fourth.recycle())
        }
        #expect(spill.filesPresent().isEmpty && spill.bytesOnDisk == 0)
        #expect(budget.usedBytes == 0 && budget.liveReservations == 0)
    }

    @Test func aRecordBiggerThanTheBudgetIsAnError() throws {
        let spill = try makeSpill()
        defer { spill.close() }
        let budget = MemoryBudget(limitBytes: 64 << 10)
        let sorter = try ExternalSorter(budget: budget, spill: spill, blockBytes: 4096)
        let big = [UInt8](repeating: 1, count: 200 << 10)
        #expect(throws: SpillError.self) {
            try big.withUnsafeBytes { try sorter.add(key: $0, payload: UnsafeRawBufferPointer(start: nil, count: 0)) }
        }
    }
}
