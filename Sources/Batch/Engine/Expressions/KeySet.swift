import Segments

/// The keys of a reference table, for `x in R` and lookups: integers or byte strings,
/// each with a value (the row it is on), in an open addressing table sized once (load at
/// most 1/2), so a probe allocates nothing.
public final class KeySet: @unchecked Sendable {
    private var slots: [Int64]
    private var values: [Int32]
    /// For strings: each slot's key is arena[starts[k] ..< starts[k] + lengths[k]].
    private var starts: [Int32] = []
    private var lengths: [Int32] = []
    private var arena: [UInt8] = []
    private var used: [Bool]
    private let mask: Int
    public let isString: Bool
    public private(set) var count = 0

    /// A set of about `capacity` keys.
    public init(capacity: Int, strings: Bool) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int64](repeating: 0, count: size)
        values = [Int32](repeating: 0, count: size)
        used = [Bool](repeating: false, count: size)
        mask = size - 1
        isString = strings
        if strings {
            starts = [Int32](repeating: 0, count: size)
            lengths = [Int32](repeating: 0, count: size)
        }
    }

    @inline(__always)
    static func spread(_ v: Int64) -> Int {
        var x = UInt64(bitPattern: v) &* 0x9E37_79B9_7F4A_7C15
        x ^= x >> 29
        return Int(truncatingIfNeeded: x)
    }

    /// Adds key `v` with `value`; a key already there keeps its first value unless
    /// `replacing`.
    public func insert(_ v: Int64, value: Int32 = 0, replacing: Bool = false) {
        precondition(!isString && count * 2 < slots.count, "key set is full or holds strings")
        var k = Self.spread(v) & mask
        while used[k] {
            if slots[k] == v {
                if replacing { values[k] = value }
                return
            }
            k = (k + 1) & mask
        }
        used[k] = true
        slots[k] = v
        values[k] = value
        count += 1
    }

    public func contains(_ v: Int64) -> Bool { value(v) != nil }

    /// The value of key `v`, nil when it is not in the set.
    public func value(_ v: Int64) -> Int32? {
        var k = Self.spread(v) & mask
        while used[k] {
            if slots[k] == v { return values[k] }
            k = (k + 1) & mask
        }
        return nil
    }

    public func insert(_ bytes: UnsafeRawBufferPointer, value: Int32 = 0, replacing: Bool = false) {
        precondition(isString && count * 2 < slots.count, "key set is full or holds integers")
        let h = Int64(bitPattern: Checksum.xxh64(bytes))
        var k = Self.spread(h) & mask
        while used[k] {
            if slots[k] == h && equal(k, bytes) {
                if replacing { values[k] = value }
                return
            }
            k = (k + 1) & mask
        }
        used[k] = true
        slots[k] = h
        values[k] = value
        starts[k] = Int32(arena.count)
        lengths[k] = Int32(bytes.count)
        arena.append(contentsOf: bytes)
        count += 1
    }

    public func contains(_ bytes: UnsafeRawBufferPointer) -> Bool { value(bytes) != nil }

    /// The value of key `bytes`, nil when it is not in the set.
    public func value(_ bytes: UnsafeRawBufferPointer) -> Int32? {
        let h = Int64(bitPattern: Checksum.xxh64(bytes))
        var k = Self.spread(h) & mask
        while used[k] {
            if slots[k] == h && equal(k, bytes) { return values[k] }
            k = (k + 1) & mask
        }
        return nil
    }

    private func equal(_ k: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard Int(lengths[k]) == bytes.count else { return false }
        return arena.withUnsafeBytes { a in
            Bytes.equal(UnsafeRawBufferPointer(rebasing: a[Int(starts[k])..<(Int(starts[k]) + bytes.count)]), bytes)
        }
    }
}
