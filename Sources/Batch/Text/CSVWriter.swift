import Segments

/// Renders columnar rows as CSV text in the forms of docs/TRANSACTIONS.md section 5: decimals with
/// their scale, dates `YYYY-MM-DD`, timestamps `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, bools
/// `true`/`false`, null as an empty field; a field is quoted only when it holds a comma,
/// a quote, CR or LF.
public struct CSVWriter {
    public init() {}

    public func appendHeader(_ schema: Schema, to out: ByteBuffer) {
        for (i, f) in schema.fields.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            var name = f.name
            name.withUTF8 { appendField(UnsafeRawBufferPointer($0), to: out) }
        }
        out.append(UInt8(ascii: "\n"))
    }

    /// Appends rows `rows` of `columns` to `out`.
    public func appendRows(_ columns: [ColumnVector], rows: Range<Int>, to out: ByteBuffer) {
        for r in rows {
            for (i, c) in columns.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendValue(c, r, to: out)
            }
            out.append(UInt8(ascii: "\n"))
        }
    }

    func appendValue(_ c: ColumnVector, _ r: Int, to out: ByteBuffer) {
        if c.isNull(r) { return }
        switch c.type {
        case .string: c.withString(r) { appendField($0, to: out) }
        case .bool: appendASCII(c.bool(r) ? "true" : "false", to: out)
        case .int32, .int64: appendInteger(c.integer(r), to: out)
        case .float64: appendASCII(String(c.double(r)), to: out)
        case .decimal(let scale): appendDecimal(c.int64(r), scale: scale, to: out)
        case .date: appendASCII(ValueText.date(c.int32(r)), to: out)
        case .timestamp: appendASCII(ValueText.timestamp(c.int64(r)), to: out)
        }
    }

    func appendField(_ bytes: UnsafeRawBufferPointer, to out: ByteBuffer) {
        var needsQuotes = false
        for b in bytes where b == UInt8(ascii: ",") || b == UInt8(ascii: "\"") || b == 0x0D || b == 0x0A {
            needsQuotes = true
            break
        }
        guard needsQuotes else { out.append(bytes); return }
        out.append(UInt8(ascii: "\""))
        for b in bytes {
            if b == UInt8(ascii: "\"") { out.append(b) }
            out.append(b)
        }
        out.append(UInt8(ascii: "\""))
    }

    func appendASCII(_ s: String, to out: ByteBuffer) {
        var s = s
        s.withUTF8 { out.append(UnsafeRawBufferPointer($0)) }
    }

    func appendInteger(_ v: Int64, to out: ByteBuffer) {
        appendDigits(v.magnitude, negative: v < 0, minDigits: 1, to: out)
    }

    func appendDecimal(_ units: Int64, scale: Int, to out: ByteBuffer) {
        if scale == 0 { appendInteger(units, to: out); return }
        var p: UInt64 = 1
        for _ in 0..<scale { p *= 10 }
        let mag = units.magnitude
        appendDigits(mag / p, negative: units < 0, minDigits: 1, to: out)
        out.append(UInt8(ascii: "."))
        appendDigits(mag % p, negative: false, minDigits: scale, to: out)
    }

    /// Decimal digits of `mag`, zero-padded to `minDigits` (at most 20), built on the stack:
    /// no String or Array per value.
    func appendDigits(_ mag: UInt64, negative: Bool, minDigits: Int, to out: ByteBuffer) {
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0) // 24 bytes: 20 digits and a sign
        withUnsafeMutableBytes(of: &scratch) { buf in
            var m = mag
            var i = buf.count
            repeat {
                i -= 1
                buf[i] = UInt8(ascii: "0") + UInt8(m % 10)
                m /= 10
            } while m > 0 || buf.count - i < minDigits
            if negative { i -= 1; buf[i] = UInt8(ascii: "-") }
            out.append(UnsafeRawBufferPointer(rebasing: buf[i...]))
        }
    }
}
