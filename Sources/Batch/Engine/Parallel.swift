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

/// A value handed to parallel workers when the way they use it is safe but the compiler
/// cannot see so: each worker touches only its own part, or the value's API is documented
/// as safe from several threads.
final class Handed<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// The workers of a `Parallel.run` still at work, so that a job can tell whether a thread
/// is spare: a worker that finds no job left leaves, and a job still running may then
/// take its thread for a two-stage `pipeline` of its own.
final class BusyWorkers: @unchecked Sendable {
    private let lock = NSLock()
    private var busy: Int
    private let threads: Int

    /// `busy` workers at work, `threads` threads in all.
    init(busy: Int, threads: Int) {
        self.busy = busy
        self.threads = threads
    }

    /// A worker found no job left.
    func leave() { lock.withLock { busy -= 1 } }

    /// Threads a job may use now: its own, and a second when a worker has left.
    var available: Int { lock.withLock { busy < threads ? 2 : 1 } }
}

/// Result slots that workers fill by job number.
final class SharedSlots<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [T?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ i: Int, _ value: T) { lock.withLock { slots[i] = value } }
    func get(_ i: Int) -> T? { lock.withLock { slots[i] } }
}

extension Parallel {
    /// Two stages over a stream of batches: `produce` fills a buffer (false: nothing more,
    /// that buffer is not consumed), `consume` takes it, in order. With two threads,
    /// `produce` runs on a thread of its own over two buffers, so while one batch is
    /// consumed (on the calling thread) the next is produced; with one thread they
    /// alternate on one buffer. Either stage's first error stops both and is rethrown.
    /// Only `produce` touches its state and only `consume` touches its own.
    static func pipeline<B>(threads: Int, buffers: (B, B), produce: @escaping (B) throws -> Bool, consume: (B) throws -> Void) throws {
        if threads < 2 {
            while try produce(buffers.0) { try consume(buffers.0) }
            return
        }
        let run = PipelineRun(buffers: [buffers.0, buffers.1], produce: produce)
        let done = DispatchSemaphore(value: 0)
        // A thread of its own: the stages wait on each other, so they must not share one
        // (a dispatch pool may run two work items on the same thread).
        let thread = Thread {
            run.producer()
            done.signal()
        }
        thread.stackSize = 4 << 20
        thread.start()
        run.consumer(consume)
        done.wait()
        if let error = run.error { throw error }
    }

    /// The shared state of one `pipeline` run: two semaphores count free and filled buffers.
    final class PipelineRun<B>: @unchecked Sendable {
        let buffers: [B]
        let produce: (B) throws -> Bool
        // Created at 0 and signalled: libdispatch traps when a semaphore is freed below
        // the value it was created with, which a stopped run may leave.
        private let free = DispatchSemaphore(value: 0)
        private let filled = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var produced: Int?
        private var failure: (any Error)?

        init(buffers: [B], produce: @escaping (B) throws -> Bool) {
            self.buffers = buffers
            self.produce = produce
            free.signal()
            free.signal()
        }

        var error: (any Error)? { lock.withLock { failure } }

        private func fail(_ e: any Error) { lock.withLock { if failure == nil { failure = e } } }

        func producer() {
            var i = 0
            while true {
                free.wait()
                if error != nil { return }
                do {
                    if try !produce(buffers[i % 2]) {
                        lock.withLock { produced = i }
                        filled.signal()
                        return
                    }
                } catch {
                    fail(error)
                    filled.signal()
                    return
                }
                filled.signal()
                i += 1
            }
        }

        func consumer(_ consume: (B) throws -> Void) {
            var j = 0
            while true {
                filled.wait()
                let stop = lock.withLock { failure != nil || produced == j }
                if stop { return }
                do { try consume(buffers[j % 2]) } catch {
                    fail(error)
                    free.signal()
                    return
                }
                free.signal()
                j += 1
            }
        }
    }
}
