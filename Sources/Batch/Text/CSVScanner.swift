import Spill

/// A streaming CSV record scanner for the dialect of docs/TRANSACTIONS.md section 1.
///
/// It reads a `RawSource` through one window buffer and finds each record's fields as
/// byte ranges in that buffer; no bytes are copied and nothing is allocated per record.
/// ```
///   buffer  [ consumed | cursor .. current record .. | unread data | free ]
///           0          ^cursor                       ^filled        ^capacity
/// ```
/// When a record runs past `filled`, the bytes from `cursor` on are moved to the front
/// and more are read; a record longer than the whole buffer doubles it (the growth is
/// reserved from the memory budget), up to `recordBytesMax`: a record longer than that is
/// refused (`recordTooLarge`), naming the line where it starts, or where the quote that
/// swallowed the rest of the file opened. A record takes several times its size on its
/// way into a table (the window, the row's copy, `_rescued` escapes, the encoded and
/// compressed chunk), so the most a record may have follows from the memory limit:
/// `recordBytesMax(for:)`.
///
/// Dialect, and the choices where RFC 4180 is silent:
/// - a field is quoted when its first byte after optional spaces/tabs is `"`; inside,
///   `""` is one quote and `,` CR LF are data; text after the closing quote up to the
///   separator is kept (`"ab"c` is `abc`); a quote inside an unquoted field is data;
/// - records end at LF outside quotes; a CR right before that LF belongs to the end;
///   the last record may have no line end; an unclosed quote runs to the end of input;
/// - a record that is empty or only spaces, tabs and CRs is a blank line and is skipped;
/// - a UTF-8 byte-order mark at the start of the stream is skipped.
///
/// Line numbers are physical: 1 + the LFs before the record's first byte, quoted LFs
/// included.
public final class CSVScanner {
    public let source: RawSource
    private var buffer: UnsafeMutableRawPointer
    public private(set) var capacityBytes: Int
    private var filled = 0
    private var cursor = 0
    private var eof = false
    /// Stream offset of buffer[0] (decompressed bytes for `.zst`).
    private var origin: Int
    /// Line number of the byte at `cursor`.
    private var line: Int
    private let reservation: Reservation?
    /// A record may grow the buffer up to this; beyond it is an error naming the line.
    public let recordBytesMax: Int
    /// Set when the last record ended at the end of the stream inside a quoted field
    /// that never closed: the line and stream offset of that opening quote. The record
    /// then holds the rest of the input, which a user must hear about.
    public private(set) var unclosedQuote: (line: Int, offset: Int)?
    /// While a record is being scanned: the open quote the window ended in (LFs of the
    /// record before it, stream offset), for the error when the record grows too large.
    private var openQuote: (lineFeeds: Int, offset: Int)?

    /// The most bytes a record may have at a memory limit: 1/64 of it, at least 1 MiB
    /// (at most 1 GiB). A record of that size peaks at roughly 16 times it while it is
    /// parsed, escaped, encoded and compressed, and two may be in flight on two threads.
    public static func recordBytesMax(for limitBytes: Int) -> Int {
        min(1 << 30, max(1 << 20, limitBytes / 64))
    }

    // The current record. Field i is buffer[starts[i] ..< ends[i]]; flags[i] says how
    // to read it (see `FieldKind`).
    public private(set) var fieldCount = 0
    private var starts: UnsafeMutablePointer<Int32>
    private var ends: UnsafeMutablePointer<Int32>
    private var kinds: UnsafeMutablePointer<UInt8>
    private var fieldCapacity: Int
    private var recordStart = 0
    private var recordEnd = 0
    /// Line number where the current record starts.
    public private(set) var recordLine = 0
    /// Stream offset of the current record's first byte.
    public var recordOffset: Int { origin + recordStart }
    /// True when the current record has a byte >= 0x80 (it needs UTF-8 validation).
    public private(set) var recordHasNonASCII = false

    enum FieldKind: UInt8 {
        /// The range is the raw, untrimmed field text.
        case plain = 0
        /// The range is the whole raw field, quotes included: it has `""` escapes or text
        /// after the closing quote, so it must be unescaped (`unquote`).
        case quoted = 1
    }

    /// - Parameters:
    ///   - chunkBytes: the read size and the buffer's starting size.
    ///   - startLine: the line number of the source's first byte.
    ///   - startOffset: the stream offset of the source's first byte.
    public init(source: RawSource, chunkBytes: Int = 4 << 20, startLine: Int = 1, startOffset: Int = 0,
                budget: MemoryBudget? = nil, recordBytesMax: Int? = nil) throws {
        precondition(chunkBytes >= 16, "chunkBytes must be at least 16")
        self.source = source
        capacityBytes = chunkBytes
        let most = recordBytesMax ?? budget.map { Self.recordBytesMax(for: $0.limitBytes) } ?? (1 << 30)
        self.recordBytesMax = most
        if let budget {
            reservation = try budget.reserve(chunkBytes, for: "CSV reader of \(source.displayPath)")
        } else {
            reservation = nil
        }
        buffer = UnsafeMutableRawPointer.allocate(byteCount: chunkBytes, alignment: 16)
        origin = startOffset
        line = startLine
        fieldCapacity = 64
        starts = .allocate(capacity: fieldCapacity)
        ends = .allocate(capacity: fieldCapacity)
        kinds = .allocate(capacity: fieldCapacity)
    }

    deinit {
        buffer.deallocate()
        starts.deallocate()
        ends.deallocate()
        kinds.deallocate()
    }

    /// Stream offset where the next record (or blank line) starts.
    public var nextRecordOffset: Int { origin + cursor }
    /// Line number where the next record starts.
    public var nextLine: Int { line }

    /// Sets the line number of the next record (once a reader that started mid-file
    /// knows where it is).
    public func setLine(_ number: Int) { line = number }

    // MARK: filling the window

    /// Moves unread bytes to the front, grows the buffer if it is full, reads more.
    /// Returns false at the end of the stream.
    private func refill() throws -> Bool {
        if eof { return false }
        if cursor > 0 {
            let keep = filled - cursor
            if keep > 0 { buffer.copyMemory(from: buffer + cursor, byteCount: keep) }
            origin += cursor
            filled = keep
            cursor = 0
        }
        if filled == capacityBytes {
            let grown = min(capacityBytes * 2, recordBytesMax + 1)
            guard grown > capacityBytes else { throw tooLarge(nil) }
            if let reservation {
                do { try reservation.resize(to: grown) } catch { throw tooLarge(error.message) }
            }
            let fresh = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 16)
            fresh.copyMemory(from: buffer, byteCount: filled)
            buffer.deallocate()
            buffer = fresh
            capacityBytes = grown
        }
        let n = try source.read(into: UnsafeMutableRawBufferPointer(start: buffer + filled, count: capacityBytes - filled))
        if n == 0 {
            eof = true
            return filled > cursor
        }
        if origin == 0 && filled == 0 && n >= 3 {
            // A UTF-8 byte-order mark at the very start is not data.
            if buffer.load(as: UInt8.self) == 0xEF && buffer.load(fromByteOffset: 1, as: UInt8.self) == 0xBB
                && buffer.load(fromByteOffset: 2, as: UInt8.self) == 0xBF {
                cursor = 3
            }
        }
        filled += n
        return true
    }

    /// The error for a record that outgrew the window: where it starts, or where the quote
    /// that never closes opened, and what to change.
    private func tooLarge(_ budgetMessage: String?) -> BatchError {
        let size = budgetMessage == nil ? "longer than \(ByteSize.format(recordBytesMax)), the most a record may have at this --memory-limit (1/64 of it, at least 1 MiB)"
                                        : "longer than \(ByteSize.format(capacityBytes)) and the memory budget cannot hold more (\(budgetMessage ?? ""))"
        if let q = openQuote {
            let within = budgetMessage == nil ? ByteSize.format(recordBytesMax) : ByteSize.format(capacityBytes)
            return BatchError(.recordTooLarge, path: source.displayPath, line: line + q.lineFeeds, offset: q.offset,
                              "a quoted field starts here and does not end within \(within), the most a record may have \(budgetMessage.map { "in the memory budget (\($0))" } ?? "at this --memory-limit (1/64 of it, at least 1 MiB)"): if its quote is never closed, the rest of the file reads as one record; close the quote (a quote inside a quoted field is written \"\"), or raise --memory-limit if the field is meant to be this long")
        }
        return BatchError(.recordTooLarge, path: source.displayPath, line: line, offset: origin + cursor,
                          "a record starts here that is \(size); fix the file, or raise --memory-limit to at least 64 times the record's size")
    }

    /// Skips to just after the next LF (for a reader that starts in the middle of a file
    /// at a guessed record boundary). Returns the number of bytes skipped, or nil when the
    /// stream ended first.
    public func skipPastNextLineFeed() throws -> Int? {
        var skipped = 0
        while true {
            let b = buffer.assumingMemoryBound(to: UInt8.self)
            var k = cursor
            while k < filled && b[k] != 0x0A { k += 1 }
            if k < filled {
                skipped += k + 1 - cursor
                cursor = k + 1
                return skipped
            }
            skipped += filled - cursor
            cursor = filled
            if !(try refill()) { return nil }
        }
    }

    // MARK: records

    /// Advances to the next record that is not a blank line and starts before stream
    /// offset `limit`. Returns false at the end of the stream or at `limit`, with
    /// `nextRecordOffset` at the first record (or blank line) not taken.
    public func next(before limit: Int = Int.max) throws -> Bool {
        while true {
            if origin + cursor >= limit { return false }
            if cursor >= filled {
                if !(try refill()) { return false }
                continue
            }
            guard let (after, lineFeeds) = scan(from: cursor) else {
                if !(try refill()) && cursor >= filled { return false }
                continue
            }
            if after - cursor > recordBytesMax { throw tooLarge(nil) } // it fit the read window, but not the rest of the way
            recordStart = cursor
            recordLine = line
            cursor = after
            line += lineFeeds
            if !isBlank() { return true }
        }
    }

    private func isBlank() -> Bool {
        guard fieldCount == 1, kinds[0] == FieldKind.plain.rawValue else { return false }
        let b = buffer.assumingMemoryBound(to: UInt8.self)
        for k in Int(starts[0])..<Int(ends[0]) where b[k] != 0x20 && b[k] != 0x09 && b[k] != 0x0D { return false }
        return true
    }

    private func addField(_ start: Int, _ end: Int, _ kind: FieldKind) {
        if fieldCount == fieldCapacity {
            let cap = fieldCapacity * 2
            let s = UnsafeMutablePointer<Int32>.allocate(capacity: cap)
            let e = UnsafeMutablePointer<Int32>.allocate(capacity: cap)
            let k = UnsafeMutablePointer<UInt8>.allocate(capacity: cap)
            s.update(from: starts, count: fieldCount)
            e.update(from: ends, count: fieldCount)
            k.update(from: kinds, count: fieldCount)
            starts.deallocate(); ends.deallocate(); kinds.deallocate()
            starts = s; ends = e; kinds = k
            fieldCapacity = cap
        }
        starts[fieldCount] = Int32(start)
        ends[fieldCount] = Int32(end)
        kinds[fieldCount] = kind.rawValue
        fieldCount += 1
    }

    /// Scans one record from `start`. Returns the offset after its terminator and the
    /// LFs it spans, or nil when the window ends first (and the stream has more).
    private func scan(from start: Int) -> (Int, Int)? {
        let b = buffer.assumingMemoryBound(to: UInt8.self)
        let n = filled
        let comma: UInt8 = 0x2C, quote: UInt8 = 0x22, lf: UInt8 = 0x0A, cr: UInt8 = 0x0D
        let space: UInt8 = 0x20, tab: UInt8 = 0x09
        var p = start
        var lineFeeds = 0
        var high: UInt8 = 0
        fieldCount = 0
        openQuote = nil
        while true {
            let fieldStart = p
            var q = p
            while q < n && (b[q] == space || b[q] == tab) { q += 1 }
            var end: Int   // where the field's text ends (before any CR of a CRLF)
            var k: Int     // the separator, the LF, or n
            if q < n && b[q] == quote {
                let quoteLineFeeds = lineFeeds
                k = q + 1
                var escaped = false
                var closed = false
                while k < n {
                    let c = b[k]
                    if c == quote {
                        if k + 1 >= n {
                            if !eof {
                                openQuote = (quoteLineFeeds, origin + q)
                                return nil
                            }
                            k += 1
                            closed = true
                            break
                        }
                        if b[k + 1] == quote {
                            escaped = true
                            k += 2
                            continue
                        }
                        k += 1
                        closed = true
                        break
                    }
                    if c == lf { lineFeeds += 1 }
                    high |= c
                    k += 1
                }
                if !closed && !eof {
                    openQuote = (quoteLineFeeds, origin + q)
                    return nil
                }
                if !closed { unclosedQuote = (line + quoteLineFeeds, origin + q) }
                let closeAt = closed ? k - 1 : n
                var trailing = false
                while k < n {
                    let c = b[k]
                    if c == comma || c == lf { break }
                    if c != space && c != tab { trailing = true }
                    high |= c
                    k += 1
                }
                if k >= n && !eof { return nil }
                end = k
                if (k >= n || b[k] == lf) && end > closeAt + 1 && b[end - 1] == cr { end -= 1 }
                if trailing {
                    // A CR just before the LF is the line end, not trailing text.
                    trailing = false
                    for t in (closed ? closeAt + 1 : n)..<end where b[t] != space && b[t] != tab { trailing = true; break }
                }
                if escaped || trailing || !closed {
                    addField(fieldStart, end, .quoted)
                } else {
                    addField(q + 1, closeAt, .plain)
                }
            } else {
                k = q
                while k < n {
                    let c = b[k]
                    if c == comma || c == lf { break }
                    high |= c
                    k += 1
                }
                if k >= n && !eof { return nil }
                end = k
                if end > fieldStart && b[end - 1] == cr && (k >= n || b[k] == lf) { end -= 1 }
                addField(fieldStart, end, .plain)
            }
            if k < n && b[k] == comma {
                p = k + 1
                continue
            }
            recordEnd = end
            recordHasNonASCII = high >= 0x80
            if k < n {
                return (k + 1, lineFeeds + 1)
            }
            return (n, lineFeeds)
        }
    }

    // MARK: reading the current record

    /// The whole record's raw bytes, without its line end; valid until the next call.
    public var recordBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: buffer + recordStart, count: recordEnd - recordStart)
    }

    /// Calls `body` with field `i`'s value: unquoted, unescaped and trimmed of ASCII
    /// spaces and tabs. `scratch` holds unescaped text when the field needs it.
    @inline(__always)
    public func withField<R>(_ i: Int, scratch: ByteScratch, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(field(i, scratch: scratch))
    }

    /// Field `i`'s value bytes, as `withField` gives them, valid until the scanner moves
    /// on or `scratch` is used again.
    @inline(__always)
    public func field(_ i: Int, scratch: ByteScratch) -> UnsafeRawBufferPointer {
        var s = Int(starts[i])
        var e = Int(ends[i])
        let b = buffer.assumingMemoryBound(to: UInt8.self)
        if kinds[i] == FieldKind.quoted.rawValue {
            return unquote(s, e, into: scratch)
        }
        while s < e && (b[s] == 0x20 || b[s] == 0x09) { s += 1 }
        while e > s && (b[e - 1] == 0x20 || b[e - 1] == 0x09) { e -= 1 }
        return UnsafeRawBufferPointer(start: buffer + s, count: e - s)
    }

    /// Field `i`'s value bytes without trimming (for tests and error messages).
    public func fieldText(_ i: Int) -> String {
        let scratch = ByteScratch()
        return withField(i, scratch: scratch) { String(decoding: $0, as: UTF8.self) }
    }

    /// Unescapes a quoted field `[s, e)` (leading spaces, the opening quote, `""` pairs,
    /// the closing quote, trailing text) into `scratch` and trims it.
    private func unquote(_ s: Int, _ e: Int, into scratch: ByteScratch) -> UnsafeRawBufferPointer {
        let b = buffer.assumingMemoryBound(to: UInt8.self)
        scratch.reset(minimumCapacity: e - s)
        var k = s
        while k < e && b[k] != 0x22 { k += 1 }
        k += 1
        var inQuotes = true
        while k < e {
            let c = b[k]
            if inQuotes && c == 0x22 {
                if k + 1 < e && b[k + 1] == 0x22 {
                    scratch.append(0x22)
                    k += 2
                    continue
                }
                inQuotes = false
                k += 1
                continue
            }
            scratch.append(c)
            k += 1
        }
        return scratch.trimmed()
    }
}

/// A reusable byte buffer for unescaped field text and case-folded copies.
public final class ByteScratch {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    public private(set) var count = 0

    public init(capacity: Int = 256) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    public func reset(minimumCapacity: Int = 0) {
        count = 0
        if minimumCapacity > capacity {
            base.deallocate()
            capacity = max(minimumCapacity, capacity * 2)
            base = .allocate(capacity: capacity)
        }
    }

    @inline(__always)
    public func append(_ byte: UInt8) {
        if count == capacity {
            let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
            fresh.update(from: base, count: count)
            base.deallocate()
            base = fresh
            capacity *= 2
        }
        base[count] = byte
        count += 1
    }

    public func append(_ bytes: UnsafeRawBufferPointer) {
        for b in bytes { append(b) }
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// The bytes without leading and trailing ASCII spaces and tabs.
    func trimmed() -> UnsafeRawBufferPointer {
        var s = 0
        var e = count
        while s < e && (base[s] == 0x20 || base[s] == 0x09) { s += 1 }
        while e > s && (base[e - 1] == 0x20 || base[e - 1] == 0x09) { e -= 1 }
        return UnsafeRawBufferPointer(start: base + s, count: e - s)
    }
}
