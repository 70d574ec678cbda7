import Segments

/// A checked pipeline as a self-contained PySpark program (`batchrun spark`): the runtime
/// (`SparkRuntime`: the landing zone's CSV dialect, grammars and lineage, and the
/// operators), then the pipeline itself as PySpark calls whose expressions are Spark SQL
/// (`SparkSQL`). It writes the lake's tables, each to `OUT/<table>`: `bronze`,
/// `reference/<name>`, and, as `run --publish` lays them out, `silver`, `quarantine` and
/// each gold table by its name; with batchrun's rows, order and partition folders.
///
/// ```
///   RAW ─> read_bronze ─> OUT/bronze ─> lookups, x in R, silver's columns ─> route
///     ─> OUT/quarantine, keep_one (dedup) ─> OUT/silver ─> each gold table ─> OUT/gold/...
/// ```
public enum SparkJob {
    /// The program's file name: `<pipeline>_job.py`.
    public static func fileName(_ p: CheckedPipeline) -> String { "\(p.file.name)_job.py" }

    public static func program(_ p: CheckedPipeline) -> String {
        var w = Writer(p)
        return w.program()
    }

    /// Python string literal.
    static func py(_ s: String) -> String { backslashQuoted(s, quote: "\"") }

    /// `s` between `quote`s, with backslash escapes for a backslash, the quote and line
    /// ends and tabs: a literal as Python and Spark SQL read them.
    static func backslashQuoted(_ s: String, quote: Unicode.Scalar) -> String {
        var out = String(quote)
        for ch in s.unicodeScalars {
            switch ch {
            case "\\": out += "\\\\"
            case quote: out += "\\" + String(quote)
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + String(quote)
    }

    static func pyList(_ items: [String]) -> String { "[" + items.map(py).joined(separator: ", ") + "]" }

    /// Emits the pipeline's part of the program.
    struct Writer {
        let p: CheckedPipeline
        var lines: [String] = []
        /// Types `cast(text as T)` reads, for the runtime to register its functions.
        var parsed: [ValueType] = []
        /// Per table (silver, gold names): the frame columns that order its rows, ties
        /// included.
        var ties: [String: [String]] = [:]
        /// Membership columns made so far (`__in0`, `__in1`, ...).
        var memberCount = 0

        init(_ p: CheckedPipeline) { self.p = p }

        mutating func emit(_ s: String = "") { lines.append(s) }

        mutating func program() -> String {
            let f = p.file
            emit("#!/usr/bin/env python3")
            emit("\"\"\"The '\(f.name)' pipeline (\(f.path)) as a PySpark job, written by batchrun \(BatchrunVersion.current).")
            emit()
            emit("    spark-submit \(SparkJob.fileName(p)) --raw RAW --out OUT [--format parquet|delta]")
            emit()
            emit("It reads the landing zone RAW and writes the tables batchrun's lake holds, each to")
            emit("OUT/<table> (bronze, reference/<name>, then silver, quarantine and each gold table by its")
            emit("name, as `batchrun run --publish` lays them out), with the same rows, order and")
            emit("partition folders. `batchrun spark` writes it from the pipeline file:")
            emit("change the file and write the job again rather than editing this one.")
            emit("\"\"\"")
            lines.append(SparkRuntime.text)
            emit()
            emit("# " + String(repeating: "-", count: 87))
            emit("# The pipeline '\(f.name)', from \(f.path)")
            emit("# " + String(repeating: "-", count: 87))
            feeds()
            silver()
            for (k, t) in f.gold.enumerated() { gold(t, p.goldPlans[k], p.gold[k]) }
            main()
            return lines.joined(separator: "\n") + "\n"
        }

        mutating func feeds() {
            func feed(_ x: PipelineFile.Feed, _ indent: String) -> String {
                var out = "\(indent)Feed(\(py(x.name)), \(py(x.files)), [\n"
                for c in x.columns {
                    var args = [py(c.name), py(c.type.description)]
                    if c.textCase != .asIs { args.append("case=\(py(c.textCase.rawValue))") }
                    if !c.required { args.append("required=False") }
                    if !c.signed { args.append("signed=False") }
                    out += "\(indent)    Column(\(args.joined(separator: ", "))),\n"
                }
                return out + "\(indent)]" + (x.key.map { ", key=\(py($0)))" } ?? ")")
            }
            emit("FACTS = " + feed(p.file.facts, ""))
            emit("REFERENCES = [")
            for r in p.file.references { emit(feed(r, "    ") + ",") }
            emit("]")
        }

        /// The SQL translator over a scope: inputs by name, lookups as `__<alias>__<col>`,
        /// derived columns as `__<name>`.
        func translator(_ scope: Scope, lookups: [CheckedPipeline.Lookup], inputs: [String], derived: [String]) -> SparkSQL {
            SparkSQL { k in
                let s = scope.slots[k]
                switch s.source {
                case let .input(i): return SparkSQL.quoted(inputs[i])
                case let .lookup(l, c): return SparkSQL.quoted("__\(lookups[l].alias)__\(lookups[l].feed.columns[c].name)")
                case let .derived(d): return SparkSQL.quoted("__" + derived[d])
                }
            }
        }

        /// Adds membership columns for the `x in R` nodes of `exprs` and returns the SQL of
        /// each expression.
        mutating func expressions(_ exprs: [TypedExpr], _ sql: inout SparkSQL) -> [String] {
            for e in exprs {
                e.forEachNode { n in
                    guard case let .inReference(x, reference, _) = n.node, sql.members[ObjectIdentifier(n)] == nil else { return }
                    let name = "__in\(memberCount)"
                    memberCount += 1
                    // x through the same translator: its casts and checks count as the
                    // expression's own.
                    let tested = sql.sql(x)
                    let key = p.file.references.first { $0.name == reference }?.key ?? ""
                    lines.append("    rows = member(rows, refs[\(py(reference))], \(py(key)), \(py(tested)), \(py(name)))")
                    sql.members[ObjectIdentifier(n)] = SparkSQL.quoted(name)
                }
            }
            let out = exprs.map { sql.sql($0) }
            for t in sql.parsedTypes where !parsed.contains(t) { parsed.append(t) }
            return out
        }

        mutating func lookups(_ ls: [CheckedPipeline.Lookup], _ sql: inout SparkSQL) {
            for l in ls {
                let on = expressions([l.on], &sql)[0]
                let key = l.feed.key ?? ""
                emit("    rows = lookup(rows, refs[\(py(l.feed.name))], \(py(key)), \(py(on)), \(py("__\(l.alias)__")), \(pyList(l.feed.columns.map(\.name))))")
            }
        }

        mutating func silver() {
            let f = p.file
            let bronzeNames = p.bronze.columns.map(\.name)
            let derived = p.silver.columns.map(\.name)
            var sql = translator(p.silverScope, lookups: p.silverLookups, inputs: bronzeNames, derived: derived)
            emit()
            emit()
            emit("def silver(bronze, refs):")
            emit("    \"\"\"Bronze's rows routed: the first expectation a row fails sends it to quarantine with")
            emit("    its name; the others are deduplicated into silver, which keeps their lineage columns")
            emit("    for the order of ties. Returns (silver, quarantine, rows routed).\"\"\"")
            emit("    rows = bronze")
            lookups(p.silverLookups, &sql)
            let conditions = expressions(p.expectations.map(\.expr), &sql)
            // Silver's columns route a value that does not fit (lookups and expectations
            // stop on one, as batchrun's do).
            sql.routing = true
            for (k, e) in p.silverColumns.enumerated() {
                let text = expressions([e], &sql)[0]
                emit("    rows = rows.withColumn(\(py("__" + derived[k])), F.expr(\(py(text))))")
            }
            let overflowReason = p.overflowReason.map { p.reasons[$0] }
            if !sql.overflows.isEmpty {
                emit("    # a silver value that does not fit its type: \(overflowReason.map { "quarantined as \($0)" } ?? "an error naming the row")")
                emit("    rows = rows.withColumn(\"__overflow\", F.expr(\(py(sql.overflows.joined(separator: " OR ")))))")
            }
            emit("    rows = route(rows, FACTS, [")
            for (x, c) in zip(p.expectations, conditions) { emit("        (\(py(x.name)), \(py(c))),") }
            emit("    ], overflow=\(sql.overflows.isEmpty ? "False" : overflowReason.map(py) ?? "True"))")
            emit("    rows = rows.persist(StorageLevel.DISK_ONLY)")
            emit("    valid = rows.where(\"reason IS NULL\")")
            if let d = f.silver.dedup {
                // Dedup reads silver's columns (or bronze's, for a name silver does not have).
                func column(_ n: String) -> String { derived.contains(n) ? "__" + n : n }
                emit("    valid = keep_one(valid, \(pyList(d.key.map { column($0.name) })), \(pyList(d.by.map { column($0.name) })), \(py(d.keep.rawValue)))")
            }
            emit("    silver = valid.select(*[F.col(q(\"__\" + c)).alias(c) for c in \(pyList(derived))], *INGESTED)")
            emit("    quarantine = rows.where(\"reason IS NOT NULL\").select(*[q(c) for c in \(pyList(p.quarantine.columns.map(\.name)))])")
            emit("    return silver, quarantine, rows")
            // Silver holds its rows by partition, then in order, ties in ingestion order.
            ties["silver"] = [f.silver.partition.name] + p.silver.order + ["_ingest_seq", "_source_file", "_source_line"]
        }

        mutating func gold(_ t: PipelineFile.GoldTable, _ plan: CheckedPipeline.GoldPlan, _ table: CheckedPipeline.Table) {
            let names = table.columns.map(\.name)
            emit()
            emit()
            emit("def gold_\(pythonName(t.name))(tables, refs):")
            switch t.kind {
            case let .reference(r):
                emit("    \"\"\"\(t.name): a copy of the reference \(r), in key order.\"\"\"")
                emit("    return refs[\(py(r))]")
                ties[t.name] = table.order
                return
            case let .calendar(source, column):
                emit("    \"\"\"\(t.name): one row per date from the least to the greatest \(source).\(column).\"\"\"")
                emit("    rows = calendar(tables[\(py(source))], \(py(column)))")
                var sql = translator(plan.scope, lookups: [], inputs: ["date"], derived: names)
                columns(plan.columns, names, &sql)
                emit("    return rows.select(*\(selectList(table)), F.col(\"date\").alias(\"__tie0\"))")
                ties[t.name] = table.order + ["__tie0"]
            case .projection:
                emit("    \"\"\"\(t.name): a projection of \(t.from).\"\"\"")
                emit("    rows = tables[\(py(t.from))]")
                var sql = translator(plan.scope, lookups: plan.lookups, inputs: columns(of: t.from), derived: names)
                lookups(plan.lookups, &sql)
                columns(plan.columns, names, &sql)
                let sourceTies = ties[t.from] ?? []
                var extra = sourceTies.enumerated().map { "F.col(\(py(SparkSQL.quoted($0.element)))).alias(\"__tie\($0.offset)\")" }
                // A partitioned table holds its rows by partition (the day, or the month's
                // first day), then in order.
                var part: [String] = []
                switch t.partition?.0 {
                case let .day(c)?:
                    if !names.contains(c) { extra.append("F.col(\(py(SparkSQL.quoted(c))))") }
                    extra.append("F.col(\(py(SparkSQL.quoted(c)))).alias(\"__part\")")
                    part = ["__part"]
                case let .month(c)?:
                    extra.append("F.col(\(py(SparkSQL.quoted(c)))).alias(\"__month\")")
                    extra.append("F.expr(\(py("trunc(\(SparkSQL.quoted(c)), 'MM')"))).alias(\"__part\")")
                    part = ["__part"]
                case nil: break
                }
                emit("    return rows.select(*\(selectList(table))\(extra.isEmpty ? "" : ", " + extra.joined(separator: ", ")))")
                ties[t.name] = part + table.order + sourceTies.indices.map { "__tie\($0)" }
            case let .aggregate(_, groupBy, measures):
                emit("    \"\"\"\(t.name): an aggregate of \(t.from).\"\"\"")
                emit("    rows = tables[\(py(t.from))]")
                var sql = translator(plan.scope, lookups: plan.lookups, inputs: columns(of: t.from), derived: [])
                lookups(plan.lookups, &sql)
                if let filter = plan.filter {
                    let c = expressions([filter], &sql)[0]
                    emit("    rows = rows.where(\(py("coalesce(\(c), false)")))")
                }
                let keys = expressions(plan.groupBy, &sql)
                for (k, key) in keys.enumerated() { emit("    rows = rows.withColumn(\"__g\(k)\", F.expr(\(py(key))))") }
                var measuring = sql
                measuring.group = { k in SparkSQL.quoted("__g\(k)") }
                let texts = expressions(plan.columns, &measuring)
                emit("    rows = rows.groupBy(\(keys.indices.map { "\"__g\($0)\"" }.joined(separator: ", "))).agg(")
                for (k, m) in texts.enumerated() { emit("        F.expr(\(py(m))).alias(\"__m\(k)\"),") }
                emit("    )")
                let outputs = groupBy.indices.map { "__g\($0)" } + measures.indices.map { "__m\($0)" }
                let select = zip(table.columns, outputs).map { c, o in
                    "F.expr(\(py("CAST(\(SparkSQL.quoted(o)) AS \(SparkSQL.typeName(c.type)))"))).alias(\(py(c.name)))"
                }
                emit("    return rows.select(")
                for s in select { emit("        \(s),") }
                emit("    )")
                ties[t.name] = table.order + groupBy.map(\.name).filter { !table.order.contains($0) }
            }
        }

        /// The columns of `table`: silver's, or an earlier gold table's.
        func columns(of table: String) -> [String] {
            (p.gold.first { $0.name == "gold/" + table } ?? p.silver).columns.map(\.name)
        }

        /// Adds derived columns `__<name>` in order.
        mutating func columns(_ exprs: [TypedExpr], _ names: [String], _ sql: inout SparkSQL) {
            for (k, e) in exprs.enumerated() {
                let text = expressions([e], &sql)[0]
                emit("    rows = rows.withColumn(\(py("__" + names[k])), F.expr(\(py(text))))")
            }
        }

        /// The table's columns from their derived `__<name>`, cast to their types.
        func selectList(_ table: CheckedPipeline.Table) -> String {
            "[" + table.columns.map { c in
                "F.expr(\(py("CAST(\(SparkSQL.quoted("__" + c.name)) AS \(SparkSQL.typeName(c.type)))"))).alias(\(py(c.name)))"
            }.joined(separator: ", ") + "]"
        }

        func pythonName(_ s: String) -> String {
            String(s.unicodeScalars.map { ($0.properties.isAlphabetic && $0.isASCII) || ("0"..."9").contains($0) ? Character($0) : "_" })
        }

        mutating func main() {
            let f = p.file
            emit()
            emit()
            emit("def main():")
            emit("    args = arguments(__doc__)")
            emit("    spark = session(\(py("batchrun \(f.name)")))")
            emit("    register_casts(spark, \(pyList(parsed.map(\.description))))")
            emit("    run = Run(spark, args)")
            emit("    bronze = run.write(read_bronze(spark, args.raw, FACTS, 1, run.started), \"bronze\", \(pyList(p.bronze.columns.map(\.name))), INGESTED)")
            emit("    refs = {}")
            emit("    for feed in REFERENCES:")
            emit("        refs[feed.name] = run.write(read_reference(spark, args.raw, feed), \"reference/\" + feed.name, [c.name for c in feed.columns], [feed.key])")
            emit("    rows, quarantine, routed = silver(bronze, refs)")
            emit("    run.write(quarantine, \"quarantine\", \(pyList(p.quarantine.columns.map(\.name))), INGESTED)")
            emit("    tables = {\"silver\": run.write(rows, \"silver\", \(pyList(p.silver.columns.map(\.name))), \(pyList(ties["silver"] ?? [])), partition=\(py(f.silver.partition.name)), keep=INGESTED)}")
            for (k, t) in f.gold.enumerated() {
                let table = p.gold[k]
                var extra = ""
                if case let (.day(c), _)? = t.partition { extra = ", partition=\(py(c))" }
                if case (.month, _)? = t.partition { extra = ", month=\"__month\"" }
                let keep = (ties[t.name] ?? []).filter { $0.hasPrefix("__") }
                emit("    tables[\(py(t.name))] = run.write(gold_\(pythonName(t.name))(tables, refs), \(py(t.name)), \(pyList(table.columns.map(\.name))), "
                     + "\(pyList(ties[t.name] ?? []))\(extra)\(keep.isEmpty ? "" : ", keep=" + pyList(keep)))")
            }
            emit("    run.reconcile(routed)")
            emit()
            emit()
            emit("if __name__ == \"__main__\":")
            emit("    try:")
            emit("        main()")
            emit("    except Exception as e:")
            emit("        refused = refusal(e)")
            emit("        if refused is None:")
            emit("            raise")
            emit("        print(f\"\(SparkJob.fileName(p)): error: {refused}\", file=sys.stderr)")
            emit("        sys.exit(65)")
        }
    }
}

extension SparkJob {
    /// The README written beside the job: how to run it and what it does not do as
    /// batchrun does.
    public static func readme(_ p: CheckedPipeline) -> String {
        let job = fileName(p)
        let gold = p.gold.map { "`\($0.name)`" }.joined(separator: ", ")
        return """
        # \(job): the '\(p.file.name)' pipeline on Spark

        Written by `batchrun spark \(p.file.path)` (batchrun \(BatchrunVersion.current)). Write it
        again after changing the pipeline file; do not edit it.

        ## Run it

            spark-submit --master local[2] \(job) --raw RAW --out OUT
            spark-submit --master yarn \(job) --raw hdfs:///landing/\(p.file.name) --out s3a://lake/\(p.file.name)
            python \(job) --raw RAW --out OUT          # pyspark installed: a local session

        Needs Spark 4 with Python 3.9 or later (checked with pyspark 4.3.0 and OpenJDK 17),
        and, for `.csv.zst` files, the `zstandard` Python package on the executors.
        `--format delta` writes Delta tables instead of Parquet: start it with delta-spark, e.g.
        `--packages io.delta:delta-spark_2.13:4.0.0 --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension
        --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog`.

        Each table is written to OUT/<table>: `bronze`, `reference/<name>`, `silver` (one folder
        per `\(p.file.silver.partition.name)`), `quarantine` and \(gold), the last ones laid out as
        `batchrun run --publish` lays out its Delta copy. Exit 65 when the landing zone is
        refused (a file without a required column, a reference row that does not parse), with
        the file and line.

        ## Equal to batchrun, and where it is not

        The job reads the CSV files itself (Spark's CSV reader has no line numbers, header
        matching per file, or ragged-record handling), with batchrun's dialect and grammars,
        and computes everything else with Spark SQL under explicit settings: UTC, ANSI mode,
        no decimal precision loss, timestamps written as UTC microseconds. Decimals are exact
        and round half away from zero; strings compare by their UTF-8 bytes; the dedup keeps
        the same version and the same row of a tie; every table has batchrun's order.
        `make spark-check` in batchrun's repository compares every table cell by cell.

        What differs:
        - Runs are not incremental: each run reads every file of RAW and replaces the tables
          (batchrun's append mode skips files it has ingested; its published Delta tables
          carry that history). `_ingest_seq` is 1 and `_ingested_at` the job's start.
        - A run that fails (a file refused, a cluster lost) leaves the tables it had begun
          to overwrite partly written with `--format parquet`: Spark's overwrite of a Parquet
          folder is not atomic (batchrun commits each table whole or not at all). With
          `--format delta` each table's commit is atomic.
        - There is no memory limit for a record: batchrun refuses one above 1/64 of its
          `--memory-limit`; Spark takes what its executors hold (a file is read whole by one
          task, so each must be under 2 GiB).
        - `cast(text as float64)` reads what Python's `float()` reads; batchrun reads what
          Swift's `Double(_:)` reads (both take the usual forms; they differ on oddities such as
          `1_000` or hexadecimal).
        - A `/` whose quotient passes 19 digits, or whose operand scaled to the result needs
          more than 38 digits, stops the job with Spark's error, where batchrun quarantines the
          row (silver) or stops (gold).
        - An expression in a `case` branch that is not taken is not evaluated by Spark: a value
          there that does not fit is no error; batchrun evaluates every branch.
        """
    }
}

extension SparkJob {
    /// Writes the job and its README into `folder` (made if missing); their paths.
    public static func write(_ p: CheckedPipeline, to folder: String) throws -> (job: String, readme: String) {
        try SystemIO.makeDirectories(folder)
        let job = folder + "/" + fileName(p), readme = folder + "/README.md"
        try SystemIO.writeFileAtomically(job, Array(program(p).utf8))
        try SystemIO.writeFileAtomically(readme, Array(self.readme(p).utf8))
        return (job, readme)
    }
}
