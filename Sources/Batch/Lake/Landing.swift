import Segments

/// How a landing-zone feed of a pipeline file turns into a table: each column's grammar,
/// the table's schema, and which files under RAW belong to it.
///
/// The fact feed becomes bronze: its columns, every one nullable (a field that is empty
/// or does not parse is null), then the lineage columns. A reference feed becomes
/// `LAKE/reference/<name>`: its columns, the key not null.
public struct FeedLayout: Sendable {
    public let feed: PipelineFile.Feed
    /// The grammar of each column's text.
    public enum Kind: Sendable, Equatable {
        case string(PipelineFile.TextCase)
        case bool, int32, int64, float64, date, timestamp
        case decimal(wholeDigits: Int, scale: Int, signed: Bool)
    }

    public let kinds: [Kind]
    /// The feed's columns (bronze: then the lineage columns).
    public let schema: Schema

    public init(_ feed: PipelineFile.Feed, lineage: Bool) {
        self.feed = feed
        kinds = feed.columns.map { c in
            switch c.type {
            case .string, .null: .string(c.textCase)
            case .bool: .bool
            case .int32: .int32
            case .int64: .int64
            case .float64: .float64
            case .date: .date
            case .timestamp: .timestamp
            case let .decimal(p, s): .decimal(wholeDigits: p - s, scale: s, signed: c.signed)
            }
        }
        let fields = feed.columns.map { Field($0.name, ExpressionKernel.columnType($0.type), nullable: lineage || $0.name != feed.key) }
        schema = Schema(lineage ? fields + FeedLayout.lineageFields : fields)
    }

    public var name: String { feed.name }

    /// Bytes of one row held in a batch, for sizing reservations: each value's width,
    /// 12 bytes of text per string, and the lineage columns (a lower bound; strings grow
    /// their heaps as they need). The default pipeline's fact feed: 168.
    public var rowBytesEstimate: Int {
        feed.columns.reduce(56) { $0 + ExpressionKernel.columnType($1.type).valueWidthBytes + ($1.type == .string ? 12 : 0) }
    }
    public var columnCount: Int { feed.columns.count }
    /// The key column's index (reference feeds).
    public var keyColumn: Int { feed.columns.firstIndex { $0.name == feed.key } ?? 0 }

    public static let lineageFields = [
        Field("_source_file", .string, nullable: false), Field("_source_line", .int64, nullable: false),
        Field("_ingest_seq", .int64, nullable: false), Field("_ingested_at", .timestamp, nullable: false),
        Field("_rescued", .string),
    ]

    /// What a column's text must look like, for messages.
    public static func grammar(_ kind: Kind) -> String {
        switch kind {
        case .string: "text"
        case .bool: "true or false"
        case .int32: "an int32 integer"
        case .int64: "an integer"
        case .float64: "a number"
        case .date: "a date YYYY-MM-DD"
        case .timestamp: "a timestamp YYYY-MM-DDTHH:MM:SS[.ffffff][Z|+HH:MM]"
        case let .decimal(w, s, signed): "a decimal of up to \(w) digits\(s > 0 ? " and \(s) decimal places" : "")\(signed ? "" : ", without a sign")"
        }
    }

    /// Parses field text `v` (unquoted, trimmed, not empty) of column `k` into `vector`;
    /// false when it does not match the column's grammar (nothing is appended then).
    @inline(__always)
    public func append(_ v: UnsafeRawBufferPointer, column k: Int, to vector: ColumnVector) -> Bool {
        Self.append(v, kind: kinds[k], to: vector)
    }

    /// The same for a column of grammar `kind` (static, so a hot loop passes no layout).
    @inline(__always)
    public static func append(_ v: UnsafeRawBufferPointer, kind: Kind, to vector: ColumnVector) -> Bool {
        switch kind {
        case let .string(textCase):
            switch textCase {
            case .asIs: vector.appendString(v)
            case .upper, .lower:
                // Text already in its case (most of it) is copied as it is.
                let upper = textCase == .upper
                let from: UInt8 = upper ? 0x61 : 0x41
                if v.contains(where: { $0 &- from < 26 }) { vector.appendCaseFolded(v, upper: upper) } else { vector.appendString(v) }
            }
        case .int64:
            guard let x = FieldParsers.int64(v) else { return false }
            vector.appendInt64(x)
        case .timestamp:
            guard let t = FieldParsers.timestamp(v) else { return false }
            vector.appendInt64(t)
        case let .decimal(w, s, signed):
            guard let x = FieldParsers.decimal(v, wholeDigits: w, scale: s, signed: signed) else { return false }
            vector.appendInt64(x)
        case .int32:
            guard let x = FieldParsers.int32(v) else { return false }
            vector.appendInt32(x)
        case .date:
            guard let d = FieldParsers.date(v) else { return false }
            vector.appendInt32(d)
        case .float64:
            guard let x = FieldParsers.float64(v) else { return false }
            vector.appendDouble(x)
        case .bool:
            guard let x = FieldParsers.bool(v) else { return false }
            vector.appendBool(x)
        }
        return true
    }
}

/// The landing zone of a pipeline: its fact feed and reference feeds.
public struct Landing: Sendable {
    public let facts: FeedLayout
    public let references: [FeedLayout]
    /// The pipeline's name, recorded in bronze's commits.
    public let pipeline: String
    /// The pipeline file the landing zone is declared in.
    public let file: PipelineFile

    public init(_ file: PipelineFile) {
        self.file = file
        facts = FeedLayout(file.facts, lineage: true)
        references = file.references.map { FeedLayout($0, lineage: false) }
        pipeline = file.name
    }

    /// The default pipeline's landing zone.
    public static let builtin = Landing(BuiltinPipelines.defaultFile)
}

/// Where each column of a feed is in a file's records, from its header.
public struct FeedHeader: Sendable {
    /// Field index of each column of the feed, in the feed's order; -1 for a column that
    /// is not required and that the file lacks (it is null in every row).
    public var positions: [Int]
    /// Fields in the header record; a record with another count is ragged.
    public var fieldCount: Int

    /// Matches header names ASCII case-insensitively after trimming; the first of
    /// repeated names wins, extra columns are ignored. Throws `missingColumn` naming the
    /// first required column that is absent.
    public static func parse(_ scanner: CSVScanner, feed: PipelineFile.Feed, path: String, advice: String) throws -> FeedHeader {
        let positions = try scanner.readHeader(columns: feed.columns.map { ($0.name.lowercased(), $0.required) }, path: path, advice: advice)
        return FeedHeader(positions: positions, fieldCount: scanner.fieldCount)
    }
}

extension CSVScanner {
    /// Reads the header record and returns the field index of each column (-1 for an
    /// absent column that is not required). Names match ASCII case-insensitively after
    /// trimming; the first of repeated names wins; extra columns are ignored. Throws
    /// `noHeader` for an empty or blank file and `missingColumn` naming the first absent
    /// required column, followed by `advice`.
    func readHeader(columns: [(name: String, required: Bool)], path: String, advice: String) throws -> [Int] {
        guard try next() else {
            throw BatchError(.noHeader, path: path, line: 1,
                             "has no header record (the file is empty or blank); the first line must name the columns")
        }
        let scratch = ByteScratch()
        let names = (0..<fieldCount).map { withField($0, scratch: scratch) { String(decoding: $0, as: UTF8.self) }.lowercased() }
        return try columns.map { column in
            guard let at = names.firstIndex(of: column.name) else {
                if !column.required { return -1 }
                throw BatchError(.missingColumn, path: path, line: recordLine, column: column.name,
                                 "the header lacks the required column '\(column.name)' (it has: \(names.joined(separator: ", "))); \(advice)")
            }
            return at
        }
    }
}
