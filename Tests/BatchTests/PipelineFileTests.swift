import Foundation
import Segments
import Testing
@testable import Batch

/// The repository's root, from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

@Suite struct PipelineFileTests {
    static let transactionsPath = repositoryRoot + "/pipelines/transactions.yaml"

    /// The EmbedPipelines build plugin copies the default pipeline file into the binary.
    @Test func theBinaryCarriesTheSameText() throws {
        #expect(repositoryRoot + "/" + BuiltinPipelines.defaultName == Self.transactionsPath)
        let onDisk = try Data(contentsOf: URL(fileURLWithPath: Self.transactionsPath))
        #expect(Data(BuiltinPipelines.defaultText.utf8) == onDisk, "the embedded text and \(BuiltinPipelines.defaultName) differ: the build did not re-embed the file")
    }

    /// The transactions file gives every table the columns and types of the contract's
    /// stages (nullability included).
    @Test func transactionsTablesMatchTheContract() throws {
        let p = try PipelineLoader.checked(path: Self.transactionsPath)
        // Segments store a decimal's scale, not its precision: compare decimal(p,s) as decimal(18,s).
        func fields(_ t: CheckedPipeline.Table) -> [String] {
            t.columns.map { c in
                let type = c.type.isNumeric && c.type.scale > 0 || { if case .decimal = c.type { return true } else { return false } }()
                    ? "decimal(18,\(c.type.scale))" : c.type.description
                return "\(c.name) \(type)\(c.nullable ? "" : " not null")"
            }
        }
        func fields(_ s: Schema) -> [String] {
            s.fields.map { f in
                let type: String
                if case let .decimal(scale) = f.type { type = "decimal(18,\(scale))" } else { type = f.type.description }
                return "\(f.name) \(type)\(f.nullable ? "" : " not null")"
            }
        }
        func table(_ name: String) throws -> CheckedPipeline.Table { try #require(p.tables.first { $0.name == name }) }
        let silver = fields(try table("silver"))
        #expect(silver == fields(TransactionsContract.silver), "\(silver) \(fields(TransactionsContract.silver))")
        #expect(fields(try table("quarantine")).map { $0.replacingOccurrences(of: " not null", with: "") }
                == fields(TransactionsContract.quarantine).map { $0.replacingOccurrences(of: " not null", with: "") })
        #expect(fields(try table("gold/dim_date")) == fields(TransactionsContract.dimDate))
        #expect(fields(try table("gold/fact_transactions")) == fields(TransactionsContract.fact))
        #expect(fields(try table("gold/daily_sales")) == fields(TransactionsContract.dailySales))
        #expect(fields(try table("gold/customer_monthly")) == fields(TransactionsContract.customerMonthly))
        #expect(fields(try table("gold/dim_customer")) == fields(TransactionsContract.customers))
        #expect(fields(try table("gold/dim_product")) == fields(TransactionsContract.products))
        #expect(fields(try table("reference/fx_rates")) == fields(TransactionsContract.fxRates))
        #expect(p.reasons == Generator.reasons)
        #expect(try table("silver").partition == "event_date" && (try table("gold/fact_transactions")).partition == "month(event_date)")
        // The landing zone the generic ingest builds from the file: bronze and the
        // reference tables have the contract's schemas.
        #expect(Landing.builtin.facts.schema == TransactionsContract.bronze)
        #expect(Landing.builtin.references.map(\.schema) == [TransactionsContract.customers, TransactionsContract.products, TransactionsContract.fxRates])
    }

    /// The worked example of docs/PIPELINES.md is a valid file.
    @Test func theDocumentedExampleChecks() throws {
        let doc = try String(contentsOfFile: repositoryRoot + "/docs/PIPELINES.md", encoding: .utf8)
        let start = try #require(doc.range(of: "```yaml\n")).upperBound
        let end = try #require(doc.range(of: "```", range: start..<doc.endIndex)).lowerBound
        let p = try TypeChecker.check(try PipelineLoader.load(text: String(doc[start..<end]), path: "docs/PIPELINES.md"))
        #expect(p.tables.map(\.name) == ["bronze", "reference/fx_rates", "silver", "quarantine", "gold/daily"])
        #expect(p.reasons == ["malformed_row", "missing_id", "bad_quantity", "unknown_currency"])
    }

    /// A wrong file is refused with its line and column and what to write instead.
    @Test(arguments: [
        // (what is replaced, by what, the message, where: the replacement's text to point at)
        ("  expectations:", "  expectatoins:", "unknown key 'expectatoins' in silver; did you mean 'expectations'?", "expectatoins"),
        ("quantity between 1 and 1000", "quantty between 1 and 1000", "unknown column 'quantty'; did you mean 'quantity'?", "quantty"),
        ("unit_price >= 0", "unit_price >= 'free'", "cannot compare decimal(17,2) with string", ">="),
        ("{reference: products, on: product_id}", "{reference: product, on: product_id}", "lookup into 'product', which landing.references does not declare; did you mean 'products'?", "{reference: product,"),
        ("sum(quantity) filter", "sum(status) filter", "sum needs a number; this is string (in measure units)", "status) filter"),
        ("category: products.category", "category: product.category", "'product' is not a lookup declared here", "product.category"),
        ("round(amount * fx_rates.usd_per_unit, 2)", "rnd(amount * fx_rates.usd_per_unit, 2)", "unknown function 'rnd'; did you mean 'round'?", "rnd("),
        ("  partition: event_date", "  partition: event_time", "silver is partitioned by a date column; event_time is timestamp", "event_time\n  order"),
        ("type: 'decimal(17,2)'}", "type: decimal(17,2)}", "quote the type, type: 'decimal(18,2)'", "2)}"),
        ("order: [event_time, transaction_id]\n  # A row", "order: [event_time, transaction]\n  # A row", "silver is ordered by 'transaction', which is not one of its columns", "transaction]"),
        ("missing_id: transaction_id is not null", "missing_id: quantity + 1", "expectation missing_id must be a condition (true for a good row); it is int64", "quantity + 1"),
        ("      - orders: count(*)\n", "      - orders: count(*) + quantity\n", "'quantity' is neither a group_by key nor inside an aggregate", "quantity\n"),
        ("bad_price: unit_price >= 0", "bad_price: unit_price >= (0", "expected ')' to close the parenthesis", "\n    - bad_status"),
        ("name: transactions\n", "name: transactions\n  oops: [\n", "not valid YAML", ": ["),
        ("customer_id in customers", "customer_id in customer", "'customer' is not a reference table", "customer_id in customer"),
        ("amount: quantity * unit_price", "amount: quantity * channel", "'*' needs numbers; this is int64 * string", "* channel"),
        ("      - {name: quantity, type: int64}", "      - {name: quantity, type: int46}", "'int46' is not a type", "int46"),
        ("sum(quantity) filter", "sum(cast(quantity as float64)) filter", "sum of a float64 would depend on the order rows are added in; sum an exact decimal", "cast(quantity"),
        ("min(event_time)", "min(status)", "min needs numbers, dates or timestamps; this is string", "status)"),
    ])
    func badFilesAreNamedWithLineAndColumn(_ replace: String, _ with: String, _ message: String, _ pointer: String) throws {
        let original = BuiltinPipelines.defaultText
        #expect(original.contains(replace), "the test's text to replace is not in the file: \(replace)")
        try expectMistake(in: original.replacingOccurrences(of: replace, with: with), changed: with, message: message, pointer: pointer)
    }
}

/// A pipeline text with one mistake (`changed`, where the file had something right) is
/// refused as a bad pipeline with `message`, at the first character of `pointer` after
/// the change (for a pointer starting with a line end, the end of that line).
func expectMistake(in text: String, changed: String, message: String, pointer: String) throws {
    do {
        _ = try TypeChecker.check(try PipelineLoader.load(text: text, path: "bad.yaml"))
        Issue.record("\(changed) was accepted")
    } catch let error as BatchError {
        #expect(error.code == .badPipeline, "\(error)")
        #expect(error.message.contains(message), "\(error)")
        let changedAt = try #require(text.range(of: changed)).lowerBound
        let pointed = try #require(text.range(of: pointer, range: changedAt..<text.endIndex) ?? text.range(of: pointer)).lowerBound
        let before = text[..<pointed]
        let line = before.filter { $0 == "\n" }.count + 1
        let column = before.count - (before.lastIndex(of: "\n").map { before.distance(from: before.startIndex, to: $0) + 1 } ?? 0) + 1
        if pointer.hasPrefix("\n") {
            #expect(error.line == line, "\(error) (expected line \(line))") // the end of a line: the column is the line's length
        } else {
            #expect(error.line == line && error.columnNumber == column, "\(error) (expected \(line):\(column))")
        }
        #expect(error.description.hasPrefix("bad.yaml:\(error.line ?? 0):\(error.columnNumber ?? 0): "))
    }
}

@Suite struct ExpressionParserTests {
    func parse(_ s: String) throws -> Expr { try ExpressionParser.parse(s) }

    /// A compact rendering of the tree, to compare with a hand-written one.
    func show(_ e: Expr) -> String {
        switch e.kind {
        case let .column(q, n): return (q.map { $0 + "." } ?? "") + n
        case let .literal(l):
            switch l {
            case .null: return "null"
            case let .bool(b): return "\(b)"
            case let .integer(v): return "\(v)"
            case let .decimal(v, s): return "\(v)e-\(s)"
            case let .float(v): return "\(v)f"
            case let .string(s): return "'\(s)'"
            case let .date(d): return "date(\(d))"
            case let .timestamp(t): return "ts(\(t))"
            }
        case let .unary(op, x): return "(\(op.rawValue) \(show(x)))"
        case let .binary(op, a, b): return "(\(show(a)) \(op.rawValue) \(show(b)))"
        case let .isNull(x, n): return "(\(show(x)) is\(n ? " not" : "") null)"
        case let .between(x, a, b, n): return "(\(show(x))\(n ? " not" : "") between \(show(a)) and \(show(b)))"
        case let .inList(x, items, n): return "(\(show(x))\(n ? " not" : "") in [\(items.map(show).joined(separator: ", "))])"
        case let .inReference(x, r, n): return "(\(show(x))\(n ? " not" : "") in \(r))"
        case let .call(name, args): return "\(name)(\(args.map(show).joined(separator: ", ")))"
        case let .aggregate(f, arg, filter): return "\(f.rawValue)(\(arg.map(show) ?? "*"))" + (filter.map { " filter \(show($0))" } ?? "")
        case let .caseWhen(branches, other): return "case" + branches.map { " \(show($0.condition))->\(show($0.value))" }.joined() + (other.map { " else \(show($0))" } ?? "")
        case let .cast(x, t): return "cast(\(show(x)) as \(t))"
        }
    }

    @Test func precedenceAndForms() throws {
        #expect(show(try parse("a + b * c - d")) == "((a + (b * c)) - d)")
        #expect(show(try parse("a or b and not c")) == "(a or (b and (not c)))")
        #expect(show(try parse("x between 1 and 10 and y not in (1, 2.50)")) == "((x between 1 and 10) and (y not in [1, 250e-2]))")
        #expect(show(try parse("currency not in fx_rates")) == "(currency not in fx_rates)")
        #expect(show(try parse("p.category IS NOT NULL")) == "(p.category is not null)")
        #expect(show(try parse("-9223372036854775808")) == "-9223372036854775808")
        #expect(show(try parse("- 5 * -2.5")) == "(-5 * -25e-1)")
        #expect(show(try parse("CASE WHEN a = 'x' THEN 1 ELSE 2 END")) == "case (a = 'x')->1 else 2")
        #expect(show(try parse("cast(q as decimal(18, 2)) <> 1e3")) == "(cast(q as decimal(18,2)) <> 1000.0f)")
        #expect(show(try parse("count(*) filter (where s = 'it''s')")) == "count(*) filter (s = 'it's')")
        #expect(show(try parse("date '2024-02-29' < d")) == "(date(\(19_782)) < d)")
        #expect(show(try parse("\"odd name\" != 3")) == "(odd name <> 3)")
    }

    @Test(arguments: [
        ("a +", 3, "expected a value"), ("(a", 2, "expected ')'"), ("a # b", 2, "unexpected character '#'"),
        ("'open", 0, "never closed"), ("9223372036854775808", 0, "does not fit"), ("date '2023-02-29'", 0, "is not a date"),
        ("cast(a as money)", 10, "'money' is not a type"), ("a b", 2, "unexpected 'b'"), ("case end", 5, "expected 'when'"),
    ])
    func mistakesHaveTheirOffset(_ text: String, _ offset: Int, _ message: String) {
        #expect { try ExpressionParser.parse(text) } throws: { error in
            guard let e = error as? ExpressionError else { return false }
            return e.offset == offset && e.message.contains(message)
        }
    }
}

/// Silver's and quarantine's schemas as docs/TRANSACTIONS.md gives them, written out here
/// so the pipeline file is checked against the contract, not against itself.
enum TransactionsContract {
    static let silver = Schema([
        Field("transaction_id", .string, nullable: false), Field("customer_id", .int64, nullable: false),
        Field("product_id", .int64, nullable: false), Field("quantity", .int64, nullable: false),
        Field("unit_price", .decimal(scale: 2), nullable: false), Field("currency", .string, nullable: false),
        Field("amount", .decimal(scale: 2), nullable: false), Field("amount_usd", .decimal(scale: 2), nullable: false),
        Field("status", .string, nullable: false), Field("channel", .string, nullable: false),
        Field("event_time", .timestamp, nullable: false), Field("updated_at", .timestamp, nullable: false),
        Field("event_date", .date, nullable: false),
    ])
    static let bronze = Schema(SampleTable.schema.fields + [
        Field("_source_file", .string, nullable: false), Field("_source_line", .int64, nullable: false),
        Field("_ingest_seq", .int64, nullable: false), Field("_ingested_at", .timestamp, nullable: false), Field("_rescued", .string),
    ])
    static let customers = Schema([
        Field("customer_id", .int64, nullable: false), Field("name", .string), Field("country", .string),
        Field("segment", .string), Field("signup_date", .date),
    ])
    static let products = Schema([
        Field("product_id", .int64, nullable: false), Field("name", .string), Field("category", .string), Field("list_price", .decimal(scale: 2)),
    ])
    static let fxRates = Schema([Field("currency", .string, nullable: false), Field("usd_per_unit", .decimal(scale: 6))])
    static let quarantine = Schema(bronze.fields + [Field("reason", .string, nullable: false)])
    static let dimDate = Schema([
        Field("date_key", .int32, nullable: false), Field("date", .date, nullable: false), Field("year", .int32, nullable: false),
        Field("quarter", .int32, nullable: false), Field("month", .int32, nullable: false), Field("day", .int32, nullable: false),
        Field("day_of_week", .int32, nullable: false), Field("iso_week", .int32, nullable: false), Field("is_weekend", .bool, nullable: false),
    ])
    static let fact = Schema([
        Field("transaction_id", .string, nullable: false), Field("date_key", .int32, nullable: false),
        Field("customer_id", .int64, nullable: false), Field("product_id", .int64, nullable: false),
        Field("quantity", .int64, nullable: false), Field("unit_price", .decimal(scale: 2), nullable: false),
        Field("amount", .decimal(scale: 2), nullable: false), Field("currency", .string, nullable: false),
        Field("amount_usd", .decimal(scale: 2), nullable: false), Field("status", .string, nullable: false),
        Field("channel", .string, nullable: false), Field("event_time", .timestamp, nullable: false),
    ])
    static let dailySales = Schema([
        Field("date_key", .int32, nullable: false), Field("category", .string), Field("channel", .string, nullable: false),
        Field("orders", .int64, nullable: false), Field("units", .int64, nullable: false),
        Field("revenue_usd", .decimal(scale: 2), nullable: false), Field("refunds", .int64, nullable: false),
        Field("refunded_usd", .decimal(scale: 2), nullable: false),
    ])
    static let customerMonthly = Schema([
        Field("customer_id", .int64, nullable: false), Field("year", .int32, nullable: false), Field("month", .int32, nullable: false),
        Field("orders", .int64, nullable: false), Field("revenue_usd", .decimal(scale: 2), nullable: false),
        Field("first_purchase_at", .timestamp, nullable: false), Field("last_purchase_at", .timestamp, nullable: false),
    ])
}
