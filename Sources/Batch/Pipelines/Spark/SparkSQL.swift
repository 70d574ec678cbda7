/// A typed expression as Spark SQL text with batchrun's meaning: the same values, nulls
/// and errors, under the session settings the generated job sets (ANSI mode, exact
/// decimal scales, UTC).
///
/// What needs more than the obvious SQL:
/// - Exact arithmetic computes wide (integers as DECIMAL(19,0), decimals at their own
///   scales, which Spark keeps exact up to 38 digits) and is then brought to its type.
///   A value that does not fit is an error (`CAST` in ANSI mode); in silver (`routing`)
///   it is null and the row is flagged (`try_cast`), as batchrun quarantines such rows.
/// - `/` and `avg` round half away from zero at their scale by integer division, since
///   Spark's decimal division rounds at a scale of its own choosing.
/// - `upper`, `lower` and `trim` are ASCII only; `day_of_week` is ISO; casts between
///   text and other types use batchrun's grammar and text forms (the runtime's
///   `batchrun_cast_*` functions where SQL cannot say them).
struct SparkSQL {
    /// The SQL of slot k: a column of the frame the expression is evaluated over.
    var slot: (Int) -> String
    /// In a measure, outside its aggregates: the group key of slot k.
    var group: ((Int) -> String)?
    /// The membership column computed for an `x in R` node, by the node's identity.
    var members: [ObjectIdentifier: String] = [:]
    /// Whether a value that does not fit is null with its row flagged (silver), or an
    /// error (gold).
    var routing = false
    /// Routing: SQL conditions, true for a row with a value that did not fit.
    private(set) var overflows: [String] = []
    /// Types read from text through the runtime's cast functions.
    private(set) var parsedTypes: [ValueType] = []
    private var insideAggregate = false

    init(slot: @escaping (Int) -> String) { self.slot = slot }

    /// `name` quoted for Spark SQL.
    static func quoted(_ name: String) -> String { "`" + name.replacingOccurrences(of: "`", with: "``") + "`" }

    /// A Spark SQL string literal (Spark reads backslash escapes in literals).
    static func string(_ s: String) -> String { SparkJob.backslashQuoted(s, quote: "'") }

    static func typeName(_ t: ValueType) -> String {
        switch t {
        case .bool: "BOOLEAN"
        case .int32: "INT"
        case .int64: "BIGINT"
        case .float64: "DOUBLE"
        case .date: "DATE"
        case .timestamp: "TIMESTAMP"
        case .string, .null: "STRING"
        case let .decimal(p, s): "DECIMAL(\(p),\(s))"
        }
    }

    /// 10^k as an exact decimal literal.
    static func power(_ k: Int) -> String { "1" + String(repeating: "0", count: k) + "BD" }
    /// 10^-k as an exact decimal literal.
    static func fraction(_ k: Int) -> String { k == 0 ? "1BD" : "0." + String(repeating: "0", count: k - 1) + "1BD" }
    /// 10^k as a double.
    static func doublePower(_ k: Int) -> String { "1.0E\(k)D" }

    mutating func sql(_ e: TypedExpr) -> String {
        switch e.node {
        case let .slot(k):
            return !insideAggregate && group != nil ? group!(k) : slot(k)
        case let .literal(l):
            return Self.literal(l, e.type)
        case let .negate(x):
            let v = sql(x)
            return e.type == .int64 ? fit("(- CAST(\(v) AS DECIMAL(19,0)))", .int64) : "(- \(v))"
        case let .not(x):
            return "(NOT \(sql(x)))"
        case let .arithmetic(op, a, b):
            return arithmetic(op, a, b, e.type)
        case let .compare(op, a, b):
            return "(\(sql(a)) \(op.rawValue) \(sql(b)))"
        case let .logic(op, a, b):
            return "(\(sql(a)) \(op.rawValue.uppercased()) \(sql(b)))"
        case let .isNull(x, negated):
            return "(\(sql(x)) IS \(negated ? "NOT " : "")NULL)"
        case let .inList(x, items, negated):
            return "(\(sql(x)) \(negated ? "NOT " : "")IN (\(items.map { sql($0) }.joined(separator: ", "))))"
        case let .inReference(_, _, negated):
            let m = members[ObjectIdentifier(e)] ?? "NULL"
            return negated ? "(NOT \(m))" : m
        case let .call(fn, args):
            return call(fn, args, e.type)
        case let .aggregate(fn, arg, filter):
            return aggregate(fn, arg, filter, e.type)
        case let .caseWhen(branches, otherwise):
            var out = "CASE"
            for (c, v) in branches { out += " WHEN \(sql(c)) THEN \(sql(v))" }
            if let otherwise { out += " ELSE \(sql(otherwise))" }
            return out + " END"
        case let .cast(x):
            return cast(x, to: e.type)
        }
    }

    /// `raw`, a wide exact value, as `type`: an error when it does not fit, or (routing)
    /// null with its row flagged.
    mutating func fit(_ raw: String, _ type: ValueType) -> String {
        let t = Self.typeName(type)
        guard routing else { return "CAST(\(raw) AS \(t))" }
        overflows.append("(\(raw) IS NOT NULL AND try_cast(\(raw) AS \(t)) IS NULL)")
        return "try_cast(\(raw) AS \(t))"
    }

    static func literal(_ l: Literal, _ type: ValueType) -> String {
        switch l {
        case .null: return type == .null ? "NULL" : "CAST(NULL AS \(typeName(type)))"
        case let .bool(b): return b ? "true" : "false"
        case let .integer(v): return "\(v)L"
        case let .decimal(unscaled, scale): return ValueText.decimal(unscaled, scale: scale) + "BD"
        case let .float(d): return "CAST('\(d)' AS DOUBLE)"
        case let .string(s): return string(s)
        case let .date(d): return "DATE '\(ValueText.date(d))'"
        case let .timestamp(t): return "timestamp_micros(\(t)L)"
        }
    }

    mutating func arithmetic(_ op: BinaryOp, _ a: TypedExpr, _ b: TypedExpr, _ type: ValueType) -> String {
        let x = sql(a), y = sql(b)
        switch type {
        case .float64:
            return op == .divide ? "CASE WHEN \(y) = 0 THEN NULL ELSE \(x) / \(y) END" : "(\(x) \(op.rawValue) \(y))"
        case .int64:
            return fit("(CAST(\(x) AS DECIMAL(19,0)) \(op.rawValue) CAST(\(y) AS DECIMAL(19,0)))", type)
        default:
            guard op == .divide else { return fit("(\(x) \(op.rawValue) \(y))", type) }
            // x/10^sa / (y/10^sb) at scale s: n / d rounded half away from zero, with
            // n = x * 10^(s+sb) and d = y * 10^sb, both integers.
            let s = type.scale, sb = b.type.scale
            let n = "CAST(\(x) * \(Self.power(s + sb)) AS DECIMAL(38,0))", d = "CAST(\(y) * \(Self.power(sb)) AS DECIMAL(38,0))"
            return fit("CASE WHEN \(d) = 0 THEN NULL ELSE \(Self.scaled(Self.halfUpQuotient(n, d), s)) END", type)
        }
    }

    /// The integer n / d rounded half away from zero (a BIGINT).
    static func halfUpQuotient(_ n: String, _ d: String) -> String {
        "((\(n) div \(d)) + CASE WHEN abs(\(n) - (\(n) div \(d)) * \(d)) * 2 >= abs(\(d)) THEN CASE WHEN (\(n) < 0) = (\(d) < 0) THEN 1 ELSE -1 END ELSE 0 END)"
    }

    /// An integer count of 10^-s units as an exact decimal.
    static func scaled(_ units: String, _ s: Int) -> String { "(CAST(\(units) AS DECIMAL(38,0)) * \(fraction(s)))" }

    mutating func call(_ fn: TypedExpr.Function, _ args: [TypedExpr], _ type: ValueType) -> String {
        if fn == .round, case .decimal = args[0].type, case let .arithmetic(.multiply, a, b) = args[0].node {
            // round(a * b, s) in one step: the product may pass 18 digits on its way.
            return fit("round(\(sql(a)) * \(sql(b)), \(type.scale))", type)
        }
        let xs = args.map { sql($0) }
        let x = xs.first ?? "NULL"
        switch fn {
        case .date: return args[0].type == .date ? x : "to_date(\(x))"
        case .year, .month, .quarter: return "\(fn.rawValue)(\(x))"
        case .day: return "dayofmonth(\(x))"
        case .dayOfWeek: return "((dayofweek(\(x)) + 5) % 7 + 1)"
        case .isoWeek: return "weekofyear(\(x))"
        case .dateKey: return "(year(\(x)) * 10000 + month(\(x)) * 100 + dayofmonth(\(x)))"
        case .upper: return "translate(\(x), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')"
        case .lower: return "translate(\(x), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
        case .trim: return "regexp_replace(\(x), '^[ \\\\t]+|[ \\\\t]+$', '')"
        case .coalesce: return "coalesce(\(xs.joined(separator: ", ")))"
        case .round:
            switch args[0].type {
            case .float64:
                let p = Self.doublePower(Self.places(args[1]))
                return "(round(\(x) * \(p), 0) / \(p))"
            case .decimal: return "CAST(round(\(x), \(type.scale)) AS \(Self.typeName(type)))"
            default: return x
            }
        }
    }

    static func places(_ e: TypedExpr) -> Int {
        if case let .literal(.integer(s)) = e.node { return Int(s) }
        return 0
    }

    mutating func cast(_ x: TypedExpr, to type: ValueType) -> String {
        let from = x.type
        let v = sql(x)
        if from == .null { return Self.literal(.null, type) }
        if from == type { return v }
        switch (from, type) {
        case (.string, _):
            if !parsedTypes.contains(type) { parsedTypes.append(type) }
            let parsed = "\(Self.castFunction(type))(\(v))"
            switch type {
            case .date: return "date_from_unix_date(\(parsed))"
            case .timestamp: return "timestamp_micros(\(parsed))"
            default: return parsed
            }
        case (.timestamp, .string):
            return "concat(date_format(\(v), \"yyyy-MM-dd'T'HH:mm:ss\"), CASE WHEN unix_micros(\(v)) % 1000000 = 0 THEN '' "
                + "ELSE concat('.', lpad(CAST(pmod(unix_micros(\(v)), 1000000) AS STRING), 6, '0')) END, 'Z')"
        case (.float64, .string):
            if !parsedTypes.contains(.float64) { parsedTypes.append(.float64) }
            return "batchrun_text_float64(\(v))"
        case (_, .string):
            return "CAST(\(v) AS STRING)"
        case (.date, .timestamp):
            return "CAST(\(v) AS TIMESTAMP)"
        case (.timestamp, .date):
            return "to_date(\(v))"
        case (.float64, _):
            // batchrun: (x * 10^s) rounded half away from zero, as units of 10^-s.
            let units = "round(\(v) * \(Self.doublePower(type.scale)), 0)"
            let wide = routing ? "try_cast(\(units) AS DECIMAL(38,0))" : "CAST(\(units) AS DECIMAL(38,0))"
            return fit(type.isInteger ? wide : "(\(wide) * \(Self.fraction(type.scale)))", type)
        case (_, .float64):
            // batchrun: the units as a double, divided by 10^s.
            guard case let .decimal(_, s) = from, s > 0 else { return "CAST(\(v) AS DOUBLE)" }
            return "(CAST(CAST(\(v) * \(Self.power(s)) AS BIGINT) AS DOUBLE) / \(Self.doublePower(s)))"
        case (.decimal, _) where type.isInteger:
            return fit("round(\(v), 0)", type)
        default:
            return Self.alwaysFits(x, type) ? "CAST(\(v) AS \(Self.typeName(type)))" : fit(v, type)
        }
    }

    /// Whether every value of `x` fits `type` exactly (a wider type, or a literal that
    /// fits), so its cast needs no check.
    static func alwaysFits(_ x: TypedExpr, _ type: ValueType) -> Bool {
        func digits(_ t: ValueType) -> (whole: Int, scale: Int)? {
            switch t {
            case .int32: (10, 0)
            case .int64: (19, 0)
            case let .decimal(p, s): (p - s, s)
            default: nil
            }
        }
        guard let to = digits(type) else { return false }
        switch x.node {
        case let .literal(.integer(v)):
            return type == .int64 || (type == .int32 && Int32(exactly: v) != nil)
                || (to.scale <= 18 && String(v.magnitude).count <= to.whole)
        case let .literal(.decimal(u, s)):
            return s <= to.scale && String(u.magnitude).count - s <= to.whole
        default:
            guard let from = digits(x.type) else { return false }
            return from.scale <= to.scale && from.whole <= to.whole
        }
    }

    /// The runtime's function that reads text as `type` (batchrun's cast grammar).
    static func castFunction(_ type: ValueType) -> String {
        switch type {
        case let .decimal(p, s): "batchrun_cast_decimal_\(p)_\(s)"
        default: "batchrun_cast_\(type)"
        }
    }

    mutating func aggregate(_ fn: AggregateFunction, _ arg: TypedExpr?, _ filter: TypedExpr?, _ type: ValueType) -> String {
        insideAggregate = true
        defer { insideAggregate = false }
        let f = filter.map { " FILTER (WHERE \(sql($0)))" } ?? ""
        guard let arg else { return "count(*)\(f)" }
        let x = sql(arg)
        switch fn {
        case .count, .min, .max: return "\(fn.rawValue)(\(x))\(f)"
        case .sum: return type == .int64 ? "sum(\(x))\(f)" : "CAST(sum(\(x))\(f) AS \(Self.typeName(type)))"
        case .avg:
            // sum / count at scale s, rounded half away from zero.
            let s = type.scale
            let n = "CAST(sum(\(x))\(f) * \(Self.power(s)) AS DECIMAL(38,0))", d = "count(\(x))\(f)"
            return "CAST(\(Self.scaled(Self.halfUpQuotient(n, d), s)) AS \(Self.typeName(type)))"
        }
    }
}
