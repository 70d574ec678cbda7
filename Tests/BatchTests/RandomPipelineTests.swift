import Foundation
import Segments
import Spill
import Testing
@testable import Batch

/// A property of the engine: random small pipelines over random data give the same
/// tables, byte for byte, at 16MiB with 7-row batches on one thread as at 4GiB with
/// 1M-row batches on two. The pipelines vary the types, the expectations and their
/// order, the dedup (none, one key or two, greatest or least), derived columns and
/// lookups, silver's order, and gold's projections and aggregates; their landing zones
/// come from `generate --pipeline`.
@Suite struct RandomPipelineTests {
    /// A random pipeline file, the same for the same seed.
    static func pipeline(seed: UInt64) -> String {
        var r = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 ^ 0x5049_5045)
        func pick<T>(_ xs: [T]) -> T { xs[r.next(below: xs.count)] }
        let idType = pick(["int64", "string"])
        let numType = pick(["int32", "int64", "'decimal(9,2)'"])
        let textCase = pick(["as-is", "upper", "lower"])
        let letters = textCase == "upper" ? ["A", "B", "C", "DD"] : ["a", "b", "c", "dd"]
        var expectations = [
            "has_id: id is not null",
            "n_range: n between 0 and 400",
            "known_ref: rk in refs",
            "short_s: upper(s) <> 'DD'",
            "has_ts: ts is not null and day is not null",
            "f_or_flag: f is null or f < 90 or flag",
        ]
        expectations.shuffle(using: &r)
        expectations = Array(expectations.prefix(1 + r.next(below: expectations.count)))
        let dedup = pick(["none", "id", "id-rk"])
        let keep = pick(["greatest", "least"])
        let by = pick(["ts", "n"])
        let order = dedup == "id-rk" ? pick(["[ts, id, rk]", "[id, rk]", "[n]"]) : pick(["[ts, id]", "[id]", "[s, n]", "[n]"])
        let groupBy = pick(["[d, label]", "[s]", "[flag, month: month(d)]"])
        var lines = """
        name: random_\(seed)
        landing:
          facts:
            name: events
            files: events/*.csv
            columns:
              - {name: id, type: \(idType)}
              - {name: rk, type: int64}
              - {name: ts, type: timestamp}
              - {name: n, type: \(numType), generate: {range: [-20, 420]}}
              - {name: f, type: float64, required: false, generate: {range: [0, 100], nulls: 0.1}}
              - {name: s, type: string, case: \(textCase), generate: {values: [\(letters.joined(separator: ", "))]}}
              - {name: flag, type: bool}
              - {name: day, type: date, generate: {range: [2025-01-01, 2025-03-31], nulls: 0.05}}
          references:
            - name: refs
              file: refs.csv
              key: rk
              columns:
                - {name: rk, type: int64}
                - {name: label, type: string, generate: {values: [x, y, z], nulls: 0.2}}
                - {name: w, type: 'decimal(6,2)', generate: {range: [0, 99]}}
        generate:
          days: 40
          rows: {refs: \(5 + r.next(below: 30))}
          broken: 0.15
          duplicates: 0.05
          versions: \(dedup == "none" ? 0 : 0.15)
        silver:
          expectations:

        """
        for e in expectations { lines += "    - \(e)\n" }
        lines += "  lookups:\n    - {reference: refs, on: rk}\n"
        switch dedup {
        case "id": lines += "  dedup: {key: [id], keep: \(keep), by: [\(by)]}\n"
        case "id-rk": lines += "  dedup: {key: [id, rk], keep: \(keep), by: [\(by), day]}\n"
        default: lines += "  dedup: none\n"
        }
        lines += """
          columns:
            - id
            - rk
            - ts
            - n
            - f
            - s
            - flag
            - day
            - label: coalesce(refs.label, 'none')
            - amount: round(n * refs.w, 1)
            - late: case when day is null then null when date(ts) > day then true else false end
            - d: date(ts)
          partition: d
          order: \(order)
        gold:
          - name: days
            calendar: d
            columns:
              - key: date_key(date)
              - date
              - q: quarter(date)
            order: [key]
          - name: by_group
            from: silver
            where: n >= 0
            group_by: \(groupBy)
            measures:
              - rows: count(*)
              - total: sum(n)
              - least: min(amount)
              - most: max(ts)
              - peak: max(f)
              - low: min(f) filter (where not flag)
              - mean: avg(n)
              - late_rows: count(*) filter (where late)
            order: \(groupBy.contains("month") ? "[flag, month]" : groupBy)
          - name: copy
            from: silver
            columns: [id, s, amount, d]
            partition: month(d)
            order: [\(pick(["d, id", "s", "amount"]))]

        """
        return lines
    }

    @Test(arguments: 0..<6)
    func smallSettingsGiveTheSameTables(_ seed: Int) throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let text = Self.pipeline(seed: UInt64(seed))
        let pipeline: CheckedPipeline
        do {
            pipeline = try TypeChecker.check(try PipelineLoader.load(text: text, path: "random-\(seed).yaml"))
        } catch {
            Issue.record("pipeline \(seed) does not check: \(error)\n\(text)")
            return
        }
        var o = PipelineGenerator.Options(records: 1500)
        o.seed = UInt64(seed) + 100
        o.files = 3
        o.order = seed % 2 == 0 ? .random : .time
        o.threads = 2
        let generated = try PipelineGenerator(pipeline: pipeline, options: o).write(to: s.path + "/raw")
        var tables: [[String: String]] = []
        for (k, setting) in [(4 << 30, 1 << 20, 2), (16 << 20, 7, 1)].enumerated() {
            var run = Pipeline.Options(raw: s.path + "/raw", lake: s.path + "/lake\(k)")
            run.pipeline = pipeline
            run.limits.threads = setting.2
            run.limits.batchRows = setting.1
            run.ingest.ingestedAt = 1_750_000_000_000_000
            let report = try withEngine("random-\(seed)-\(k)", budget: setting.0) { try Pipeline(options: run, budget: $0, spill: $1).run() }
            #expect(report.silver?.expected == generated.expected, "pipeline \(seed): \(text)")
            var exports: [String: String] = [:]
            for table in ["silver", "quarantine", "days", "by_group", "copy"] {
                exports[table] = try exported(try Lake.tablePath(lake: s.path + "/lake\(k)", name: table), in: s, as: "\(table)-\(k)")
            }
            tables.append(exports)
        }
        #expect((tables[0]["silver"]?.split(separator: "\n").count ?? 0) > 500)
        for (table, text) in tables[0] {
            #expect(tables[1][table] == text, "pipeline \(seed): \(table) differs between the settings")
        }
    }
}
