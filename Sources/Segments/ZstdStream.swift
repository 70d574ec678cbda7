import CZstd

/// zstd's streaming API for whole files (`.csv.zst` landing files), as opposed to
/// `ZstdCodec`, which compresses one chunk at a time. Both directions keep one context
/// for their lifetime and never hold more than the caller's buffers.
public final class ZstdStreamDecoder {
    private let dctx: OpaquePointer
    /// True when the last call ended exactly at the end of a frame.
    public private(set) var atFrameEnd = true

    public init() {
        guard let d = ZSTD_createDCtx() else {
            fatalError("libzstd could not allocate a decompression context: the process is out of memory")
        }
        dctx = d
    }

    deinit { ZSTD_freeDCtx(dctx) }

    /// Recommended size of the compressed input buffer.
    public static var inputSizeBytes: Int { ZSTD_DStreamInSize() }

    /// Decompresses from `input` into `output`; returns the bytes consumed and produced.
    public func decompress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Result<(consumed: Int, produced: Int), CodecFailure> {
        var inBuf = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var outBuf = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
        let r = ZSTD_decompressStream(dctx, &outBuf, &inBuf)
        if ZSTD_isError(r) != 0 { return .failure(ZstdCodec.failure(r)) }
        // A call that moved nothing (no input left) says nothing about the frame.
        if inBuf.pos > 0 || outBuf.pos > 0 { atFrameEnd = r == 0 }
        return .success((inBuf.pos, outBuf.pos))
    }
}

public final class ZstdStreamEncoder {
    private let cctx: OpaquePointer

    public init(level: Int) {
        guard let c = ZSTD_createCCtx() else {
            fatalError("libzstd could not allocate a compression context: the process is out of memory")
        }
        cctx = c
        ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, Int32(level))
    }

    deinit { ZSTD_freeCCtx(cctx) }

    /// Recommended size of the compressed output buffer.
    public static var outputSizeBytes: Int { ZSTD_CStreamOutSize() }

    /// Compresses `input` (all of it, calling `emit` with each full output piece); with
    /// `end`, also finishes the frame.
    public func compress(_ input: UnsafeRawBufferPointer, end: Bool, output: UnsafeMutableRawBufferPointer,
                         emit: (UnsafeRawBufferPointer) throws(SegmentError) -> Void) throws(SegmentError) {
        var inBuf = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while true {
            var outBuf = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
            let r = ZSTD_compressStream2(cctx, &outBuf, &inBuf, end ? ZSTD_e_end : ZSTD_e_continue)
            if ZSTD_isError(r) != 0 {
                throw SegmentError(.codec, path: "", ZstdCodec.failure(r).message)
            }
            if outBuf.pos > 0 { try emit(UnsafeRawBufferPointer(start: output.baseAddress, count: outBuf.pos)) }
            let done = end ? r == 0 : inBuf.pos == inBuf.size
            if done { return }
        }
    }
}
