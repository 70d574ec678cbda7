import Segments

/// Turns CSV records of one file of the fact feed into bronze rows in a batch of column
/// vectors: parses each field by its column's grammar, keeps what does not parse in
/// `_rescued`, and adds the lineage columns. Nothing is allocated per row.
public final class BronzeBuilder {
    public let columns: [ColumnVector]
    /// The same vectors, for the per-field loop: `columns` keeps them alive, so using
    /// them costs no reference counting.
    private let unretained: [Unmanaged<ColumnVector>]
    let layout: FeedLayout
    let header: FeedHeader
    /// Per column, its grammar and its field in the file (-1: absent): the hot loop's
    /// copies, so a record reads no struct of the layout.
    private let kinds: [FeedLayout.Kind]
    private let positions: [Int]
    let sourceFile: [UInt8]
    let ingestSeq: Int64
    let ingestedAt: Int64
    /// Column k's name as a JSON string with its colon: `"quantity":`, for `_rescued`.
    private let rescuedKeys: [[UInt8]]
    private let scratch = ByteScratch()
    private let rescued = ByteScratch(capacity: 256)
    private var rescuedFields = 0
    /// Rows with a non-null `_rescued`.
    public private(set) var rescuedRows = 0
    /// Ragged or non-UTF-8 records.
    public private(set) var malformedRows = 0

    public init(capacity: Int, layout: FeedLayout, header: FeedHeader, sourceFile: String, ingestSeq: Int, ingestedAt: Int64) {
        columns = layout.schema.fields.map { ColumnVector(type: $0.type, capacity: capacity, heapBytes: $0.type == .string ? capacity * 12 : 0) }
        unretained = columns.map { Unmanaged.passUnretained($0) }
        self.layout = layout
        self.header = header
        kinds = layout.kinds
        positions = header.positions
        self.sourceFile = Array(sourceFile.utf8)
        self.ingestSeq = Int64(ingestSeq)
        self.ingestedAt = ingestedAt
        let key = ByteScratch()
        rescuedKeys = layout.feed.columns.map { c in
            key.reset()
            var name = c.name
            name.withUTF8 { JSONText.appendString(UnsafeRawBufferPointer($0), to: key) }
            key.append(UInt8(ascii: ":"))
            return Array(key.bytes)
        }
    }

    public var isFull: Bool { columns[0].isFull }
    public var count: Int { columns[0].count }

    public func reset() {
        for c in columns { c.reset() }
    }

    /// Appends the scanner's current record as one row.
    public func append(_ scanner: CSVScanner) {
        let n = layout.columnCount
        let ragged = scanner.fieldCount != header.fieldCount
        let valid = !scanner.recordHasNonASCII || UTF8Check.isValid(scanner.recordBytes)
        if ragged || !valid {
            for i in 0..<n { columns[i].appendNull() }
            rescued.reset()
            if valid {
                rescued.append(scanner.recordBytes)
            } else {
                UTF8Check.appendEscaped(scanner.recordBytes, to: rescued)
            }
            malformedRows += 1
            appendLineage(scanner, rescued: true)
            return
        }
        rescuedFields = 0
        kinds.withUnsafeBufferPointer { kinds in
            positions.withUnsafeBufferPointer { positions in
                unretained.withUnsafeBufferPointer { columns in
                    for k in 0..<n {
                        let field = positions[k]
                        columns[k]._withUnsafeGuaranteedRef { column in
                            if field < 0 {
                                column.appendNull()
                                return
                            }
                            let v = scanner.field(field, scratch: scratch)
                            if v.isEmpty {
                                column.appendNull()
                            } else if !FeedLayout.append(v, kind: kinds[k], to: column) {
                                column.appendNull()
                                noteRescued(k, v)
                            }
                        }
                    }
                }
            }
        }
        if rescuedFields > 0 { rescued.append(UInt8(ascii: "}")) }
        appendLineage(scanner, rescued: rescuedFields > 0)
    }

    private func appendLineage(_ scanner: CSVScanner, rescued hasRescued: Bool) {
        let n = layout.columnCount
        sourceFile.withUnsafeBytes { columns[n].appendString($0) }
        columns[n + 1].appendInt64(Int64(scanner.recordLine))
        columns[n + 2].appendInt64(ingestSeq)
        columns[n + 3].appendInt64(ingestedAt)
        if hasRescued {
            columns[n + 4].appendString(rescued.bytes)
            rescuedRows += 1
        } else {
            columns[n + 4].appendNull()
        }
    }

    /// Adds `"name":"text"` for a field that did not parse to the `_rescued` JSON object.
    private func noteRescued(_ column: Int, _ text: UnsafeRawBufferPointer) {
        if rescuedFields == 0 {
            rescued.reset()
            rescued.append(UInt8(ascii: "{"))
        } else {
            rescued.append(UInt8(ascii: ","))
        }
        rescuedFields += 1
        rescuedKeys[column].withUnsafeBytes { rescued.append($0) }
        JSONText.appendString(text, to: rescued)
    }
}

/// UTF-8 validation and the escaped form of invalid text.
public enum UTF8Check {
    /// Length of the valid UTF-8 sequence at `i`, or 0 when the bytes there are not one.
    @inline(__always)
    static func sequenceLength(_ s: UnsafeRawBufferPointer, _ i: Int) -> Int {
        let n = s.count
        let b0 = s[i]
        if b0 < 0x80 { return 1 }
        func cont(_ k: Int) -> Bool { k < n && s[k] & 0xC0 == 0x80 }
        switch b0 {
        case 0xC2...0xDF:
            return cont(i + 1) ? 2 : 0
        case 0xE0...0xEF:
            guard cont(i + 1), cont(i + 2) else { return 0 }
            let b1 = s[i + 1]
            if b0 == 0xE0 && b1 < 0xA0 { return 0 }          // overlong
            if b0 == 0xED && b1 >= 0xA0 { return 0 }         // surrogates
            return 3
        case 0xF0...0xF4:
            guard cont(i + 1), cont(i + 2), cont(i + 3) else { return 0 }
            let b1 = s[i + 1]
            if b0 == 0xF0 && b1 < 0x90 { return 0 }          // overlong
            if b0 == 0xF4 && b1 >= 0x90 { return 0 }         // above U+10FFFF
            return 4
        default:
            return 0
        }
    }

    public static func isValid(_ s: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i < s.count {
            let l = sequenceLength(s, i)
            if l == 0 { return false }
            i += l
        }
        return true
    }

    /// `s` with invalid bytes as `\xHH` and backslashes as `\\`.
    public static func appendEscaped(_ s: UnsafeRawBufferPointer, to out: ByteScratch) {
        let hex: StaticString = "0123456789ABCDEF"
        var i = 0
        while i < s.count {
            let l = sequenceLength(s, i)
            if l == 0 {
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "x"))
                out.append(hex.utf8Start[Int(s[i] >> 4)])
                out.append(hex.utf8Start[Int(s[i] & 15)])
                i += 1
            } else {
                for k in i..<(i + l) {
                    if s[k] == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                    out.append(s[k])
                }
                i += l
            }
        }
    }
}

/// JSON string literals written into byte buffers.
enum JSONText {
    static func appendString(_ s: UnsafeRawBufferPointer, to out: ByteScratch) {
        let hex: StaticString = "0123456789abcdef"
        out.append(UInt8(ascii: "\""))
        for b in s {
            switch b {
            case 0x22: out.append(UInt8(ascii: "\\")); out.append(0x22)
            case 0x5C: out.append(UInt8(ascii: "\\")); out.append(0x5C)
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "u"))
                out.append(UInt8(ascii: "0")); out.append(UInt8(ascii: "0"))
                out.append(hex.utf8Start[Int(b >> 4)]); out.append(hex.utf8Start[Int(b & 15)])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
