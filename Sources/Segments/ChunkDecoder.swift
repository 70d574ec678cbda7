/// Decodes a chunk payload (see `ChunkEncoder`) into a `ColumnVector`.
///
/// The payload has passed its checksum, but every length and index is still checked
/// before use: a file written by a buggy or hostile writer must give an error, not a
/// crash or an out-of-bounds read.
enum ChunkDecoder {
    struct Failure: Error {
        var message: String
        /// Offset inside the payload where the problem was seen.
        var payloadOffset: Int
    }

    static func decode(_ payload: UnsafeRawBufferPointer, type: ColumnType, encoding: Encoding,
                       rows n: Int, nullCount: Int, into v: ColumnVector) throws(Failure) {
        guard n <= v.capacity else {
            throw Failure(message: "chunk has \(n) rows but the vector holds \(v.capacity)", payloadOffset: 0)
        }
        guard nullCount >= 0, nullCount <= n else { throw Failure(message: "null count \(nullCount) exceeds \(n) rows", payloadOffset: 0) }
        v.reset()
        let base = payload.baseAddress ?? UnsafeRawPointer(bitPattern: 16)!
        var pos = 0
        if nullCount > 0 {
            let bytes = (n + 7) / 8
            try need(payload, pos, bytes, "validity bitmap")
            UnsafeMutableRawPointer(v.validity).copyMemory(from: base, byteCount: bytes)
            // Clear the bits past the last row in the last word.
            let words = (n + 63) / 64
            let tailBits = n % 64
            if bytes % 8 != 0 {
                let partialStart = bytes
                (UnsafeMutableRawPointer(v.validity) + partialStart).initializeMemory(as: UInt8.self, repeating: 0, count: words * 8 - partialStart)
            }
            if tailBits > 0 { v.validity[words - 1] &= (UInt64(1) << UInt64(tailBits)) &- 1 }
            var valid = 0
            for w in 0..<words { valid += v.validity[w].nonzeroBitCount }
            guard n - valid == nullCount else {
                throw Failure(message: "validity bitmap has \(n - valid) nulls, footer says \(nullCount)", payloadOffset: 0)
            }
            pos = bytes
        } else {
            v.markAllValid(n)
        }
        switch (type, encoding) {
        case (.bool, .plain):
            try need(payload, pos, BitPacking.packedBytes(count: n, width: 1), "bool bitmap")
            for i in 0..<n {
                v.values.storeBytes(of: UInt8(BitPacking.unpack(base + pos, i, 1, 1)), toByteOffset: i, as: UInt8.self)
            }
        case (.string, .plain):
            try decodePlainStrings(payload, base, pos, n, v)
        case (.string, .dictionary):
            try decodeDictionary(payload, base, pos, n, v)
        case (_, .plain) where type != .string:
            let w = type.valueWidthBytes
            try need(payload, pos, n * w, "values")
            v.values.copyMemory(from: base + pos, byteCount: n * w)
        case (_, .frameOfReference) where type.isInteger:
            try need(payload, pos, 9, "frame-of-reference header")
            let lo = Int64(bitPattern: base.loadLE64(pos))
            let width = Int(base.load(fromByteOffset: pos + 8, as: UInt8.self))
            guard width <= 64 else { throw Failure(message: "bit width \(width) > 64", payloadOffset: pos + 8) }
            pos += 9
            try need(payload, pos, BitPacking.packedBytes(count: n, width: width), "packed values")
            unpackFrameOfReference(base + pos, n, width, lo, v)
        case (_, .delta) where type.isInteger:
            try need(payload, pos, 17, "delta header")
            let first = Int64(bitPattern: base.loadLE64(pos))
            let dLo = Int64(bitPattern: base.loadLE64(pos + 8))
            let width = Int(base.load(fromByteOffset: pos + 16, as: UInt8.self))
            guard width <= 64 else { throw Failure(message: "bit width \(width) > 64", payloadOffset: pos + 16) }
            pos += 17
            let deltas = max(n - 1, 0)
            try need(payload, pos, BitPacking.packedBytes(count: deltas, width: width), "packed deltas")
            unpackDelta(base + pos, n, width, first, dLo, v)
        default:
            throw Failure(message: "encoding \(encoding.name) does not apply to type \(type)", payloadOffset: 0)
        }
        if nullCount > 0 && type != .string {
            // Null slots read as 0, whatever the encoding stored there.
            let w = type.valueWidthBytes
            for i in 0..<n where v.isNull(i) {
                (v.values + i * w).initializeMemory(as: UInt8.self, repeating: 0, count: w)
            }
        }
        v.setDecoded(count: n, nullCount: nullCount)
    }

    private static func need(_ payload: UnsafeRawBufferPointer, _ pos: Int, _ n: Int, _ what: String) throws(Failure) {
        guard n >= 0, pos <= payload.count, n <= payload.count - pos else {
            throw Failure(message: "\(what) needs \(n) bytes at payload offset \(pos), only \(payload.count - min(pos, payload.count)) remain", payloadOffset: pos)
        }
    }

    private static func unpackFrameOfReference(_ src: UnsafeRawPointer, _ n: Int, _ width: Int, _ lo: Int64, _ v: ColumnVector) {
        let mask = BitPacking.mask(width)
        if v.type.valueWidthBytes == 8 {
            let out = v.values.assumingMemoryBound(to: Int64.self)
            if width == 0 {
                for i in 0..<n { out[i] = lo }
            } else if width <= 56 {
                for i in 0..<n {
                    let bit = i &* width
                    let x = (src.loadLE64(bit &>> 3) &>> UInt64(bit & 7)) & mask
                    out[i] = lo &+ Int64(bitPattern: x)
                }
            } else {
                for i in 0..<n { out[i] = lo &+ Int64(bitPattern: BitPacking.unpack(src, i, width, mask)) }
            }
        } else {
            let out = v.values.assumingMemoryBound(to: Int32.self)
            for i in 0..<n {
                out[i] = Int32(truncatingIfNeeded: lo &+ Int64(bitPattern: BitPacking.unpack(src, i, width, mask)))
            }
        }
    }

    private static func unpackDelta(_ src: UnsafeRawPointer, _ n: Int, _ width: Int, _ first: Int64, _ dLo: Int64, _ v: ColumnVector) {
        guard n > 0 else { return }
        let mask = BitPacking.mask(width)
        var x = first
        if v.type.valueWidthBytes == 8 {
            let out = v.values.assumingMemoryBound(to: Int64.self)
            out[0] = x
            if width <= 56 {
                for i in 1..<max(n, 1) {
                    let bit = (i &- 1) &* width
                    let d = (src.loadLE64(bit &>> 3) &>> UInt64(bit & 7)) & mask
                    x = x &+ Int64(bitPattern: d) &+ dLo
                    out[i] = x
                }
            } else {
                for i in 1..<max(n, 1) {
                    x = x &+ Int64(bitPattern: BitPacking.unpack(src, i - 1, width, mask)) &+ dLo
                    out[i] = x
                }
            }
        } else {
            let out = v.values.assumingMemoryBound(to: Int32.self)
            out[0] = Int32(truncatingIfNeeded: x)
            for i in 1..<max(n, 1) {
                x = x &+ Int64(bitPattern: BitPacking.unpack(src, i - 1, width, mask)) &+ dLo
                out[i] = Int32(truncatingIfNeeded: x)
            }
        }
    }

    private static func decodePlainStrings(_ payload: UnsafeRawBufferPointer, _ base: UnsafeRawPointer, _ start: Int,
                                           _ n: Int, _ v: ColumnVector) throws(Failure) {
        try need(payload, start, 4 * n, "string offsets")
        let total = n == 0 ? 0 : Int(base.loadLE32(start + 4 * (n - 1)))
        let bytesAt = start + 4 * n
        try need(payload, bytesAt, total, "string bytes")
        var prev: UInt32 = 0
        v.setOffset(0, 0)
        for i in 0..<n {
            let end = base.loadLE32(start + 4 * i)
            guard end >= prev else { throw Failure(message: "string offsets go backwards at row \(i)", payloadOffset: start + 4 * i) }
            v.setOffset(i + 1, end)
            prev = end
        }
        v.ensureHeap(total, preserving: 0)
        if total > 0 { v.heap.copyMemory(from: base + bytesAt, byteCount: total) }
    }

    private static func decodeDictionary(_ payload: UnsafeRawBufferPointer, _ base: UnsafeRawPointer, _ start: Int,
                                         _ n: Int, _ v: ColumnVector) throws(Failure) {
        var pos = start
        try need(payload, pos, 4, "dictionary size")
        let entries = Int(base.loadLE32(pos))
        pos += 4
        try need(payload, pos, 4 * entries, "dictionary offsets")
        let offsetsAt = pos
        pos += 4 * entries
        let dictBytes = entries == 0 ? 0 : Int(base.loadLE32(offsetsAt + 4 * (entries - 1)))
        try need(payload, pos, dictBytes, "dictionary bytes")
        let bytesAt = pos
        pos += dictBytes
        try need(payload, pos, 1, "index width")
        let width = Int(base.load(fromByteOffset: pos, as: UInt8.self))
        guard width <= 32 else { throw Failure(message: "index width \(width) > 32", payloadOffset: pos) }
        pos += 1
        try need(payload, pos, BitPacking.packedBytes(count: n, width: width), "dictionary indices")
        var prev: UInt32 = 0
        for e in 0..<entries {
            let end = base.loadLE32(offsetsAt + 4 * e)
            guard end >= prev else { throw Failure(message: "dictionary offsets go backwards at entry \(e)", payloadOffset: offsetsAt + 4 * e) }
            prev = end
        }
        let mask = BitPacking.mask(width)
        var heapEnd = 0
        v.setOffset(0, 0)
        for i in 0..<n {
            if !v.isNull(i) {
                let e = Int(BitPacking.unpack(base + pos, i, width, mask))
                guard e < entries else { throw Failure(message: "dictionary index \(e) out of \(entries) entries at row \(i)", payloadOffset: pos) }
                let s = e == 0 ? 0 : Int(base.loadLE32(offsetsAt + 4 * (e - 1)))
                let len = Int(base.loadLE32(offsetsAt + 4 * e)) - s
                v.ensureHeap(heapEnd + len, preserving: heapEnd)
                if len > 0 { (v.heap + heapEnd).copyMemory(from: base + bytesAt + s, byteCount: len) }
                heapEnd += len
            }
            guard heapEnd <= Int(UInt32.max) else { throw Failure(message: "decoded strings exceed 4 GiB", payloadOffset: pos) }
            v.setOffset(i + 1, UInt32(heapEnd))
        }
    }
}
