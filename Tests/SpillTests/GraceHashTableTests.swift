import Foundation
import Testing
@testable import Spill

@Suite struct GraceHashTableTests {
    struct Setting: CustomTestStringConvertible, Sendable {
        var budget: Int
        var expect: String
        var testDescription: String { "\(expect), budget \(budget)" }
    }

    static let settings = [
        Setting(budget: ForceSpill.roomy(64 << 20), expect: "no spill"),
        Setting(budget: 400 << 10, expect: "one level"),
        Setting(budget: 48 << 10, expect: "several levels"),
    ]

    static let cases: [(KeyShape, Int)] = [(.uniform, 30_000), (.skewed, 30_000), (.allEqual, 5_000), (.long, 400), (.uniform, 0)]

    @Test(arguments: settings)
    func dedupKeepsTheGreatestOrderPerKey(_ setting: Setting) throws {
        for (shape, count) in Self.cases {
            let seed = UInt64.random(in: 0...UInt64.max)
            var rng = Rng(seed)
            let spill = try makeSpill()
            defer { spill.close() }
            let budget = MemoryBudget(limitBytes: setting.budget)
            var best: [[UInt8]: (order: UInt64, index: Int)] = [:]
            var got: [[UInt8]: (order: UInt64, index: Int)] = [:]
            var stats = GraceHashTable.Stats()
            var duplicateKeysOut = 0
            do {
                let table = try GraceHashTable(mode: .dedup, budget: budget, spill: spill, consumer: "dedup", blockBytes: 512)
                for i in 0..<count {
                    // Short keys repeat a lot; uniform ones only sometimes.
                    var key = shape.key(&rng)
                    if shape == .uniform { key = Array(key.prefix(2)) }
                    var order = (UInt64(rng.below(1000))).bigEndian
                    var index = UInt64(i)
                    try key.withUnsafeBytes { k in
                        try withUnsafeBytes(of: &order) { o in
                            try withUnsafeBytes(of: &index) { p in try table.add(key: k, order: o, payload: p) }
                        }
                    }
                    let o = UInt64(bigEndian: order)
                    if let b = best[key], b.order >= o { continue }
                    best[key] = (o, i)
                }
                try table.finish()
                while let r = try table.next() {
                    let (order, payload) = GraceHashTable.dedupParts(r.rest)
                    let key = Array(r.key)
                    if got[key] != nil { duplicateKeysOut += 1 }
                    got[key] = (UInt64(bigEndian: order.loadUnaligned(as: UInt64.self)), Int(payload.loadUnaligned(as: UInt64.self)))
                }
                stats = table.stats
            }
            let context = "seed \(seed), shape \(shape), \(count) rows, \(setting.testDescription): \(stats)"
            #expect(duplicateKeysOut == 0, "\(context)")
            #expect(got.count == best.count, "\(context)")
            #expect(got.allSatisfy { best[$0.key]?.order == $0.value.order && best[$0.key]?.index == $0.value.index }, "\(context)")
            check(stats, setting, bytesIn: best.count, context)
            #expect(budget.usedBytes == 0 && budget.liveReservations == 0, "\(context)")
            #expect(spill.bytesOnDisk == 0 && spill.filesPresent().isEmpty, "\(context)")
        }
    }

    func check(_ stats: GraceHashTable.Stats, _ setting: Setting, bytesIn distinctKeys: Int, _ context: String) {
        guard distinctKeys >= 20_000 else { return }
        switch setting.expect {
        case "no spill": if !ForceSpill.isOn { #expect(stats.spills == 0, "\(context)") }
        case "one level": #expect(stats.spills >= 1 && stats.deepestLevel == 0, "\(context)")
        default: #expect(stats.deepestLevel >= 1, "\(context)")
        }
    }

    @Test(arguments: settings)
    func aggregationMatchesAnInMemoryGroupBy(_ setting: Setting) throws {
        for (shape, count) in Self.cases {
            let seed = UInt64.random(in: 0...UInt64.max)
            var rng = Rng(seed)
            let spill = try makeSpill()
            defer { spill.close() }
            let budget = MemoryBudget(limitBytes: setting.budget)
            var oracle: [[UInt8]: [Int64]] = [:]
            var got: [[UInt8]: [Int64]] = [:]
            var stats = GraceHashTable.Stats()
            do {
                let table = try GraceHashTable(mode: .aggregate([.sum, .sum, .min, .max]), budget: budget, spill: spill, consumer: "aggregate", blockBytes: 512)
                for _ in 0..<count {
                    let key = shape.key(&rng)
                    let v = Int64(rng.below(2_000_001)) - 1_000_000
                    let values: [Int64] = [1, v, v, v]
                    try key.withUnsafeBytes { k in try values.withUnsafeBufferPointer { try table.add(key: k, values: $0) } }
                    if let o = oracle[key] {
                        oracle[key] = [o[0] + 1, o[1] + v, min(o[2], v), max(o[3], v)]
                    } else {
                        oracle[key] = values
                    }
                }
                try table.finish()
                while let r = try table.next() {
                    let key = Array(r.key)
                    #expect(got[key] == nil, "a group came out twice, seed \(seed)")
                    got[key] = (0..<4).map { r.rest.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self) }
                }
                stats = table.stats
            }
            let context = "seed \(seed), shape \(shape), \(count) rows, \(setting.testDescription): \(stats)"
            #expect(got == oracle, "\(context)")
            check(stats, setting, bytesIn: oracle.count, context)
            #expect(budget.usedBytes == 0 && budget.liveReservations == 0, "\(context)")
            #expect(spill.bytesOnDisk == 0 && spill.filesPresent().isEmpty, "\(context)")
        }
    }

    @Test func theSpillQuotaIsItsOwnError() throws {
        let spill = try makeSpill(quota: 8 << 10)
        defer { spill.close() }
        let budget = MemoryBudget(limitBytes: 80 << 10)
        let table = try GraceHashTable(mode: .aggregate([.sum]), budget: budget, spill: spill, consumer: "aggregate", blockBytes: 512)
        do {
            for i in 0..<100_000 {
                var key = UInt64(i)
                var one: Int64 = 1
                try withUnsafeBytes(of: &key) { k in try withUnsafeMutablePointer(to: &one) { try table.add(key: k, values: UnsafeBufferPointer(start: $0, count: 1)) } }
            }
            Issue.record("100,000 groups fit 80 KiB of memory and 8 KiB of spill")
        } catch let error as SpillError {
            #expect(error.code == .outOfSpillQuota && error.message.contains("--max-spill"))
        }
    }
}
