/// An expression after type checking: every node has its type and whether it may be
/// null, names are resolved to slots of the row it is evaluated over, and implicit
/// conversions are explicit `cast` nodes, so an evaluator never infers anything.
public final class TypedExpr: Sendable {
    public enum Function: String, Sendable, CaseIterable {
        case date, year, month, day, quarter, dayOfWeek = "day_of_week", isoWeek = "iso_week", dateKey = "date_key"
        case upper, lower, trim, round, coalesce
    }

    public indirect enum Node: Sendable {
        /// Slot `k` of the row (see `Scope.Slot`).
        case slot(Int)
        case literal(Literal)
        case negate(TypedExpr)
        case not(TypedExpr)
        /// `+ - * /` on operands already cast to the result type (decimals: to their own
        /// scales; `TypeChecker` documents the result scale).
        case arithmetic(BinaryOp, TypedExpr, TypedExpr)
        /// A comparison of operands cast to one type.
        case compare(BinaryOp, TypedExpr, TypedExpr)
        /// `and`, `or` with SQL's three-valued logic.
        case logic(BinaryOp, TypedExpr, TypedExpr)
        case isNull(TypedExpr, negated: Bool)
        case inList(TypedExpr, [TypedExpr], negated: Bool)
        /// Key membership in a reference table.
        case inReference(TypedExpr, reference: String, negated: Bool)
        case call(Function, [TypedExpr])
        /// In a measure: `count(*)` has no argument.
        case aggregate(AggregateFunction, TypedExpr?, filter: TypedExpr?)
        case caseWhen([(TypedExpr, TypedExpr)], otherwise: TypedExpr?)
        case cast(TypedExpr)
    }

    public let node: Node
    public let type: ValueType
    public let nullable: Bool

    public init(_ node: Node, _ type: ValueType, nullable: Bool) {
        self.node = node
        self.type = type
        self.nullable = nullable
    }

    /// The slots it reads, in first-use order.
    public var slots: [Int] {
        var out: [Int] = []
        func walk(_ e: TypedExpr) {
            switch e.node {
            case let .slot(k): if !out.contains(k) { out.append(k) }
            case .literal: break
            case let .negate(x), let .not(x), let .cast(x), let .isNull(x, _), let .inReference(x, _, _): walk(x)
            case let .arithmetic(_, a, b), let .compare(_, a, b), let .logic(_, a, b): walk(a); walk(b)
            case let .inList(x, items, _): walk(x); items.forEach(walk)
            case let .call(_, args): args.forEach(walk)
            case let .aggregate(_, arg, filter): arg.map(walk); filter.map(walk)
            case let .caseWhen(branches, otherwise):
                for (c, v) in branches { walk(c); walk(v) }
                otherwise.map(walk)
            }
        }
        walk(self)
        return out
    }
}

/// The named values an expression can read: the columns of its input, the columns of
/// the lookups declared beside it, and the columns derived before it.
public struct Scope: Sendable {
    public enum Source: Sendable {
        /// Column k of the input table.
        case input(Int)
        /// Column `column` of the row that lookup `lookup` found (null when it found none).
        case lookup(Int, column: Int)
        /// The k-th derived column of the same list.
        case derived(Int)
    }

    public struct Slot: Sendable {
        public var qualifier: String?
        public var name: String
        public var type: ValueType
        public var nullable: Bool
        public var source: Source
    }

    public var slots: [Slot] = []

    public init() {}

    /// The slot a name reads: the last of that name (a derived column shadows the input
    /// column it is named after).
    func find(_ qualifier: String?, _ name: String) -> Int? {
        slots.lastIndex { $0.qualifier == qualifier && $0.name == name }
    }
}
