#if canImport(Glibc)
import Glibc
#endif

/// Parsers for the raw field grammars of docs/TRANSACTIONS.md section 1. Each takes the bytes of
/// one field, already unquoted and trimmed, and returns nil when they do not match the
/// grammar exactly. They read bytes only: no String is made.
public enum FieldParsers {
    @inline(__always)
    static func digit(_ b: UInt8) -> Int64? {
        let d = b &- UInt8(ascii: "0")
        return d < 10 ? Int64(d) : nil
    }

    /// An optional leading `+` or `-`: whether it is negative, and where the digits start.
    @inline(__always)
    static func sign(_ s: UnsafeRawBufferPointer) -> (negative: Bool, start: Int) {
        guard let first = s.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") else { return (false, 0) }
        return (first == UInt8(ascii: "-"), 1)
    }

    /// `[+-]?[0-9]+` in int64 range.
    public static func int64(_ s: UnsafeRawBufferPointer) -> Int64? {
        let n = s.count
        let (negative, start) = sign(s)
        var i = start
        guard i < n else { return nil }
        // Accumulate as a negative number: its range holds Int64.min.
        var v: Int64 = 0
        while i < n {
            guard let d = digit(s[i]) else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (r, o2) = m.subtractingReportingOverflow(d)
            if o1 || o2 { return nil }
            v = r
            i += 1
        }
        if negative { return v }
        return v == Int64.min ? nil : -v
    }

    /// A decimal(p, s) field, `[+-]?[0-9]{1,p-s}(\.[0-9]{1,s})?` (no sign when not
    /// `signed`; no fraction when s is 0), as a count of 10^-s units. A column declared
    /// decimal(17,2) reads with wholeDigits 15 and scale 2.
    public static func decimal(_ s: UnsafeRawBufferPointer, wholeDigits: Int, scale: Int, signed: Bool = true) -> Int64? {
        let n = s.count
        let (negative, start) = signed ? sign(s) : (false, 0)
        var i = start
        var whole: Int64 = 0
        var digitsSeen = 0
        while i < n, let d = digit(s[i]) {
            whole = whole * 10 + d
            digitsSeen += 1
            i += 1
            if digitsSeen > wholeDigits { return nil }
        }
        guard digitsSeen >= 1 else { return nil }
        var frac: Int64 = 0
        var fracDigits = 0
        if i < n {
            guard scale > 0, s[i] == UInt8(ascii: ".") else { return nil }
            i += 1
            while i < n, let d = digit(s[i]) {
                frac = frac * 10 + d
                fracDigits += 1
                i += 1
            }
            guard i == n, fracDigits >= 1, fracDigits <= scale else { return nil }
        }
        // wholeDigits + scale <= 18, so this fits an int64.
        let v = whole * pow10[scale] + frac * pow10[scale - fracDigits]
        return negative ? -v : v
    }

    static let pow10: [Int64] = (0...18).map { k in (0..<k).reduce(Int64(1)) { p, _ in p * 10 } }

    /// `[+-]?[0-9]+` in int32 range.
    public static func int32(_ s: UnsafeRawBufferPointer) -> Int32? {
        int64(s).flatMap { Int32(exactly: $0) }
    }

    /// `true` or `false`, any letter case.
    public static func bool(_ s: UnsafeRawBufferPointer) -> Bool? {
        func isWord(_ w: StaticString) -> Bool {
            guard s.count == w.utf8CodeUnitCount else { return false }
            for k in 0..<s.count where s[k] | 0x20 != w.utf8Start[k] { return false }
            return true
        }
        if isWord("true") { return true }
        if isWord("false") { return false }
        return nil
    }

    /// `[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?`: a finite float64 (no inf,
    /// nan or hex forms).
    public static func float64(_ s: UnsafeRawBufferPointer) -> Double? {
        let n = s.count
        guard n > 0, n < 64 else { return nil }
        var i = 0
        if s[i] == UInt8(ascii: "+") || s[i] == UInt8(ascii: "-") { i += 1 }
        var mantissa = 0
        while i < n, digit(s[i]) != nil { i += 1; mantissa += 1 }
        if i < n && s[i] == UInt8(ascii: ".") {
            i += 1
            while i < n, digit(s[i]) != nil { i += 1; mantissa += 1 }
        }
        guard mantissa > 0 else { return nil }
        if i < n && (s[i] == UInt8(ascii: "e") || s[i] == UInt8(ascii: "E")) {
            i += 1
            if i < n && (s[i] == UInt8(ascii: "+") || s[i] == UInt8(ascii: "-")) { i += 1 }
            var exponent = 0
            while i < n, digit(s[i]) != nil { i += 1; exponent += 1 }
            guard exponent > 0 else { return nil }
        }
        guard i == n else { return nil }
        // strtod on a terminated copy: exact rounding, no String made.
        return withUnsafeTemporaryAllocation(byteCount: n + 1, alignment: 1) { buffer -> Double? in
            guard let base = buffer.baseAddress else { return nil }
            for k in 0..<n { buffer[k] = s[k] }
            buffer[n] = 0
            let v = strtod(base.assumingMemoryBound(to: CChar.self), nil)
            return v.isFinite ? v : nil
        }
    }

    @inline(__always)
    static func digits(_ s: UnsafeRawBufferPointer, _ at: Int, _ count: Int) -> Int? {
        guard at + count <= s.count else { return nil }
        var v = 0
        for k in at..<(at + count) {
            guard let d = digit(s[k]) else { return nil }
            v = v * 10 + Int(d)
        }
        return v
    }

    /// `YYYY-MM-DD` as days since 1970-01-01; nil unless it is a real calendar date.
    public static func date(_ s: UnsafeRawBufferPointer) -> Int32? {
        guard s.count == 10, let d = dateprefix(s) else { return nil }
        return Int32(d)
    }

    /// Days of the `YYYY-MM-DD` at the start of `s`.
    static func dateprefix(_ s: UnsafeRawBufferPointer) -> Int64? {
        guard s.count >= 10, s[4] == UInt8(ascii: "-"), s[7] == UInt8(ascii: "-"),
              let y = digits(s, 0, 4), let m = digits(s, 5, 2), let d = digits(s, 8, 2),
              (1...12).contains(m), d >= 1, d <= CivilTime.daysInMonth(year: y, month: m) else { return nil }
        return CivilTime.days(year: y, month: m, day: d)
    }

    /// The timestamp grammar of docs/TRANSACTIONS.md section 1 as microseconds since the epoch, UTC:
    /// `YYYY-MM-DD` (`T`|`t`|` `) `HH:MM:SS` [`.` 1-6 digits] [`Z`|`z`|`+HH:MM`|`-HH:MM`].
    public static func timestamp(_ s: UnsafeRawBufferPointer) -> Int64? {
        let n = s.count
        guard n >= 19, let days = dateprefix(s) else { return nil }
        let sep = s[10]
        guard sep == UInt8(ascii: "T") || sep == UInt8(ascii: "t") || sep == UInt8(ascii: " ") else { return nil }
        guard s[13] == UInt8(ascii: ":"), s[16] == UInt8(ascii: ":"),
              let hh = digits(s, 11, 2), let mi = digits(s, 14, 2), let ss = digits(s, 17, 2),
              hh <= 23, mi <= 59, ss <= 59 else { return nil }
        var i = 19
        var micros: Int64 = 0
        if i < n && s[i] == UInt8(ascii: ".") {
            i += 1
            var fracDigits = 0
            while i < n, let d = digit(s[i]) {
                fracDigits += 1
                if fracDigits > 6 { return nil }
                micros = micros * 10 + d
                i += 1
            }
            guard fracDigits >= 1 else { return nil }
            for _ in fracDigits..<6 { micros *= 10 }
        }
        var offsetMinutes: Int64 = 0
        if i < n {
            let z = s[i]
            if z == UInt8(ascii: "Z") || z == UInt8(ascii: "z") {
                i += 1
            } else if z == UInt8(ascii: "+") || z == UInt8(ascii: "-") {
                guard i + 6 == n, s[i + 3] == UInt8(ascii: ":"),
                      let oh = digits(s, i + 1, 2), let om = digits(s, i + 4, 2),
                      om <= 59, oh * 60 + om <= 18 * 60 else { return nil }
                offsetMinutes = Int64(oh * 60 + om) * (z == UInt8(ascii: "-") ? -1 : 1)
                i += 6
            } else {
                return nil
            }
        }
        guard i == n else { return nil }
        let seconds = days * 86_400 + Int64(hh * 3600 + mi * 60 + ss) - offsetMinutes * 60
        return seconds * 1_000_000 + micros
    }
}

/// Proleptic Gregorian calendar arithmetic on day counts since 1970-01-01.
public enum CivilTime {
    public static func isLeap(_ y: Int) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }

    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a civil date (H. Hinnant's days_from_civil).
    public static func days(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Floor division, for day numbers of negative microsecond counts.
    @inline(__always)
    public static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    public static let microsPerDay: Int64 = 86_400_000_000
}
