import Segments

/// The keys of a reference table, for `x in R` and lookups: integers or byte strings,
/// each with a value (the row it is on), built once from the key column and then probed
/// per row, allocating nothing.
///
/// Integer keys live in an `Int64Map` (dense when the keys are numbered from a base, as
/// most ids are; hashed otherwise), so a probe touches one cache line and a batch of
/// probes can be started ahead (`prefetch`). String keys live in an open addressing table
/// of their hashes (load at most 1/2) over one arena of their bytes.
public final class KeySet: @unchecked Sendable {
    private let integers: Int64Map?
    private var slots: [Int64] = []
    private var values: [Int32] = []
    /// For strings: each slot's key is arena[starts[k] ..< starts[k] + lengths[k]].
    private var starts: [Int32] = []
    private var lengths: [Int32] = []
    private var arena: [UInt8] = []
    private var used: [Bool] = []
    private var mask = 0
    public var isString: Bool { integers == nil }
    public private(set) var count = 0

    /// The keys of rows `0..<column.count` of `column` (null rows are skipped), each with
    /// its row number; a key on several rows keeps its last.
    public init(column: ColumnVector) {
        let rows = column.count
        guard column.type != .string else {
            integers = nil
            var size = 16
            while size < rows * 2 { size <<= 1 }
            slots = [Int64](repeating: 0, count: size)
            values = [Int32](repeating: 0, count: size)
            used = [Bool](repeating: false, count: size)
            starts = [Int32](repeating: 0, count: size)
            lengths = [Int32](repeating: 0, count: size)
            mask = size - 1
            for r in 0..<rows where !column.isNull(r) { column.withString(r) { insert($0, value: Int32(r)) } }
            return
        }
        var (low, high, keys) = (Int64.max, Int64.min, 0)
        for r in 0..<rows where !column.isNull(r) {
            let v = column.integer(r)
            (low, high, keys) = (min(low, v), max(high, v), keys + 1)
        }
        let map = Int64Map(count: keys, range: keys == 0 ? nil : low...high)
        for r in 0..<rows where !column.isNull(r) {
            let v = column.integer(r)
            if map.get(v) == nil { count += 1 }
            map.set(v, Int32(r))
        }
        integers = map
    }

    /// The bytes a set of the keys of `column` takes: for integers the `Int64Map` their
    /// range and count give (dense or hashed); for strings a hash, a value, a start, a
    /// length and a flag a slot, and the keys' bytes.
    static func bytes(for column: ColumnVector) -> Int {
        let rows = column.count
        guard column.type != .string else { return Int64Map.hashCapacity(rows) * 21 + column.heapUsedBytes }
        var (low, high, keys) = (Int64.max, Int64.min, 0)
        for r in 0..<rows where !column.isNull(r) {
            let v = column.integer(r)
            (low, high, keys) = (min(low, v), max(high, v), keys + 1)
        }
        return Int64Map.bytes(count: keys, range: keys == 0 ? nil : low...high)
    }

    @inline(__always)
    static func spread(_ v: Int64) -> Int {
        var x = UInt64(bitPattern: v) &* 0x9E37_79B9_7F4A_7C15
        x ^= x >> 29
        return Int(truncatingIfNeeded: x)
    }

    @inline(__always)
    public func contains(_ v: Int64) -> Bool { value(v) != nil }

    /// The value of key `v`, nil when it is not in the set (or the set holds strings).
    @inline(__always)
    public func value(_ v: Int64) -> Int32? { integers?.get(v) }

    /// Starts loading what a probe for integer key `v` reads first.
    @inline(__always)
    public func prefetch(_ v: Int64) { integers?.prefetch(v) }

    private func insert(_ bytes: UnsafeRawBufferPointer, value: Int32) {
        let h = Int64(bitPattern: Checksum.xxh64(bytes))
        var k = Self.spread(h) & mask
        while used[k] {
            if slots[k] == h && equal(k, bytes) {
                values[k] = value
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
        guard integers == nil else { return nil }
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

    /// Each row's value for rows `0..<n` of `key` (a column of the keys' type) into
    /// `out`: the row of its key, or -1 for a null or absent key. Integer probes are
    /// started some rows ahead, so their cache misses overlap.
    public func values(of key: ColumnVector, rows n: Int, into out: UnsafeMutablePointer<Int32>) {
        probe(key, rows: n) { r, v in out[r] = v }
    }

    /// Calls `body(r, value)` for rows `0..<n` of `key` in order, value -1 for a null or
    /// absent key; integer probes are started `ahead` rows early.
    @inline(__always)
    public func probe(_ key: ColumnVector, rows n: Int, _ body: (Int, Int32) -> Void) {
        if let integers {
            let ahead = 16
            for r in 0..<min(ahead, n) where !key.isNull(r) { integers.prefetch(key.integer(r)) }
            for r in 0..<n {
                if r + ahead < n && !key.isNull(r + ahead) { integers.prefetch(key.integer(r + ahead)) }
                body(r, key.isNull(r) ? -1 : integers.get(key.integer(r)) ?? -1)
            }
        } else {
            for r in 0..<n { body(r, key.isNull(r) ? -1 : key.withString(r) { value($0) } ?? -1) }
        }
    }
}
