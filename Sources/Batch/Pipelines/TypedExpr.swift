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

    /// Its operands, in order.
    public var children: [TypedExpr] {
        switch node {
        case .slot, .literal: []
        case let .negate(x), let .not(x), let .cast(x), let .isNull(x, _), let .inReference(x, _, _): [x]
        case let .arithmetic(_, a, b), let .compare(_, a, b), let .logic(_, a, b): [a, b]
        case let .inList(x, items, _): [x] + items
        case let .call(_, args): args
        case let .aggregate(_, arg, filter): (arg.map { [$0] } ?? []) + (filter.map { [$0] } ?? [])
        case let .caseWhen(branches, otherwise): branches.flatMap { [$0.0, $0.1] } + (otherwise.map { [$0] } ?? [])
        }
    }

    /// Calls `body` on each node, parents before children.
    public func forEachNode(_ body: (TypedExpr) -> Void) {
        body(self)
        for c in children { c.forEachNode(body) }
    }

    /// The slots it reads, in first-use order.
    public var slots: [Int] {
        var out: [Int] = []
        forEachNode { e in
            if case let .slot(k) = e.node, !out.contains(k) { out.append(k) }
        }
        return out
    }
}

extension TypedExpr {
    /// Whether `other` computes the same values: the same tree, node for node (written
    /// twice in a file, one kernel can serve both).
    public func isSame(as other: TypedExpr) -> Bool {
        guard type == other.type else { return false }
        func all(_ a: [TypedExpr], _ b: [TypedExpr]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { $0.isSame(as: $1) } }
        switch (node, other.node) {
        case let (.slot(a), .slot(b)): return a == b
        case let (.literal(a), .literal(b)): return a == b
        case let (.negate(a), .negate(b)), let (.not(a), .not(b)), let (.cast(a), .cast(b)): return a.isSame(as: b)
        case let (.arithmetic(o, a, b), .arithmetic(p, c, d)), let (.compare(o, a, b), .compare(p, c, d)), let (.logic(o, a, b), .logic(p, c, d)):
            return o == p && a.isSame(as: c) && b.isSame(as: d)
        case let (.isNull(a, m), .isNull(b, n)): return m == n && a.isSame(as: b)
        case let (.inList(a, x, m), .inList(b, y, n)): return m == n && a.isSame(as: b) && all(x, y)
        case let (.inReference(a, r, m), .inReference(b, q, n)): return r == q && m == n && a.isSame(as: b)
        case let (.call(f, x), .call(g, y)): return f == g && all(x, y)
        case let (.aggregate(f, a, x), .aggregate(g, b, y)):
            return f == g && (a == nil) == (b == nil) && (x == nil) == (y == nil)
                && (a.map { a in b.map { a.isSame(as: $0) } ?? false } ?? true) && (x.map { x in y.map { x.isSame(as: $0) } ?? false } ?? true)
        case let (.caseWhen(x, e), .caseWhen(y, f)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0.isSame(as: $1.0) && $0.1.isSame(as: $1.1) }
                && (e == nil) == (f == nil) && (e.map { e in f.map { e.isSame(as: $0) } ?? false } ?? true)
        default: return false
        }
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
