import Segments
#if canImport(Glibc)
import Glibc
#endif

/// A finished spill file: a sequence of length-prefixed byte records.
public struct SpillFile: Sendable {
    public var path: String
    public var bytes: Int
    public var records: Int
}

/// Writes records to a spill file in LZ4-compressed blocks.
///
/// ```
///   block  = u32 rawBytes, u32 storedBytes, LZ4(raw) (or raw itself when it does not shrink)
///   raw    = record*           record = u32 length, bytes
/// ```
/// A block holds whole records; a record bigger than a block gets a block of its own.
/// Memory: one raw block, and for a compressing writer one compressed block, reserved by
/// the owner of the writer (`memoryBytes`). The raw buffer keeps 8 bytes in front for
/// the block header, so an uncompressed block is written as it is, without a copy.
public final class SpillWriter {
    public let path: String
    let manager: SpillManager
    let consumer: String
    private var fd: Int32
    /// The block being filled: 8 bytes of block header, then records.
    @exclusivity(unchecked) private var rawBase: UnsafeMutableRawPointer
    @exclusivity(unchecked) private var rawCapacity: Int
    @exclusivity(unchecked) private var rawCount = SpillWriter.headerBytes
    private let packed: ByteBuffer?
    private let codecs = Codecs()
    public let blockBytes: Int
    /// False for hash partitions: they are read back once, soon, and LZ4 would cost more
    /// time than the disk traffic it saves.
    public let compresses: Bool
    @exclusivity(unchecked) public private(set) var bytes = 0
    @exclusivity(unchecked) public private(set) var records = 0
    private var finished = false

    /// Memory a writer holds for a block size (and a reader, to read its blocks back).
    public static func memoryBytes(blockBytes: Int, compresses: Bool = true) -> Int {
        (compresses ? 2 : 1) * blockBytes + 64
    }

    static let headerBytes = 8

    init(manager: SpillManager, label: String, consumer: String, blockBytes: Int, compresses: Bool) throws(SpillError) {
        self.compresses = compresses
        self.manager = manager
        self.consumer = consumer
        self.blockBytes = blockBytes
        do {
            (path, fd) = try manager.createFile(label)
        } catch {
            throw SpillError.from(error, consumer: consumer)
        }
        rawCapacity = blockBytes + Self.headerBytes
        rawBase = UnsafeMutableRawPointer.allocate(byteCount: rawCapacity, alignment: 16)
        packed = compresses ? ByteBuffer(capacity: LZ4Bound.bytes(blockBytes) + Self.headerBytes) : nil
    }

    deinit {
        rawBase.deallocate()
        if !finished {
            SystemIO.close(fd)
            try? SystemIO.unlink(path) // an abandoned spill file; the folder goes at close anyway
            manager.release(bytes)
        }
    }

    /// Appends one record made of three parts.
    public func append(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, _ third: UnsafeRawBufferPointer) throws(SpillError) {
        let n = first.count + second.count + third.count
        let at = try claim(n)
        if first.count > 0 { at.copyMemory(from: first.baseAddress!, byteCount: first.count) }
        if second.count > 0 { (at + first.count).copyMemory(from: second.baseAddress!, byteCount: second.count) }
        if third.count > 0 { (at + first.count + second.count).copyMemory(from: third.baseAddress!, byteCount: third.count) }
    }

    /// Appends one record.
    @inline(__always)
    public func append(_ record: UnsafeRawBufferPointer) throws(SpillError) {
        let n = record.count
        let at = try claim(n)
        if n > 0 { at.copyMemory(from: record.baseAddress!, byteCount: n) }
    }

    /// Appends one record made of two parts.
    public func append(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) throws(SpillError) {
        try append(first, second, UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// Room for a record of `n` bytes in the current block, its length written: where its
    /// bytes go; nil when the block has no room (then `claim`, which flushes it). Never
    /// throws, so a caller holding the writer unretained can call it cheaply per record.
    @inline(__always)
    public func claimInBlock(_ n: Int) -> UnsafeMutableRawPointer? {
        guard rawCount + 4 + n <= blockBytes + Self.headerBytes else { return nil }
        return take(n)
    }

    /// Room for a record of `n` bytes in the block (flushed first when it is full), its
    /// length written: where its bytes go.
    @inline(__always)
    func claim(_ n: Int) throws(SpillError) -> UnsafeMutableRawPointer {
        if let at = claimInBlock(n) { return at }
        if rawCount > Self.headerBytes { try flush() }
        if rawCount + 4 + n > rawCapacity { growRaw(rawCount + 4 + n) }
        return take(n)
    }

    /// The next `4 + n` bytes of the block (which has room): the length, then the record.
    @inline(__always)
    private func take(_ n: Int) -> UnsafeMutableRawPointer {
        let at = rawBase + rawCount
        at.storeBytes(of: UInt32(n).littleEndian, as: UInt32.self)
        rawCount += 4 + n
        records += 1
        return at + 4
    }

    /// A record bigger than a block: the block buffer grows to hold it.
    private func growRaw(_ needed: Int) {
        let fresh = UnsafeMutableRawPointer.allocate(byteCount: needed, alignment: 16)
        fresh.copyMemory(from: rawBase, byteCount: rawCount)
        rawBase.deallocate()
        rawBase = fresh
        rawCapacity = needed
    }

    private func flush() throws(SpillError) {
        let payload = rawCount - Self.headerBytes
        guard payload > 0 else { return }
        // The block to write: the raw buffer itself, or its LZ4 form when that is smaller.
        var block = UnsafeRawBufferPointer(start: rawBase, count: rawCount)
        var stored = payload
        if let packed {
            packed.removeAll()
            packed.appendZeros(Self.headerBytes)
            let bound = LZ4Bound.bytes(payload)
            let result = packed.withSpareCapacity(bound) { dst in
                codecs.compress(.lz4, UnsafeRawBufferPointer(start: rawBase + Self.headerBytes, count: payload), into: dst)
            }
            if case .success(let n) = result, n < payload {
                packed.count += n
                stored = n
                block = packed.withUnsafeBytes { $0 } // packed outlives this call and is not resized below
            }
        }
        let header = UnsafeMutableRawPointer(mutating: block.baseAddress!)
        header.storeBytes(of: UInt32(payload).littleEndian, as: UInt32.self)
        header.storeBytes(of: UInt32(stored).littleEndian, toByteOffset: 4, as: UInt32.self)
        let size = block.count
        try manager.charge(size, consumer: consumer)
        do {
            try SystemIO.writeAll(fd, block, path: path)
        } catch {
            manager.release(size)
            throw SpillError.from(error, consumer: consumer)
        }
        bytes += size
        rawCount = Self.headerBytes
    }

    /// Writes the last block and closes the file. The file is not fsynced: a spill file
    /// never outlives its run.
    public func finish() throws(SpillError) -> SpillFile {
        try flush()
        SystemIO.close(fd)
        finished = true
        return SpillFile(path: path, bytes: bytes, records: records)
    }
}

/// Spill writers that records are routed among (a hash table's partitions, a sorter's
/// key ranges). A record reaches its writer's block through an unretained reference: no
/// retain and release of the writer per record.
struct SpillWriterSet {
    private(set) var writers: [SpillWriter]
    /// The same writers, unretained (`writers` keeps them alive).
    private let refs: [Unmanaged<SpillWriter>]

    init(_ writers: [SpillWriter] = []) {
        self.writers = writers
        refs = writers.map { Unmanaged.passUnretained($0) }
    }

    var isEmpty: Bool { writers.isEmpty }

    /// Room for a record of `n` bytes in writer `i` (its block flushed first when full):
    /// where the record's bytes go.
    @inline(__always)
    func claim(_ i: Int, _ n: Int) throws(SpillError) -> UnsafeMutableRawPointer {
        if let at = refs[i]._withUnsafeGuaranteedRef({ $0.claimInBlock(n) }) { return at }
        return try writers[i].claim(n)
    }
}

/// Reads a spill file's records in order, then deletes the file (it is consumed).
public final class SpillReader {
    public let file: SpillFile
    let manager: SpillManager
    let consumer: String
    private var fd: Int32
    @exclusivity(unchecked) private var offset = 0
    private let raw: ByteBuffer
    private let packed: ByteBuffer
    @exclusivity(unchecked) private var position = 0
    private let codecs = Codecs()
    private var closed = false

    public init(file: SpillFile, manager: SpillManager, consumer: String, blockBytes: Int) throws(SpillError) {
        self.file = file
        self.manager = manager
        self.consumer = consumer
        do {
            fd = try SystemIO.open(file.path, O_RDONLY)
        } catch {
            throw SpillError.from(error, consumer: consumer)
        }
        raw = ByteBuffer(capacity: blockBytes)
        packed = ByteBuffer(capacity: 64)
    }

    deinit { close() }

    /// Deletes the file and gives its bytes back to the quota.
    public func close() {
        guard !closed else { return }
        closed = true
        SystemIO.close(fd)
        manager.discard(file)
    }

    /// The next record, valid until the next call; nil at the end.
    public func next() throws(SpillError) -> UnsafeRawBufferPointer? {
        if position >= raw.count {
            guard try loadBlock() else { return nil }
        }
        let length = raw.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: position, as: UInt32.self).littleEndian) }
        let start = position + 4
        position = start + length
        return raw.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[start..<(start + length)]) }
    }

    /// Up to `max` next records, all from one block, into `out`: valid until the next
    /// call; 0 at the end. Lets a caller look ahead (and prefetch) without copying.
    public func next(upTo max: Int, into out: UnsafeMutablePointer<UnsafeRawBufferPointer>) throws(SpillError) -> Int {
        if position >= raw.count {
            guard try loadBlock() else { return 0 }
        }
        return raw.withUnsafeBytes { b in
            var n = 0
            var at = position
            while n < max && at < b.count {
                let length = Int(b.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian)
                out[n] = UnsafeRawBufferPointer(rebasing: b[(at + 4)..<(at + 4 + length)])
                at += 4 + length
                n += 1
            }
            position = at
            return n
        }
    }

    private func readExactly(_ n: Int, into buffer: ByteBuffer) throws(SpillError) {
        buffer.removeAll()
        buffer.reserve(n)
        var got = 0
        while got < n {
            let k: Int
            do {
                k = try buffer.withSpareCapacity(n - got) { (dst) throws(SegmentError) in
                    try SystemIO.pread(fd, into: dst, at: offset + got, path: file.path)
                }
            } catch {
                throw SpillError.from(error, consumer: consumer)
            }
            if k == 0 {
                throw SpillError(.io, consumer: consumer, requestedBytes: 0, "spill file \(file.path) ends early at byte \(offset + got): it was changed or truncated")
            }
            buffer.count += k
            got += k
        }
        offset += n
    }

    private func loadBlock() throws(SpillError) -> Bool {
        guard offset < file.bytes else { return false }
        try readExactly(8, into: packed)
        let (rawCount, stored) = packed.withUnsafeBytes {
            (Int($0.loadUnaligned(fromByteOffset: 0, as: UInt32.self).littleEndian), Int($0.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian))
        }
        if stored == rawCount {
            // Stored as it is: read straight into the record buffer.
            try readExactly(stored, into: raw)
            position = 0
            return true
        }
        try readExactly(stored, into: packed)
        raw.removeAll()
        raw.reserve(rawCount)
        let result = packed.withUnsafeBytes { src in
            raw.withSpareCapacity(rawCount) { dst in codecs.decompress(.lz4, src, into: UnsafeMutableRawBufferPointer(rebasing: dst[0..<rawCount])) }
        }
        guard case .success = result else {
            throw SpillError(.io, consumer: consumer, requestedBytes: 0, "spill file \(file.path) holds a damaged block at byte \(offset - stored - 8)")
        }
        raw.count = rawCount
        position = 0
        return true
    }
}

enum LZ4Bound {
    static func bytes(_ n: Int) -> Int { n + n / 255 + 16 }
}

extension SpillManager {
    /// Deletes a finished spill file (consumed, or no longer wanted) and gives its bytes
    /// back to the quota.
    func discard(_ file: SpillFile) {
        try? SystemIO.unlink(file.path) // best effort: the folder goes at the end of the run anyway
        release(file.bytes)
    }

    /// A new spill file; the caller reserves `SpillWriter.memoryBytes(blockBytes:)`.
    public func newWriter(label: String, consumer: String, blockBytes: Int = 256 << 10, compresses: Bool = true) throws(SpillError) -> SpillWriter {
        try SpillWriter(manager: self, label: label, consumer: consumer, blockBytes: blockBytes, compresses: compresses)
    }
}

extension SpillError {
    /// A system-call failure while spilling: out of disk, or another I/O error.
    static func from(_ e: SegmentError, consumer: String) -> SpillError {
        if e.errno == ENOSPC || e.errno == EDQUOT {
            return SpillError(.outOfDisk, consumer: consumer, requestedBytes: 0,
                              "the spill folder's disk is full (\(e.path)); free space, point --spill-dir at a bigger disk, or raise --memory-limit")
        }
        return SpillError(.io, consumer: consumer, requestedBytes: 0, "\(e)")
    }
}
