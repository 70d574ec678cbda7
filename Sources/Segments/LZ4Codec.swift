import CLZ4

/// LZ4 block compression (liblz4), fast to decode: the codec for hot columns and spills.
enum LZ4Codec {
    /// LZ4 takes sizes as Int32; its own cap on one input is LZ4_MAX_INPUT_SIZE.
    static let maxInputBytes = 0x7E00_0000

    static func maxCompressedSize(_ n: Int) -> Int {
        n <= maxInputBytes ? Int(LZ4_compressBound(Int32(n))) : n + n / 255 + 16
    }

    static func compress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) -> Result<Int, CodecFailure> {
        guard src.count <= maxInputBytes else {
            return .failure(CodecFailure(code: -1, message: "a chunk of \(src.count) bytes exceeds LZ4's limit of \(maxInputBytes); use smaller row groups"))
        }
        if src.count == 0 { return .success(0) }
        let n = LZ4_compress_default(
            src.baseAddress!.assumingMemoryBound(to: CChar.self),
            dst.baseAddress!.assumingMemoryBound(to: CChar.self),
            Int32(src.count), Int32(min(dst.count, Int(Int32.max))))
        guard n > 0 else { return .failure(CodecFailure(code: Int(n), message: "LZ4 compression failed")) }
        return .success(Int(n))
    }

    static func decompress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) -> Result<Int, CodecFailure> {
        if dst.count == 0 { return src.count == 0 ? .success(0) : .failure(CodecFailure(code: -1, message: "LZ4 data where none was expected")) }
        guard src.count > 0, src.count <= Int(Int32.max), dst.count <= Int(Int32.max) else {
            return .failure(CodecFailure(code: -1, message: "LZ4 block size out of range"))
        }
        let n = LZ4_decompress_safe(
            src.baseAddress!.assumingMemoryBound(to: CChar.self),
            dst.baseAddress!.assumingMemoryBound(to: CChar.self),
            Int32(src.count), Int32(dst.count))
        guard n == Int32(dst.count) else {
            return .failure(CodecFailure(code: Int(n), message: n < 0 ? "LZ4 data is malformed (code \(n))" : "LZ4 data decoded to \(n) bytes, expected \(dst.count)"))
        }
        return .success(Int(n))
    }
}
