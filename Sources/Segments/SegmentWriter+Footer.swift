/// Footer serialisation (docs/FORMAT.md, "Footer").
extension SegmentWriter {
    func encodeFooter() -> ByteBuffer {
        let out = ByteBuffer(capacity: 4096)
        out.appendLE(UInt32(schema.count))
        for f in schema.fields {
            let name = Array(f.name.utf8)
            out.appendLE(UInt16(name.count))
            out.append(name)
            out.append(f.type.code)
            out.append(f.type.scaleCode)
            out.append(f.nullable ? 1 : 0)
        }
        out.appendLE(UInt64(rowGroups.reduce(0) { $0 + $1.rowCount }))
        out.appendLE(UInt32(rowGroups.count))
        for g in rowGroups {
            out.appendLE(UInt32(g.rowCount))
            for c in g.chunks { Self.encodeChunk(c, into: out) }
        }
        let meta = options.metadata.sorted { $0.key < $1.key }
        out.appendLE(UInt32(meta.count))
        for (k, v) in meta {
            let kb = Array(k.utf8)
            let vb = Array(v.utf8)
            out.appendLE(UInt16(kb.count))
            out.append(kb)
            out.appendLE(UInt32(vb.count))
            out.append(vb)
        }
        return out
    }

    static func encodeChunk(_ c: ChunkInfo, into out: ByteBuffer) {
        out.appendLE(UInt64(c.offset))
        out.appendLE(UInt64(c.storedBytes))
        out.appendLE(UInt64(c.encodedBytes))
        out.appendLE(UInt64(c.rawBytes))
        out.append(c.compression.kind.rawValue)
        out.append(UInt8(c.compression.level))
        out.append(c.encoding.rawValue)
        out.appendLE(UInt64(c.stats.nullCount))
        out.appendLE(c.checksum)
        switch (c.stats.min, c.stats.max) {
        case (.int(let lo), .int(let hi)):
            out.append(SegmentFormat.StatKind.int.rawValue)
            out.appendLE(UInt64(bitPattern: lo))
            out.appendLE(UInt64(bitPattern: hi))
        case (.double(let lo), .double(let hi)):
            out.append(SegmentFormat.StatKind.double.rawValue)
            out.appendLE(lo.bitPattern)
            out.appendLE(hi.bitPattern)
        case (.bool(let lo), .bool(let hi)):
            out.append(SegmentFormat.StatKind.bool.rawValue)
            out.append(lo ? 1 : 0)
            out.append(hi ? 1 : 0)
        case (.bytes(let lo, let loExact), .bytes(let hi, let hiExact)):
            out.append(SegmentFormat.StatKind.bytes.rawValue)
            out.append((loExact ? 1 : 0) | (hiExact ? 2 : 0))
            out.appendLE(UInt16(lo.count))
            out.append(lo)
            out.appendLE(UInt16(hi.count))
            out.append(hi)
        default:
            out.append(SegmentFormat.StatKind.none.rawValue)
        }
    }
}
