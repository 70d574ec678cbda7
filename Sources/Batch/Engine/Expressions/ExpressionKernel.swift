import Foundation
import Segments

/// A row an expression could not compute (a decimal that does not fit 18 digits, an
/// int64 that overflows): the engine names the row's lineage.
public struct EvaluationError: Error, Sendable, Equatable {
    public var row: Int
    public var message: String
}

/// Where a compiled expression notes the rows whose values do not fit, when the pipeline
/// routes such rows (to quarantine) instead of stopping: such a row's value is null and
/// its flag is set. One per compiled tree, reset per batch by its user.
public final class OverflowRows {
    public private(set) var flags: [Bool]
    public private(set) var count = 0

    public init(capacity: Int) { flags = [Bool](repeating: false, count: capacity) }

    public func reset(rows: Int) {
        for r in 0..<min(rows, flags.count) { flags[r] = false }
        count = 0
    }

    func mark(_ r: Int) {
        if !flags[r] { count += 1 }
        flags[r] = true
    }
}

/// A `TypedExpr` compiled into a tree of vector kernels: each node evaluates over whole
/// column vectors, one loop per node and batch, into an output vector it owns and reuses,
/// so evaluation walks the tree once per batch (never per row) and allocates nothing in
/// steady state.
///
/// ```
///   round(amount * fx.usd_per_unit, 2)      compiled as      mulRound(2)
///                                                             /        \
///                                                        slot 6      slot 14
/// ```
/// `evaluate` returns a vector whose first `rows` values are the results (a slot's own
/// vector, or the node's output); only those rows are meaningful.
public final class ExpressionKernel {
    enum Op {
        case slot(Int)
        case literal
        case negate
        case not
        case arithmetic(BinaryOp)
        /// Decimal `a * b` rounded half up to `scale` in one step, with a 128-bit product.
        case multiplyRound(scale: Int)
        case compare(BinaryOp)
        case logic(BinaryOp)
        case isNull(negated: Bool)
        case inList(negated: Bool)
        case inReference(KeySet, negated: Bool)
        case call(TypedExpr.Function)
        case round(scale: Int)
        case coalesce
        case caseWhen(hasElse: Bool)
        case cast
    }

    public let type: ValueType
    let op: Op
    let children: [ExpressionKernel]
    let output: ColumnVector
    /// When set, a value that does not fit is noted here and null, not an error.
    let overflows: OverflowRows?
    /// `x in (...)` whose items are all literals (strings or integers): their values.
    enum ConstantItems { case strings(LiteralTexts), integers([Int64]) }
    private let constantItems: ConstantItems?
    private let constantsHaveNull: Bool
    /// A string `=` or `<>` with a literal side: the literal, and the other side's input.
    private let equalsText: (text: LiteralTexts, side: Int)?
    /// A date part kernel's last day and its part.
    private var lastDay = Int64.min, lastPart: Int32 = 0
    /// The children's results of the batch being evaluated, one slot per child, reused
    /// batch after batch (a fresh array per batch would be a malloc per node).
    private var inputs: [ColumnVector]

    init(_ op: Op, _ type: ValueType, _ children: [ExpressionKernel], capacity: Int, overflows: OverflowRows? = nil) {
        self.op = op
        self.type = type
        self.children = children
        self.overflows = overflows
        output = ColumnVector(type: Self.columnType(type), capacity: capacity)
        inputs = children.map(\.output)
        (constantItems, constantsHaveNull) = Self.constants(op, children)
        equalsText = Self.equalsText(op, children)
    }

    /// For `x = 'literal'` or `x <> 'literal'` (either way round) over strings: the
    /// literal, and which input is `x`.
    private static func equalsText(_ op: Op, _ children: [ExpressionKernel]) -> (text: LiteralTexts, side: Int)? {
        guard case let .compare(b) = op, b == .equal || b == .notEqual, children[0].type == .string else { return nil }
        for (side, literal) in [(0, 1), (1, 0)] {
            if case .literal = children[literal].op, !children[literal].output.isNull(0) {
                return (LiteralTexts([children[literal].output.withString(0) { Array($0) }]), side)
            }
        }
        return nil
    }

    /// The literal items of an `in (...)` whose items are all literals of a string or
    /// integer-like type, and whether one is null.
    private static func constants(_ op: Op, _ children: [ExpressionKernel]) -> (ConstantItems?, Bool) {
        guard case .inList = op, children.dropFirst().allSatisfy({ if case .literal = $0.op { true } else { false } }) else { return (nil, false) }
        let items = children.dropFirst().map(\.output)
        let hasNull = items.contains { $0.isNull(0) }
        let present = items.filter { !$0.isNull(0) }
        switch children[0].type {
        case .string: return (.strings(LiteralTexts(present.map { $0.withString(0) { Array($0) } })), hasNull)
        case .bool, .float64: return (nil, false)
        case .int32, .date: return (.integers(present.map { Int64($0.int32(0)) }), hasNull)
        default: return (.integers(present.map { $0.int64(0) }), hasNull)
        }
    }

    public static func columnType(_ t: ValueType) -> ColumnType {
        switch t {
        case .bool: .bool
        case .int32: .int32
        case .int64: .int64
        case .float64: .float64
        case let .decimal(_, s): .decimal(scale: s)
        case .date: .date
        case .timestamp: .timestamp
        case .string, .null: .string
        }
    }

    // MARK: compiling

    /// Compiles `e` for batches of up to `capacity` rows. `references` holds the key set
    /// of each reference table an `in R` tests. With `overflows`, a value that does not
    /// fit is null and its row noted there; without, it is an `EvaluationError`.
    public static func compile(_ e: TypedExpr, capacity: Int, references: [String: KeySet] = [:],
                               overflows: OverflowRows? = nil) throws -> ExpressionKernel {
        func c(_ x: TypedExpr) throws -> ExpressionKernel { try compile(x, capacity: capacity, references: references, overflows: overflows) }
        func node(_ op: Op, _ kids: [ExpressionKernel]) -> ExpressionKernel {
            ExpressionKernel(op, e.type, kids, capacity: capacity, overflows: overflows)
        }
        switch e.node {
        case let .slot(k):
            return ExpressionKernel(.slot(k), e.type, [], capacity: 1)
        case let .literal(l):
            let kernel = node(.literal, [])
            for _ in 0..<capacity { kernel.append(l) }
            return kernel
        case let .negate(x): return node(.negate, [try c(x)])
        case let .not(x): return node(.not, [try c(x)])
        case let .arithmetic(op, a, b): return node(.arithmetic(op), [try c(a), try c(b)])
        case let .compare(op, a, b): return node(.compare(op), [try c(a), try c(b)])
        case let .logic(op, a, b): return node(.logic(op), [try c(a), try c(b)])
        case let .isNull(x, negated): return node(.isNull(negated: negated), [try c(x)])
        case let .inList(x, items, negated): return node(.inList(negated: negated), [try c(x)] + (try items.map(c)))
        case let .inReference(x, reference, negated):
            guard let keys = references[reference] else {
                throw BatchError(.invalidArgument, path: reference, "no key set was given for reference \(reference)")
            }
            return node(.inReference(keys, negated: negated), [try c(x)])
        case let .call(.round, args):
            guard case let .literal(.integer(s)) = args[1].node else { preconditionFailure("round's scale is checked to be a literal") }
            // round(a * b, s) on decimals: one step, so the product may pass 18 digits.
            if case let .arithmetic(.multiply, a, b) = args[0].node, case .decimal = args[0].type {
                return node(.multiplyRound(scale: e.type.scale), [try c(a), try c(b)])
            }
            return node(.round(scale: Int(s)), [try c(args[0])])
        case let .call(.coalesce, args): return node(.coalesce, try args.map(c))
        case let .call(fn, args): return node(.call(fn), try args.map(c))
        case let .caseWhen(branches, otherwise):
            var kids: [ExpressionKernel] = []
            for (cond, value) in branches { kids += [try c(cond), try c(value)] }
            if let o = otherwise { kids.append(try c(o)) }
            return node(.caseWhen(hasElse: otherwise != nil), kids)
        case let .cast(x):
            // A decimal to a decimal of the same scale and as many digits or more is the
            // same int64: no kernel of its own.
            if case let .decimal(p, s) = x.type, case let .decimal(q, t) = e.type, s == t, p <= q { return try c(x) }
            return node(.cast, [try c(x)])
        case .aggregate:
            throw BatchError(.invalidArgument, path: "expression", "an aggregate is computed by the aggregation, not by an expression kernel")
        }
    }

    /// Appends literal `l` (already of this node's type) to the output.
    func append(_ l: Literal) {
        switch l {
        case .null: output.appendNull()
        case let .bool(b): output.appendBool(b)
        case let .integer(v): type == .int32 ? output.appendInt32(Int32(truncatingIfNeeded: v)) : output.appendInt64(v)
        case let .decimal(v, _): output.appendInt64(v)
        case let .float(v): output.appendDouble(v)
        case let .string(s): output.appendString(s)
        case let .date(d): output.appendInt32(d)
        case let .timestamp(t): output.appendInt64(t)
        }
    }

    /// The memory of the kernels of `exprs` for batches of `rows` rows: an output vector
    /// per node that is not a slot (strings counted at 16 bytes a row).
    static func bytes(_ exprs: [TypedExpr], rows: Int) -> Int {
        var total = 0
        for e in exprs {
            e.forEachNode { n in
                if case .slot = n.node { return }
                let type = columnType(n.type)
                total += rows * (type == .string ? 4 + 16 : type.valueWidthBytes) + rows / 8 + 64
            }
        }
        return total
    }

    // MARK: evaluating

    /// Evaluates over the first `rows` rows of `slots` (a vector per slot of the scope).
    public func evaluate(_ slots: [ColumnVector], rows: Int) throws -> ColumnVector {
        switch op {
        case let .slot(k): return slots[k]
        case .literal: return output
        default: break
        }
        for k in children.indices { self.inputs[k] = try children[k].evaluate(slots, rows: rows) }
        let inputs = self.inputs
        let out = output
        out.reset()
        switch op {
        case .slot, .literal: break
        case .negate: try negate(inputs[0], rows)
        case .not:
            let x = inputs[0]
            for r in 0..<rows { x.isNull(r) ? out.appendNull() : out.appendBool(!x.bool(r)) }
        case let .arithmetic(op): try arithmetic(op, inputs[0], inputs[1], rows)
        case let .multiplyRound(scale): try multiplyRound(inputs[0], inputs[1], scale: scale, rows)
        case let .compare(op): compare(op, inputs[0], inputs[1], rows)
        case let .logic(op): logic(op, inputs[0], inputs[1], rows)
        case let .isNull(negated):
            let x = inputs[0]
            for r in 0..<rows { out.appendBool(x.isNull(r) != negated) }
        case let .inList(negated): inList(inputs, negated: negated, rows)
        case let .inReference(keys, negated):
            let x = inputs[0]
            keys.probe(x, rows: rows) { r, row in
                if x.isNull(r) { out.appendNull() } else { out.appendBool((row >= 0) != negated) }
            }
        case let .call(fn): call(fn, inputs, rows)
        case let .round(scale): round(inputs[0], scale: scale, rows)
        case .coalesce:
            for r in 0..<rows {
                if let x = inputs.first(where: { !$0.isNull(r) }) { copy(x, r) } else { out.appendNull() }
            }
        case let .caseWhen(hasElse):
            let pairs = (inputs.count - (hasElse ? 1 : 0)) / 2
            for r in 0..<rows {
                var taken = false
                for p in 0..<pairs where !inputs[2 * p].isNull(r) && inputs[2 * p].bool(r) {
                    copy(inputs[2 * p + 1], r)
                    taken = true
                    break
                }
                if !taken { hasElse ? copy(inputs[inputs.count - 1], r) : out.appendNull() }
            }
        case .cast: try cast(inputs[0], from: children[0].type, rows)
        }
        return out
    }

    /// Appends row `r` of `x` (of this node's type) to the output.
    @inline(__always)
    func copy(_ x: ColumnVector, _ r: Int) { output.appendValue(of: x, row: r) }

    func overflow(_ r: Int, _ what: String) -> EvaluationError {
        EvaluationError(row: r, message: "\(what) does not fit \(type); the value would be wrong, so nothing is written")
    }

    /// A value of row r that does not fit: noted and null when the tree routes such rows,
    /// an error otherwise.
    func doesNotFit(_ r: Int, _ what: @autoclosure () -> String) throws {
        guard let overflows else { throw overflow(r, what()) }
        overflows.mark(r)
        output.appendNull()
    }

    func negate(_ x: ColumnVector, _ rows: Int) throws {
        let out = output
        for r in 0..<rows {
            if x.isNull(r) { out.appendNull(); continue }
            if type == .float64 { out.appendDouble(-x.double(r)); continue }
            let v = x.int64(r)
            guard v != Int64.min else { try doesNotFit(r, "-(\(v))"); continue }
            out.appendInt64(-v)
        }
    }

    static let pow10: [Int64] = (0...18).map { k in (0..<k).reduce(Int64(1)) { p, _ in p * 10 } }

    /// Whether `v` fits this node's type: a decimal(p,s) holds at most p digits (held as
    /// an int64, it could hold 19), an int64 anything.
    @inline(__always)
    func fits(_ v: Int64) -> Bool {
        guard case let .decimal(p, _) = type else { return true }
        return v.magnitude < UInt64(Self.pow10[p])
    }

    /// `n / d` rounded half away from zero.
    @inline(__always)
    static func divideRounded(_ n: Int128, _ d: Int128) -> Int128 {
        let q = n / d, rem = n % d
        let twice = rem.magnitude * 2
        guard twice >= d.magnitude else { return q }
        return (n < 0) != (d < 0) ? q - 1 : q + 1
    }

    func arithmetic(_ op: BinaryOp, _ a: ColumnVector, _ b: ColumnVector, _ rows: Int) throws {
        let out = output
        if type == .float64 {
            for r in 0..<rows {
                if a.isNull(r) || b.isNull(r) { out.appendNull(); continue }
                let x = a.double(r), y = b.double(r)
                switch op {
                case .add: out.appendDouble(x + y)
                case .subtract: out.appendDouble(x - y)
                case .multiply: out.appendDouble(x * y)
                default: y == 0 ? out.appendNull() : out.appendDouble(x / y)
                }
            }
            return
        }
        // Exact: int64 or decimals. Operands of + and - share the result's scale; a
        // product's scale is the sum of theirs; a quotient is scaled to the result's.
        let sa = children[0].type.scale, sb = children[1].type.scale, s = type.scale
        for r in 0..<rows {
            if a.isNull(r) || b.isNull(r) { out.appendNull(); continue }
            let x = a.int64(r), y = b.int64(r)
            let v: Int64?
            switch op {
            case .add: v = { let (t, o) = x.addingReportingOverflow(y); return o ? nil : t }()
            case .subtract: v = { let (t, o) = x.subtractingReportingOverflow(y); return o ? nil : t }()
            case .multiply: v = { let (t, o) = x.multipliedReportingOverflow(by: y); return o ? nil : t }()
            default:
                if y == 0 { out.appendNull(); continue }
                // x/10^sa / (y/10^sb) * 10^s = x * 10^(s - sa + sb) / y
                let shift = s - sa + sb
                let n = Int128(x) * Int128(Self.pow10[min(shift, 18)]) * (shift > 18 ? Int128(Self.pow10[shift - 18]) : 1)
                let q = Self.divideRounded(n, Int128(y))
                v = q >= Int128(Int64.min) && q <= Int128(Int64.max) ? Int64(q) : nil
            }
            guard let v, fits(v) else { try doesNotFit(r, "\(op.rawValue) of row \(r)"); continue }
            out.appendInt64(v)
        }
    }

    func multiplyRound(_ a: ColumnVector, _ b: ColumnVector, scale: Int, _ rows: Int) throws {
        let out = output
        let drop = children[0].type.scale + children[1].type.scale - scale
        let divisor = Int128(Self.pow10[min(drop, 18)]) * (drop > 18 ? Int128(Self.pow10[drop - 18]) : 1)
        for r in 0..<rows {
            if a.isNull(r) || b.isNull(r) { out.appendNull(); continue }
            let q = Self.divideRounded(Int128(a.int64(r)) * Int128(b.int64(r)), divisor)
            guard q >= Int128(Int64.min) && q <= Int128(Int64.max), fits(Int64(q)) else { try doesNotFit(r, "a rounded product"); continue }
            out.appendInt64(Int64(q))
        }
    }

    func compare(_ op: BinaryOp, _ a: ColumnVector, _ b: ColumnVector, _ rows: Int) {
        let out = output
        let t = children[0].type
        if let (text, side) = equalsText {
            // A string against a literal: the literal's bytes held once.
            let x = side == 0 ? a : b, equal = op == .equal
            if let short = text.short {
                out.fill(rows: rows, matching: x, short, negated: !equal)
            } else {
                out.fill(rows: rows, testing: x) { text.contains($0) == equal }
            }
            return
        }
        if t == .string && (op == .equal || op == .notEqual) {
            // Equality of strings: lengths first, then bytes.
            for r in 0..<rows {
                if a.isNull(r) || b.isNull(r) { out.appendNull(); continue }
                let same = a.withString(r) { x in b.withString(r) { y in x.count == y.count && Bytes.equal(x, y) } }
                out.appendBool(same == (op == .equal))
            }
            return
        }
        for r in 0..<rows {
            if a.isNull(r) || b.isNull(r) { out.appendNull(); continue }
            let c: Int
            switch t {
            case .string: c = a.withString(r) { x in b.withString(r) { y in Bytes.compare(x, y) } }
            case .float64: let x = a.double(r), y = b.double(r); c = x < y ? -1 : x > y ? 1 : 0
            case .bool: let x = a.bool(r), y = b.bool(r); c = x == y ? 0 : (x ? 1 : -1)
            case .int32, .date: let x = a.int32(r), y = b.int32(r); c = x < y ? -1 : x > y ? 1 : 0
            default: let x = a.int64(r), y = b.int64(r); c = x < y ? -1 : x > y ? 1 : 0
            }
            let result: Bool
            switch op {
            case .equal: result = c == 0
            case .notEqual: result = c != 0
            case .less: result = c < 0
            case .lessEqual: result = c <= 0
            case .greater: result = c > 0
            default: result = c >= 0
            }
            out.appendBool(result)
        }
    }

    func logic(_ op: BinaryOp, _ a: ColumnVector, _ b: ColumnVector, _ rows: Int) {
        let out = output
        let decisive = op == .or // true decides an or, false an and
        for r in 0..<rows {
            let an = a.isNull(r), bn = b.isNull(r)
            if (!an && a.bool(r) == decisive) || (!bn && b.bool(r) == decisive) { out.appendBool(decisive); continue }
            if an || bn { out.appendNull() } else { out.appendBool(!decisive) }
        }
    }

    /// `inputs[0] in (inputs[1], inputs[2], ...)`.
    func inList(_ inputs: [ColumnVector], negated: Bool, _ rows: Int) {
        let out = output
        let t = children[0].type
        let x = inputs[0]
        if let constants = constantItems {
            // Literal items: the row's value against their values, no item vectors.
            @inline(__always) func emit(_ found: Bool) {
                if found { out.appendBool(!negated) } else if constantsHaveNull { out.appendNull() } else { out.appendBool(negated) }
            }
            switch constants {
            case let .strings(texts) where !constantsHaveNull:
                if let short = texts.short {
                    out.fill(rows: rows, matching: x, short, negated: negated)
                } else {
                    out.fill(rows: rows, testing: x) { texts.contains($0) != negated }
                }
            case let .strings(texts):
                for r in 0..<rows {
                    if x.isNull(r) { out.appendNull() } else { emit(x.withString(r) { texts.contains($0) }) }
                }
            case let .integers(items):
                let narrow = t == .int32 || t == .date
                for r in 0..<rows {
                    if x.isNull(r) { out.appendNull() } else { emit(items.contains(narrow ? Int64(x.int32(r)) : x.int64(r))) }
                }
            }
            return
        }
        for r in 0..<rows {
            if x.isNull(r) { out.appendNull(); continue }
            var found = false, sawNull = false
            for item in inputs[1...] {
                if item.isNull(r) { sawNull = true; continue }
                let equal: Bool
                switch t {
                case .string: equal = x.withString(r) { a in item.withString(r) { Bytes.equal(a, $0) } }
                case .float64: equal = x.double(r) == item.double(r)
                case .bool: equal = x.bool(r) == item.bool(r)
                case .int32, .date: equal = x.int32(r) == item.int32(r)
                default: equal = x.int64(r) == item.int64(r)
                }
                if equal { found = true; break }
            }
            if found { out.appendBool(!negated) } else if sawNull { out.appendNull() } else { out.appendBool(negated) }
        }
    }

    func call(_ fn: TypedExpr.Function, _ inputs: [ColumnVector], _ rows: Int) {
        let out = output
        let x = inputs[0]
        let fromTimestamp = children[0].type == .timestamp
        // A date part of a date column: one loop without the function's switch.
        if !fromTimestamp, fn != .date, fn != .upper, fn != .lower, fn != .trim {
            for r in 0..<rows {
                if x.isNull(r) { out.appendNull(); continue }
                appendPart(fn, of: Int64(x.int32(r)))
            }
            return
        }
        for r in 0..<rows {
            if x.isNull(r) { out.appendNull(); continue }
            switch fn {
            case .upper, .lower, .trim:
                x.withString(r) { s in
                    guard var start = s.baseAddress else { out.appendString(s); return }
                    var n = s.count
                    if fn == .trim {
                        while n > 0 && (start.load(as: UInt8.self) == 0x20 || start.load(as: UInt8.self) == 0x09) { start += 1; n -= 1 }
                        while n > 0 && (start.load(fromByteOffset: n - 1, as: UInt8.self) == 0x20 || start.load(fromByteOffset: n - 1, as: UInt8.self) == 0x09) { n -= 1 }
                        out.appendString(UnsafeRawBufferPointer(start: start, count: n))
                        return
                    }
                    out.appendCaseFolded(UnsafeRawBufferPointer(start: start, count: n), upper: fn == .upper)
                }
            default:
                let day = fromTimestamp ? CivilTime.floorDiv(x.int64(r), CivilTime.microsPerDay) : Int64(x.int32(r))
                if fn == .date { out.appendInt32(Int32(day)); continue }
                appendPart(fn, of: day)
            }
        }
    }

    /// Appends date part `fn` of `day`. Rows often come by date: the part of the previous
    /// row's day is reused.
    @inline(__always)
    func appendPart(_ fn: TypedExpr.Function, of day: Int64) {
        if day != lastDay {
            lastDay = day
            lastPart = Self.part(fn, of: day)
        }
        output.appendInt32(lastPart)
    }

    /// A date part of day `day` (days since 1970-01-01).
    static func part(_ fn: TypedExpr.Function, of day: Int64) -> Int32 {
        let c = ValueText.civil(day)
        let value: Int
        switch fn {
        case .year: value = Int(c.year)
        case .month: value = c.month
        case .day: value = c.day
        case .quarter: value = (c.month - 1) / 3 + 1
        case .dayOfWeek: value = CivilTime.isoDayOfWeek(day)
        case .isoWeek: value = CivilTime.isoWeek(day)
        default: value = Int(c.year) * 10_000 + c.month * 100 + c.day // dateKey
        }
        return Int32(truncatingIfNeeded: value)
    }

    func round(_ x: ColumnVector, scale: Int, _ rows: Int) {
        let out = output
        let from = children[0].type
        for r in 0..<rows {
            if x.isNull(r) { out.appendNull(); continue }
            switch from {
            case .float64:
                let p = Double(Self.pow10[scale])
                out.appendDouble((x.double(r) * p).rounded(.toNearestOrAwayFromZero) / p)
            case .decimal:
                let drop = from.scale - type.scale
                out.appendInt64(drop <= 0 ? x.int64(r) : Int64(Self.divideRounded(Int128(x.int64(r)), Int128(Self.pow10[drop]))))
            default: copy(x, r)
            }
        }
    }

    func cast(_ x: ColumnVector, from: ValueType, _ rows: Int) throws {
        let out = output
        let to = type
        // An int64 or decimal to a decimal of a scale as large: one multiplication a row.
        if case .decimal = to, from == .int64 || from.isDecimal, to.scale >= from.scale {
            let factor = Self.pow10[to.scale - from.scale]
            for r in 0..<rows {
                if x.isNull(r) { out.appendNull(); continue }
                let (t, o) = x.int64(r).multipliedReportingOverflow(by: factor)
                guard !o, fits(t) else { try doesNotFit(r, "cast of \(x.int64(r))"); continue }
                out.appendInt64(t)
            }
            return
        }
        for r in 0..<rows {
            if x.isNull(r) { out.appendNull(); continue }
            switch (from, to) {
            case (.string, .string): copy(x, r)
            case (.string, _): x.withString(r) { appendParsed($0) }
            case (_, .string): appendText(x, r, from)
            case (.date, .timestamp): out.appendInt64(Int64(x.int32(r)) * CivilTime.microsPerDay)
            case (.timestamp, .date): out.appendInt32(Int32(CivilTime.floorDiv(x.int64(r), CivilTime.microsPerDay)))
            case (.float64, .float64): out.appendDouble(x.double(r))
            case (_, .float64):
                let v = Double(from == .int32 ? Int64(x.int32(r)) : x.int64(r))
                out.appendDouble(v / Double(Self.pow10[from.scale]))
            case (.float64, _):
                let v = (x.double(r) * Double(Self.pow10[to.scale])).rounded(.toNearestOrAwayFromZero)
                guard v.isFinite, v >= -9.2e18, v <= 9.2e18, fits(Int64(v)) else { try doesNotFit(r, "cast of \(x.double(r))"); continue }
                to == .int32 ? try appendInt32Checked(Int64(v), r) : out.appendInt64(Int64(v))
            case (.bool, _), (_, .bool): out.appendNull() // not castable; the checker refuses it
            default:
                // Exact to exact: rescale, rounding half up when scale drops.
                let v = from == .int32 ? Int64(x.int32(r)) : x.int64(r)
                let shift = to.scale - from.scale
                var result: Int64
                if shift >= 0 {
                    let (t, o) = v.multipliedReportingOverflow(by: Self.pow10[shift])
                    guard !o, fits(t) else { try doesNotFit(r, "cast of \(v)"); continue }
                    result = t
                } else {
                    result = Int64(Self.divideRounded(Int128(v), Int128(Self.pow10[-shift])))
                    guard fits(result) else { try doesNotFit(r, "cast of \(v)"); continue }
                }
                to == .int32 ? try appendInt32Checked(result, r) : out.appendInt64(result)
            }
        }
    }

    func appendInt32Checked(_ v: Int64, _ r: Int) throws {
        guard let small = Int32(exactly: v) else { try doesNotFit(r, "cast of \(v)"); return }
        output.appendInt32(small)
    }

    /// Parses text as this node's type; text that does not parse is null.
    func appendParsed(_ s: UnsafeRawBufferPointer) {
        let out = output
        var start = 0, end = s.count
        while start < end && (s[start] == 0x20 || s[start] == 0x09) { start += 1 }
        while end > start && (s[end - 1] == 0x20 || s[end - 1] == 0x09) { end -= 1 }
        let t = UnsafeRawBufferPointer(rebasing: s[start..<end])
        switch type {
        case .bool:
            let text = String(decoding: t, as: UTF8.self).lowercased()
            text == "true" ? out.appendBool(true) : text == "false" ? out.appendBool(false) : out.appendNull()
        case .int32: if let v = FieldParsers.int64(t), let small = Int32(exactly: v) { out.appendInt32(small) } else { out.appendNull() }
        case .int64: if let v = FieldParsers.int64(t) { out.appendInt64(v) } else { out.appendNull() }
        case .float64: if let v = Double(String(decoding: t, as: UTF8.self)) { out.appendDouble(v) } else { out.appendNull() }
        case let .decimal(_, scale): if let v = Self.parseDecimal(t, scale: scale), fits(v) { out.appendInt64(v) } else { out.appendNull() }
        case .date: if let v = FieldParsers.date(t) { out.appendInt32(v) } else { out.appendNull() }
        case .timestamp: if let v = FieldParsers.timestamp(t) { out.appendInt64(v) } else { out.appendNull() }
        case .string, .null: out.appendString(t)
        }
    }

    /// `[+-]digits[.digits]` with at most `scale` decimal places, as units of 10^-scale.
    static func parseDecimal(_ t: UnsafeRawBufferPointer, scale: Int) -> Int64? {
        var i = 0
        var negative = false
        if i < t.count && (t[i] == 0x2B || t[i] == 0x2D) { negative = t[i] == 0x2D; i += 1 }
        var value: Int64 = 0
        var digits = 0, fraction = -1
        while i < t.count {
            let b = t[i]
            if b == 0x2E && fraction < 0 { fraction = 0; i += 1; continue }
            guard b >= 0x30 && b <= 0x39 else { return nil }
            if fraction >= 0 { fraction += 1 }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(b - 0x30))
            guard !o1 && !o2 else { return nil }
            value = a
            digits += 1
            i += 1
        }
        let places = max(fraction, 0)
        guard digits > 0, places <= scale else { return nil }
        let (v, o) = value.multipliedReportingOverflow(by: pow10[scale - places])
        guard !o else { return nil }
        return negative ? -v : v
    }

    /// The text form of row `r` of `x` (section 5 of the contract: decimals with their
    /// scale, dates YYYY-MM-DD, timestamps ...Z).
    func appendText(_ x: ColumnVector, _ r: Int, _ from: ValueType) {
        let text: String
        switch from {
        case .bool: text = x.bool(r) ? "true" : "false"
        case .int32: text = String(x.int32(r))
        case .int64: text = String(x.int64(r))
        case .float64: text = String(x.double(r))
        case let .decimal(_, s): text = ValueText.decimal(x.int64(r), scale: s)
        case .date: text = ValueText.date(x.int32(r))
        case .timestamp: text = ValueText.timestamp(x.int64(r))
        case .string, .null: text = x.string(r)
        }
        output.appendString(text)
    }
}

/// Literal strings a string is tested against (`x = 'a'`, `x in ('a', 'b')`), end to
/// end in one buffer with each one's start and length: a test reads no per-item array.
final class LiteralTexts {
    let count: Int
    /// The same texts when each is 4 to 16 bytes, for a test without a branch per row.
    let short: ShortTexts?
    private let bytes: UnsafeMutableRawPointer
    private let starts: UnsafeMutablePointer<Int>
    private let lengths: UnsafeMutablePointer<Int>

    init(_ items: [[UInt8]]) {
        short = ShortTexts(items)
        count = items.count
        bytes = .allocate(byteCount: max(1, items.reduce(0) { $0 + $1.count }), alignment: 8)
        starts = .allocate(capacity: max(1, count))
        lengths = .allocate(capacity: max(1, count))
        var at = 0
        for (k, item) in items.enumerated() {
            item.withUnsafeBytes { if let p = $0.baseAddress { (bytes + at).copyMemory(from: p, byteCount: $0.count) } }
            starts[k] = at
            lengths[k] = item.count
            at += item.count
        }
    }

    deinit {
        bytes.deallocate()
        starts.deallocate()
        lengths.deallocate()
    }

    /// Whether `s` is one of the texts.
    @inline(__always)
    func contains(_ s: UnsafeRawBufferPointer) -> Bool {
        for k in 0..<count where lengths[k] == s.count {
            if Bytes.equal(bytes + starts[k], s.baseAddress, s.count) { return true }
        }
        return false
    }
}

extension ColumnVector {
    /// Appends row `r` of `from` (a vector of the same type), null or not.
    @inline(__always)
    func appendValue(of from: ColumnVector, row r: Int) {
        if from.isNull(r) { appendNull(); return }
        switch type {
        case .bool: appendBool(from.bool(r))
        case .int32, .date: appendInt32(from.int32(r))
        case .float64: appendDouble(from.double(r))
        case .string: from.withString(r) { appendString($0) }
        default: appendInt64(from.int64(r))
        }
    }

    /// Appends `s` with ASCII letters upper- or lower-cased.
    func appendCaseFolded(_ s: UnsafeRawBufferPointer, upper: Bool) {
        withUnsafeTemporaryAllocation(byteCount: max(s.count, 1), alignment: 1) { buffer in
            for (i, b) in s.enumerated() {
                let folded: UInt8
                if upper { folded = b >= 0x61 && b <= 0x7A ? b - 32 : b } else { folded = b >= 0x41 && b <= 0x5A ? b + 32 : b }
                buffer[i] = folded
            }
            appendString(UnsafeRawBufferPointer(rebasing: buffer[0..<s.count]))
        }
    }
}
