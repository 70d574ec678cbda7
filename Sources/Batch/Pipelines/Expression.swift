/// The expression language of pipeline files: a typed subset of SQL expressions.
///
/// An `Expr` is what the parser reads, with the byte offset of each node in the
/// expression's text (for error messages); `TypeChecker` turns it into a `TypedExpr`
/// against the columns in scope. docs/PIPELINES.md is the language's reference.

/// The type of a value in a pipeline: the column types of a table plus `null`, the type
/// of a bare NULL literal (it takes the type its context asks for).
public enum ValueType: Hashable, Sendable, CustomStringConvertible {
    case bool, int32, int64, float64, date, timestamp, string
    /// Exact decimal held as an int64 of `scale` decimal places; `precision` digits at
    /// most (18: what an int64 holds whole).
    case decimal(precision: Int, scale: Int)
    case null

    public var description: String {
        switch self {
        case .bool: "bool"
        case .int32: "int32"
        case .int64: "int64"
        case .float64: "float64"
        case .date: "date"
        case .timestamp: "timestamp"
        case .string: "string"
        case let .decimal(p, s): "decimal(\(p),\(s))"
        case .null: "null"
        }
    }

    public var isInteger: Bool { self == .int32 || self == .int64 }
    public var isDecimal: Bool { if case .decimal = self { true } else { false } }
    public var isNumeric: Bool {
        switch self {
        case .int32, .int64, .float64, .decimal: true
        default: false
        }
    }
    /// A decimal's scale; 0 for an integer.
    public var scale: Int {
        if case let .decimal(_, s) = self { return s }
        return 0
    }

    /// The most decimal digits a value may have: what an int64 holds whole.
    public static let precisionMax = 18

    /// Parses a type name as a pipeline file writes it: `string`, `int64`,
    /// `decimal(18,2)`, ... (case-insensitive, spaces allowed inside the parentheses).
    public static func parse(_ text: String) -> ValueType? {
        let t = text.lowercased().filter { $0 != " " }
        switch t {
        case "bool", "boolean": return .bool
        case "int32", "int", "integer": return .int32
        case "int64", "bigint": return .int64
        case "float64", "double": return .float64
        case "date": return .date
        case "timestamp": return .timestamp
        case "string", "text", "varchar": return .string
        default: break
        }
        guard t.hasPrefix("decimal("), t.hasSuffix(")") else { return nil }
        let inner = t.dropFirst("decimal(".count).dropLast()
        let parts = inner.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2, let p = Int(parts[0]), let s = Int(parts[1]), (1...precisionMax).contains(p), (0...p).contains(s) else { return nil }
        return .decimal(precision: p, scale: s)
    }
}

/// A literal value as written.
public enum Literal: Hashable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    /// `unscaled` / 10^scale, exactly.
    case decimal(unscaled: Int64, scale: Int)
    case float(Double)
    case string(String)
    /// Days since 1970-01-01.
    case date(Int32)
    /// Microseconds since 1970-01-01 UTC.
    case timestamp(Int64)
}

public enum UnaryOp: String, Sendable { case negate = "-", not }

public enum BinaryOp: String, Sendable {
    case add = "+", subtract = "-", multiply = "*", divide = "/"
    case equal = "=", notEqual = "<>", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    case and, or

    var isComparison: Bool { [.equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual].contains(self) }
    var isArithmetic: Bool { [.add, .subtract, .multiply, .divide].contains(self) }
}

/// The aggregate functions of a gold aggregate's measures.
public enum AggregateFunction: String, Sendable, CaseIterable { case count, sum, min, max, avg }

/// An expression as parsed: a node and its byte offset in the expression text.
public struct Expr: Sendable {
    public indirect enum Kind: Sendable {
        /// `name` or `qualifier.name` (a looked-up reference's column).
        case column(qualifier: String?, name: String)
        case literal(Literal)
        case unary(UnaryOp, Expr)
        case binary(BinaryOp, Expr, Expr)
        case isNull(Expr, negated: Bool)
        case between(Expr, Expr, Expr, negated: Bool)
        case inList(Expr, [Expr], negated: Bool)
        /// `x in customers`: x is a key of that reference table.
        case inReference(Expr, reference: String, negated: Bool)
        case call(name: String, arguments: [Expr])
        /// `count(*)`, `sum(x)`, ... with an optional `filter (where ...)`.
        case aggregate(AggregateFunction, argument: Expr?, filter: Expr?)
        case caseWhen(branches: [(condition: Expr, value: Expr)], otherwise: Expr?)
        case cast(Expr, ValueType)
    }

    public var kind: Kind
    /// Byte offset of the node's first token in the expression's text.
    public var at: Int

    public init(_ kind: Kind, at: Int) {
        self.kind = kind
        self.at = at
    }

    /// Byte offset where the whole expression starts (an operator node's `at` is its
    /// operator; this is its leftmost operand's start).
    public var start: Int {
        switch kind {
        case let .binary(_, a, _), let .isNull(a, _), let .between(a, _, _, _), let .inList(a, _, _), let .inReference(a, _, _): min(at, a.start)
        default: at
        }
    }
}

/// A mistake in an expression, at a byte offset of its text.
public struct ExpressionError: Error, Sendable, Equatable {
    public var offset: Int
    public var message: String

    public init(at offset: Int, _ message: String) {
        self.offset = offset
        self.message = message
    }
}
