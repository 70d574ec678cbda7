/// An open-addressing hash map from Int64 keys to Int32 values, filled once and then
/// probed per row: reference keys (silver's rules 10 and 11, gold's product categories).
/// Linear probing at a load factor of at most 1/2; callers reserve `bytes(count:)` from
/// the budget first.
struct Int64Map {
    private var keys: [Int64]
    private var values: [Int32]
    private let mask: Int
    private static let empty = Int32.min

    init(count: Int) {
        let capacity = Self.capacity(count)
        keys = [Int64](repeating: 0, count: capacity)
        values = [Int32](repeating: Self.empty, count: capacity)
        mask = capacity - 1
    }

    static func capacity(_ count: Int) -> Int {
        var c = 16
        while c < count * 2 { c <<= 1 }
        return c
    }

    /// The memory of a map for `count` keys.
    static func bytes(count: Int) -> Int { capacity(count) * 12 }

    @inline(__always)
    static func hash(_ key: Int64) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: key) &* 0x9E37_79B9_7F4A_7C15) >> 17)
    }

    /// Sets `key`'s value (Int32.min is reserved), replacing an earlier one.
    mutating func set(_ key: Int64, _ value: Int32) {
        precondition(value != Self.empty, "Int32.min is the empty marker")
        var slot = Self.hash(key) & mask
        while values[slot] != Self.empty && keys[slot] != key { slot = (slot + 1) & mask }
        keys[slot] = key
        values[slot] = value
    }

    @inline(__always)
    func get(_ key: Int64) -> Int32? {
        var slot = Self.hash(key) & mask
        while true {
            let v = values[slot]
            if v == Self.empty { return nil }
            if keys[slot] == key { return v }
            slot = (slot + 1) & mask
        }
    }

    @inline(__always)
    func contains(_ key: Int64) -> Bool { get(key) != nil }
}
