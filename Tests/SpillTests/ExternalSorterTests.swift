import Foundation
import Testing
@testable import Spill

@Suite struct ExternalSorterTests {
    struct Setting: CustomTestStringConvertible, Sendable {
        var budget: Int
        var fanInMax: Int
        var expect: String
        var testDescription: String { "\(expect), budget \(budget), fan-in \(fanInMax)" }
    }

    static let settings = [
        Setting(budget: ForceSpill.roomy(64 << 20), fanInMax: 64, expect: "no spill"),
        Setting(budget: 600 << 10, fanInMax: 64, expect: "spill"),
        Setting(budget: 120 << 10, fanInMax: 3, expect: "many runs, multi-pass"),
    ]

    static let cases: [(KeyShape, Int)] = [(.uniform, 20_000), (.skewed, 20_000), (.allEqual, 20_000), (.long, 600), (.uniform, 0), (.uniform, 1)]

    @Test(arguments: settings)
    func matchesAStableInMemorySort(_ setting: Setting) throws {
        for (shape, count) in Self.cases {
            let seed = UInt64.random(in: 0...UInt64.max)
            var rng = Rng(seed)
            let spill = try makeSpill()
            defer { spill.close() }
            let budget = MemoryBudget(limitBytes: setting.budget)
            var input: [([UInt8], UInt64)] = []
            var stats = ExternalSorter.Stats()
            var output: [([UInt8], UInt64)] = []
            do {
                let sorter = try ExternalSorter(budget: budget, spill: spill, blockBytes: 4096, fanInMax: setting.fanInMax)
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
                default: #expect(stats.runsSpilled > 3 && stats.mergePasses >= 2, "\(context): \(stats)")
                }
            }
            // Everything given back: memory, spill bytes, files.
            #expect(budget.usedBytes == 0 && budget.liveReservations == 0, "\(context)")
            #expect(budget.peakBytes <= setting.budget)
            #expect(spill.bytesOnDisk == 0 && spill.filesPresent().isEmpty, "\(context)")
        }
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
