#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte counters of one column of a reader: proof of what a scan touched.
public struct ColumnReadCounters: Hashable, Sendable {
    /// Chunks decoded.
    public var chunksRead = 0
    /// Stored (compressed) bytes checksummed and decompressed.
    public var storedBytesRead = 0
    /// Bytes produced by decompression.
    public var decompressedBytes = 0
    /// Mapped bytes handed back to the kernel after their chunks were decoded.
    public var releasedBytes = 0
}

/// Reads one segment file through a read-only mapping.
///
/// Opening validates the file (magics, version, footer bounds and checksum, every chunk's
/// bounds) before any offset is trusted; a chunk is checksummed and decompressed only when
/// its column is read, into this reader's reusable scratch buffer, and decoded into the
/// caller's vector. After decoding, the chunk's pages are released from the resident set.
public final class SegmentReader {
    public let path: String
    public let schema: Schema
    public let rowCount: Int
    public let rowGroups: [RowGroupInfo]
    public let metadata: [String: String]
    public let fileBytes: Int
    public private(set) var counters: [ColumnReadCounters]
    /// Release pages of a chunk once it is decoded (on by default).
    public var releasesPages = true
    static let faultAroundSlackBytes = 128 << 10

    let file: MappedFile
    private let codecs = Codecs()
    /// Decompression buffer: allocated by the first compressed chunk read, freed with this
    /// reader (a table scan keeps one reader at a time).
    private let scratch = ByteBuffer(capacity: 0)
    /// Where the footer and trailer begin: the bytes `releaseFooterPages()` gives back.
    private let footerOffset: Int

    public convenience init(path: String) throws(SegmentError) {
        let fd = try SystemIO.open(path, O_RDONLY)
        try self.init(fd: fd, path: path)
    }

    /// Takes ownership of the open file `fd` (closed once mapped).
    public convenience init(fd: Int32, path: String) throws(SegmentError) {
        try self.init(file: try MappedFile(fd: fd, path: path))
    }

    /// Reads a file already mapped (a `TableReader`'s): the mapping is shared, the parsed
    /// footer is this reader's own.
    init(file: MappedFile) throws(SegmentError) {
        self.path = file.path
        self.file = file
        fileBytes = file.size
        let parsed = try file.withBytes { (bytes) throws(SegmentError) in try Footer.parse(bytes, path: file.path) }
        footerOffset = parsed.footerOffset
        schema = parsed.schema
        rowCount = parsed.rowCount
        rowGroups = parsed.rowGroups
        metadata = parsed.metadata
        counters = Array(repeating: ColumnReadCounters(), count: parsed.schema.count)
    }

    /// The most rows in any row group: the capacity a vector needs to receive a chunk.
    public var rowGroupRowsMax: Int { rowGroups.map(\.rowCount).max() ?? 1 }

    /// Takes the footer's pages out of the resident set (once it is parsed, only chunks
    /// are read).
    func releaseFooterPages() {
        guard releasesPages else { return }
        file.release(footerOffset..<fileBytes)
    }

    /// A vector sized for any chunk of column `column`.
    public func makeVector(column: Int) -> ColumnVector {
        ColumnVector(type: schema.fields[column].type, capacity: max(rowGroupRowsMax, 1))
    }

    /// Decodes chunk (`rowGroup`, `column`) into `vector`, replacing its contents.
    public func read(column: Int, rowGroup: Int, into vector: ColumnVector) throws(SegmentError) {
        precondition(column >= 0 && column < schema.count, "column \(column) out of range")
        precondition(rowGroup >= 0 && rowGroup < rowGroups.count, "row group \(rowGroup) out of range")
        let field = schema.fields[column]
        precondition(vector.type == field.type, "vector type \(vector.type) differs from column \(field.name)'s \(field.type)")
        let group = rowGroups[rowGroup]
        let chunk = group.chunks[column]
        try file.withBytes { (bytes) throws(SegmentError) in
            let storedRange = chunk.offset..<(chunk.offset + chunk.storedBytes)
            let stored = UnsafeRawBufferPointer(rebasing: bytes[storedRange])
            guard Checksum.xxh64(stored) == chunk.checksum else {
                throw SegmentError(.corrupt, path: path, column: field.name, offset: chunk.offset,
                                   "chunk of row group \(rowGroup) fails its checksum: the file is damaged; restore it or re-run the stage that wrote it")
            }
            func decode(_ payload: UnsafeRawBufferPointer) throws(SegmentError) {
                do {
                    try ChunkDecoder.decode(payload, type: field.type, encoding: chunk.encoding,
                                            rows: group.rowCount, nullCount: chunk.stats.nullCount, into: vector)
                } catch {
                    throw SegmentError(.corrupt, path: path, column: field.name,
                                       offset: chunk.compression.kind == .none ? chunk.offset + error.payloadOffset : chunk.offset,
                                       "chunk of row group \(rowGroup) does not decode: \(error.message)")
                }
            }
            if chunk.compression.kind == .none {
                try decode(stored)
            } else {
                scratch.removeAll()
                scratch.reserve(chunk.encodedBytes)
                let result = scratch.withUnsafeMutableBytes { dst in
                    codecs.decompress(chunk.compression.kind, stored, into: UnsafeMutableRawBufferPointer(rebasing: dst[0..<chunk.encodedBytes]))
                }
                if case .failure(let f) = result {
                    throw SegmentError(.codec, path: path, column: field.name, offset: chunk.offset, "chunk of row group \(rowGroup): \(f.message)")
                }
                scratch.count = chunk.encodedBytes
                try scratch.withUnsafeBytes { (b) throws(SegmentError) in try decode(b) }
            }
            counters[column].chunksRead += 1
            counters[column].storedBytesRead += chunk.storedBytes
            counters[column].decompressedBytes += chunk.compression.kind == .none ? 0 : chunk.encodedBytes
            // The kernel's fault-around maps up to 64 KiB of neighbouring pages on each read
            // fault, on both sides: pages of chunks already released, and of the chunks
            // after it, which a scan of some columns never reads (nor releases). Releasing
            // 128 KiB on either side of the chunk takes those back too, so the resident set
            // of a scan stays small whatever columns it reads (pages released early are
            // read again from the page cache when their chunk comes).
            if releasesPages {
                let range = max(0, chunk.offset - Self.faultAroundSlackBytes)..<min(fileBytes, storedRange.upperBound + Self.faultAroundSlackBytes)
                counters[column].releasedBytes += file.release(range)
            }
        }
    }
}
