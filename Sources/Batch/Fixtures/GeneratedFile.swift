import Segments
#if canImport(Glibc)
import Glibc
#endif

/// The text of one generated field, in a reused byte array, and how to write it.
struct FieldText {
    var bytes: [UInt8] = []
    var quoted = false
    var padded = false

    init() { bytes.reserveCapacity(40) }

    mutating func set(_ s: String) {
        bytes.removeAll(keepingCapacity: true)
        bytes.append(contentsOf: s.utf8)
    }

    mutating func setID(_ i: Int) {
        bytes.removeAll(keepingCapacity: true)
        bytes.append(UInt8(ascii: "T"))
        appendDigits(UInt64(i), width: 12)
    }

    mutating func setInt(_ v: Int) {
        bytes.removeAll(keepingCapacity: true)
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        appendDigits(UInt64(v.magnitude), width: 1)
    }

    mutating func appendDigits(_ v: UInt64, width: Int) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0) // 24 bytes of stack for up to 20 digits
        var n = 0
        var x = v
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[n] = UInt8(ascii: "0") + UInt8(x % 10)
                x /= 10
                n += 1
            } while x > 0
            while n < width { d[n] = UInt8(ascii: "0"); n += 1 }
            for k in stride(from: n - 1, through: 0, by: -1) { bytes.append(d[k]) }
        }
    }

    /// style 0: `12.34`; 1: `12` when whole; 2: `12.3` when it ends in 0; 3: `+12.34`.
    mutating func setCents(_ cents: Int64, style: Int) {
        bytes.removeAll(keepingCapacity: true)
        if style == 3 { bytes.append(UInt8(ascii: "+")) }
        appendDigits(UInt64(cents / 100), width: 1)
        let frac = cents % 100
        if style == 1 && frac == 0 { return }
        bytes.append(UInt8(ascii: "."))
        if style == 2 && frac % 10 == 0 {
            appendDigits(UInt64(frac / 10), width: 1)
        } else {
            appendDigits(UInt64(frac), width: 2)
        }
    }

    /// A code in its stored case, or (styles 10-15) upper, lower or capitalised.
    mutating func setCased(_ s: String, style: Int) {
        set(s)
        flipCase(style: style)
    }

    /// The text as it is, upper-cased (styles 10, 11), lower-cased (12, 13) or
    /// capitalised (14), ASCII letters only.
    mutating func flipCase(style: Int) {
        switch style {
        case 10, 11: for k in bytes.indices where bytes[k] &- 0x61 < 26 { bytes[k] &-= 0x20 }
        case 12, 13: for k in bytes.indices where bytes[k] &- 0x41 < 26 { bytes[k] &+= 0x20 }
        case 14:
            for k in bytes.indices {
                if k == 0 { if bytes[k] &- 0x61 < 26 { bytes[k] &-= 0x20 } } else if bytes[k] &- 0x41 < 26 { bytes[k] &+= 0x20 }
            }
        default: break
        }
    }

    mutating func setBytes(_ b: [UInt8]) {
        bytes.removeAll(keepingCapacity: true)
        bytes.append(contentsOf: b)
    }

    /// `YYYY-MM-DD` of days since 1970-01-01.
    mutating func setDate(_ days: Int64) {
        bytes.removeAll(keepingCapacity: true)
        appendDate(days)
    }

    private mutating func appendDate(_ days: Int64) {
        let c = ValueText.civil(days)
        appendDigits(UInt64(c.year), width: 4)
        bytes.append(UInt8(ascii: "-"))
        appendDigits(UInt64(c.month), width: 2)
        bytes.append(UInt8(ascii: "-"))
        appendDigits(UInt64(c.day), width: 2)
    }

    static let offsetsMinutes = [60, 330, -480, 840, -210, 0, 120, -300]

    /// A timestamp in one of the accepted forms: styles 0-7 `YYYY-MM-DDTHH:MM:SSZ`, 8 with
    /// a space and no zone, 9 lower-case `t`/`z`, 10-11 a `+HH:MM`/`-HH:MM` offset, 12 a
    /// fraction of zeros, 13 no zone, 14-15 an offset and a fraction.
    mutating func setTimestamp(_ micros: Int64, style: Int, offsetPick: Int) {
        bytes.removeAll(keepingCapacity: true)
        let offset = (style == 10 || style == 11 || style >= 14) ? Self.offsetsMinutes[offsetPick % Self.offsetsMinutes.count] : 0
        let local = micros + Int64(offset) * 60_000_000
        let days = CivilTime.floorDiv(local, CivilTime.microsPerDay)
        let rest = local - days * CivilTime.microsPerDay
        appendDate(days)
        bytes.append(style == 8 ? UInt8(ascii: " ") : style == 9 ? UInt8(ascii: "t") : UInt8(ascii: "T"))
        let secs = rest / 1_000_000
        appendDigits(UInt64(secs / 3600), width: 2)
        bytes.append(UInt8(ascii: ":"))
        appendDigits(UInt64(secs / 60 % 60), width: 2)
        bytes.append(UInt8(ascii: ":"))
        appendDigits(UInt64(secs % 60), width: 2)
        let frac = rest % 1_000_000
        if frac != 0 {
            bytes.append(UInt8(ascii: "."))
            if frac % 1000 == 0 { appendDigits(UInt64(frac / 1000), width: 3) } else { appendDigits(UInt64(frac), width: 6) }
        } else if style == 12 || style == 15 {
            bytes.append(contentsOf: style == 12 ? Array(".000".utf8) : Array(".0".utf8))
        }
        switch style {
        case 8, 13: break
        case 9: bytes.append(UInt8(ascii: "z"))
        case 10, 11, 14, 15:
            bytes.append(offset < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            appendDigits(UInt64(abs(offset) / 60), width: 2)
            bytes.append(UInt8(ascii: ":"))
            appendDigits(UInt64(abs(offset) % 60), width: 2)
        default: bytes.append(UInt8(ascii: "Z"))
        }
    }

    /// The field as a CSV file holds it: quoted when it must be (or when `quoted`),
    /// padding inside the quotes or around the bare text.
    @inline(__always)
    func forEachCSVByte(_ emit: (UInt8) -> Void) {
        let quote = quoted || needsQuotes
        if padded && !quote { emit(0x20) }
        if quote {
            emit(0x22)
            if padded { emit(0x20) }
            for b in bytes {
                if b == 0x22 { emit(0x22) }
                emit(b)
            }
            if padded { emit(0x09) }
            emit(0x22)
        } else {
            for b in bytes { emit(b) }
        }
        if padded && !quote { emit(0x09) }
    }

    var needsQuotes: Bool {
        bytes.contains { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }
    }
}

/// One generated file, written through a 4 MiB buffer; `.zst` files are compressed as a
/// stream.
final class GeneratedFile {
    let path: String
    private let fd: Int32
    private let buffer = ByteBuffer(capacity: 5 << 20)
    private let encoder: ZstdStreamEncoder?
    private let output: UnsafeMutableRawBufferPointer
    private var written = 0

    init(path: String, compressed: Bool) throws {
        self.path = path
        try SystemIO.makeDirectories(SystemIO.parentDirectory(path))
        fd = try SystemIO.open(path, O_WRONLY | O_CREAT | O_TRUNC)
        encoder = compressed ? ZstdStreamEncoder(level: 3) : nil
        output = .allocate(byteCount: compressed ? ZstdStreamEncoder.outputSizeBytes : 0, alignment: 16)
    }

    deinit {
        SystemIO.close(fd)
        output.deallocate()
    }

    @inline(__always) func byte(_ b: UInt8) { buffer.append(b) }
    func raw(_ b: [UInt8]) { buffer.append(b) }
    func text(_ s: StaticString) { buffer.append(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)) }
    func text(_ s: String) {
        var s = s
        s.withUTF8 { buffer.append(UnsafeRawBufferPointer($0)) }
    }

    func quotedIfNeeded(_ s: String) {
        var f = FieldText()
        f.set(s)
        field(f)
    }

    /// Writes a field: quoted when it must be (or when `quoted`), padding inside the
    /// quotes or around the bare text.
    func field(_ f: FieldText) {
        f.forEachCSVByte { buffer.append($0) }
    }

    func flushIfNeeded() throws {
        if buffer.count >= 4 << 20 { try flush(end: false) }
    }

    private func flush(end: Bool) throws {
        if let encoder {
            try buffer.withUnsafeBytes { (input) throws(SegmentError) in
                try encoder.compress(input, end: end, output: output) { (piece) throws(SegmentError) in
                    try SystemIO.writeAll(fd, piece, path: path)
                    written += piece.count
                }
            }
        } else {
            try buffer.withUnsafeBytes { (b) throws(SegmentError) in try SystemIO.writeAll(fd, b, path: path) }
            written += buffer.count
        }
        buffer.removeAll()
    }

    /// Writes what is buffered and returns the file's size.
    func finish() throws -> Int {
        try flush(end: true)
        return written
    }
}
