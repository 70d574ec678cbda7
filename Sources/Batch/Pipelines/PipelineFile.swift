/// A pipeline file as written: the landing zone's feeds, silver's expectations, dedup,
/// lookups and columns, and the gold tables. docs/PIPELINES.md describes every key.
///
/// `PipelineLoader` reads it from YAML (every node keeps its line and column), and
/// `TypeChecker` then checks every name and expression and gives each table its typed
/// columns (`CheckedPipeline`), all before any data is read.
public struct PipelineFile: Sendable {
    /// The file's path as the user gave it (or `<built-in pipelines/NAME.yaml>` for the default pipeline), for messages.
    public var path: String
    public var text: String
    public var name: String
    public var facts: Feed
    public var references: [Feed]
    public var silver: Silver
    public var gold: [GoldTable]
    /// `publish:`: the folder of the lake's published Delta copy (`run --publish`).
    public var publish: String?
    /// Hints for `batchrun generate --pipeline` (defaults when the file has none).
    public var generation = Generation()

    /// A place in the file: 1-based line and column.
    public struct Position: Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var column: Int
        public var description: String { "\(line):\(column)" }
    }

    public enum TextCase: String, Sendable { case asIs = "as-is", upper, lower }

    /// A typed column of a landing-zone file.
    public struct Column: Sendable {
        public var name: String
        public var type: ValueType
        /// Upper- or lower-case the (trimmed) text before it is parsed.
        public var textCase: TextCase
        /// A file whose header lacks a required column is rejected whole; a column that is
        /// not required is null when its file lacks it.
        public var required: Bool
        /// False (`unsigned: true`) when a number's text may not carry a sign.
        public var signed: Bool = true
        public var at: Position
        /// How `generate --pipeline` makes this column's values.
        public var hint: ColumnHint?
    }

    /// A column's `generate:` hints. Numbers, dates and timestamps are held as integer
    /// units of their type: 1 (integers), 10^-scale (decimals), 0.01 (float64: generated
    /// values have two decimals), days (dates), microseconds (timestamps).
    public struct ColumnHint: Sendable {
        public var range: (lo: Int64, hi: Int64)?
        /// Values to draw from, as the file's text would hold them.
        public var values: [String]?
        /// How many different values (strings and integers).
        public var distinct: Int?
        /// Share of rows meant to be valid in which the field is empty.
        public var nulls = 0.0
        /// A timestamp this many seconds (`seconds: [lo, hi]`) after another timestamp
        /// column of the same feed.
        public var after: (column: String, lo: Int64, hi: Int64)?
        public var at: Position
    }

    /// The file's top-level `generate:` hints.
    public struct Generation: Sendable {
        /// First day of the generated dates and timestamps (days since 1970-01-01).
        public var startDay: Int32?
        public var days: Int?
        /// Rows of each reference file, by feed name.
        public var rows: [String: Int] = [:]
        /// Shares of all fact rows: exact re-sends, later versions of a dedup key, and
        /// rows that break an expectation (spread over the reasons, or per reason).
        public var duplicates: Double?
        public var versions: Double?
        public var broken: Double?
        public var brokenByReason: [String: Double] = [:]
        public init() {}
    }

    /// A CSV feed: the fact feed (`files`, a glob under RAW) or a reference file (`file`
    /// and its `key`, the later row of a repeated key winning).
    public struct Feed: Sendable {
        public var name: String
        public var files: String
        public var key: String?
        public var columns: [Column]
        public var at: Position
    }

    /// An expression's text with where it sits in the file.
    public struct Source: Sendable {
        public var text: String
        public var at: Position
        /// How far into the file each byte offset of `text` is: for an expression on one
        /// line, its first character's column; block scalars map line by line.
        public var lineStarts: [(offset: Int, position: Position)]

        /// The file position of byte offset `offset` of the text.
        public func position(of offset: Int) -> Position {
            guard let start = lineStarts.last(where: { $0.offset <= offset }) else { return at }
            return Position(line: start.position.line, column: start.position.column + offset - start.offset)
        }
    }

    /// `name: expression`, or a bare column name (`name` alone: the column as it is).
    public struct Named: Sendable {
        public var name: String
        public var source: Source
        public var expr: Expr
        public var at: Position
    }

    /// `{reference: R, on: expression}`: the row of R whose key equals the expression;
    /// its columns are then `R.column` (or `as.column`) in expressions.
    public struct Lookup: Sendable {
        public var reference: String
        public var alias: String
        public var on: Source
        public var onExpr: Expr
        public var at: Position
    }

    public enum Keep: String, Sendable { case greatest, least }

    public struct Dedup: Sendable {
        public var key: [(name: String, at: Position)]
        public var keep: Keep
        public var by: [(name: String, at: Position)]
        public var at: Position
    }

    public struct Silver: Sendable {
        public var expectations: [Named]
        public var dedup: Dedup?
        public var lookups: [Lookup]
        public var columns: [Named]
        public var partition: (name: String, at: Position)
        public var order: [(name: String, at: Position)]
        /// The quarantine reason of a row whose silver columns do not fit their types;
        /// nil: such a row stops the run with an error naming it.
        public var overflow: (name: String, at: Position)?
        public var at: Position
    }

    /// How a gold table's folders are cut: by a date column's day (`COLUMN=YYYY-MM-DD`)
    /// or month (`year=YYYY/month=MM`).
    public enum Partition: Sendable {
        case day(String)
        case month(String)
    }

    public struct GoldTable: Sendable {
        public enum Kind: Sendable {
            /// A copy of a reference table, in key order.
            case reference(String)
            /// Every date from the least to the greatest of a date column; its columns are
            /// expressions over `date`.
            case calendar(table: String, column: String)
            /// One row per row of `from`, with derived columns.
            case projection
            /// One row per group of `from`'s rows that pass `where`.
            case aggregate(filter: Named?, groupBy: [Named], measures: [Named])
        }

        public var name: String
        public var kind: Kind
        /// `silver` or an earlier gold table.
        public var from: String
        public var lookups: [Lookup]
        public var columns: [Named]
        public var partition: (Partition, at: Position)?
        public var order: [(name: String, at: Position)]
        public var at: Position
    }
}
