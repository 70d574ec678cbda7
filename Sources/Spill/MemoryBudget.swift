import Foundation

/// The one memory budget of a process (`--memory-limit`).
///
/// Every buffer that grows with the input takes a `Reservation` from it first. A
/// reservation that cannot grow is the operator's signal to spill; the budget never
/// grants more than its limit ("allocate anyway" does not exist). Operators ask; they
/// never measure RSS themselves.
public final class MemoryBudget: @unchecked Sendable {
    public let limitBytes: Int
    private let lock = NSLock()
    private var used = 0
    private var peak = 0
    private var live = 0

    public init(limitBytes: Int) {
        precondition(limitBytes >= 0, "a memory budget cannot be negative")
        self.limitBytes = limitBytes
    }

    /// Bytes held by live reservations now.
    public var usedBytes: Int { lock.withLock { used } }
    /// The most bytes ever held at once.
    public var peakBytes: Int { lock.withLock { peak } }
    /// Reservations not yet ended.
    public var liveReservations: Int { lock.withLock { live } }
    public var availableBytes: Int { lock.withLock { limitBytes - used } }

    /// A reservation of `bytes` for `consumer`, or nil when the budget cannot grant it.
    public func tryReserve(_ bytes: Int, for consumer: String) -> Reservation? {
        guard grow(by: bytes) else { return nil }
        lock.withLock { live += 1 }
        return Reservation(budget: self, bytes: bytes, consumer: consumer)
    }

    /// What to change when a reservation for batches or buffers cannot be had.
    public static let defaultRemedy = "raise --memory-limit or lower --batch-rows"

    /// The remedy for a consumer whose size the batch size does not set, `why` saying
    /// what it holds.
    public static func fixedSizeRemedy(_ why: String) -> String {
        "\(why), whatever the batch size; raise --memory-limit"
    }

    /// A reservation of `bytes`, or `SpillError.outOfMemoryBudget` saying which flag to
    /// change: `remedy`, for a consumer whose size the flags do not set (a table that
    /// must stay in memory, a fixed buffer), says what does.
    public func reserve(_ bytes: Int, for consumer: String, remedy: String = MemoryBudget.defaultRemedy) throws(SpillError) -> Reservation {
        guard let r = tryReserve(bytes, for: consumer) else {
            throw exhausted(consumer, bytes, remedy: remedy)
        }
        return r
    }

    func exhausted(_ consumer: String, _ bytes: Int, remedy: String = MemoryBudget.defaultRemedy) -> SpillError {
        SpillError(.outOfMemoryBudget, consumer: consumer, requestedBytes: bytes,
                   "needs \(ByteSize.format(bytes)) more but the memory budget of \(ByteSize.format(limitBytes)) has \(ByteSize.format(availableBytes)) left; \(remedy)")
    }

    func grow(by bytes: Int) -> Bool {
        precondition(bytes >= 0)
        return lock.withLock {
            guard used + bytes <= limitBytes else { return false }
            used += bytes
            peak = max(peak, used)
            return true
        }
    }

    func shrink(by bytes: Int, ended: Bool) {
        lock.withLock {
            precondition(bytes >= 0 && bytes <= used, "released more memory than was reserved")
            used -= bytes
            if ended { live -= 1 }
        }
    }
}

/// Bytes held from a `MemoryBudget`. Ending it (`end()`, or its deinit) gives them back.
public final class Reservation {
    public let budget: MemoryBudget
    public let consumer: String
    public private(set) var bytes: Int
    private var ended = false

    init(budget: MemoryBudget, bytes: Int, consumer: String) {
        self.budget = budget
        self.bytes = bytes
        self.consumer = consumer
    }

    deinit { end() }

    /// Grows to `newBytes` if the budget allows; false means: spill, then try again.
    public func tryResize(to newBytes: Int) -> Bool {
        precondition(!ended, "\(consumer): resizing an ended reservation")
        precondition(newBytes >= 0)
        if newBytes <= bytes {
            budget.shrink(by: bytes - newBytes, ended: false)
            bytes = newBytes
            return true
        }
        guard budget.grow(by: newBytes - bytes) else { return false }
        bytes = newBytes
        return true
    }

    /// Grows to `newBytes` or throws `outOfMemoryBudget` (saying `remedy`, as
    /// `MemoryBudget.reserve` does), for consumers that cannot spill.
    public func resize(to newBytes: Int, remedy: String = MemoryBudget.defaultRemedy) throws(SpillError) {
        guard tryResize(to: newBytes) else { throw budget.exhausted(consumer, newBytes - bytes, remedy: remedy) }
    }

    /// Gives every byte back; later calls do nothing.
    public func end() {
        guard !ended else { return }
        ended = true
        budget.shrink(by: bytes, ended: true)
        bytes = 0
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// Settings of the C allocator that keep RSS close to what the budget granted.
public enum Allocator {
    /// Fixes glibc's mmap threshold at 128 KiB (it otherwise rises up to 32 MiB after
    /// big blocks are freed): arena pages, batches and spill buffers are then mapped and
    /// unmapped on their own, and freeing them gives the memory back to the system at
    /// once instead of leaving it in the heap. Call once at start.
    public static func configure() {
        #if os(Linux)
        _ = glibcMallopt(mmapThreshold, 128 << 10)
        _ = glibcMallopt(trimThreshold, 1 << 20)
        #endif
    }

    // glibc's <malloc.h> is not part of the Glibc module; its two constants are stable ABI.
    static let trimThreshold: Int32 = -1   // M_TRIM_THRESHOLD
    static let mmapThreshold: Int32 = -3   // M_MMAP_THRESHOLD
}

#if os(Linux)
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
