import CZstd

/// zstd (libzstd) with one compression and one decompression context, reused chunk after
/// chunk so that no context is allocated per chunk.
final class ZstdCodec {
    private let cctx: OpaquePointer
    private let dctx: OpaquePointer

    init() {
        guard let c = ZSTD_createCCtx(), let d = ZSTD_createDCtx() else {
            fatalError("libzstd could not allocate a context: the process is out of memory")
        }
        cctx = c
        dctx = d
    }

    deinit {
        ZSTD_freeCCtx(cctx)
        ZSTD_freeDCtx(dctx)
    }

    static func maxCompressedSize(_ n: Int) -> Int { ZSTD_compressBound(n) }

    func compress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer, level: Int) -> Result<Int, CodecFailure> {
        let n = ZSTD_compressCCtx(cctx, dst.baseAddress, dst.count, src.baseAddress, src.count, Int32(level))
        if ZSTD_isError(n) != 0 { return .failure(Self.failure(n)) }
        return .success(n)
    }

    func decompress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) -> Result<Int, CodecFailure> {
        let n = ZSTD_decompressDCtx(dctx, dst.baseAddress, dst.count, src.baseAddress, src.count)
        if ZSTD_isError(n) != 0 { return .failure(Self.failure(n)) }
        guard n == dst.count else {
            return .failure(CodecFailure(code: -1, message: "zstd data decoded to \(n) bytes, expected \(dst.count)"))
        }
        return .success(n)
    }

    static func failure(_ code: Int) -> CodecFailure {
        let name = ZSTD_getErrorName(code).map { String(cString: $0) } ?? "unknown"
        return CodecFailure(code: Int(ZSTD_getErrorCode(code).rawValue), message: "zstd: \(name)")
    }
}
