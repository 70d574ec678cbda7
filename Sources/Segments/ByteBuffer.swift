/// A growable byte buffer that is reused: `removeAll()` keeps its storage, so a writer
/// that encodes chunk after chunk into the same buffer stops allocating once it has
/// grown to the largest chunk.
///
/// The raw pointer stays inside this type; callers reach the bytes through
/// `withUnsafeBytes` or the typed append helpers.
public final class ByteBuffer {
    @usableFromInline var storage: UnsafeMutableRawPointer
    public private(set) var capacity: Int
    public var count: Int

    /// Slack kept past `count` so that decoders may load 8 bytes at any valid offset.
    static let slackBytes = 16

    public init(capacity: Int = 4096) {
        let cap = max(capacity, 64)
        storage = UnsafeMutableRawPointer.allocate(byteCount: cap + Self.slackBytes, alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: cap + Self.slackBytes)
        self.capacity = cap
        count = 0
    }

    deinit { storage.deallocate() }

    public func removeAll() { count = 0 }

    /// Empties the buffer and gives back its storage beyond `capacity` bytes.
    public func shrink(toCapacity capacity: Int) {
        count = 0
        let cap = max(capacity, 64)
        guard self.capacity > cap else { return }
        storage.deallocate()
        storage = UnsafeMutableRawPointer.allocate(byteCount: cap + Self.slackBytes, alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: cap + Self.slackBytes)
        self.capacity = cap
    }

    /// Makes room for `additional` more bytes past `count`.
    @inlinable
    public func reserve(_ additional: Int) {
        if count + additional > capacity { grow(to: count + additional) }
    }

    @usableFromInline
    func grow(to needed: Int) {
        var cap = capacity
        while cap < needed { cap = cap * 2 }
        let fresh = UnsafeMutableRawPointer.allocate(byteCount: cap + Self.slackBytes, alignment: 16)
        fresh.copyMemory(from: storage, byteCount: count)
        (fresh + count).initializeMemory(as: UInt8.self, repeating: 0, count: cap + Self.slackBytes - count)
        storage.deallocate()
        storage = fresh
        capacity = cap
    }

    /// Pointer to the writable region `count..<count+n`, after reserving it; the caller must
    /// then advance `count` by what it wrote.
    @usableFromInline
    func tail(reserving n: Int) -> UnsafeMutableRawPointer {
        reserve(n)
        return storage + count
    }

    /// Calls `body` with the writable region `count..<count+n` (reserved first). The caller
    /// then advances `count` by what it wrote; the pointer is valid only inside `body`.
    public func withSpareCapacity<R, E: Error>(_ n: Int, _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: tail(reserving: n), count: n))
    }

    @inlinable
    public func append(_ v: UInt8) {
        reserve(1)
        storage.storeBytes(of: v, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// Appends `v` little-endian, at its natural width.
    @inlinable
    public func appendLE<T: FixedWidthInteger>(_ v: T) { appendBits(v.littleEndian) }

    /// Appends `v` big-endian, at its natural width: memcmp order for unsigned values.
    @inlinable
    public func appendBE<T: FixedWidthInteger>(_ v: T) { appendBits(v.bigEndian) }

    /// Appends the bytes of `v` as they are in memory.
    @inlinable
    func appendBits<T: FixedWidthInteger>(_ v: T) {
        let n = MemoryLayout<T>.size
        reserve(n)
        storage.storeBytes(of: v, toByteOffset: count, as: T.self)
        count += n
    }

    public func append(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        (storage + count).copyMemory(from: base, byteCount: bytes.count)
        count += bytes.count
    }

    public func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    public func appendZeros(_ n: Int) {
        reserve(n)
        if n <= 16 {
            // A row's null bitmap is a byte or two: a loop, not a memset call per row.
            for i in 0..<n { storage.storeBytes(of: 0, toByteOffset: count + i, as: UInt8.self) }
        } else {
            (storage + count).initializeMemory(as: UInt8.self, repeating: 0, count: n)
        }
        count += n
    }

    /// Overwrites a little-endian UInt32 at `offset`, which must lie inside `count`.
    public func setLE32(_ v: UInt32, at offset: Int) {
        precondition(offset >= 0 && offset + 4 <= count)
        storage.storeBytes(of: v.littleEndian, toByteOffset: offset, as: UInt32.self)
    }

    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: storage, count: count))
    }

    public func withUnsafeMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: storage, count: capacity))
    }

    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}

/// A bounds-checked little-endian reader over bytes the caller does not trust.
///
/// Every read checks the remaining length first and throws `SegmentError.truncated` or
/// `.corrupt` with the absolute file offset, so a damaged footer can never make the
/// reader index outside the mapping.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    /// Absolute offset of `bytes[0]` in the file, for error messages.
    let baseOffset: Int
    let path: String
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer, baseOffset: Int, path: String) {
        self.bytes = bytes
        self.baseOffset = baseOffset
        self.path = path
    }

    var remaining: Int { bytes.count - position }
    var fileOffset: Int { baseOffset + position }

    func fail(_ what: String) -> SegmentError {
        SegmentError(.corrupt, path: path, offset: fileOffset, "footer is damaged: \(what); the file cannot be read, restore it from a copy or re-run the stage that wrote it")
    }

    mutating func need(_ n: Int, _ what: String) throws(SegmentError) {
        guard n >= 0, n <= remaining else { throw fail("\(what) runs past the end of the footer") }
    }

    mutating func u8(_ what: String) throws(SegmentError) -> UInt8 {
        try need(1, what)
        defer { position += 1 }
        return bytes.load(fromByteOffset: position, as: UInt8.self)
    }

    mutating func u16(_ what: String) throws(SegmentError) -> UInt16 {
        try need(2, what)
        defer { position += 2 }
        return UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt16.self))
    }

    mutating func u32(_ what: String) throws(SegmentError) -> UInt32 {
        try need(4, what)
        defer { position += 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
    }

    mutating func u64(_ what: String) throws(SegmentError) -> UInt64 {
        try need(8, what)
        defer { position += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
    }

    mutating func bytes(_ n: Int, _ what: String) throws(SegmentError) -> [UInt8] {
        try need(n, what)
        defer { position += n }
        return Array(UnsafeRawBufferPointer(rebasing: bytes[position..<(position + n)]))
    }

    mutating func string(_ n: Int, _ what: String) throws(SegmentError) -> String {
        let raw = try bytes(n, what)
        guard let s = String(validating: raw, as: UTF8.self) else { throw fail("\(what) is not valid UTF-8") }
        return s
    }
}
