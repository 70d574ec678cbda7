import Foundation
import Testing
@testable import Batch

@Suite struct ParallelPipelineTests {
    struct Stop: Error, Equatable { var at: Int }

    /// A buffer the stages pass: one number per batch.
    final class Box { var value = -1 }

    /// Batches 0..<count come out in order, on one thread and on two.
    @Test(arguments: [1, 2])
    func batchesArriveInOrder(threads: Int) throws {
        var next = 0
        var seen: [Int] = []
        try Parallel.pipeline(threads: threads, buffers: (Box(), Box()), produce: { b in
            guard next < 1000 else { return false }
            b.value = next
            next += 1
            return true
        }, consume: { b in seen.append(b.value) })
        #expect(seen == Array(0..<1000))
    }

    /// An error in either stage stops both and comes back to the caller; nothing hangs.
    @Test(arguments: [1, 2])
    func anErrorInEitherStageStopsBoth(threads: Int) throws {
        var produced = 0
        #expect(throws: Stop(at: 7)) {
            try Parallel.pipeline(threads: threads, buffers: (Box(), Box()), produce: { b in
                if produced == 7 { throw Stop(at: 7) }
                b.value = produced
                produced += 1
                return true
            }, consume: { _ in })
        }
        #expect(produced == 7)

        var consumed: [Int] = []
        var made = 0
        #expect(throws: Stop(at: 3)) {
            try Parallel.pipeline(threads: threads, buffers: (Box(), Box()), produce: { b in
                b.value = made
                made += 1
                return made < 1_000_000
            }, consume: { b in
                if b.value == 3 { throw Stop(at: 3) }
                consumed.append(b.value)
            })
        }
        #expect(consumed == [0, 1, 2])
        // The producer stops within the two buffers in flight.
        #expect(made <= 3 + 3)
    }
}
