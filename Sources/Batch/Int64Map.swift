import CShims
import Spill

/// An open-addressing hash map from Int64 keys to Int32 values, filled once and then
/// probed per row: reference keys (silver's rules 10 and 11, gold's product categories).
/// Linear probing at a load factor of at most 1/2; callers reserve `bytes(count:)` from
/// the budget first.
///
/// A key and its value share one 16-byte entry, so a probe touches one cache line; the
/// entries live in huge-page memory (`LargeMemory`), so a probe seldom misses the TLB;
/// `prefetch` lets a caller start a later row's probe early.
final class Int64Map {
    struct Entry {
        var key: Int64
        var value: Int32
    }

    private let entries: UnsafeMutablePointer<Entry>
    private let mask: Int
    private static let empty = Int32.min

    init(count: Int) {
        let capacity = Self.capacity(count)
        entries = LargeMemory.allocate(Entry.self, capacity: capacity)
        entries.initialize(repeating: Entry(key: 0, value: Self.empty), count: capacity)
        mask = capacity - 1
    }

    deinit { LargeMemory.deallocate(entries) }

    static func capacity(_ count: Int) -> Int {
        var c = 16
        while c < count * 2 { c <<= 1 }
        return c
    }

    /// The memory of a map for `count` keys.
    static func bytes(count: Int) -> Int { capacity(count) * MemoryLayout<Entry>.stride }

    @inline(__always)
    static func hash(_ key: Int64) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: key) &* 0x9E37_79B9_7F4A_7C15) >> 17)
    }

    /// Sets `key`'s value (Int32.min is reserved), replacing an earlier one.
    func set(_ key: Int64, _ value: Int32) {
        precondition(value != Self.empty, "Int32.min is the empty marker")
        var slot = Self.hash(key) & mask
        while entries[slot].value != Self.empty && entries[slot].key != key { slot = (slot + 1) & mask }
        entries[slot] = Entry(key: key, value: value)
    }

    @inline(__always)
    func get(_ key: Int64) -> Int32? {
        var slot = Self.hash(key) & mask
        while true {
            let e = entries[slot]
            if e.value == Self.empty { return nil }
            if e.key == key { return e.value }
            slot = (slot + 1) & mask
        }
    }

    @inline(__always)
    func contains(_ key: Int64) -> Bool { get(key) != nil }

    /// Starts loading the entry a probe for `key` reads first.
    @inline(__always)
    func prefetch(_ key: Int64) {
        batchrun_prefetch_keep(entries + (Self.hash(key) & mask))
    }
}
