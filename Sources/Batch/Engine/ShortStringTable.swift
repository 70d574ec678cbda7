import Segments

/// A handful of strings, each with a value, looked up by a string's bytes: the status
/// and channel sets and the currency rates, probed once per row. Strings up to 16 bytes
/// are matched by their length and two 8-byte words; longer ones by their bytes.
struct ShortStringTable: Sendable {
    private struct Entry: Sendable {
        var count: Int
        var head: UInt64
        var tail: UInt64
        var bytes: [UInt8]
        var value: Int64
    }
    private let entries: [Entry]

    /// Entries in order; of equal keys, the first one counts.
    init(_ pairs: [(key: [UInt8], value: Int64)]) {
        entries = pairs.map { p in
            p.key.withUnsafeBytes { b in
                let (head, tail) = Self.words(b)
                return Entry(count: b.count, head: head, tail: tail, bytes: p.key, value: p.value)
            }
        }
    }

    @inline(__always)
    private static func words(_ b: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
        (Bytes.prefix(b), b.count > 8 ? Bytes.prefix(UnsafeRawBufferPointer(rebasing: b[8..<Swift.min(b.count, 16)])) : 0)
    }

    /// The value of `key`, nil when the table does not hold it.
    @inline(__always)
    func value(_ key: UnsafeRawBufferPointer) -> Int64? {
        let (head, tail) = Self.words(key)
        for e in entries where e.count == key.count && e.head == head && e.tail == tail {
            if e.count <= 16 || e.bytes.withUnsafeBytes({ Bytes.equal($0, key) }) { return e.value }
        }
        return nil
    }
}
