/// Reads an expression's text into an `Expr`: a tokenizer and a recursive-descent
/// parser, loosest binding first.
///
/// ```
///   or        := and ('or' and)*
///   and       := not ('and' not)*
///   not       := 'not' not | predicate
///   predicate := sum [ ('=' | '==' | '<>' | '!=' | '<' | '<=' | '>' | '>=') sum
///                    | 'is' ['not'] 'null'
///                    | ['not'] 'between' sum 'and' sum
///                    | ['not'] 'in' '(' or (',' or)* ')'
///                    | ['not'] 'in' name ]
///   sum       := product (('+' | '-') product)*
///   product   := unary (('*' | '/') unary)*
///   unary     := '-' unary | primary
///   primary   := number | 'string' | true | false | null | date 'YYYY-MM-DD'
///              | timestamp 'YYYY-MM-DDTHH:MM:SSZ' | name ['.' name]
///              | name '(' [arguments] ')' [filter '(' where or ')'] | count '(' '*' ')' ...
///              | case when or then or ... [else or] end | cast '(' or as type ')' | '(' or ')'
/// ```
/// Keywords and function names are case-insensitive; a name in double quotes is taken
/// as it is.
public struct ExpressionParser {
    enum Token: Equatable {
        case name(String, quoted: Bool)
        case number(String)
        case string(String)
        case symbol(String)
        case end
    }

    let text: [UInt8]
    var tokens: [(token: Token, at: Int)] = []
    var k = 0

    public static func parse(_ text: String) throws(ExpressionError) -> Expr {
        var p = ExpressionParser(text: Array(text.utf8))
        try p.tokenize()
        let e = try p.or()
        guard case .end = p.peek else { throw ExpressionError(at: p.at, "unexpected \(p.describe(p.peek)) after a complete expression") }
        return e
    }

    // MARK: tokens

    mutating func tokenize() throws(ExpressionError) {
        var i = 0
        func isNameStart(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F }
        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        while i < text.count {
            let b = text[i]
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { i += 1; continue }
            let start = i
            if isNameStart(b) {
                while i < text.count && (isNameStart(text[i]) || isDigit(text[i])) { i += 1 }
                tokens.append((.name(String(decoding: text[start..<i], as: UTF8.self), quoted: false), start))
            } else if isDigit(b) || (b == 0x2E && i + 1 < text.count && isDigit(text[i + 1])) {
                while i < text.count && (isDigit(text[i]) || text[i] == 0x2E) { i += 1 }
                if i < text.count && (text[i] == 0x65 || text[i] == 0x45) {
                    i += 1
                    if i < text.count && (text[i] == 0x2B || text[i] == 0x2D) { i += 1 }
                    while i < text.count && isDigit(text[i]) { i += 1 }
                }
                tokens.append((.number(String(decoding: text[start..<i], as: UTF8.self)), start))
            } else if b == 0x27 || b == 0x22 { // 'string' or "name"; a doubled quote is one
                var bytes: [UInt8] = []
                i += 1
                var closed = false
                while i < text.count {
                    if text[i] == b {
                        if i + 1 < text.count && text[i + 1] == b { bytes.append(b); i += 2; continue }
                        i += 1
                        closed = true
                        break
                    }
                    bytes.append(text[i])
                    i += 1
                }
                guard closed else { throw ExpressionError(at: start, b == 0x27 ? "a string opened here is never closed with '" : "a quoted name opened here is never closed with \"") }
                let s = String(decoding: bytes, as: UTF8.self)
                tokens.append((b == 0x27 ? .string(s) : .name(s, quoted: true), start))
            } else {
                let two = i + 1 < text.count ? String(decoding: text[i...(i + 1)], as: UTF8.self) : ""
                if ["<=", ">=", "<>", "!=", "=="].contains(two) {
                    tokens.append((.symbol(two == "!=" ? "<>" : two == "==" ? "=" : two), start))
                    i += 2
                } else if "+-*/=<>(),.".utf8.contains(b) {
                    tokens.append((.symbol(String(UnicodeScalar(b))), start))
                    i += 1
                } else {
                    throw ExpressionError(at: start, "unexpected character '\(String(decoding: [b], as: UTF8.self))'")
                }
            }
        }
        tokens.append((.end, text.count))
    }

    var peek: Token { tokens[k].token }
    var at: Int { tokens[k].at }

    func describe(_ t: Token) -> String {
        switch t {
        case let .name(n, _): "'\(n)'"
        case let .number(n): "number \(n)"
        case let .string(s): "string '\(s)'"
        case let .symbol(s): "'\(s)'"
        case .end: "the end of the expression"
        }
    }

    /// True (and consumed) when the next token is keyword `word` (not a quoted name).
    mutating func keyword(_ word: String) -> Bool {
        if case let .name(n, false) = peek, n.lowercased() == word { k += 1; return true }
        return false
    }

    func isKeyword(_ word: String, ahead: Int = 0) -> Bool {
        guard k + ahead < tokens.count, case let .name(n, false) = tokens[k + ahead].token else { return false }
        return n.lowercased() == word
    }

    mutating func symbol(_ s: String) -> Bool {
        if case .symbol(s) = peek { k += 1; return true }
        return false
    }

    mutating func expect(_ s: String, _ what: String) throws(ExpressionError) {
        guard symbol(s) else { throw ExpressionError(at: at, "expected '\(s)' \(what), found \(describe(peek))") }
    }

    mutating func expectKeyword(_ word: String, _ what: String) throws(ExpressionError) {
        guard keyword(word) else { throw ExpressionError(at: at, "expected '\(word)' \(what), found \(describe(peek))") }
    }

    static let reserved: Set<String> = ["and", "or", "not", "is", "null", "between", "in", "case", "when", "then", "else", "end",
                                        "cast", "as", "true", "false", "filter", "where"]

    // MARK: grammar

    mutating func or() throws(ExpressionError) -> Expr {
        var left = try and()
        while case let start = at, keyword("or") { left = Expr(.binary(.or, left, try and()), at: start) }
        return left
    }

    mutating func and() throws(ExpressionError) -> Expr {
        var left = try not()
        while case let start = at, keyword("and") { left = Expr(.binary(.and, left, try not()), at: start) }
        return left
    }

    mutating func not() throws(ExpressionError) -> Expr {
        let start = at
        if keyword("not") { return Expr(.unary(.not, try not()), at: start) }
        return try predicate()
    }

    mutating func predicate() throws(ExpressionError) -> Expr {
        let left = try sum()
        let start = at
        if case let .symbol(s) = peek, let op = BinaryOp(rawValue: s), op.isComparison {
            k += 1
            return Expr(.binary(op, left, try sum()), at: start)
        }
        if keyword("is") {
            let negated = keyword("not")
            try expectKeyword("null", "after 'is\(negated ? " not" : "")'")
            return Expr(.isNull(left, negated: negated), at: start)
        }
        let negated = isKeyword("not") && (isKeyword("between", ahead: 1) || isKeyword("in", ahead: 1))
        if negated { k += 1 }
        if keyword("between") {
            let low = try sum()
            try expectKeyword("and", "between the bounds of 'between'")
            return Expr(.between(left, low, try sum(), negated: negated), at: start)
        }
        if keyword("in") {
            if symbol("(") {
                var items = [try or()]
                while symbol(",") { items.append(try or()) }
                try expect(")", "to close the list of 'in'")
                return Expr(.inList(left, items, negated: negated), at: start)
            }
            guard case let .name(reference, _) = peek else {
                throw ExpressionError(at: at, "expected a list in parentheses or a reference table's name after 'in', found \(describe(peek))")
            }
            k += 1
            return Expr(.inReference(left, reference: reference, negated: negated), at: start)
        }
        return left
    }

    mutating func sum() throws(ExpressionError) -> Expr {
        var left = try product()
        while true {
            let start = at
            if symbol("+") { left = Expr(.binary(.add, left, try product()), at: start) }
            else if symbol("-") { left = Expr(.binary(.subtract, left, try product()), at: start) }
            else { return left }
        }
    }

    mutating func product() throws(ExpressionError) -> Expr {
        var left = try unary()
        while true {
            let start = at
            if symbol("*") { left = Expr(.binary(.multiply, left, try unary()), at: start) }
            else if symbol("/") { left = Expr(.binary(.divide, left, try unary()), at: start) }
            else { return left }
        }
    }

    mutating func unary() throws(ExpressionError) -> Expr {
        let start = at
        if symbol("-") {
            // A minus before a number is part of the literal (so -9223372036854775808 is an int64).
            if case let .number(text) = peek {
                k += 1
                switch try Self.number(text, at: start, negative: true) {
                case let .integer(v): return Expr(.literal(.integer(v == Int64.min ? v : -v)), at: start)
                case let .decimal(v, s): return Expr(.literal(.decimal(unscaled: v == Int64.min ? v : -v, scale: s)), at: start)
                case let .float(v): return Expr(.literal(.float(-v)), at: start)
                default: break
                }
            }
            return Expr(.unary(.negate, try unary()), at: start)
        }
        return try primary()
    }

    mutating func primary() throws(ExpressionError) -> Expr {
        let start = at
        switch peek {
        case let .number(text):
            k += 1
            return Expr(.literal(try Self.number(text, at: start, negative: false)), at: start)
        case let .string(s):
            k += 1
            return Expr(.literal(.string(s)), at: start)
        case .symbol("("):
            k += 1
            let inner = try or()
            try expect(")", "to close the parenthesis opened at offset \(start)")
            return inner
        case let .name(n, quoted):
            k += 1
            if quoted { return try column(n, at: start) }
            let word = n.lowercased()
            switch word {
            case "null": return Expr(.literal(.null), at: start)
            case "true": return Expr(.literal(.bool(true)), at: start)
            case "false": return Expr(.literal(.bool(false)), at: start)
            case "case": return try caseWhen(at: start)
            case "cast": return try cast(at: start)
            case "date", "timestamp":
                if case let .string(s) = peek {
                    k += 1
                    return Expr(.literal(try Self.temporal(word, s, at: start)), at: start)
                }
            default: break
            }
            if case .symbol("(") = peek { return try call(word, at: start) }
            if Self.reserved.contains(word) { throw ExpressionError(at: start, "'\(n)' is a keyword; a value or a column was expected here") }
            return try column(n, at: start)
        default:
            throw ExpressionError(at: start, "expected a value, a column or '(', found \(describe(peek))")
        }
    }

    mutating func column(_ name: String, at start: Int) throws(ExpressionError) -> Expr {
        if symbol(".") {
            guard case let .name(field, _) = peek else { throw ExpressionError(at: at, "expected a column name after '\(name).', found \(describe(peek))") }
            k += 1
            return Expr(.column(qualifier: name, name: field), at: start)
        }
        return Expr(.column(qualifier: nil, name: name), at: start)
    }

    mutating func call(_ name: String, at start: Int) throws(ExpressionError) -> Expr {
        try expect("(", "after the function name")
        if let aggregate = AggregateFunction(rawValue: name) {
            var argument: Expr?
            if aggregate == .count && symbol("*") {
                argument = nil
            } else {
                argument = try or()
            }
            try expect(")", "to close \(name)(")
            var filter: Expr?
            if keyword("filter") {
                try expect("(", "after 'filter'")
                try expectKeyword("where", "in 'filter (where ...)'")
                filter = try or()
                try expect(")", "to close 'filter (where ...'")
            }
            return Expr(.aggregate(aggregate, argument: argument, filter: filter), at: start)
        }
        var arguments: [Expr] = []
        if !symbol(")") {
            arguments.append(try or())
            while symbol(",") { arguments.append(try or()) }
            try expect(")", "to close the arguments of \(name)(")
        }
        return Expr(.call(name: name, arguments: arguments), at: start)
    }

    mutating func caseWhen(at start: Int) throws(ExpressionError) -> Expr {
        var branches: [(condition: Expr, value: Expr)] = []
        while keyword("when") {
            let condition = try or()
            try expectKeyword("then", "after the condition of 'when'")
            branches.append((condition, try or()))
        }
        guard !branches.isEmpty else { throw ExpressionError(at: at, "expected 'when' after 'case', found \(describe(peek))") }
        var otherwise: Expr?
        if keyword("else") { otherwise = try or() }
        try expectKeyword("end", "to close 'case'")
        return Expr(.caseWhen(branches: branches, otherwise: otherwise), at: start)
    }

    mutating func cast(at start: Int) throws(ExpressionError) -> Expr {
        try expect("(", "after 'cast'")
        let value = try or()
        try expectKeyword("as", "in 'cast(value as type)'")
        let typeAt = at
        var text = ""
        var depth = 0
        // The type's tokens up to the ')' that closes the cast: `decimal ( 18 , 2 )`.
        loop: while true {
            switch peek {
            case let .name(n, _): text += n
            case let .number(n): text += n
            case .symbol("("): depth += 1; text += "("
            case .symbol(","): text += ","
            case .symbol(")"):
                if depth == 0 { break loop }
                depth -= 1
                text += ")"
            case .end: break loop
            default: text += "?"
            }
            k += 1
        }
        guard let type = ValueType.parse(text), type != .null else {
            throw ExpressionError(at: typeAt, "'\(text)' is not a type; write one of bool, int32, int64, float64, decimal(p,s), date, timestamp, string")
        }
        try expect(")", "to close 'cast('")
        return Expr(.cast(value, type), at: start)
    }

    // MARK: literals

    static func number(_ text: String, at: Int, negative: Bool) throws(ExpressionError) -> Literal {
        if text.contains("e") || text.contains("E") {
            guard let v = Double(text) else { throw ExpressionError(at: at, "'\(text)' is not a number") }
            return .float(v)
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw ExpressionError(at: at, "'\(text)' is not a number") }
        let whole = parts[0].isEmpty ? "0" : String(parts[0])
        let fraction = parts.count == 2 ? String(parts[1]) : nil
        let digits = whole + (fraction ?? "")
        // The magnitude of Int64.min is one more than Int64.max: allowed after a minus.
        guard let magnitude = UInt64(digits), magnitude <= (negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)) else {
            throw ExpressionError(at: at, "\(text) does not fit in 18 digits (an int64); use a smaller number")
        }
        // Int64.min stands for its own magnitude; the caller negates every other value.
        let signed = magnitude == UInt64(Int64.max) + 1 ? Int64.min : Int64(magnitude)
        guard let fraction else { return .integer(signed) }
        guard fraction.count <= ValueType.precisionMax else { throw ExpressionError(at: at, "\(text) has more than 18 decimal places") }
        return .decimal(unscaled: signed, scale: fraction.count)
    }

    static func temporal(_ kind: String, _ text: String, at: Int) throws(ExpressionError) -> Literal {
        let bytes = Array(text.utf8)
        if kind == "date" {
            guard let d = bytes.withUnsafeBytes({ FieldParsers.date($0) }) else {
                throw ExpressionError(at: at, "date '\(text)' is not a date; write date 'YYYY-MM-DD'")
            }
            return .date(d)
        }
        guard let t = bytes.withUnsafeBytes({ FieldParsers.timestamp($0) }) else {
            throw ExpressionError(at: at, "timestamp '\(text)' is not a timestamp; write timestamp 'YYYY-MM-DDTHH:MM:SSZ'")
        }
        return .timestamp(t)
    }
}
