import Dispatch
import Foundation

/// Runs a few workers side by side that take job numbers from one shared counter.
///
/// The first error stops every worker at its next `next(_:)` call and is rethrown once
/// all have returned.
enum Parallel {
    static func run(workers: Int, _ body: @Sendable (_ worker: Int, _ next: (Int) -> Int?) throws -> Void) throws {
        let state = SharedState()
        let count = max(1, workers)
        DispatchQueue.concurrentPerform(iterations: count) { w in
            do {
                try body(w) { total in state.take(below: total) }
            } catch {
                state.fail(error)
            }
        }
        if let error = state.error { throw error }
    }

    final class SharedState: @unchecked Sendable {
        private let lock = NSLock()
        private var nextJob = 0
        private var firstError: (any Error)?

        func take(below total: Int) -> Int? {
            lock.withLock {
                guard firstError == nil, nextJob < total else { return nil }
                nextJob += 1
                return nextJob - 1
            }
        }

        func fail(_ error: any Error) {
            lock.withLock { if firstError == nil { firstError = error } }
        }

        var error: (any Error)? { lock.withLock { firstError } }
    }
}

/// Result slots that workers fill by job number.
final class SharedSlots<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [T?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ i: Int, _ value: T) { lock.withLock { slots[i] = value } }
    func get(_ i: Int) -> T? { lock.withLock { slots[i] } }
}
