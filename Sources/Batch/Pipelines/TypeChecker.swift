import Segments

/// Checks a loaded pipeline file: every name resolves, every expression has a type that
/// fits its place, and every table gets its typed columns. Mistakes are named with their
/// line and column, before any data is read.
///
/// Type rules (docs/PIPELINES.md, "Expressions"):
/// - integers compute as int64; any float64 operand makes the result float64;
/// - decimals are exact: `+ -` take the larger scale, `*` the sum of the scales (at most
///   18), `/` the larger of 6 and the operands' scales, rounded half up; an integer is a
///   decimal of scale 0; a value that does not fit 18 digits is an error naming the row;
/// - comparisons cast both sides to one type (numbers to the wider, a date to the
///   timestamp of its midnight); strings compare by their UTF-8 bytes;
/// - `null` takes the type its context asks for; any operator on a null gives null, and
///   `and`/`or` follow SQL's three-valued logic.
public struct TypeChecker {
    public static func check(_ file: PipelineFile) throws -> CheckedPipeline {
        try TypeChecker(file: file).run()
    }

    let file: PipelineFile
    var references: [String: PipelineFile.Feed] = [:]

    init(file: PipelineFile) {
        self.file = file
        for r in file.references { references[r.name] = r }
    }

    func fail(_ at: PipelineFile.Position, _ message: String) -> BatchError { .pipeline(file.path, at, message) }

    /// The lineage columns every bronze table has after its feed's columns.
    public static let lineageColumns: [CheckedPipeline.Column] = [
        .init(name: "_source_file", type: .string, nullable: false), .init(name: "_source_line", type: .int64, nullable: false),
        .init(name: "_ingest_seq", type: .int64, nullable: false), .init(name: "_ingested_at", type: .timestamp, nullable: false),
        .init(name: "_rescued", type: .string, nullable: true),
    ]

    func run() throws -> CheckedPipeline {
        var seen = Set([file.facts.name])
        for r in file.references {
            guard seen.insert(r.name).inserted else { throw fail(r.at, "two feeds are named '\(r.name)'; give each its own name") }
            guard !["silver", "quarantine", "bronze"].contains(r.name) else { throw fail(r.at, "'\(r.name)' is the name of a lake table; name the reference otherwise") }
        }
        let factColumns = file.facts.columns.map { CheckedPipeline.Column(name: $0.name, type: $0.type, nullable: true) }
        for c in file.facts.columns where c.name.hasPrefix("_") {
            throw fail(c.at, "column names starting with _ are kept for bronze's lineage (_source_file, _source_line, _ingest_seq, _ingested_at, _rescued)")
        }
        let bronze = CheckedPipeline.Table(name: "bronze", columns: factColumns + Self.lineageColumns, partition: nil, order: [])
        let refTables = file.references.map { r in
            CheckedPipeline.Table(name: "reference/" + r.name, columns: r.columns.map { .init(name: $0.name, type: $0.type, nullable: $0.name != r.key) },
                                  partition: nil, order: [r.key ?? ""])
        }

        // Silver: expectations, then lookups and columns, over bronze's columns.
        var scope = Scope()
        for (k, c) in bronze.columns.enumerated() { scope.slots.append(.init(qualifier: nil, name: c.name, type: c.type, nullable: c.nullable, source: .input(k))) }
        let silverLookups = try resolveLookups(file.silver.lookups, scope: &scope)
        var expectations: [(name: String, expr: TypedExpr)] = []
        for x in file.silver.expectations {
            var ctx = Context(checker: self, scope: scope, lookups: silverLookups, source: x.source, what: "expectation \(x.name)")
            let typed = try ctx.check(x.expr)
            guard typed.type == .bool || typed.type == .null else {
                throw fail(x.source.position(of: x.expr.start), "expectation \(x.name) must be a condition (true for a good row); it is \(typed.type)")
            }
            scope = ctx.scope
            expectations.append((x.name, typed))
            // A row that passed `c is not null`, a comparison, between, in (...) or
            // in <reference> on a bare column has that column set.
            for k in Self.columnsProvenSet(by: x.expr, scope: scope) {
                scope.slots[k].nullable = false
                // A lookup's column that is set means the lookup found its row, so the
                // column it looked up by is set too.
                if case let .lookup(i, _) = scope.slots[k].source, case let .slot(on) = silverLookups[i].on.node { scope.slots[on].nullable = false }
            }
        }
        let (silverColumns, silverTyped, silverScope) = try projectColumns(file.silver.columns, scope: scope, lookups: silverLookups, table: "silver")
        if let d = file.silver.dedup {
            for (n, at) in d.key + d.by where silverScope.find(nil, n) == nil {
                throw fail(at, "'\(n)' is not a column silver can dedup on\(Self.hint(n, silverScope.slots.filter { $0.qualifier == nil }.map(\.name)))")
            }
        }
        let (partName, partAt) = file.silver.partition
        guard let partColumn = silverColumns.first(where: { $0.name == partName }) else {
            throw fail(partAt, "partition '\(partName)' is not a column of silver; silver's columns are \(silverColumns.map(\.name).joined(separator: ", "))")
        }
        guard partColumn.type == .date else { throw fail(partAt, "silver is partitioned by a date column; \(partName) is \(partColumn.type) (date(timestamp) makes one)") }
        try checkOrder(file.silver.order, columns: silverColumns, table: "silver")
        let silver = CheckedPipeline.Table(name: "silver", columns: silverColumns, partition: partName, order: file.silver.order.map(\.name))
        let quarantine = CheckedPipeline.Table(name: "quarantine", columns: bronze.columns + [.init(name: "reason", type: .string, nullable: false)],
                                               partition: nil, order: [])

        // Gold, each table over silver or an earlier gold table.
        var available: [String: [CheckedPipeline.Column]] = ["silver": silverColumns]
        var gold: [CheckedPipeline.Table] = []
        var goldPlans: [CheckedPipeline.GoldPlan] = []
        for t in file.gold {
            let table: CheckedPipeline.Table
            var plan = CheckedPipeline.GoldPlan(name: t.name, scope: Scope(), lookups: [], filter: nil, groupBy: [], columns: [])
            switch t.kind {
            case let .reference(r):
                guard let feed = references[r] else { throw fail(t.at, "gold table \(t.name) copies reference '\(r)', which landing.references does not declare\(Self.hint(r, Array(references.keys)))") }
                table = CheckedPipeline.Table(name: "gold/" + t.name, columns: feed.columns.map { .init(name: $0.name, type: $0.type, nullable: $0.name != feed.key) },
                                              partition: nil, order: [feed.key ?? ""])
            case let .calendar(source, column):
                guard let cols = available[source] else { throw fail(t.at, "calendar of \(t.name) reads table '\(source)', which is not silver or an earlier gold table") }
                guard let c = cols.first(where: { $0.name == column }), c.type == .date else {
                    throw fail(t.at, "calendar of \(t.name) needs a date column of \(source); '\(column)' is \(cols.first { $0.name == column }.map { "\($0.type)" } ?? "not one of its columns")")
                }
                var s = Scope()
                s.slots.append(.init(qualifier: nil, name: "date", type: .date, nullable: false, source: .input(0)))
                let (columns, typed, projected) = try projectColumns(t.columns, scope: s, lookups: [], table: t.name)
                try checkOrder(t.order, columns: columns, table: t.name)
                plan.scope = projected
                plan.columns = typed
                table = CheckedPipeline.Table(name: "gold/" + t.name, columns: columns, partition: nil, order: t.order.map(\.name))
            case .projection, .aggregate:
                guard let cols = available[t.from] else {
                    throw fail(t.at, "gold table \(t.name) reads '\(t.from)', which is not silver or a gold table above it\(Self.hint(t.from, Array(available.keys)))")
                }
                var s = Scope()
                for (k, c) in cols.enumerated() { s.slots.append(.init(qualifier: nil, name: c.name, type: c.type, nullable: c.nullable, source: .input(k))) }
                let lookups = try resolveLookups(t.lookups, scope: &s)
                plan.lookups = lookups
                if case let .aggregate(filter, groupBy, measures) = t.kind {
                    if let f = filter {
                        var ctx = Context(checker: self, scope: s, lookups: lookups, source: f.source, what: "\(t.name).where")
                        let typed = try ctx.check(f.expr)
                        guard typed.type == .bool || typed.type == .null else { throw fail(f.source.position(of: f.expr.start), "where must be a condition; it is \(typed.type)") }
                        s = ctx.scope
                        plan.filter = typed
                    }
                    var groupColumns: [CheckedPipeline.Column] = []
                    var groupScope = Scope()
                    for g in groupBy {
                        var ctx = Context(checker: self, scope: s, lookups: lookups, source: g.source, what: "\(t.name).group_by \(g.name)")
                        let typed = try ctx.check(g.expr)
                        s = ctx.scope
                        guard typed.type != .null else { throw fail(g.at, "group key \(g.name) is always null") }
                        plan.groupBy.append(typed)
                        groupColumns.append(.init(name: g.name, type: typed.type, nullable: typed.nullable))
                        groupScope.slots.append(.init(qualifier: nil, name: g.name, type: typed.type, nullable: typed.nullable, source: .derived(groupColumns.count - 1)))
                    }
                    var measureColumns: [CheckedPipeline.Column] = []
                    for m in measures {
                        guard !groupColumns.contains(where: { $0.name == m.name }) else { throw fail(m.at, "\(m.name) is both a group key and a measure of \(t.name)") }
                        var ctx = Context(checker: self, scope: s, lookups: lookups, source: m.source, what: "measure \(m.name)")
                        ctx.groupScope = groupScope
                        let typed = try ctx.check(m.expr)
                        s = ctx.scope
                        guard typed.type != .null else { throw fail(m.at, "measure \(m.name) is always null") }
                        plan.columns.append(typed)
                        measureColumns.append(.init(name: m.name, type: typed.type, nullable: typed.nullable))
                    }
                    let columns = groupColumns + measureColumns
                    try checkOrder(t.order, columns: columns, table: t.name)
                    table = CheckedPipeline.Table(name: "gold/" + t.name, columns: columns, partition: nil, order: t.order.map(\.name))
                } else {
                    let (columns, typed, projected) = try projectColumns(t.columns, scope: s, lookups: lookups, table: t.name)
                    plan.columns = typed
                    var partition: String?
                    if let (p, at) = t.partition {
                        let name: String
                        switch p {
                        case let .day(c): name = c
                        case let .month(c): name = c
                        }
                        guard let k = s.find(nil, name), s.slots[k].type == .date else {
                            throw fail(at, "\(t.name) is partitioned by a date column of \(t.from); '\(name)' is \(s.find(nil, name).map { "\(s.slots[$0].type)" } ?? "not one of its columns")")
                        }
                        if case .month = p { partition = "month(\(name))" } else { partition = name }
                    }
                    try checkOrder(t.order, columns: columns, table: t.name)
                    table = CheckedPipeline.Table(name: "gold/" + t.name, columns: columns, partition: partition, order: t.order.map(\.name))
                    s = projected
                }
                plan.scope = s
            }
            available[t.name] = table.columns
            gold.append(table)
            goldPlans.append(plan)
        }
        return CheckedPipeline(file: file, bronze: bronze, references: refTables, silver: silver, quarantine: quarantine, gold: gold,
                               expectations: expectations, silverLookups: silverLookups, silverScope: silverScope, silverColumns: silverTyped,
                               goldPlans: goldPlans)
    }

    // MARK: pieces

    func resolveLookups(_ lookups: [PipelineFile.Lookup], scope: inout Scope) throws -> [CheckedPipeline.Lookup] {
        var out: [CheckedPipeline.Lookup] = []
        for l in lookups {
            guard let feed = references[l.reference] else {
                throw fail(l.at, "lookup into '\(l.reference)', which landing.references does not declare\(Self.hint(l.reference, Array(references.keys)))")
            }
            guard !out.contains(where: { $0.alias == l.alias }) else { throw fail(l.at, "two lookups are named '\(l.alias)'; give one another name with as:") }
            var ctx = Context(checker: self, scope: scope, lookups: out, source: l.on, what: "the lookup into \(l.reference)")
            let on = try ctx.check(l.onExpr)
            scope = ctx.scope
            guard let key = feed.columns.first(where: { $0.name == feed.key }) else { throw fail(l.at, "reference \(l.reference) has no key") }
            guard Context.sameFamily(on.type, key.type) else {
                throw fail(l.on.position(of: l.onExpr.at), "the lookup into \(l.reference) matches its key \(key.name) (\(key.type)) with a \(on.type) value; cast it")
            }
            out.append(CheckedPipeline.Lookup(alias: l.alias, feed: feed, on: on))
        }
        return out
    }

    /// Checks `items` in order, each seeing the columns before it; returns the output
    /// columns, their typed expressions and the scope with every derived slot.
    func projectColumns(_ items: [PipelineFile.Named], scope: Scope, lookups: [CheckedPipeline.Lookup], table: String) throws
        -> ([CheckedPipeline.Column], [TypedExpr], Scope) {
        var s = scope
        var columns: [CheckedPipeline.Column] = []
        var typed: [TypedExpr] = []
        for item in items {
            var ctx = Context(checker: self, scope: s, lookups: lookups, source: item.source, what: "\(table) column \(item.name)")
            let t = try ctx.check(item.expr)
            s = ctx.scope
            guard t.type != .null else { throw fail(item.at, "\(table) column \(item.name) is always null; cast(null as TYPE) gives it a type") }
            columns.append(.init(name: item.name, type: t.type, nullable: t.nullable))
            typed.append(t)
            // Later items see it by its name (it shadows an input column of the same name:
            // `Scope.find` takes the last slot of a name). Appended, so the slots typed
            // expressions already point at keep their places.
            s.slots.append(.init(qualifier: nil, name: item.name, type: t.type, nullable: t.nullable, source: .derived(typed.count - 1)))
        }
        guard !columns.isEmpty else { throw fail(.init(line: 1, column: 1), "\(table) needs at least one column") }
        return (columns, typed, s)
    }

    func checkOrder(_ order: [(name: String, at: PipelineFile.Position)], columns: [CheckedPipeline.Column], table: String) throws {
        for (n, at) in order where !columns.contains(where: { $0.name == n }) {
            throw fail(at, "\(table) is ordered by '\(n)', which is not one of its columns (\(columns.map(\.name).joined(separator: ", ")))")
        }
    }

    static func hint(_ name: String, _ names: [String]) -> String {
        Suggest.closest(name, in: names).map { "; did you mean '\($0)'?" } ?? ""
    }

    /// The slots of bare columns that a passed expectation proves are set.
    static func columnsProvenSet(by e: Expr, scope: Scope) -> [Int] {
        func column(_ x: Expr) -> Int? {
            if case let .column(q, n) = x.kind { return scope.find(q, n) }
            return nil
        }
        switch e.kind {
        case let .binary(.and, a, b): return columnsProvenSet(by: a, scope: scope) + columnsProvenSet(by: b, scope: scope)
        case let .isNull(x, negated: true): return column(x).map { [$0] } ?? []
        case let .binary(op, a, b) where op.isComparison: return [column(a), column(b)].compactMap { $0 }
        case let .between(x, _, _, false), let .inList(x, _, false), let .inReference(x, _, false): return column(x).map { [$0] } ?? []
        default: return []
        }
    }
}

/// A pipeline file with every table's typed columns and every expression typed: what
/// `batchrun check` prints and the planner compiles.
public struct CheckedPipeline: Sendable {
    /// A digest of the file's text (xxh64, hex): derived tables record it, so a changed
    /// file rebuilds them.
    public var digest: String { String(Checksum.xxh64(Array(file.text.utf8)), radix: 16) }

    public struct Column: Sendable, Equatable {
        public var name: String
        public var type: ValueType
        public var nullable: Bool

        public init(name: String, type: ValueType, nullable: Bool) {
            self.name = name
            self.type = type
            self.nullable = nullable
        }
    }

    public struct Table: Sendable {
        /// `bronze`, `reference/<name>`, `silver`, `quarantine` or `gold/<name>`.
        public var name: String
        public var columns: [Column]
        /// Silver's date column, or a gold table's `column` / `month(column)`.
        public var partition: String?
        public var order: [String]
    }

    public struct Lookup: Sendable {
        public var alias: String
        public var feed: PipelineFile.Feed
        public var on: TypedExpr
    }

    /// What the engine needs of a gold table besides its columns.
    public struct GoldPlan: Sendable {
        public var name: String
        public var scope: Scope
        public var lookups: [Lookup]
        public var filter: TypedExpr?
        public var groupBy: [TypedExpr]
        /// A projection's or calendar's columns, or an aggregate's measures.
        public var columns: [TypedExpr]
    }

    public var file: PipelineFile
    public var bronze: Table
    public var references: [Table]
    public var silver: Table
    public var quarantine: Table
    public var gold: [Table]
    public var expectations: [(name: String, expr: TypedExpr)]
    public var silverLookups: [Lookup]
    public var silverScope: Scope
    public var silverColumns: [TypedExpr]
    public var goldPlans: [GoldPlan]

    /// Every table the pipeline makes, in lake order.
    public var tables: [Table] { [bronze] + references + [silver, quarantine] + gold }

    /// Quarantine reasons, in the order they are checked: `malformed_row`, each
    /// expectation, then silver's overflow reason when it is not an expectation's name.
    public var reasons: [String] {
        let named = ["malformed_row"] + expectations.map(\.name)
        guard let o = file.silver.overflow?.name, !named.contains(o) else { return named }
        return named + [o]
    }

    /// The index in `reasons` of the overflow reason, if the file names one.
    public var overflowReason: Int? { file.silver.overflow.flatMap { o in reasons.firstIndex(of: o.name) } }
}

extension TypeChecker {
    /// Types one expression over named columns (slot k is `columns[k]`), as a pipeline's
    /// expressions are typed: for tests, benchmarks and tools that evaluate an expression
    /// on its own. `references` are the tables `x in R` may test.
    public static func expression(_ text: String, columns: [CheckedPipeline.Column], references: [PipelineFile.Feed] = []) throws -> TypedExpr {
        let origin = PipelineFile.Position(line: 1, column: 1)
        let source = PipelineFile.Source(text: text, at: origin, lineStarts: [(0, origin)])
        let stub = PipelineFile(path: "<expression>", text: text, name: "expression",
                                facts: .init(name: "input", files: "", key: nil, columns: [], at: origin), references: references,
                                silver: .init(expectations: [], dedup: nil, lookups: [], columns: [], partition: ("", origin), order: [], at: origin),
                                gold: [])
        var scope = Scope()
        for (k, c) in columns.enumerated() { scope.slots.append(.init(qualifier: nil, name: c.name, type: c.type, nullable: c.nullable, source: .input(k))) }
        let expr: Expr
        do { expr = try ExpressionParser.parse(text) } catch {
            throw BatchError.pipeline("<expression>", source.position(of: error.offset), error.message)
        }
        var ctx = Context(checker: TypeChecker(file: stub), scope: scope, lookups: [], source: source, what: "the expression")
        return try ctx.check(expr)
    }
}
