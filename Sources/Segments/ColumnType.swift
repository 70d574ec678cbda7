/// The logical types a segment column can hold.
///
/// In memory (see `ColumnVector`) every fixed-width type is stored little-endian at its
/// natural width: bool as one byte 0/1, int32 and date (days since 1970-01-01) as 4 bytes,
/// int64, decimal (unscaled integer), timestamp (microseconds since the epoch, UTC) and
/// float64 as 8 bytes. Strings are byte ranges: an offsets array plus a byte heap.
public enum ColumnType: Hashable, Sendable, CustomStringConvertible {
    case bool
    case int32
    case int64
    case float64
    /// A decimal held as an int64 count of 10^-scale units; scale 0...18.
    case decimal(scale: Int)
    /// Days since 1970-01-01, int32.
    case date
    /// Microseconds since 1970-01-01T00:00:00Z, int64.
    case timestamp
    case string

    /// Width in bytes of one value in memory; for strings, of one offset.
    @inlinable
    public var valueWidthBytes: Int {
        switch self {
        case .bool: return 1
        case .int32, .date: return 4
        case .int64, .float64, .decimal, .timestamp: return 8
        case .string: return 4
        }
    }

    /// True for the types that the integer encodings (frame of reference, delta) apply to.
    public var isInteger: Bool {
        switch self {
        case .int32, .int64, .decimal, .date, .timestamp: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .bool: return "bool"
        case .int32: return "int32"
        case .int64: return "int64"
        case .float64: return "float64"
        case .decimal(let s): return "decimal(18,\(s))"
        case .date: return "date"
        case .timestamp: return "timestamp"
        case .string: return "string"
        }
    }

    /// The type code stored in a segment footer (docs/FORMAT.md).
    var code: UInt8 {
        switch self {
        case .bool: return 1
        case .int32: return 2
        case .int64: return 3
        case .float64: return 4
        case .decimal: return 5
        case .date: return 6
        case .timestamp: return 7
        case .string: return 8
        }
    }

    var scaleCode: UInt8 {
        if case .decimal(let s) = self { return UInt8(s) }
        return 0
    }

    init?(code: UInt8, scale: UInt8) {
        switch code {
        case 1: self = .bool
        case 2: self = .int32
        case 3: self = .int64
        case 4: self = .float64
        case 5:
            guard scale <= 18 else { return nil }
            self = .decimal(scale: Int(scale))
        case 6: self = .date
        case 7: self = .timestamp
        case 8: self = .string
        default: return nil
        }
    }
}

/// One named, typed column of a schema.
public struct Field: Hashable, Sendable {
    public var name: String
    public var type: ColumnType
    public var nullable: Bool

    public init(_ name: String, _ type: ColumnType, nullable: Bool = true) {
        self.name = name
        self.type = type
        self.nullable = nullable
    }
}

/// An ordered list of fields; names are unique.
public struct Schema: Hashable, Sendable {
    public var fields: [Field]

    public init(_ fields: [Field]) {
        precondition(Set(fields.map(\.name)).count == fields.count, "schema has duplicate column names")
        self.fields = fields
    }

    public var count: Int { fields.count }

    public func index(of name: String) -> Int? {
        fields.firstIndex { $0.name == name }
    }
}
