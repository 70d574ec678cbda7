/// The identity codec: stored bytes are the encoded bytes.
enum NoneCodec {
    static func maxCompressedSize(_ n: Int) -> Int { n }

    static func compress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) -> Int {
        precondition(dst.count >= src.count)
        if let s = src.baseAddress, let d = dst.baseAddress, src.count > 0 { d.copyMemory(from: s, byteCount: src.count) }
        return src.count
    }

    static func decompress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) -> Result<Int, CodecFailure> {
        guard src.count == dst.count else {
            return .failure(CodecFailure(code: -1, message: "stored size \(src.count) differs from the expected \(dst.count)"))
        }
        if let s = src.baseAddress, let d = dst.baseAddress, src.count > 0 { d.copyMemory(from: s, byteCount: src.count) }
        return .success(src.count)
    }
}
