import Testing
@testable import Spill

@Suite struct MemoryBudgetTests {
    @Test func reservationsAreCountedAndGivenBack() throws {
        let budget = MemoryBudget(limitBytes: 1000)
        do {
            let a = try budget.reserve(600, for: "sort")
            #expect(budget.usedBytes == 600)
            #expect(budget.tryReserve(500, for: "dedup") == nil, "over the limit is refused, never granted")
            let b = try budget.reserve(400, for: "dedup")
            #expect(budget.usedBytes == 1000 && budget.availableBytes == 0)
            #expect(!a.tryResize(to: 601))
            #expect(a.tryResize(to: 100))
            #expect(budget.usedBytes == 500)
            #expect(b.tryResize(to: 900))
            #expect(budget.peakBytes == 1000)
            b.end()
            b.end()
            #expect(budget.usedBytes == 100)
            #expect(budget.liveReservations == 1)
        }
        // Reservations that went out of scope gave their bytes back.
        #expect(budget.usedBytes == 0)
        #expect(budget.liveReservations == 0)
    }

    @Test func exhaustionNamesTheFlag() throws {
        let budget = MemoryBudget(limitBytes: 1 << 20)
        let held = try budget.reserve(1 << 20, for: "pool")
        #expect { try budget.reserve(4096, for: "hash table") } throws: {
            let e = $0 as? SpillError
            return e?.code == .outOfMemoryBudget && e?.consumer == "hash table"
                && (e?.description.contains("--memory-limit") ?? false) && e?.requestedBytes == 4096
        }
        #expect { try held.resize(to: 2 << 20) } throws: { ($0 as? SpillError)?.requestedBytes == 1 << 20 }
        // A consumer whose size --batch-rows does not set says what does instead.
        #expect { try budget.reserve(4096, for: "lookup", remedy: "the ids stay in memory; raise --memory-limit") } throws: {
            let text = ($0 as? SpillError)?.description ?? ""
            return text.contains("the ids stay in memory; raise --memory-limit") && !text.contains("--batch-rows")
        }
        #expect { try budget.reserve(4096, for: "batches") } throws: {
            (($0 as? SpillError)?.description ?? "").contains("raise --memory-limit or lower --batch-rows")
        }
        held.end()
        #expect(budget.usedBytes == 0)
    }

    @Test func concurrentReservationsNeverExceedTheLimit() async {
        let budget = MemoryBudget(limitBytes: 10_000)
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<8 {
                group.addTask {
                    for i in 0..<2_000 {
                        if let r = budget.tryReserve(100 + (i * 7 + t) % 900, for: "task \(t)") {
                            #expect(budget.usedBytes <= 10_000)
                            _ = r.tryResize(to: r.bytes * 2)
                            r.end()
                        }
                    }
                }
            }
        }
        #expect(budget.usedBytes == 0)
        #expect(budget.peakBytes <= 10_000)
        #expect(budget.liveReservations == 0)
    }
}
