/// Encodes one column chunk (all rows of a `ColumnVector`) into its payload bytes and
/// computes its statistics, choosing the smallest encoding the type allows.
///
/// Payload layout (before compression):
/// ```
///   [validity bitmap, ceil(n/8) bytes]   only when the chunk has nulls; bit set = not null
///   [values in the chosen encoding]      see docs/FORMAT.md
/// ```
/// Scratch space (the widened integers, the dictionary table) is kept between chunks,
/// so a writer stops allocating once it has seen its largest chunk.
final class ChunkEncoder {
    private var ints: UnsafeMutablePointer<Int64>
    private var intsCapacity: Int
    private var indices: UnsafeMutablePointer<UInt32>
    private let dictionary = StringDictionary()

    /// A dictionary holds at most this many distinct strings (indices stay <= 16 bits).
    static let dictionaryEntriesMax = 65_536

    init() {
        intsCapacity = 1024
        ints = .allocate(capacity: intsCapacity)
        indices = .allocate(capacity: intsCapacity)
    }

    deinit {
        ints.deallocate()
        indices.deallocate()
    }

    private func ensureScratch(_ n: Int) {
        guard n > intsCapacity else { return }
        ints.deallocate()
        indices.deallocate()
        intsCapacity = max(n, intsCapacity * 2)
        ints = .allocate(capacity: intsCapacity)
        indices = .allocate(capacity: intsCapacity)
    }

    /// Appends the payload of `v` to `out` and returns the chosen encoding and stats.
    func encode(_ v: ColumnVector, into out: ByteBuffer, plainOnly: Bool = false) -> (Encoding, ChunkStats) {
        let n = v.count
        if v.nullCount > 0 {
            let bytes = (n + 7) / 8
            out.append(UnsafeRawBufferPointer(start: UnsafeRawPointer(v.validity), count: bytes))
        }
        switch v.type {
        case .bool: return encodeBool(v, into: out)
        case .float64: return encodeDouble(v, into: out)
        case .string: return encodeString(v, into: out, plainOnly: plainOnly)
        default: return encodeInteger(v, into: out, plainOnly: plainOnly)
        }
    }

    // MARK: integers

    private func encodeInteger(_ v: ColumnVector, into out: ByteBuffer, plainOnly: Bool) -> (Encoding, ChunkStats) {
        let n = v.count
        var stats = ChunkStats(nullCount: v.nullCount, min: nil, max: nil)
        if n == 0 { return (.plain, stats) }
        ensureScratch(n)
        // Null rows take the previous value (leading nulls the first non-null one), so they
        // widen neither the frame of reference nor the deltas.
        var fill: Int64 = 0
        if v.nullCount > 0 {
            for i in 0..<n where !v.isNull(i) {
                fill = v.integer(i)
                break
            }
        }
        var lo = Int64.max
        var hi = Int64.min
        if v.nullCount == 0 && v.type.valueWidthBytes == 8 {
            for i in 0..<n {
                let x = v.int64(i)
                ints[i] = x
                if x < lo { lo = x }
                if x > hi { hi = x }
            }
        } else {
            for i in 0..<n {
                let x: Int64
                if v.isNull(i) { x = fill } else { x = v.integer(i); fill = x }
                ints[i] = x
                if x < lo { lo = x }
                if x > hi { hi = x }
            }
        }
        if v.nullCount < n {
            stats.min = .int(lo)
            stats.max = .int(hi)
        }
        var dLo = Int64.max
        var dHi = Int64.min
        var prev = ints[0]
        for i in 1..<max(n, 1) {
            let d = ints[i] &- prev
            prev = ints[i]
            if d < dLo { dLo = d }
            if d > dHi { dHi = d }
        }
        if n == 1 { dLo = 0; dHi = 0 }
        let forWidth = BitPacking.bitWidth(UInt64(bitPattern: hi &- lo))
        let deltaWidth = BitPacking.bitWidth(UInt64(bitPattern: dHi &- dLo))
        let plainSize = n * v.type.valueWidthBytes
        let forSize = 9 + BitPacking.packedBytes(count: n, width: forWidth)
        let deltaSize = 17 + BitPacking.packedBytes(count: n - 1, width: deltaWidth)
        let ints = self.ints
        if plainOnly || (plainSize <= forSize && plainSize <= deltaSize) {
            // Null slots hold 0 in memory; the plain bytes are written as they are.
            out.append(UnsafeRawBufferPointer(start: v.values, count: plainSize))
            return (.plain, stats)
        }
        if forSize <= deltaSize {
            out.appendLE(UInt64(bitPattern: lo))
            out.append(UInt8(forWidth))
            BitPacking.pack(count: n, width: forWidth, into: out) { UInt64(bitPattern: ints[$0] &- lo) }
            return (.frameOfReference, stats)
        }
        out.appendLE(UInt64(bitPattern: ints[0]))
        out.appendLE(UInt64(bitPattern: dLo))
        out.append(UInt8(deltaWidth))
        BitPacking.pack(count: n - 1, width: deltaWidth, into: out) { i in
            UInt64(bitPattern: (ints[i + 1] &- ints[i]) &- dLo)
        }
        return (.delta, stats)
    }

    // MARK: float64 and bool

    private func encodeDouble(_ v: ColumnVector, into out: ByteBuffer) -> (Encoding, ChunkStats) {
        let n = v.count
        var lo = Double.infinity
        var hi = -Double.infinity
        var seen = false
        for i in 0..<n where !v.isNull(i) {
            let x = v.double(i)
            if x.isNaN { continue }
            seen = true
            lo = Swift.min(lo, x)
            hi = Swift.max(hi, x)
        }
        out.append(UnsafeRawBufferPointer(start: v.values, count: n * 8))
        return (.plain, ChunkStats(nullCount: v.nullCount, min: seen ? .double(lo) : nil, max: seen ? .double(hi) : nil))
    }

    private func encodeBool(_ v: ColumnVector, into out: ByteBuffer) -> (Encoding, ChunkStats) {
        let n = v.count
        var anyTrue = false
        var anyFalse = false
        for i in 0..<n where !v.isNull(i) {
            if v.bool(i) { anyTrue = true } else { anyFalse = true }
        }
        BitPacking.pack(count: n, width: 1, into: out) { v.bool($0) ? 1 : 0 }
        let seen = anyTrue || anyFalse
        return (.plain, ChunkStats(nullCount: v.nullCount, min: seen ? .bool(!anyFalse) : nil, max: seen ? .bool(anyTrue) : nil))
    }

    // MARK: strings

    private func encodeString(_ v: ColumnVector, into out: ByteBuffer, plainOnly: Bool) -> (Encoding, ChunkStats) {
        let n = v.count
        ensureScratch(n)
        let plainSize = 4 * n + v.heapUsedBytes
        // Try a dictionary when it can pay: at most half as many distinct values as rows.
        let entriesMax = Swift.min(Self.dictionaryEntriesMax, n / 2)
        if !plainOnly, n >= 2, dictionary.build(v, entriesMax: entriesMax, indices: indices) {
            let d = dictionary
            // The dictionary holds every distinct non-null value: min and max are among them.
            let stats = stringStats(v, rows: (0..<d.count).lazy.map { d.firstRow($0) })
            let width = BitPacking.bitWidth(UInt64(Swift.max(d.count - 1, 0)))
            let dictSize = 4 + 4 * d.count + d.bytesTotal + 1 + BitPacking.packedBytes(count: n, width: width)
            if dictSize < plainSize {
                out.appendLE(UInt32(d.count))
                var end: UInt32 = 0
                for e in 0..<d.count {
                    end += UInt32(d.length(e))
                    out.appendLE(end)
                }
                for e in 0..<d.count {
                    v.withString(d.firstRow(e)) { out.append($0) }
                }
                out.append(UInt8(width))
                let idx = indices
                BitPacking.pack(count: n, width: width, into: out) { UInt64(idx[$0]) }
                return (.dictionary, stats)
            }
            return (.plain, appendPlain(v, into: out, stats: stats))
        }
        return (.plain, appendPlain(v, into: out, stats: stringStats(v, rows: (0..<n).lazy.filter { !v.isNull($0) })))
    }

    /// Plain: the vector's end offsets (offsets[1...n]) then its bytes.
    private func appendPlain(_ v: ColumnVector, into out: ByteBuffer, stats: ChunkStats) -> ChunkStats {
        out.append(UnsafeRawBufferPointer(start: v.values + 4, count: 4 * v.count))
        out.append(UnsafeRawBufferPointer(start: v.heap, count: v.heapUsedBytes))
        return stats
    }

    /// Min and max of the non-null string rows `rows` of `v`.
    private func stringStats<Rows: Sequence<Int>>(_ v: ColumnVector, rows: Rows) -> ChunkStats {
        var lo = -1
        var hi = -1
        // Most comparisons are settled by the strings' first 16 bytes as two integers; only
        // equal ones need the full comparison.
        var loKey = (UInt64(0), UInt64(0)), hiKey = (UInt64(0), UInt64(0))
        for i in rows {
            let k = v.withString(i) { b in (Bytes.prefix(b), b.count > 8 ? Bytes.prefix(UnsafeRawBufferPointer(rebasing: b[8...])) : 0) }
            if lo < 0 { lo = i; hi = i; loKey = k; hiKey = k; continue }
            if k < loKey || (k == loKey && compareStrings(v, i, lo) < 0) { lo = i; loKey = k }
            if k > hiKey || (k == hiKey && compareStrings(v, i, hi) > 0) { hi = i; hiKey = k }
        }
        guard lo >= 0 else { return ChunkStats(nullCount: v.nullCount, min: nil, max: nil) }
        func stat(_ row: Int) -> StatValue {
            v.withString(row) { b in
                let cut = Swift.min(b.count, StatValue.stringPrefixBytes)
                return .bytes(Array(b[0..<cut]), exact: cut == b.count)
            }
        }
        return ChunkStats(nullCount: v.nullCount, min: stat(lo), max: stat(hi))
    }
}

/// Byte-wise comparison of two string rows of one vector (UTF-8 byte order).
func compareStrings(_ v: ColumnVector, _ a: Int, _ b: Int) -> Int {
    v.withString(a) { x in v.withString(b) { y in Bytes.compare(x, y) } }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
