import Foundation
import Segments
import Spill
import Testing
@testable import Batch

/// Every operator and function of the expression language, with nulls and edge values,
/// against results worked out by hand.
@Suite struct ExpressionKernelTests {
    /// The columns the expressions read; each test fills the rows it needs.
    static let columns: [CheckedPipeline.Column] = [
        .init(name: "i", type: .int64, nullable: true), .init(name: "j", type: .int64, nullable: true),
        .init(name: "n", type: .int32, nullable: true), .init(name: "p", type: .decimal(precision: 18, scale: 2), nullable: true),
        .init(name: "r", type: .decimal(precision: 18, scale: 6), nullable: true), .init(name: "f", type: .float64, nullable: true),
        .init(name: "s", type: .string, nullable: true), .init(name: "d", type: .date, nullable: true),
        .init(name: "t", type: .timestamp, nullable: true), .init(name: "b", type: .bool, nullable: true),
    ]

    /// A row of values by column name (absent: null).
    typealias Row = [String: Any]

    static func vectors(_ rows: [Row]) -> [ColumnVector] {
        columns.map { c in
            let v = ColumnVector(type: ExpressionKernel.columnType(c.type), capacity: max(rows.count, 1))
            for row in rows {
                switch row[c.name] {
                case nil: v.appendNull()
                case let x as Int where c.type == .int32 || c.type == .date: v.appendInt32(Int32(x))
                case let x as Int: v.appendInt64(Int64(x))
                case let x as Int64: v.appendInt64(x)
                case let x as Double: v.appendDouble(x)
                case let x as String where c.type == .date: v.appendInt32(FieldParsers.date(Array(x.utf8).withUnsafeBytes { UnsafeRawBufferPointer($0) }) ?? 0)
                case let x as String where c.type == .timestamp: v.appendInt64(Array(x.utf8).withUnsafeBytes { FieldParsers.timestamp($0) } ?? 0)
                case let x as String: v.appendString(x)
                case let x as Bool: v.appendBool(x)
                default: v.appendNull()
                }
            }
            return v
        }
    }

    /// The results of `text` over `rows`, as text (`null` for null; decimals with their
    /// scale; dates and timestamps in their text forms).
    func eval(_ text: String, _ rows: [Row], references: [String: KeySet] = [:], feeds: [PipelineFile.Feed] = []) throws -> [String] {
        let typed = try TypeChecker.expression(text, columns: Self.columns, references: feeds)
        let kernel = try ExpressionKernel.compile(typed, capacity: max(rows.count, 1), references: references)
        let out = try kernel.evaluate(Self.vectors(rows), rows: rows.count)
        return (0..<rows.count).map { r in
            if out.isNull(r) { return "null" }
            switch typed.type {
            case .bool: return out.bool(r) ? "true" : "false"
            case .int32: return String(out.int32(r))
            case .int64: return String(out.int64(r))
            case .float64: return String(out.double(r))
            case let .decimal(_, s): return ValueText.decimal(out.int64(r), scale: s)
            case .date: return ValueText.date(out.int32(r))
            case .timestamp: return ValueText.timestamp(out.int64(r))
            case .string, .null: return out.string(r)
            }
        }
    }

    func type(_ text: String) throws -> String { try TypeChecker.expression(text, columns: Self.columns).type.description }

    @Test func integerArithmeticAndOverflow() throws {
        let rows: [Row] = [["i": 7, "j": 2], ["i": -7, "j": 2], ["i": 5], ["i": Int64.max, "j": 1], ["i": 9, "j": 0]]
        #expect(try eval("i + j", Array(rows[0...2])) == ["9", "-5", "null"])
        #expect(try eval("i - j * 3", Array(rows[0...2])) == ["1", "-13", "null"])
        #expect(try eval("-i", Array(rows[0...2])) == ["-7", "7", "-5"])
        #expect(try type("i / j") == "decimal(18,6)")
        #expect(try eval("i / j", Array(rows[0...1]) + [rows[4]]) == ["3.500000", "-3.500000", "null"]) // division by zero is null
        #expect { try eval("i + j", [rows[3]]) } throws: { ($0 as? EvaluationError)?.row == 0 }
        #expect(try type("n + n") == "int64")
    }

    @Test func exactDecimals() throws {
        // p: decimal(18,2), r: decimal(18,6)
        let rows: [Row] = [["i": 3, "p": 1999, "r": 1_083_456], ["i": -3, "p": 5, "r": 500_000], ["p": 1]]
        #expect(try type("i * p") == "decimal(18,2)")
        #expect(try eval("i * p", rows) == ["59.97", "-0.15", "null"])
        #expect(try type("p + r") == "decimal(18,6)")
        #expect(try eval("p + r", rows) == ["21.073456", "0.550000", "null"])
        // 59.97 * 1.083456 = 64.97485632 -> 64.97; -0.15 * 0.5 = -0.075 -> -0.08 (half away from zero)
        #expect(try eval("round(i * p * r, 2)", rows) == ["64.97", "-0.08", "null"])
        #expect(try eval("round(p, 1)", rows) == ["20.0", "0.1", "0.0"])
        #expect(try eval("p / 3", rows) == ["6.663333", "0.016667", "0.003333"])
        #expect(try eval("p >= 0.05 and p < 20", rows) == ["true", "true", "false"])
        // A product beyond 18 digits in one step of round(a * b, s) still fits when rounded.
        let big: [Row] = [["p": Int64(9_000_000_000_000_000), "r": 1_000_000]]
        #expect(try eval("round(p * r, 2)", big) == ["90000000000000.00"])
        #expect { try eval("p * r", big) } throws: { ($0 as? EvaluationError)?.message.contains("does not fit") == true }
        // decimal(18,2) holds 18 digits: 9999999999999999.99 does, 10000000000000000.00
        // does not, though an int64 would hold its 19 digits.
        let edge: [Row] = [["i": 1, "p": 999_999_999_999_999_999], ["i": 1, "p": 1_000_000_000_000_000_000]]
        #expect(try eval("p + 0", [edge[0]]) == ["9999999999999999.99"])
        #expect { try eval("p + 0", [edge[1]]) } throws: { ($0 as? EvaluationError)?.message.contains("does not fit decimal(18,2)") == true }
        #expect { try eval("p * 10", [edge[0]]) } throws: { ($0 as? EvaluationError)?.row == 0 }
        #expect { try eval("cast(p as decimal(18,3))", [edge[0]]) } throws: { ($0 as? EvaluationError)?.row == 0 }
    }

    @Test func comparisonsAcrossTypes() throws {
        let rows: [Row] = [["i": 2, "f": 2.0, "p": 200, "s": "b", "d": "2025-03-14", "t": "2025-03-14T00:00:00Z"],
                           ["i": 3, "f": 2.5, "p": 250, "s": "a\u{e9}", "d": "2025-03-14", "t": "2025-03-14T00:00:01Z"], [:]]
        #expect(try eval("i = p", rows) == ["true", "false", "null"])
        #expect(try eval("f < p", rows) == ["false", "false", "null"])
        #expect(try eval("s > 'az'", rows) == ["true", "true", "null"]) // bytes: 0xC3 > 'z'
        // A string against a literal, either way round; lengths differ or bytes do.
        #expect(try eval("s = 'b'", rows) == ["true", "false", "null"])
        #expect(try eval("'a\u{e9}' = s", rows) == ["false", "true", "null"])
        #expect(try eval("s <> 'a\u{e9}'", rows) == ["true", "false", "null"])
        #expect(try eval("s = 'a'", rows) == ["false", "false", "null"])
        #expect(try eval("s = ''", rows + [["s": ""]]) == ["false", "false", "null", "true"])
        #expect(try eval("s = null", rows) == ["null", "null", "null"])
        #expect(try eval("d = t", rows) == ["true", "false", "null"])
        #expect(try eval("d <> date '2025-03-15'", rows) == ["true", "true", "null"])
        #expect(try eval("i between 2 and 2", rows) == ["true", "false", "null"])
        #expect(try eval("i not between 2 and 2", rows) == ["false", "true", "null"])
    }

    @Test func threeValuedLogic() throws {
        let rows: [Row] = [["b": true], ["b": false], [:]]
        #expect(try eval("b and null", rows) == ["null", "false", "null"])
        #expect(try eval("b or null", rows) == ["true", "null", "null"])
        #expect(try eval("not b", rows) == ["false", "true", "null"])
        #expect(try eval("b is null", rows) == ["false", "false", "true"])
        #expect(try eval("b is not null and b", rows) == ["true", "false", "false"])
    }

    /// An expression written twice is the same tree (one kernel serves both); a
    /// different literal, column, operator or type is not.
    @Test func sameExpressions() throws {
        func same(_ a: String, _ b: String) throws -> Bool {
            try TypeChecker.expression(a, columns: Self.columns).isSame(as: try TypeChecker.expression(b, columns: Self.columns))
        }
        #expect(try same("s = 'web'", "s  =  'web'"))
        #expect(try same("coalesce(i, 0) + 1 between 2 and 3", "coalesce(i,0)+1 between 2 and 3"))
        #expect(try !same("s = 'web'", "s = 'fax'"))
        #expect(try !same("s = 'web'", "s <> 'web'"))
        #expect(try !same("i + 1", "i + 1.0"))
        #expect(try !same("i in (1, 2)", "i in (1, 2, 3)"))
    }

    @Test func membership() throws {
        let rows: [Row] = [["s": "web", "i": 1], ["s": "fax", "i": 5], ["i": 2]]
        #expect(try eval("s in ('web', 'mobile')", rows) == ["true", "false", "null"])
        #expect(try eval("s not in ('web', 'mobile')", rows) == ["false", "true", "null"])
        #expect(try eval("s in ('we', 'webs', 'fax')", rows) == ["false", "true", "null"])
        #expect(try eval("s in ('web', null)", rows) == ["true", "null", "null"])
        #expect(try eval("s not in ('', 'fax')", rows + [["s": ""]]) == ["true", "false", "null", "false"])
        #expect(try eval("i in (1, 2, null)", rows) == ["true", "null", "true"]) // no match beside a null is null
        let origin = PipelineFile.Position(line: 1, column: 1)
        let feed = PipelineFile.Feed(name: "codes", files: "codes.csv", key: "code",
                                     columns: [.init(name: "code", type: .string, textCase: .asIs, required: true, at: origin)], at: origin)
        let codes = ColumnVector(type: .string, capacity: 2)
        codes.appendString("web")
        codes.appendNull()
        let keys = KeySet(column: codes)
        #expect(keys.count == 1)
        #expect(try eval("s in codes", rows, references: ["codes": keys], feeds: [feed]) == ["true", "false", "null"])
        #expect(try eval("s not in codes", rows, references: ["codes": keys], feeds: [feed]) == ["false", "true", "null"])
    }

    @Test func datePartsAndFunctions() throws {
        // 2021-01-01 is a Friday in ISO week 53 of 2020; 2024-12-30 a Monday in week 1 of 2025.
        let rows: [Row] = [["d": "2021-01-01", "t": "2021-01-01T23:59:59.5Z"], ["d": "2024-12-30", "t": "1969-12-31T23:00:00Z"], [:]]
        #expect(try eval("date_key(d)", rows) == ["20210101", "20241230", "null"])
        #expect(try eval("year(d) * 100 + quarter(d)", rows) == ["202101", "202404", "null"])
        #expect(try eval("day_of_week(d)", rows) == ["5", "1", "null"])
        #expect(try eval("iso_week(d)", rows) == ["53", "1", "null"])
        #expect(try eval("date(t)", rows) == ["2021-01-01", "1969-12-31", "null"])
        #expect(try eval("month(t) + day(t)", rows) == ["2", "43", "null"])
        let text: [Row] = [["s": "  Ab c\t"], ["s": "x\u{e9}Y"], [:]]
        #expect(try eval("upper(s)", text) == ["  AB C\t", "X\u{e9}Y", "null"])
        #expect(try eval("lower(trim(s))", text) == ["ab c", "x\u{e9}y", "null"])
        #expect(try eval("coalesce(s, 'none')", text) == ["  Ab c\t", "x\u{e9}Y", "none"])
    }

    @Test func caseAndCast() throws {
        let rows: [Row] = [["i": 1, "s": "12.345", "p": 1005], ["i": 5, "s": "x", "p": -1005], [:]]
        #expect(try eval("case when i < 2 then 'small' when i < 10 then 'big' end", rows) == ["small", "big", "null"])
        #expect(try eval("case when i < 2 then p else 0 end", rows) == ["10.05", "0.00", "0.00"])
        #expect(try eval("cast(s as decimal(18,3))", rows) == ["12.345", "null", "null"]) // text that does not parse is null
        #expect(try eval("cast(p as int64)", rows) == ["10", "-10", "null"]) // 10.05 -> 10, half away from zero
        #expect(try eval("cast(p as decimal(18,1))", rows) == ["10.1", "-10.1", "null"])
        #expect(try eval("cast(p as string)", rows) == ["10.05", "-10.05", "null"])
        #expect(try eval("cast(i as float64) / 4", rows) == ["0.25", "1.25", "null"])
        #expect(try eval("cast(date '2025-01-02' as timestamp)", [[:]]) == ["2025-01-02T00:00:00Z"])
    }

    /// With an OverflowRows, a value that does not fit is null and its row noted, and the
    /// other rows compute as usual: how silver routes such rows to quarantine.
    @Test func overflowsCanBeRoutedInsteadOfThrown() throws {
        let rows: [Row] = [["i": 3, "p": 1999], ["i": Int64.max, "p": 200], ["i": -2, "p": 5]]
        let typed = try TypeChecker.expression("i * p", columns: Self.columns)
        let log = OverflowRows(capacity: 3)
        let kernel = try ExpressionKernel.compile(typed, capacity: 3, overflows: log)
        let out = try kernel.evaluate(Self.vectors(rows), rows: 3)
        #expect(log.count == 1 && log.flags == [false, true, false])
        #expect(!out.isNull(0) && out.int64(0) == 5997 && out.isNull(1) && out.int64(2) == -10)
        log.reset(rows: 3)
        #expect(log.count == 0 && log.flags == [false, false, false])
        // Without one, the same row is an error naming it.
        #expect { try eval("i * p", rows) } throws: { ($0 as? EvaluationError)?.row == 1 }
    }

    /// Evaluated again on the next batch, a kernel reuses its vectors: nothing is
    /// allocated per batch once the first has run.
    @Test func kernelsReuseTheirVectors() throws {
        let typed = try TypeChecker.expression("round(i * p * r, 2) >= 1 and s in ('a', 'b')", columns: Self.columns)
        let kernel = try ExpressionKernel.compile(typed, capacity: 4)
        let first = try kernel.evaluate(Self.vectors([["i": 1, "p": 100, "r": 1_000_000, "s": "a"]]), rows: 1)
        let second = try kernel.evaluate(Self.vectors([["i": 0, "p": 100, "r": 1_000_000, "s": "a"], ["s": "b"]]), rows: 2)
        #expect(first === second)
        #expect(second.bool(0) == false && second.isNull(1))
    }
}

/// A reference table only tested with `x in R` holds its keys alone in memory; a lookup's
/// columns are loaded, and reserved, only when read.
@Suite struct LookupTableTests {
    @Test func loadsOnlyTheColumnsLookupsRead() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let rows = 100_000
        let schema = Schema([Field("id", .int64, nullable: false), Field("name", .string)])
        let writer = try TableWriter(path: s.path + "/customers", schema: schema)
        let segment = try writer.newSegment()
        let cols = schema.fields.map { ColumnVector(type: $0.type, capacity: rows) }
        for r in 0..<rows {
            cols[0].appendInt64(Int64(r + 1))
            cols[1].appendString("customer number \(r) with a rather long name")
        }
        try segment.append(cols, rows: 0..<rows)
        writer.stage(try segment.finish())
        try writer.commit(operation: "test")
        writer.close()
        let reader = try TableReader(path: s.path + "/customers")
        let budget = MemoryBudget(limitBytes: 64 << 20)
        do {
            let keysOnly = try LookupTable(name: "customers", reader: reader, keyColumn: 0, columns: [], budget: budget)
            // The ids (9 bytes a row) and a dense map of 4 bytes a key.
            #expect(budget.usedBytes <= rows * 13 + 64, "\(budget.usedBytes)")
            #expect(keysOnly.columns[1].count == 0 && keysOnly.keys.contains(Int64(rows)) && !keysOnly.keys.contains(0))
        }
        #expect(budget.usedBytes == 0)
        do {
            let full = try LookupTable(name: "customers", reader: reader, keyColumn: 0, columns: [1], budget: budget)
            #expect(budget.usedBytes >= rows * (13 + 40), "\(budget.usedBytes)")
            let found = UnsafeMutablePointer<Int32>.allocate(capacity: 2)
            defer { found.deallocate() }
            let probe = ColumnVector(type: .int64, capacity: 2)
            probe.appendInt64(42)
            probe.appendInt64(-1)
            full.rows(of: probe, rows: 2, into: found)
            #expect(found[0] == 41 && found[1] == -1 && full.columns[1].string(41) == "customer number 41 with a rather long name")
        }
        #expect(budget.usedBytes == 0)
    }
}
