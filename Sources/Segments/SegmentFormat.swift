/// The segment file format, version 1 (docs/FORMAT.md has every byte).
///
/// ```
///  0        8                                                      F          F+L       end
///  +--------+------------------------------------------------------+----------+---------+
///  | header | chunk(rg0,c0) chunk(rg0,c1) ... chunk(rgN,cM)         |  footer  | trailer |
///  +--------+------------------------------------------------------+----------+---------+
///  header : magic "BRSG" | version u16 | flags u16
///  chunk  : the column's payload (validity bitmap + encoded values), compressed
///  footer : schema, row groups, per chunk offset/sizes/codec/encoding/stats/checksum, metadata
///  trailer: footer length u32 | footer xxh64 u64 | version u16 | flags u16 | magic "BRSG"
/// ```
/// All integers are little-endian. A reader checks both magics, the version, the footer
/// bounds and checksum, and every chunk's bounds before it trusts any offset; a chunk's
/// own checksum is checked when that column is read.
public enum SegmentFormat {
    public static let magic: [UInt8] = Array("BRSG".utf8)
    public static let version: UInt16 = 1
    public static let headerBytes = 8
    public static let trailerBytes = 20
    /// Most rows one row group may hold (readers refuse more, so a damaged count cannot
    /// make them allocate without bound).
    public static let rowGroupRowsMax = 1 << 24
    /// The default rows per row group: 64 Ki rows keep one int64 chunk at 512 KiB.
    public static let rowGroupRowsDefault = 65_536
    /// File name extension of segment files.
    public static let fileExtension = "seg"

    enum StatKind: UInt8 {
        case none = 0, int = 1, double = 2, bool = 3, bytes = 4
    }
}

/// Where one column chunk lies and what it holds.
public struct ChunkInfo: Hashable, Sendable {
    /// Byte offset of the stored (compressed) chunk in the file.
    public var offset: Int
    public var storedBytes: Int
    /// Payload size after decompression (what the decoder reads).
    public var encodedBytes: Int
    /// Size of the values in the plain in-memory layout: the "uncompressed" size.
    public var rawBytes: Int
    public var compression: Compression
    public var encoding: Encoding
    public var stats: ChunkStats
    public var checksum: UInt64
}

public struct RowGroupInfo: Hashable, Sendable {
    public var firstRow: Int
    public var rowCount: Int
    public var chunks: [ChunkInfo]
}

/// What a finished segment holds.
public struct SegmentSummary: Hashable, Sendable {
    public var path: String
    public var rowCount: Int
    public var fileBytes: Int
    public var rawBytes: Int
}
