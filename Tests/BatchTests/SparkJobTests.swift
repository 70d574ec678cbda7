import Foundation
import Testing
@testable import Batch

/// The PySpark text `batchrun spark` writes, against golden files in Tests/Spark/golden:
/// the Spark SQL of every expression form, and the pipeline part of the jobs of
/// pipelines/transactions.yaml and Tests/Spark/forms.yaml (silver, and every kind of gold
/// table). A change to the expression language or the engine's rules that leaves the Spark
/// side behind shows here; `make spark-check` then runs the jobs against batchrun's tables.
/// After a deliberate change, BATCHRUN_UPDATE_GOLDEN=1 rewrites the files, to be reviewed
/// in the diff.
@Suite struct SparkJobTests {
    static let golden = repositoryRoot + "/Tests/Spark/golden/"

    /// The text against its golden file: equal, or (updating) written.
    func matchesGolden(_ text: String, _ name: String) throws {
        let path = Self.golden + name
        if ProcessInfo.processInfo.environment["BATCHRUN_UPDATE_GOLDEN"] == "1" {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOfFile: path, encoding: .utf8)
        let want = expected.components(separatedBy: "\n"), got = text.components(separatedBy: "\n")
        let first = zip(want, got).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(want.count, got.count)
        #expect(text == expected, """
            \(name) differs from the text written now, first at line \(first + 1):
              golden: \(first < want.count ? want[first] : "<end>")
              now:    \(first < got.count ? got[first] : "<end>")
            BATCHRUN_UPDATE_GOLDEN=1 swift test --filter SparkJobTests rewrites it after a deliberate change
            """)
    }

    static let columns = ExpressionKernelTests.columns

    /// Every operator, function, cast and literal form, in gold's mode (a value that does
    /// not fit is an error) and a few in silver's (null, its row flagged).
    static let forms = [
        "i + 1", "i - j", "i * 2", "n * n", "p + r", "p - 1", "p * r", "p / 3", "i / j", "-i", "-p", "-f", "f / 2", "f * 1e-3", "f + i",
        "round(p * r, 2)", "round(p, 1)", "round(f, 2)", "round(i, 0)",
        "i = j", "i <> 2", "s > 'a'", "d < t", "p >= 0.05", "f <= p", "n != i",
        "b and i > 1", "b or s is null", "not b", "i between 1 and 10", "i not between 1 and 10",
        "s in ('a', 'b')", "s not in ('a')", "i in (1, 2, null)", "s in codes", "s not in codes", "s is not null", "d is null",
        "coalesce(p, 0)", "coalesce(s, 'none', 'x')", "case when i > 1 then 'x' when i is null then null else 'y' end", "case when b then p end",
        "cast(i as decimal(10,2))", "cast(n as decimal(18,2))", "cast(p as decimal(18,1))", "cast(p as int64)", "cast(p as int32)",
        "cast(f as decimal(12,3))", "cast(f as int32)", "cast(p as float64)", "cast(i as float64)", "cast(n as int64)", "cast(i as int32)",
        "cast(s as int64)", "cast(s as int32)", "cast(s as decimal(8,2))", "cast(s as float64)", "cast(s as bool)", "cast(s as date)",
        "cast(s as timestamp)", "cast(p as string)", "cast(t as string)", "cast(f as string)", "cast(b as string)", "cast(d as string)",
        "cast(d as timestamp)", "cast(t as date)",
        "upper(s)", "lower(s)", "trim(s)", "date(t)", "date(d)", "year(d)", "quarter(t)", "month(d)", "day(d)", "day_of_week(d)",
        "iso_week(d)", "date_key(t)",
        "'it''s \\ok'", "date '2025-03-14'", "timestamp '2025-03-14T10:00:00.5+01:00'", "null", "true", "1e300", "123456789012.345678",
    ]
    static let routed = ["i * 2", "p * r", "round(p * r, 2)", "cast(f as decimal(12,3))", "-i"]

    @Test func expressionForms() throws {
        let origin = PipelineFile.Position(line: 1, column: 1)
        let codes = PipelineFile.Feed(name: "codes", files: "codes.csv", key: "code",
                                      columns: [.init(name: "code", type: .string, textCase: .asIs, required: true, at: origin)], at: origin)
        var out = ["# The Spark SQL `batchrun spark` writes for each expression form (Tests/BatchTests/SparkJobTests.swift).",
                   "# Columns: " + Self.columns.map { "\($0.name) \($0.type)" }.joined(separator: ", ") + "; codes: a reference keyed by a string.",
                   "# Routed: as silver's columns compute it (a value that does not fit is null and its row flagged).", ""]
        for (text, routing) in Self.forms.map({ ($0, false) }) + Self.routed.map({ ($0, true) }) {
            let typed = try TypeChecker.expression(text, columns: Self.columns, references: [codes])
            var sql = SparkSQL { SparkSQL.quoted(Self.columns[$0].name) }
            sql.routing = routing
            var members = 0
            typed.forEachNode { n in
                if case .inReference = n.node {
                    sql.members[ObjectIdentifier(n)] = "`__in\(members)`"
                    members += 1
                }
            }
            let translated = sql.sql(typed)
            out.append((routing ? "routed: " : "") + text + "  (" + typed.type.description + ")")
            out.append("    " + translated)
            if !sql.overflows.isEmpty { out.append("    overflows when: " + sql.overflows.joined(separator: " OR ")) }
        }
        try matchesGolden(out.joined(separator: "\n") + "\n", "expressions.txt")
    }

    /// The job's text after the runtime: feeds, silver, each gold table and main.
    static func pipelinePart(_ path: String) throws -> String {
        let job = SparkJob.program(try PipelineLoader.checked(path: path))
        guard let range = job.range(of: "# The pipeline '") else { return job }
        // The file's path as the repository names it, wherever the checkout is.
        return String(job[range.lowerBound...]).replacingOccurrences(of: repositoryRoot + "/", with: "")
    }

    @Test func transactionsJob() throws {
        try matchesGolden(try Self.pipelinePart(repositoryRoot + "/pipelines/transactions.yaml"), "transactions_job.py")
    }

    /// Every gold table kind: a reference copy, a calendar, a projection partitioned by
    /// day, a projection of a gold table, an aggregate with every aggregate function.
    @Test func formsJob() throws {
        try matchesGolden(try Self.pipelinePart(repositoryRoot + "/Tests/Spark/forms.yaml"), "forms_job.py")
    }

    /// The job begins with the runtime, and the pipeline file's decisions reach it.
    @Test func runtimeAndSettings() throws {
        let job = SparkJob.program(try PipelineLoader.checked(path: nil))
        #expect(job.hasPrefix("#!/usr/bin/env python3\n"))
        #expect(job.contains(SparkRuntime.text))
        for setting in ["\"spark.sql.session.timeZone\": \"UTC\"", "\"spark.sql.ansi.enabled\": \"true\"",
                        "\"spark.sql.decimalOperations.allowPrecisionLoss\": \"false\""] {
            #expect(SparkRuntime.text.contains(setting))
        }
        #expect(job.contains("keep_one(valid, [\"__transaction_id\"], [\"__updated_at\"], \"greatest\")"))
        #expect(job.contains("], overflow=\"bad_price\")"))
    }

    @Test func pythonStringLiterals() {
        #expect(SparkJob.py("a\"b\\c\nd") == "\"a\\\"b\\\\c\\nd\"")
        #expect(SparkSQL.string("it's \\ \n") == "'it\\'s \\\\ \\n'")
        #expect(SparkSQL.quoted("odd`name") == "`odd``name`")
    }
}
