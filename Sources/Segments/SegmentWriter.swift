#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct SegmentWriterOptions: Sendable {
    /// Codec of every column not named in `columnCompression`.
    public var compression: Compression = .lz4
    public var columnCompression: [String: Compression] = [:]
    public var rowGroupRows: Int = SegmentFormat.rowGroupRowsDefault
    /// Key/value pairs stored in the footer (written sorted by key).
    public var metadata: [String: String] = [:]
    /// When false, every chunk is written in plain encoding (for interop or to measure a
    /// codec on its own); by default the smallest encoding is picked per chunk.
    public var choosesEncodings = true

    public init(compression: Compression = .lz4, rowGroupRows: Int = SegmentFormat.rowGroupRowsDefault) {
        self.compression = compression
        self.rowGroupRows = rowGroupRows
    }
}

/// Writes one segment file. Rows arrive as column vectors, are gathered into row groups
/// of `rowGroupRows`, and each full group is encoded, compressed and written at once, so
/// memory holds one row group whatever the segment's size.
///
/// The file is written under a temporary name and renamed into place by `finish()`
/// after an fsync: a reader never sees a half-written segment.
public final class SegmentWriter {
    public let path: String
    public let schema: Schema
    public let options: SegmentWriterOptions
    let tempPath: String
    private var fd: Int32
    private var position: Int
    private(set) var rowGroups: [RowGroupInfo] = []
    private var rowCount = 0
    private var rawBytesTotal = 0
    private let scratch: Scratch
    private let release: ((Scratch) -> Void)?
    private var pending: [ColumnVector] { scratch.pending }
    private var encoder: ChunkEncoder { scratch.encoder }
    private var codecs: Codecs { scratch.codecs }
    private var payload: ByteBuffer { scratch.payload }
    private var stored: ByteBuffer { scratch.stored }
    private var finished = false

    /// A writer's buffers: a row group of pending rows and the encoding buffers. A table
    /// writer hands them from one finished segment to the next, so writing many small
    /// segments (one per partition) does not map and fault in fresh memory for each.
    public final class Scratch {
        let pending: [ColumnVector]
        let encoder = ChunkEncoder()
        let codecs = Codecs()
        let payload = ByteBuffer(capacity: 1 << 20)
        let stored = ByteBuffer(capacity: 1 << 20)

        public init(schema: Schema, rowGroupRows: Int) {
            pending = schema.fields.map { ColumnVector(type: $0.type, capacity: rowGroupRows) }
        }

        func fits(_ schema: Schema, rowGroupRows: Int) -> Bool {
            pending.count == schema.count && pending.first?.capacity == rowGroupRows
                && zip(pending, schema.fields).allSatisfy { $0.type == $1.type }
        }
    }
    private let compressions: [Compression]

    /// `scratch`, when given, must fit the schema and row group size; `release` gets it
    /// back (emptied) once the writer finishes or is abandoned.
    public init(path: String, schema: Schema, options: SegmentWriterOptions = SegmentWriterOptions(),
                scratch: Scratch? = nil, release: ((Scratch) -> Void)? = nil) throws(SegmentError) {
        precondition(options.rowGroupRows >= 1 && options.rowGroupRows <= SegmentFormat.rowGroupRowsMax,
                     "rowGroupRows must be 1...\(SegmentFormat.rowGroupRowsMax)")
        self.path = path
        self.schema = schema
        self.options = options
        compressions = schema.fields.map { options.columnCompression[$0.name] ?? options.compression }
        tempPath = path + ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max) & 0xFFFFFF)"
        let scratch = scratch.flatMap { $0.fits(schema, rowGroupRows: options.rowGroupRows) ? $0 : nil }
            ?? Scratch(schema: schema, rowGroupRows: options.rowGroupRows)
        self.scratch = scratch
        self.release = release
        for p in scratch.pending { p.reset() }
        do {
            fd = try SystemIO.open(tempPath, O_WRONLY | O_CREAT | O_EXCL)
        } catch {
            release?(scratch)
            throw error
        }
        position = 0
        var header = SegmentFormat.magic
        header += [UInt8(SegmentFormat.version & 0xFF), UInt8(SegmentFormat.version >> 8), 0, 0]
        do throws(SegmentError) {
            try write(header)
        } catch {
            abandon()
            throw error
        }
    }

    deinit {
        if !finished { abandon() }
    }

    public var rowsWritten: Int { rowCount + (pending.first?.count ?? 0) }

    /// Appends every row of `columns` (one vector per schema field, same count).
    public func append(_ columns: [ColumnVector]) throws(SegmentError) {
        try append(columns, rows: 0..<(columns.first?.count ?? 0))
    }

    /// Appends rows `rows` of `columns`.
    public func append(_ columns: [ColumnVector], rows: Range<Int>) throws(SegmentError) {
        precondition(!finished, "segment writer already finished")
        precondition(columns.count == schema.count, "append needs one vector per column")
        for (i, c) in columns.enumerated() {
            precondition(c.type == schema.fields[i].type, "column \(schema.fields[i].name): vector type \(c.type) differs from \(schema.fields[i].type)")
            precondition(rows.upperBound <= c.count, "column \(schema.fields[i].name): rows out of range")
        }
        // A whole, exactly-sized batch with nothing pending is encoded where it is.
        if pending[0].count == 0 && rows.count == options.rowGroupRows && rows.lowerBound == 0 && columns[0].count == rows.count {
            try writeRowGroup(columns)
            return
        }
        var next = rows.lowerBound
        while next < rows.upperBound {
            let take = min(options.rowGroupRows - pending[0].count, rows.upperBound - next)
            for (i, c) in columns.enumerated() { pending[i].append(contentsOf: c, rows: next..<(next + take)) }
            next += take
            if pending[0].isFull {
                try writeRowGroup(pending)
                for p in pending { p.reset() }
            }
        }
    }

    /// Writes what is pending, the footer and the trailer, fsyncs and renames the file
    /// into place (and fsyncs its folder).
    @discardableResult
    public func finish() throws(SegmentError) -> SegmentSummary {
        precondition(!finished, "segment writer already finished")
        do throws(SegmentError) {
            if pending[0].count > 0 {
                try writeRowGroup(pending)
                for p in pending { p.reset() }
            }
            let footer = encodeFooter()
            let checksum = footer.withUnsafeBytes { Checksum.xxh64($0) }
            try footer.withUnsafeBytes { (b) throws(SegmentError) in try writeBytes(b) }
            let trailer = ByteBuffer(capacity: 32)
            trailer.appendLE(UInt32(footer.count))
            trailer.appendLE(checksum)
            trailer.appendLE(SegmentFormat.version)
            trailer.appendLE(UInt16(0)) // flags
            trailer.append(SegmentFormat.magic)
            try trailer.withUnsafeBytes { (b) throws(SegmentError) in try writeBytes(b) }
            try SystemIO.fsync(fd, path: tempPath)
            SystemIO.close(fd)
            fd = -1
            try SystemIO.rename(tempPath, path)
            try SystemIO.fsyncDirectory(SystemIO.parentDirectory(path))
        } catch {
            abandon()
            throw error
        }
        finished = true
        giveBackScratch()
        return SegmentSummary(path: path, rowCount: rowCount, fileBytes: position, rawBytes: rawBytesTotal)
    }

    /// Stops writing and removes the temporary file.
    public func abandon() {
        if fd >= 0 { SystemIO.close(fd) }
        fd = -1
        _ = try? SystemIO.unlink(tempPath) // best effort: a leftover temp file is removed by the next table writer
        if !finished { giveBackScratch() }
        finished = true
    }

    private func giveBackScratch() {
        for p in scratch.pending { p.reset() }
        release?(scratch)
    }

    private func write(_ bytes: [UInt8]) throws(SegmentError) {
        try SystemIO.writeAll(fd, bytes, path: tempPath)
        position += bytes.count
    }

    private func writeBytes(_ b: UnsafeRawBufferPointer) throws(SegmentError) {
        try SystemIO.writeAll(fd, b, path: tempPath)
        position += b.count
    }

    private func writeRowGroup(_ columns: [ColumnVector]) throws(SegmentError) {
        let n = columns[0].count
        guard n > 0 else { return }
        var chunks: [ChunkInfo] = []
        chunks.reserveCapacity(columns.count)
        for (i, column) in columns.enumerated() {
            precondition(column.count == n, "column \(schema.fields[i].name) has \(column.count) rows, expected \(n)")
            payload.removeAll()
            let (encoding, stats) = encoder.encode(column, into: payload, plainOnly: !options.choosesEncodings)
            var compression = compressions[i]
            stored.removeAll()
            let bound = codecs.maxCompressedSize(compression.kind, payload.count)
            stored.reserve(bound)
            let result = payload.withUnsafeBytes { src in
                stored.withUnsafeMutableBytes { dst in codecs.compress(compression, src, into: dst) }
            }
            var storedCount: Int
            switch result {
            case .success(let k): storedCount = k
            case .failure(let f):
                throw SegmentError(.codec, path: path, column: schema.fields[i].name, offset: position, "\(compression) failed: \(f.message)")
            }
            // A chunk that does not shrink is stored as it is.
            if storedCount >= payload.count && compression.kind != .none {
                compression = .none
                stored.removeAll()
                payload.withUnsafeBytes { stored.append($0) }
                storedCount = payload.count
            }
            stored.count = storedCount
            let checksum = stored.withUnsafeBytes { Checksum.xxh64($0) }
            let raw = column.type == .string ? 4 * n + column.heapUsedBytes : n * column.type.valueWidthBytes
            chunks.append(ChunkInfo(offset: position, storedBytes: storedCount, encodedBytes: payload.count, rawBytes: raw,
                                    compression: compression, encoding: encoding, stats: stats, checksum: checksum))
            rawBytesTotal += raw
            try stored.withUnsafeBytes { (b) throws(SegmentError) in try writeBytes(b) }
        }
        rowGroups.append(RowGroupInfo(firstRow: rowCount, rowCount: n, chunks: chunks))
        rowCount += n
    }
}

extension ColumnVector {
    /// Appends rows `rows` of `other` (same type) in bulk.
    public func append(contentsOf other: ColumnVector, rows: Range<Int>) {
        precondition(other.type == type, "append(contentsOf:) needs the same column type")
        precondition(count + rows.count <= capacity, "column vector is full (\(capacity) rows); flush before appending")
        if rows.isEmpty { return }
        let first = count
        if type == .string {
            let srcStart = Int(other.offset(rows.lowerBound))
            let srcEnd = Int(other.offset(rows.upperBound))
            let dstStart = Int(offset(first))
            ensureHeap(dstStart + srcEnd - srcStart, preserving: dstStart)
            if srcEnd > srcStart { (heap + dstStart).copyMemory(from: other.heap + srcStart, byteCount: srcEnd - srcStart) }
            let shift = Int64(dstStart) - Int64(srcStart)
            for (k, r) in rows.enumerated() {
                setOffset(first + k + 1, UInt32(Int64(other.offset(r + 1)) + shift))
            }
        } else {
            let w = type.valueWidthBytes
            (values + first * w).copyMemory(from: other.values + rows.lowerBound * w, byteCount: rows.count * w)
        }
        var nulls = 0
        if other.nullCount == 0 {
            markValid(first..<(first + rows.count))
        } else {
            for (k, r) in rows.enumerated() {
                if other.isNull(r) { nulls += 1 } else { markValid(first + k) }
            }
        }
        setDecoded(count: first + rows.count, nullCount: nullCount + nulls)
    }
}

extension ColumnVector {
    /// Appends rows `rows` of `other` (same type), in that order: a gather, column by
    /// column, for the rows a filter kept.
    public func append(contentsOf other: ColumnVector, gathering rows: UnsafeBufferPointer<Int32>) {
        gather(other, rows, orNull: false)
    }

    /// As `append(contentsOf:gathering:)`, but a negative row appends a null: the gather
    /// of a lookup, where a key that found no row gives nulls.
    public func append(contentsOf other: ColumnVector, gatheringOrNull rows: UnsafeBufferPointer<Int32>) {
        gather(other, rows, orNull: true)
    }

    /// Both gathers; `orNull` is a constant at each call, so the plain gather pays for
    /// no test of negative rows.
    @inline(__always)
    private func gather(_ other: ColumnVector, _ rows: UnsafeBufferPointer<Int32>, orNull: Bool) {
        precondition(other.type == type, "append(contentsOf:gathering:) needs the same column type")
        precondition(count + rows.count <= capacity, "column vector is full (\(capacity) rows); flush before appending")
        if rows.isEmpty { return }
        let first = count
        @inline(__always) func present(_ r: Int32) -> Bool { !orNull || r >= 0 }
        if type == .string {
            var bytes = 0
            for r in rows where present(r) { bytes += Int(other.offset(Int(r) + 1) &- other.offset(Int(r))) }
            var end = Int(offset(first))
            ensureHeap(end + bytes, preserving: end)
            // A run of consecutive rows (most of a batch a filter mostly keeps) has its
            // text copied in one go; its offsets are the source's, shifted.
            var k = 0
            while k < rows.count {
                let r = Int(rows[k])
                guard present(rows[k]) else {
                    setOffset(first + k + 1, UInt32(end))
                    k += 1
                    continue
                }
                var e = k + 1
                while e < rows.count && Int(rows[e]) == r + (e - k) { e += 1 }
                let s = Int(other.offset(r)), n = Int(other.offset(r + e - k)) - s
                if n > 0 { Bytes.copy(heap + end, other.heap + s, n) }
                let shift = Int64(end) - Int64(s)
                for j in k..<e { setOffset(first + j + 1, UInt32(Int64(other.offset(r + j - k + 1)) + shift)) }
                end += n
                k = e
            }
        } else {
            switch type.valueWidthBytes {
            case 8:
                let src = other.values.assumingMemoryBound(to: UInt64.self), dst = (values + first * 8).assumingMemoryBound(to: UInt64.self)
                for (k, r) in rows.enumerated() { dst[k] = present(r) ? src[Int(r)] : 0 }
            case 4:
                let src = other.values.assumingMemoryBound(to: UInt32.self), dst = (values + first * 4).assumingMemoryBound(to: UInt32.self)
                for (k, r) in rows.enumerated() { dst[k] = present(r) ? src[Int(r)] : 0 }
            default:
                let src = other.values.assumingMemoryBound(to: UInt8.self), dst = (values + first).assumingMemoryBound(to: UInt8.self)
                for (k, r) in rows.enumerated() { dst[k] = present(r) ? src[Int(r)] : 0 }
            }
        }
        var nulls = 0
        if other.nullCount == 0 && !orNull {
            markValid(first..<(first + rows.count))
        } else {
            // A validity word at a time: its bits gathered in a register, stored once.
            var at = first >> 6
            var word = validity[at]
            for (k, r) in rows.enumerated() {
                let row = first + k
                if row >> 6 != at {
                    validity[at] = word
                    at = row >> 6
                    word = validity[at]
                }
                if !present(r) || other.isNull(Int(r)) { nulls += 1 } else { word |= 1 << UInt64(row & 63) }
            }
            validity[at] = word
        }
        setDecoded(count: first + rows.count, nullCount: nullCount + nulls)
    }

    /// Whether row `r` of a bool vector is true (not null and not false), as 0 or 1.
    @inline(__always)
    private func truth(_ r: Int) -> UInt64 {
        UInt64(values.load(fromByteOffset: r, as: UInt8.self) & 1) & (validity[r >> 6] >> UInt64(r & 63))
    }

    /// Appends rows `rows` of `other` (8-byte values, none null) where the bool vector
    /// `mask` is true at that row, and a null where it is false or null: the input of
    /// a filtered aggregate (`sum(x) filter (where f)`), with no branch per row, since
    /// the rows a filter takes come in no pattern.
    public func append(contentsOf other: ColumnVector, gathering rows: UnsafeBufferPointer<Int32>, where mask: ColumnVector) {
        precondition(other.type == type && type.valueWidthBytes == 8 && other.nullCount == 0 && mask.type == .bool,
                     "append(contentsOf:gathering:where:) takes 8-byte values without nulls and a bool mask")
        precondition(count + rows.count <= capacity, "column vector is full (\(capacity) rows); flush before appending")
        // Nothing to add (and, in a full vector, no validity word to start from).
        if rows.isEmpty { return }
        let first = count
        let src = other.values.assumingMemoryBound(to: UInt64.self), dst = (values + first * 8).assumingMemoryBound(to: UInt64.self)
        var taken = 0
        // A validity word at a time: its bits gathered in a register, stored once.
        var at = first >> 6
        var word = validity[at]
        for (k, r) in rows.enumerated() {
            let t = mask.truth(Int(r)), row = first + k
            if row >> 6 != at {
                validity[at] = word
                at = row >> 6
                word = validity[at]
            }
            dst[k] = src[Int(r)] & (0 &- t)
            word |= t << UInt64(row & 63)
            taken &+= Int(t)
        }
        validity[at] = word
        setDecoded(count: first + rows.count, nullCount: nullCount + rows.count - taken)
    }

    /// Appends to this int64 vector, for rows `rows` of the bool vector `mask`, 1 where it
    /// is true and 0 where it is false or null: a count of the rows a filter takes.
    public func appendIndicators(of mask: ColumnVector, gathering rows: UnsafeBufferPointer<Int32>) {
        precondition(type == .int64 && mask.type == .bool, "appendIndicators(of:gathering:) makes int64 0/1 values of a bool mask")
        precondition(count + rows.count <= capacity, "column vector is full (\(capacity) rows); flush before appending")
        let first = count
        let dst = (values + first * 8).assumingMemoryBound(to: UInt64.self)
        for (k, r) in rows.enumerated() { dst[k] = mask.truth(Int(r)) }
        markValid(first..<(first + rows.count))
        setDecoded(count: first + rows.count, nullCount: nullCount)
    }
}
