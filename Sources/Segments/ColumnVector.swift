/// One column of a batch: a fixed-capacity buffer of `capacity` rows, reused batch after
/// batch (`reset()` keeps every allocation).
///
/// Layout in memory:
/// ```
///   values    capacity x valueWidthBytes      fixed-width values, little-endian
///             (strings: capacity+1 UInt32 end offsets, offsets[0] == 0)
///   validity  ceil(capacity/64) UInt64 words   bit i set <=> row i is not null
///   heap      string bytes (strings only)     grows by doubling; `heapLimitBytes` caps it
/// ```
/// A null row holds 0 (or, for strings, an empty range) in `values`. Appending past
/// `capacity` traps: the caller sizes batches; `isFull` tells when to flush.
public final class ColumnVector {
    public let type: ColumnType
    public let capacity: Int
    /// Rows held. (Stored under a module-visible name so that the append methods can be
    /// inlined into other modules' per-value loops: a call across modules costs a retain
    /// and release of the vector per value.)
    @inlinable public var count: Int { rows }
    @inlinable public var nullCount: Int { nulls }
    @usableFromInline var rows: Int = 0
    @usableFromInline var nulls: Int = 0

    @usableFromInline let values: UnsafeMutableRawPointer
    @usableFromInline let validity: UnsafeMutablePointer<UInt64>
    @usableFromInline var heap: UnsafeMutableRawPointer
    @usableFromInline var heapBytes: Int
    @inlinable public var heapCapacityBytes: Int { heapBytes }
    /// Largest heap this vector may grow to: string offsets are UInt32.
    public static let heapLimitBytes = Int(UInt32.max)

    let validityWords: Int

    public init(type: ColumnType, capacity: Int, heapBytes: Int = 0) {
        precondition(capacity >= 1, "a column vector needs room for at least one row")
        self.type = type
        self.capacity = capacity
        let valueSlots = type == .string ? capacity + 1 : capacity
        values = UnsafeMutableRawPointer.allocate(byteCount: valueSlots * type.valueWidthBytes + 8, alignment: 16)
        values.initializeMemory(as: UInt8.self, repeating: 0, count: valueSlots * type.valueWidthBytes + 8)
        validityWords = (capacity + 63) / 64
        validity = UnsafeMutablePointer<UInt64>.allocate(capacity: validityWords)
        validity.initialize(repeating: 0, count: validityWords)
        let heapCap = type == .string ? max(heapBytes, 64) : 8
        heap = UnsafeMutableRawPointer.allocate(byteCount: heapCap, alignment: 16)
        self.heapBytes = heapCap
    }

    deinit {
        values.deallocate()
        validity.deallocate()
        heap.deallocate()
    }

    @inlinable public var isFull: Bool { rows == capacity }

    /// Bytes of string data held.
    public var heapUsedBytes: Int { type == .string ? Int(offset(count)) : 0 }

    /// Empties the vector and keeps its storage.
    public func reset() {
        validity.update(repeating: 0, count: (count + 63) / 64)
        rows = 0
        nulls = 0
        if type == .string { values.storeBytes(of: UInt32(0), as: UInt32.self) }
    }

    // MARK: validity

    @inlinable @inline(__always)
    public func isNull(_ row: Int) -> Bool {
        validity[row >> 6] & (1 << UInt64(row & 63)) == 0
    }

    /// Validity bits of rows `64w ..< 64w + 64`: bit i set <=> row 64w + i is not null.
    @inlinable
    public func validityWord(_ w: Int) -> UInt64 { validity[w] }

    @inlinable @inline(__always)
    func markValid(_ row: Int) {
        validity[row >> 6] |= (1 << UInt64(row & 63))
    }

    // MARK: appending

    @inlinable @inline(__always)
    func claimRow() -> Int {
        precondition(rows < capacity, "column vector is full; flush before appending")
        let r = rows
        rows = r + 1
        return r
    }

    @inlinable @inline(__always)
    public func appendNull() {
        let r = claimRow()
        nulls += 1
        switch type {
        case .string:
            setOffset(r + 1, offset(r))
        default:
            let w = type.valueWidthBytes
            (values + r * w).initializeMemory(as: UInt8.self, repeating: 0, count: w)
        }
    }

    @inlinable @inline(__always)
    public func appendInt64(_ v: Int64) {
        assert(type.valueWidthBytes == 8 && type != .float64)
        let r = claimRow()
        values.storeBytes(of: v, toByteOffset: r * 8, as: Int64.self)
        markValid(r)
    }

    @inlinable @inline(__always)
    public func appendInt32(_ v: Int32) {
        assert(type == .int32 || type == .date)
        let r = claimRow()
        values.storeBytes(of: v, toByteOffset: r * 4, as: Int32.self)
        markValid(r)
    }

    @inlinable @inline(__always)
    public func appendDouble(_ v: Double) {
        assert(type == .float64)
        let r = claimRow()
        values.storeBytes(of: v, toByteOffset: r * 8, as: Double.self)
        markValid(r)
    }

    @inlinable @inline(__always)
    public func appendBool(_ v: Bool) {
        assert(type == .bool)
        let r = claimRow()
        values.storeBytes(of: v ? 1 : 0, toByteOffset: r, as: UInt8.self)
        markValid(r)
    }

    @inlinable
    public func appendString(_ bytes: UnsafeRawBufferPointer) {
        assert(type == .string)
        let r = claimRow()
        let start = Int(offset(r))
        let end = start + bytes.count
        if end > heapBytes { growHeap(end, preserving: start) }
        if let src = bytes.baseAddress { Bytes.copy(heap + start, src, bytes.count) }
        setOffset(r + 1, UInt32(end))
        markValid(r)
    }

    public func appendString(_ s: String) {
        var s = s
        s.withUTF8 { appendString(UnsafeRawBufferPointer($0)) }
    }

    // MARK: reading

    @inlinable
    public func int64(_ row: Int) -> Int64 { values.load(fromByteOffset: row * 8, as: Int64.self) }
    @inlinable
    public func int32(_ row: Int) -> Int32 { values.load(fromByteOffset: row * 4, as: Int32.self) }
    @inlinable
    public func double(_ row: Int) -> Double { values.load(fromByteOffset: row * 8, as: Double.self) }
    @inlinable
    public func bool(_ row: Int) -> Bool { values.load(fromByteOffset: row, as: UInt8.self) != 0 }

    @inlinable @inline(__always)
    func offset(_ i: Int) -> UInt32 { values.load(fromByteOffset: i * 4, as: UInt32.self) }

    /// Text bytes of rows `rows` of a string vector (0 for other types).
    public func stringBytes(_ rows: Range<Int>) -> Int {
        guard type == .string, !rows.isEmpty else { return 0 }
        return Int(offset(rows.upperBound)) - Int(offset(rows.lowerBound))
    }
    @inlinable @inline(__always)
    func setOffset(_ i: Int, _ v: UInt32) { values.storeBytes(of: v, toByteOffset: i * 4, as: UInt32.self) }

    /// Calls `body` with the bytes of string row `row`; the pointer is valid only inside.
    /// Inlinable: the row codecs of other modules call it per value.
    @inlinable
    public func withString<R>(_ row: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let start = Int(offset(row))
        let end = Int(offset(row + 1))
        return try body(UnsafeRawBufferPointer(start: heap + start, count: end - start))
    }

    /// String row `row` as a Swift String (invalid UTF-8 repaired); not for hot paths.
    public func string(_ row: Int) -> String {
        withString(row) { String(decoding: $0, as: UTF8.self) }
    }

    /// Integer value of a row of any integer-like type, widened to Int64.
    @inlinable
    public func integer(_ row: Int) -> Int64 {
        switch type.valueWidthBytes {
        case 4: return Int64(int32(row))
        case 1: return Int64(values.load(fromByteOffset: row, as: UInt8.self))
        default: return int64(row)
        }
    }

    // MARK: bulk access for encoders and decoders (module-internal)

    /// Grows the heap to hold `needed` bytes, keeping its first `used` bytes.
    func ensureHeap(_ needed: Int, preserving used: Int) {
        if needed > heapBytes { growHeap(needed, preserving: used) }
    }

    /// The heap, reallocated to hold `needed` (more than it has) bytes.
    @usableFromInline @inline(never)
    func growHeap(_ needed: Int, preserving used: Int) {
        precondition(needed <= Self.heapLimitBytes, "a string column batch may hold at most 4 GiB of text")
        var cap = heapBytes
        while cap < needed { cap = min(cap * 2, Self.heapLimitBytes) }
        let fresh = UnsafeMutableRawPointer.allocate(byteCount: cap, alignment: 16)
        fresh.copyMemory(from: heap, byteCount: used)
        heap.deallocate()
        heap = fresh
        heapBytes = cap
    }

    /// Sets the row count after a decoder filled `values`, `validity` and `heap` directly.
    func setDecoded(count: Int, nullCount: Int) {
        precondition(count <= capacity)
        rows = count
        nulls = nullCount
    }

    /// Marks rows `rows` valid, a word at a time.
    func markValid(_ rows: Range<Int>) {
        var r = rows.lowerBound
        while r < rows.upperBound {
            let bit = r & 63, n = min(64 - bit, rows.upperBound - r)
            let mask = n == 64 ? UInt64.max : ((UInt64(1) << UInt64(n)) &- 1) << UInt64(bit)
            validity[r >> 6] |= mask
            r += n
        }
    }

    /// Clears the validity words for `n` rows and marks them all valid.
    func markAllValid(_ n: Int) {
        let full = n / 64
        for w in 0..<full { validity[w] = ~0 }
        let rest = n % 64
        if rest > 0 { validity[full] = (UInt64(1) << UInt64(rest)) &- 1 }
        for w in (full + (rest > 0 ? 1 : 0))..<validityWords { validity[w] = 0 }
    }
}

extension ColumnVector {
    /// Empties this bool vector and fills it with `test` of each of the first `n` strings
    /// of `strings`, null where the string is: a predicate over a string column (`x =
    /// 'literal'`, `x in (...)`) in one pass, the values written in place and the
    /// validity copied word by word, with no per-row append.
    @inlinable
    public func fill(rows n: Int, testing strings: ColumnVector, _ test: (UnsafeRawBufferPointer) -> Bool) {
        precondition(type == .bool && strings.type == .string, "fill(rows:testing:) makes a bool vector from a string vector")
        precondition(n <= capacity && n <= strings.count, "fill(rows:testing:) of \(n) rows: the vectors hold \(capacity) and \(strings.count)")
        reset()
        let out = values.assumingMemoryBound(to: UInt8.self)
        var start = Int(strings.values.load(as: UInt32.self))
        for r in 0..<n {
            let end = Int(strings.values.load(fromByteOffset: (r + 1) * 4, as: UInt32.self))
            out[r] = test(UnsafeRawBufferPointer(start: strings.heap + start, count: end - start)) ? 1 : 0
            start = end
        }
        copyValidity(of: strings, rows: n)
    }
}

/// A few short texts (4 to 16 bytes each) a string is tested against without a branch per
/// row: each text as its length and its first and last 4 or 8 bytes, which together hold
/// every byte of it. `ColumnVector.fill(rows:matching:_:negated:)` uses it for `x =
/// 'literal'` and `x in ('a', 'b')`, where the rows match in no pattern.
public struct ShortTexts: Sendable {
    @usableFromInline let texts: [(length: Int, wide: Bool, head: UInt64, tail: UInt64)]

    /// Nil when a text is shorter than 4 bytes or longer than 16, or there are none.
    public init?(_ texts: [[UInt8]]) {
        guard !texts.isEmpty, texts.allSatisfy({ (4...16).contains($0.count) }) else { return nil }
        self.texts = texts.map { t in
            let wide = t.count >= 8, width = wide ? 8 : 4
            func word(_ at: Int) -> UInt64 { (0..<width).reduce(UInt64(0)) { $0 | UInt64(t[at + $1]) << UInt64(8 * $1) } }
            return (t.count, wide, word(0), word(t.count - width))
        }
    }
}

extension ColumnVector {
    /// Empties this bool vector and fills it with whether each of the first `n` strings
    /// of `strings` is one of `texts` (not one, with `negated`), null where the string
    /// is. Each test loads a text's width of bytes at the string's start and at its end;
    /// the loads are clamped into the heap, which a string of the text's length never
    /// needs, so that a shorter string or one at the heap's edge reads no byte outside.
    public func fill(rows n: Int, matching strings: ColumnVector, _ texts: ShortTexts, negated: Bool = false) {
        precondition(type == .bool && strings.type == .string, "fill(rows:matching:) makes a bool vector from a string vector")
        precondition(n <= capacity && n <= strings.count, "fill(rows:matching:) of \(n) rows: the vectors hold \(capacity) and \(strings.count)")
        reset()
        let out = values.assumingMemoryBound(to: UInt8.self)
        let heap = strings.heap, last8 = strings.heapBytes - 8, last4 = strings.heapBytes - 4
        let flip: UInt8 = negated ? 1 : 0
        var start = Int(strings.values.load(as: UInt32.self))
        for r in 0..<n {
            let end = Int(strings.values.load(fromByteOffset: (r + 1) * 4, as: UInt32.self))
            var hit: UInt8 = 0
            for t in texts.texts {
                let head: UInt64, tail: UInt64
                if t.wide {
                    head = heap.loadUnaligned(fromByteOffset: Swift.min(start, last8), as: UInt64.self)
                    tail = heap.loadUnaligned(fromByteOffset: Swift.max(end - 8, 0), as: UInt64.self)
                } else {
                    head = UInt64(heap.loadUnaligned(fromByteOffset: Swift.min(start, last4), as: UInt32.self))
                    tail = UInt64(heap.loadUnaligned(fromByteOffset: Swift.max(end - 4, 0), as: UInt32.self))
                }
                let same = (end - start == t.length ? 1 : 0) & (head == t.head ? 1 : 0) & (tail == t.tail ? 1 : 0)
                hit |= UInt8(same)
            }
            out[r] = hit ^ flip
            start = end
        }
        copyValidity(of: strings, rows: n)
    }

    /// After a bool vector's first `n` values are written: validity as `other`'s for
    /// those rows, and a null row's value set to 0.
    @usableFromInline
    func copyValidity(of other: ColumnVector, rows n: Int) {
        let words = (n + 63) / 64
        var valid = 0
        for w in 0..<words {
            let bits = w == words - 1 && n % 64 != 0 ? other.validity[w] & ((1 << UInt64(n % 64)) &- 1) : other.validity[w]
            validity[w] = bits
            valid += bits.nonzeroBitCount
        }
        rows = n
        nulls = n - valid
        if nulls > 0 {
            let out = values.assumingMemoryBound(to: UInt8.self)
            for r in 0..<n where validity[r >> 6] & (1 << UInt64(r & 63)) == 0 { out[r] = 0 }
        }
    }
}
