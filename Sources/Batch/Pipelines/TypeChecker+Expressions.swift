extension TypeChecker {
    /// Types one expression in a scope. A reference to a lookup's column adds a slot for
    /// it to the scope (so the engine fetches only the columns used).
    struct Context {
        let checker: TypeChecker
        var scope: Scope
        let lookups: [CheckedPipeline.Lookup]
        let source: PipelineFile.Source
        /// Where the expression sits, for messages: "expectation bad_quantity".
        let what: String
        /// In a measure: the group keys a bare column must be, outside an aggregate.
        var groupScope: Scope?
        var insideAggregate = false

        init(checker: TypeChecker, scope: Scope, lookups: [CheckedPipeline.Lookup], source: PipelineFile.Source, what: String) {
            self.checker = checker
            self.scope = scope
            self.lookups = lookups
            self.source = source
            self.what = what
        }

        func fail(_ e: Expr, _ message: String, atStart: Bool = false) -> BatchError {
            checker.fail(source.position(of: atStart ? e.start : e.at), message + " (in \(what))")
        }

        // MARK: types

        /// Same kind of value: integers with integers, strings with strings, ...
        static func sameFamily(_ a: ValueType, _ b: ValueType) -> Bool {
            if a.isInteger && b.isInteger { return true }
            if case .decimal = a, case .decimal = b { return a.scale == b.scale }
            return a == b
        }

        /// The one type two values are compared (or chosen between) as, if there is one.
        static func common(_ a: ValueType, _ b: ValueType) -> ValueType? {
            if a == .null { return b }
            if b == .null { return a }
            if a == b { return a }
            if a.isNumeric && b.isNumeric {
                if a == .float64 || b == .float64 { return .float64 }
                if a.isInteger && b.isInteger { return .int64 }
                return .decimal(precision: ValueType.precisionMax, scale: max(a.scale, b.scale))
            }
            if (a == .date && b == .timestamp) || (a == .timestamp && b == .date) { return .timestamp }
            return nil
        }

        static func cast(_ e: TypedExpr, to type: ValueType) -> TypedExpr {
            if e.type == type { return e }
            if case .literal(.null) = e.node { return TypedExpr(.literal(.null), type, nullable: true) }
            return TypedExpr(.cast(e), type, nullable: e.nullable)
        }

        static func canCast(_ from: ValueType, to: ValueType) -> Bool {
            if from == to || from == .null || from == .string || to == .string { return true }
            if from.isNumeric && to.isNumeric { return true }
            return [ValueType.date, .timestamp].contains(from) && [ValueType.date, .timestamp].contains(to)
        }

        // MARK: checking

        mutating func check(_ e: Expr) throws -> TypedExpr {
            switch e.kind {
            case let .literal(l):
                return TypedExpr(.literal(l), Self.literalType(l), nullable: l == .null)
            case let .column(q, n):
                return try column(e, q, n)
            case let .unary(.negate, x):
                let t = try check(x)
                guard t.type.isNumeric || t.type == .null else { throw fail(e, "'-' needs a number; this is \(t.type)") }
                return TypedExpr(.negate(Self.cast(t, to: t.type == .int32 ? .int64 : t.type)), t.type == .int32 ? .int64 : t.type, nullable: t.nullable)
            case let .unary(.not, x):
                let t = try condition(x, "not")
                return TypedExpr(.not(t), .bool, nullable: t.nullable)
            case let .binary(op, a, b):
                if op == .and || op == .or {
                    let l = try condition(a, op.rawValue), r = try condition(b, op.rawValue)
                    return TypedExpr(.logic(op, l, r), .bool, nullable: l.nullable || r.nullable)
                }
                let l = try check(a), r = try check(b)
                if op.isComparison { return try compare(e, op, l, r) }
                return try arithmetic(e, op, l, r)
            case let .isNull(x, negated):
                return TypedExpr(.isNull(try check(x), negated: negated), .bool, nullable: false)
            case let .between(x, low, high, negated):
                let t = try check(x), lo = try check(low), hi = try check(high)
                let both = TypedExpr(.logic(.and, try compare(e, .greaterEqual, t, lo), try compare(e, .lessEqual, t, hi)), .bool,
                                     nullable: t.nullable || lo.nullable || hi.nullable)
                return negated ? TypedExpr(.not(both), .bool, nullable: both.nullable) : both
            case let .inList(x, items, negated):
                let t = try check(x)
                let typedItems = try items.map { try check($0) }
                var type = t.type
                for (item, typed) in zip(items, typedItems) {
                    guard let c = Self.common(type, typed.type) else { throw fail(item, "in (...) compares \(t.type) with \(typed.type); make them one type") }
                    type = c
                }
                return TypedExpr(.inList(Self.cast(t, to: type), typedItems.map { Self.cast($0, to: type) }, negated: negated), .bool,
                                 nullable: t.nullable || typedItems.contains { $0.nullable })
            case let .inReference(x, reference, negated):
                guard let feed = checker.references[reference] else {
                    throw fail(e, "'\(reference)' is not a reference table (in \(reference) tests a key of one)\(TypeChecker.hint(reference, Array(checker.references.keys)))", atStart: true)
                }
                let t = try check(x)
                guard let key = feed.columns.first(where: { $0.name == feed.key }), Self.sameFamily(t.type, key.type) || t.type == .null else {
                    throw fail(e, "in \(reference) tests its key \(feed.key ?? "") of type \(feed.columns.first { $0.name == feed.key }?.type.description ?? "?"); this is \(t.type)")
                }
                return TypedExpr(.inReference(t, reference: reference, negated: negated), .bool, nullable: t.nullable)
            case let .call(name, args):
                return try call(e, name, args)
            case let .aggregate(fn, arg, filter):
                return try aggregate(e, fn, arg, filter)
            case let .caseWhen(branches, otherwise):
                var conditions: [TypedExpr] = []
                var values: [TypedExpr] = []
                for (c, v) in branches {
                    conditions.append(try condition(c, "when"))
                    values.append(try check(v))
                }
                let other = try otherwise.map { try check($0) }
                var type = ValueType.null
                for (v, typed) in zip(branches.map(\.value) + (otherwise.map { [$0] } ?? []), values + (other.map { [$0] } ?? [])) {
                    guard let c = Self.common(type, typed.type) else { throw fail(v, "the branches of case give \(type) and \(typed.type); make them one type") }
                    type = c
                }
                let nullable = other == nil || values.contains { $0.nullable } || other?.nullable == true
                return TypedExpr(.caseWhen(Array(zip(conditions, values.map { Self.cast($0, to: type) })), otherwise: other.map { Self.cast($0, to: type) }),
                                 type, nullable: nullable)
            case let .cast(x, type):
                let t = try check(x)
                guard Self.canCast(t.type, to: type) else { throw fail(e, "cannot cast \(t.type) to \(type)") }
                return TypedExpr(.cast(t), type, nullable: t.nullable || (t.type == .string && type != .string))
            }
        }

        static func literalType(_ l: Literal) -> ValueType {
            switch l {
            case .null: .null
            case .bool: .bool
            case .integer: .int64
            case let .decimal(_, s): .decimal(precision: ValueType.precisionMax, scale: s)
            case .float: .float64
            case .string: .string
            case .date: .date
            case .timestamp: .timestamp
            }
        }

        mutating func condition(_ e: Expr, _ where_: String) throws -> TypedExpr {
            let t = try check(e)
            guard t.type == .bool || t.type == .null else { throw fail(e, "\(where_) needs a condition (true or false); this is \(t.type)") }
            return Self.cast(t, to: .bool)
        }

        mutating func column(_ e: Expr, _ qualifier: String?, _ name: String) throws -> TypedExpr {
            if let groups = groupScope, !insideAggregate {
                guard qualifier == nil, let k = groups.find(nil, name) else {
                    throw fail(e, "'\(qualifier.map { $0 + "." } ?? "")\(name)' is neither a group_by key nor inside an aggregate (sum, count, min, max, avg)")
                }
                return TypedExpr(.slot(k), groups.slots[k].type, nullable: groups.slots[k].nullable)
            }
            if let k = scope.find(qualifier, name) {
                return TypedExpr(.slot(k), scope.slots[k].type, nullable: scope.slots[k].nullable)
            }
            guard let qualifier else {
                let refs = checker.references.values.filter { r in r.columns.contains { $0.name == name } }.map(\.name).sorted()
                let lookupHint = refs.isEmpty ? "" : "; \(name) is a column of \(refs.joined(separator: ", ")): write \(refs[0]).\(name) with a lookup into \(refs[0])"
                let names = scope.slots.filter { $0.qualifier == nil }.map(\.name)
                let suggestion = TypeChecker.hint(name, names)
                throw fail(e, "unknown column '\(name)'\(suggestion.isEmpty ? lookupHint : suggestion)")
            }
            guard let (index, lookup) = lookups.enumerated().first(where: { $0.element.alias == qualifier }) else {
                let hint = checker.references[qualifier] != nil ? "; add {reference: \(qualifier), on: <key column>} to the lookups" : ""
                throw fail(e, "'\(qualifier)' is not a lookup declared here\(hint)")
            }
            guard let c = lookup.feed.columns.firstIndex(where: { $0.name == name }) else {
                throw fail(e, "\(lookup.feed.name) has no column '\(name)'\(TypeChecker.hint(name, lookup.feed.columns.map(\.name)))")
            }
            scope.slots.append(.init(qualifier: qualifier, name: name, type: lookup.feed.columns[c].type, nullable: true, source: .lookup(index, column: c)))
            return TypedExpr(.slot(scope.slots.count - 1), lookup.feed.columns[c].type, nullable: true)
        }

        func compare(_ e: Expr, _ op: BinaryOp, _ l: TypedExpr, _ r: TypedExpr) throws -> TypedExpr {
            guard let type = Self.common(l.type, r.type) else {
                throw fail(e, "cannot compare \(l.type) with \(r.type); cast one side (cast(x as \(l.type)))")
            }
            return TypedExpr(.compare(op, Self.cast(l, to: type), Self.cast(r, to: type)), .bool, nullable: l.nullable || r.nullable)
        }

        func arithmetic(_ e: Expr, _ op: BinaryOp, _ l: TypedExpr, _ r: TypedExpr) throws -> TypedExpr {
            let lt = l.type == .null ? r.type : l.type, rt = r.type == .null ? l.type : r.type
            guard lt.isNumeric && rt.isNumeric else {
                throw fail(e, "'\(op.rawValue)' needs numbers; this is \(l.type) \(op.rawValue) \(r.type)")
            }
            let nullable = l.nullable || r.nullable || op == .divide
            if lt == .float64 || rt == .float64 {
                return TypedExpr(.arithmetic(op, Self.cast(l, to: .float64), Self.cast(r, to: .float64)), .float64, nullable: nullable)
            }
            if lt.isInteger && rt.isInteger && op != .divide {
                return TypedExpr(.arithmetic(op, Self.cast(l, to: .int64), Self.cast(r, to: .int64)), .int64, nullable: nullable)
            }
            func exact(_ t: TypedExpr, _ type: ValueType) -> TypedExpr {
                Self.cast(t, to: type.isInteger ? .decimal(precision: ValueType.precisionMax, scale: 0) : .decimal(precision: ValueType.precisionMax, scale: type.scale))
            }
            let scale: Int
            switch op {
            case .add, .subtract:
                scale = max(lt.scale, rt.scale)
                let type = ValueType.decimal(precision: ValueType.precisionMax, scale: scale)
                return TypedExpr(.arithmetic(op, Self.cast(l, to: type), Self.cast(r, to: type)), type, nullable: nullable)
            case .multiply:
                scale = lt.scale + rt.scale
                guard scale <= ValueType.precisionMax else {
                    throw fail(e, "this product has \(scale) decimal places, more than the 18 a decimal holds; round an operand first")
                }
            default:
                scale = max(6, lt.scale, rt.scale)
            }
            return TypedExpr(.arithmetic(op, exact(l, lt), exact(r, rt)), .decimal(precision: ValueType.precisionMax, scale: scale), nullable: nullable)
        }

        mutating func call(_ e: Expr, _ name: String, _ args: [Expr]) throws -> TypedExpr {
            guard let fn = TypedExpr.Function(rawValue: name) else {
                let names = TypedExpr.Function.allCases.map(\.rawValue) + ["cast"]
                throw fail(e, "unknown function '\(name)'\(TypeChecker.hint(name, names).isEmpty ? "; the functions are \(names.joined(separator: ", "))" : TypeChecker.hint(name, names))")
            }
            let typed = try args.map { try check($0) }
            func arity(_ n: Int) throws {
                guard typed.count == n else { throw fail(e, "\(name) takes \(n) argument\(n == 1 ? "" : "s"), not \(typed.count)") }
            }
            let nullable = typed.contains { $0.nullable }
            switch fn {
            case .date, .year, .month, .day, .quarter, .dayOfWeek, .isoWeek, .dateKey:
                try arity(1)
                guard [ValueType.date, .timestamp, .null].contains(typed[0].type) else { throw fail(args[0], "\(name) needs a date or a timestamp; this is \(typed[0].type)") }
                let arg = typed[0].type == .null ? Self.cast(typed[0], to: .date) : typed[0]
                return TypedExpr(.call(fn, [arg]), fn == .date ? .date : .int32, nullable: nullable)
            case .upper, .lower, .trim:
                try arity(1)
                guard typed[0].type == .string || typed[0].type == .null else { throw fail(args[0], "\(name) needs a string; this is \(typed[0].type)") }
                return TypedExpr(.call(fn, [Self.cast(typed[0], to: .string)]), .string, nullable: nullable)
            case .round:
                try arity(2)
                guard typed[0].type.isNumeric || typed[0].type == .null else { throw fail(args[0], "round needs a number; this is \(typed[0].type)") }
                guard case let .literal(.integer(s)) = typed[1].node, (0...Int64(ValueType.precisionMax)).contains(s) else {
                    throw fail(args[1], "round's second argument is the number of decimal places: an integer from 0 to 18")
                }
                let type: ValueType
                switch typed[0].type {
                case let .decimal(p, scale): type = .decimal(precision: p, scale: min(scale, Int(s)))
                case .null: type = .decimal(precision: ValueType.precisionMax, scale: Int(s))
                default: type = typed[0].type
                }
                return TypedExpr(.call(.round, typed), type, nullable: typed[0].nullable)
            case .coalesce:
                guard !typed.isEmpty else { throw fail(e, "coalesce takes one argument or more") }
                var type = ValueType.null
                for (a, t) in zip(args, typed) {
                    guard let c = Self.common(type, t.type) else { throw fail(a, "coalesce mixes \(type) and \(t.type); make them one type") }
                    type = c
                }
                return TypedExpr(.call(.coalesce, typed.map { Self.cast($0, to: type) }), type, nullable: typed.allSatisfy { $0.nullable })
            }
        }

        mutating func aggregate(_ e: Expr, _ fn: AggregateFunction, _ arg: Expr?, _ filter: Expr?) throws -> TypedExpr {
            guard groupScope != nil else { throw fail(e, "\(fn.rawValue)(...) is an aggregate; aggregates belong in a gold aggregate's measures") }
            guard !insideAggregate else { throw fail(e, "an aggregate cannot hold another aggregate") }
            insideAggregate = true
            defer { insideAggregate = false }
            let typedFilter = try filter.map { try condition($0, "filter (where ...)") }
            guard let arg else {
                return TypedExpr(.aggregate(.count, nil, filter: typedFilter), .int64, nullable: false)
            }
            let t = try check(arg)
            let type: ValueType
            switch fn {
            case .count: type = .int64
            case .sum, .avg:
                guard t.type.isNumeric else { throw fail(arg, "\(fn.rawValue) needs a number; this is \(t.type)") }
                // Float addition gives other bits in another order, and a table is the same
                // whatever the batches, threads and spills that order its rows.
                guard t.type != .float64 else {
                    throw fail(arg, "\(fn.rawValue) of a float64 would depend on the order rows are added in; \(fn.rawValue) an exact decimal: \(fn.rawValue)(cast(x as decimal(18,4)))")
                }
                type = fn == .avg ? .decimal(precision: ValueType.precisionMax, scale: max(6, t.type.scale))
                    : t.type.isInteger ? .int64 : .decimal(precision: ValueType.precisionMax, scale: t.type.scale)
            case .min, .max:
                guard t.type != .bool && t.type != .null && t.type != .string else {
                    throw fail(arg, "\(fn.rawValue) needs numbers, dates or timestamps; this is \(t.type)")
                }
                type = t.type
            }
            // count is never null; the others are null for a group with no value to take.
            let nullable = fn != .count && (t.nullable || typedFilter != nil)
            // Integers add up as int64, for sum and avg alike.
            return TypedExpr(.aggregate(fn, Self.cast(t, to: (fn == .sum || fn == .avg) && t.type.isInteger ? .int64 : t.type),
                                        filter: typedFilter), type, nullable: nullable)
        }
    }
}
