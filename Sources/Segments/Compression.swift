/// Which codec compresses a column chunk, and at which level.
///
/// The text form, used by `--compression`, is `lz4`, `zstd`, `zstd:LEVEL` (1...19) or `none`.
public struct Compression: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: UInt8, Sendable {
        case none = 0
        case lz4 = 1
        case zstd = 2

        public var name: String {
            switch self {
            case .none: return "none"
            case .lz4: return "lz4"
            case .zstd: return "zstd"
            }
        }
    }

    public var kind: Kind
    /// zstd level; 0 for the other codecs.
    public var level: Int

    public static let none = Compression(kind: .none, level: 0)
    public static let lz4 = Compression(kind: .lz4, level: 0)
    /// zstd level 3: zstd's own default, a good balance of ratio and speed.
    public static let zstdDefaultLevel = 3
    public static func zstd(_ level: Int = zstdDefaultLevel) -> Compression { Compression(kind: .zstd, level: level) }

    public init(kind: Kind, level: Int) {
        self.kind = kind
        self.level = level
    }

    /// Parses `lz4`, `zstd`, `zstd:N` or `none`; nil for anything else.
    public init?(parsing text: String) {
        let t = text.lowercased()
        switch t {
        case "none": self = .none
        case "lz4": self = .lz4
        case "zstd": self = .zstd()
        default:
            guard t.hasPrefix("zstd:"), let level = Int(t.dropFirst(5)), (1...19).contains(level) else { return nil }
            self = .zstd(level)
        }
    }

    public var description: String {
        kind == .zstd ? "zstd:\(level)" : kind.name
    }
}

/// The codecs of one writer or reader, with their reusable contexts.
///
/// Each codec lives in a file of its own (`NoneCodec`, `LZ4Codec`, `ZstdCodec`) with the
/// same three entry points: `maxCompressedSize` (the analysis a caller needs to size the
/// output), `compress` and `decompress`.
public final class Codecs {
    private var zstd: ZstdCodec?

    public init() {}

    public func maxCompressedSize(_ kind: Compression.Kind, _ n: Int) -> Int {
        switch kind {
        case .none: return NoneCodec.maxCompressedSize(n)
        case .lz4: return LZ4Codec.maxCompressedSize(n)
        case .zstd: return ZstdCodec.maxCompressedSize(n)
        }
    }

    /// Compresses `src` into `dst` (sized by `maxCompressedSize`); returns the bytes written.
    public func compress(_ c: Compression, _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) -> Result<Int, CodecFailure> {
        switch c.kind {
        case .none: return .success(NoneCodec.compress(src, into: dst))
        case .lz4: return LZ4Codec.compress(src, into: dst)
        case .zstd: return zstdCodec().compress(src, into: dst, level: c.level)
        }
    }

    /// Decompresses `src` into `dst`, which must receive exactly `dst.count` bytes.
    public func decompress(_ kind: Compression.Kind, _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) -> Result<Int, CodecFailure> {
        switch kind {
        case .none: return NoneCodec.decompress(src, into: dst)
        case .lz4: return LZ4Codec.decompress(src, into: dst)
        case .zstd: return zstdCodec().decompress(src, into: dst)
        }
    }

    private func zstdCodec() -> ZstdCodec {
        if let z = zstd { return z }
        let z = ZstdCodec()
        zstd = z
        return z
    }
}

/// What a codec said when it failed: its own error code and text.
public struct CodecFailure: Error, Sendable {
    public var code: Int
    public var message: String
}
