import CShims
import Spill

/// A map from Int64 keys to Int32 values, filled once and then probed per row:
/// reference keys (silver's rules 10 and 11, gold's product categories). Callers reserve
/// `bytes(count:range:)` from the budget first.
///
/// Its layout follows the keys' range:
/// - dense: when the keys span few more values than there are keys (ids numbered from a
///   base, as most landing zones have them), a value array indexed by key - low, 4 bytes
///   per value of the range: 2M customer ids take 8 MiB instead of 64 MiB;
/// - hashed: otherwise, open addressing with linear probing at a load factor of at most
///   1/2; a key and its value share one 16-byte entry, so a probe touches one cache line.
///
/// Either lives in huge-page memory (`LargeMemory`), so a probe seldom misses the TLB;
/// `prefetch` lets a caller start a later row's probe early.
final class Int64Map {
    struct Entry {
        var key: Int64
        var value: Int32
    }

    /// The layout for `count` keys in `range`: dense (its slot count) or hashed (its
    /// power-of-two capacity), whichever needs fewer bytes.
    enum Layout: Equatable {
        case dense(low: Int64, slots: Int)
        case hashed(capacity: Int)

        init(count: Int, range: ClosedRange<Int64>?) {
            let capacity = Int64Map.hashCapacity(count)
            if let range {
                let span = UInt64(bitPattern: range.upperBound &- range.lowerBound) // upper >= lower: no wrap in UInt64
                if span < UInt64(Int.max / 8), (Int(span) + 1) * MemoryLayout<Int32>.stride <= capacity * MemoryLayout<Entry>.stride {
                    self = .dense(low: range.lowerBound, slots: Int(span) + 1)
                    return
                }
            }
            self = .hashed(capacity: capacity)
        }

        var bytes: Int {
            switch self {
            case .dense(_, let slots): slots * MemoryLayout<Int32>.stride
            case .hashed(let capacity): capacity * MemoryLayout<Entry>.stride
            }
        }
    }

    let layout: Layout
    private let entries: UnsafeMutablePointer<Entry>?  // hashed
    private let values: UnsafeMutablePointer<Int32>?   // dense
    private let mask: Int    // hashed: capacity - 1
    private let low: Int64   // dense: the smallest key
    private let slots: UInt64 // dense: the range's size
    private static let empty = Int32.min

    /// An empty map for `count` keys, all within `range` (nil: unknown, or no keys).
    init(count: Int, range: ClosedRange<Int64>? = nil) {
        layout = Layout(count: count, range: range)
        switch layout {
        case .dense(let low, let slots):
            values = LargeMemory.allocate(Int32.self, capacity: slots)
            values!.initialize(repeating: Self.empty, count: slots)
            entries = nil
            (mask, self.low, self.slots) = (0, low, UInt64(slots))
        case .hashed(let capacity):
            entries = LargeMemory.allocate(Entry.self, capacity: capacity)
            entries!.initialize(repeating: Entry(key: 0, value: Self.empty), count: capacity)
            values = nil
            (mask, low, slots) = (capacity - 1, 0, 0)
        }
    }

    deinit {
        if let entries { LargeMemory.deallocate(entries) }
        if let values { LargeMemory.deallocate(values) }
    }

    static func hashCapacity(_ count: Int) -> Int {
        var c = 16
        while c < count * 2 { c <<= 1 }
        return c
    }

    /// The memory of a map for `count` keys within `range`.
    static func bytes(count: Int, range: ClosedRange<Int64>?) -> Int { Layout(count: count, range: range).bytes }

    @inline(__always)
    static func hash(_ key: Int64) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: key) &* 0x9E37_79B9_7F4A_7C15) >> 17)
    }

    /// Sets `key`'s value (Int32.min is reserved), replacing an earlier one.
    func set(_ key: Int64, _ value: Int32) {
        precondition(value != Self.empty, "Int32.min is the empty marker")
        if let values {
            let offset = UInt64(bitPattern: key &- low)
            precondition(offset < slots, "key \(key) lies outside the map's range")
            values[Int(offset)] = value
            return
        }
        let entries = entries!
        var slot = Self.hash(key) & mask
        while entries[slot].value != Self.empty && entries[slot].key != key { slot = (slot + 1) & mask }
        entries[slot] = Entry(key: key, value: value)
    }

    @inline(__always)
    func get(_ key: Int64) -> Int32? {
        if let values {
            let offset = UInt64(bitPattern: key &- low)
            guard offset < slots else { return nil }
            let v = values[Int(offset)]
            return v == Self.empty ? nil : v
        }
        let entries = entries!
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
        if let values {
            let offset = UInt64(bitPattern: key &- low)
            if offset < slots { batchrun_prefetch_keep(values + Int(offset)) }
        } else if let entries {
            batchrun_prefetch_keep(entries + (Self.hash(key) & mask))
        }
    }
}
