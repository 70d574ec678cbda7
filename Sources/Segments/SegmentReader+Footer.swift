/// Validation and parsing of a segment's trailer and footer (docs/FORMAT.md).
struct Footer {
    var schema: Schema
    var rowCount: Int
    var rowGroups: [RowGroupInfo]
    var metadata: [String: String]
    /// Where the footer begins in the file.
    var footerOffset: Int

    static func parse(_ file: UnsafeRawBufferPointer, path: String) throws(SegmentError) -> Footer {
        let size = file.count
        let minimum = SegmentFormat.headerBytes + SegmentFormat.trailerBytes
        guard size >= minimum else {
            throw SegmentError(.truncated, path: path, offset: size,
                               "file is \(size) bytes, shorter than the smallest segment (\(minimum)): it is truncated or not a segment")
        }
        let base = file.baseAddress!
        guard Array(file[0..<4]) == SegmentFormat.magic else {
            throw SegmentError(.notASegment, path: path, offset: 0, "does not start with the segment magic 'BRSG': not a batchrun segment file")
        }
        let headVersion = base.loadLE16(4)
        guard headVersion == SegmentFormat.version else {
            throw SegmentError(.notASegment, path: path, offset: 4, "format version \(headVersion) is not supported (this build reads version \(SegmentFormat.version)); use a matching batchrun")
        }
        guard base.loadLE16(6) == 0 else {
            throw SegmentError(.corrupt, path: path, offset: 6, "header flags are not zero: the file is damaged")
        }
        let t = size - SegmentFormat.trailerBytes
        guard Array(file[(size - 4)..<size]) == SegmentFormat.magic else {
            throw SegmentError(.truncated, path: path, offset: size - 4, "does not end with the segment magic: the file is truncated or damaged")
        }
        guard base.loadLE16(t + 12) == SegmentFormat.version, base.loadLE16(t + 14) == 0 else {
            throw SegmentError(.corrupt, path: path, offset: t + 12, "trailer version or flags are wrong: the file is damaged")
        }
        let footerBytes = Int(base.loadLE32(t))
        let footerStart = t - footerBytes
        guard footerBytes >= 0, footerStart >= SegmentFormat.headerBytes else {
            throw SegmentError(.corrupt, path: path, offset: t, "footer length \(footerBytes) runs outside the file: the file is truncated or damaged")
        }
        let footer = UnsafeRawBufferPointer(rebasing: file[footerStart..<t])
        guard Checksum.xxh64(footer) == base.loadLE64(t + 4) else {
            throw SegmentError(.corrupt, path: path, offset: footerStart, "footer fails its checksum: the file is damaged; restore it or re-run the stage that wrote it")
        }
        var r = ByteReader(footer, baseOffset: footerStart, path: path)
        let columnCount = Int(try r.u32("column count"))
        guard columnCount <= 65_535 else { throw r.fail("column count \(columnCount) is implausible") }
        var fields: [Field] = []
        var names = Set<String>()
        for _ in 0..<columnCount {
            let nameLength = Int(try r.u16("column name length"))
            let name = try r.string(nameLength, "column name")
            let code = try r.u8("type code")
            let scale = try r.u8("decimal scale")
            let nullable = try r.u8("nullable flag")
            guard let type = ColumnType(code: code, scale: scale), nullable <= 1 else { throw r.fail("column '\(name)' has unknown type code \(code)") }
            guard names.insert(name).inserted else { throw r.fail("column name '\(name)' appears twice") }
            fields.append(Field(name, type, nullable: nullable == 1))
        }
        let schema = Schema(fields)
        let rowCount = Int(try r.u64("row count"))
        let groupCount = Int(try r.u32("row group count"))
        guard groupCount <= footer.count else { throw r.fail("row group count \(groupCount) is implausible") }
        var groups: [RowGroupInfo] = []
        var firstRow = 0
        var expectedOffset = SegmentFormat.headerBytes
        for g in 0..<groupCount {
            let rows = Int(try r.u32("row group rows"))
            guard rows >= 1, rows <= SegmentFormat.rowGroupRowsMax else { throw r.fail("row group \(g) has \(rows) rows") }
            var chunks: [ChunkInfo] = []
            for field in fields {
                let chunk = try parseChunk(&r, field: field, rows: rows)
                // Chunks are laid out back to back, in order, between header and footer.
                guard chunk.offset == expectedOffset, chunk.storedBytes <= footerStart - chunk.offset else {
                    throw r.fail("chunk of column '\(field.name)' in row group \(g) lies at \(chunk.offset)+\(chunk.storedBytes), outside \(expectedOffset)..<\(footerStart)")
                }
                expectedOffset += chunk.storedBytes
                chunks.append(chunk)
            }
            groups.append(RowGroupInfo(firstRow: firstRow, rowCount: rows, chunks: chunks))
            firstRow += rows
        }
        guard firstRow == rowCount else { throw r.fail("row groups hold \(firstRow) rows, the footer says \(rowCount)") }
        guard expectedOffset == footerStart else { throw r.fail("\(footerStart - expectedOffset) bytes between the last chunk and the footer are unaccounted for") }
        let metaCount = Int(try r.u32("metadata count"))
        var metadata: [String: String] = [:]
        for _ in 0..<metaCount {
            let k = try r.string(Int(try r.u16("metadata key length")), "metadata key")
            let v = try r.string(Int(try r.u32("metadata value length")), "metadata value")
            metadata[k] = v
        }
        guard r.remaining == 0 else { throw r.fail("\(r.remaining) unexpected bytes at the end of the footer") }
        return Footer(schema: schema, rowCount: rowCount, rowGroups: groups, metadata: metadata, footerOffset: footerStart)
    }

    private static func parseChunk(_ r: inout ByteReader, field: Field, rows: Int) throws(SegmentError) -> ChunkInfo {
        let offset = Int(truncatingIfNeeded: try r.u64("chunk offset"))
        let stored = Int(truncatingIfNeeded: try r.u64("chunk stored size"))
        let encoded = Int(truncatingIfNeeded: try r.u64("chunk encoded size"))
        let raw = Int(truncatingIfNeeded: try r.u64("chunk raw size"))
        let codecCode = try r.u8("codec")
        let level = Int(try r.u8("codec level"))
        let encodingCode = try r.u8("encoding")
        let nulls = Int(truncatingIfNeeded: try r.u64("null count"))
        let checksum = try r.u64("chunk checksum")
        guard let kind = Compression.Kind(rawValue: codecCode) else { throw r.fail("column '\(field.name)': unknown codec \(codecCode)") }
        guard let encoding = Encoding(rawValue: encodingCode) else { throw r.fail("column '\(field.name)': unknown encoding \(encodingCode)") }
        guard offset >= 0, stored >= 0, encoded >= 0, raw >= 0, nulls >= 0, nulls <= rows else {
            throw r.fail("column '\(field.name)': negative size or null count")
        }
        // Sizes are bounded by what the encoder can produce, so a hostile footer cannot
        // make the reader allocate without bound.
        let rawExpected = field.type == .string ? 4 * rows : rows * field.type.valueWidthBytes
        let rawOK = field.type == .string ? (raw >= rawExpected && raw - rawExpected <= Int(UInt32.max)) : raw == rawExpected
        guard rawOK, encoded <= raw + (rows + 7) / 8 + 64 else {
            throw r.fail("column '\(field.name)': sizes raw \(raw), encoded \(encoded) do not fit \(rows) rows of \(field.type)")
        }
        guard kind != .none || stored == encoded else { throw r.fail("column '\(field.name)': uncompressed chunk sizes differ") }
        let statKind = try r.u8("statistics kind")
        var lo: StatValue?
        var hi: StatValue?
        switch SegmentFormat.StatKind(rawValue: statKind) {
        case .none?:
            break
        case .int?:
            lo = .int(Int64(bitPattern: try r.u64("min")))
            hi = .int(Int64(bitPattern: try r.u64("max")))
        case .double?:
            lo = .double(Double(bitPattern: try r.u64("min")))
            hi = .double(Double(bitPattern: try r.u64("max")))
        case .bool?:
            lo = .bool(try r.u8("min") != 0)
            hi = .bool(try r.u8("max") != 0)
        case .bytes?:
            let flags = try r.u8("exactness flags")
            lo = .bytes(try r.bytes(Int(try r.u16("min length")), "min"), exact: flags & 1 != 0)
            hi = .bytes(try r.bytes(Int(try r.u16("max length")), "max"), exact: flags & 2 != 0)
        case nil:
            throw r.fail("column '\(field.name)': unknown statistics kind \(statKind)")
        }
        return ChunkInfo(offset: offset, storedBytes: stored, encodedBytes: encoded, rawBytes: raw,
                         compression: Compression(kind: kind, level: level), encoding: encoding,
                         stats: ChunkStats(nullCount: nulls, min: lo, max: hi), checksum: checksum)
    }
}
