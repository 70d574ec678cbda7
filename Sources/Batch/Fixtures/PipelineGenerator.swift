import Foundation
import Segments
import Spill

/// Writes a landing zone for any pipeline file, from its columns' types and the file's
/// `generate:` hints (docs/PIPELINES.md, "Generating a landing zone"), the same bytes for
/// the same flags, and `_expected.json`.
///
/// Every fact record `i` is one of (decided by a hash of the seed and `i`):
/// ```
///   fresh      values drawn from each column's hints; the dedup key unique
///   broken     a fresh record with one field changed (empty, out of its range, an
///              unknown reference key, or text that does not parse) so that it fails
///              one chosen expectation; malformed_row records are ragged
///   duplicate  an exact re-send of an earlier fresh record
///   version    an earlier fresh record's key with its dedup `by` columns moved later
///              (or left equal: a tie) and one other column drawn again
/// ```
/// The counts of `_expected.json` are what the file's rules make of the records:
/// each record's text is parsed and routed by the engine's own parsers and
/// expectation kernels as the records are written (a broken record that misses its
/// expectation is changed another way, then left fresh), and silver has one row per
/// dedup key that has a valid record. An independent reading of a file's rules
/// (Tests/Oracle/sensors_oracle.py for pipelines/sensors.yaml) checks the engine.
public struct PipelineGenerator: Sendable {
    public struct Options: Sendable {
        public var records: Int
        public var seed: UInt64 = 42
        public var files = 4
        /// The last `compressedFiles` fact files are written as `.csv.zst`.
        public var compressedFiles = 0
        public var order: Generator.Order = .time
        /// Benign noise: padding, quoting, case, time-zone offsets.
        public var noise = true
        public var threads = 2
        /// Flags that override the file's hints.
        public var days: Int?
        public var startDay: Int32?
        public var duplicates: Double?
        public var versions: Double?
        public var broken: Double?

        public init(records: Int) { self.records = records }
    }

    /// How a column's values are drawn.
    enum Source: Sendable {
        /// The fact feed's unique dedup column: one value per fresh record.
        case unique
        /// A reference feed's key: its row number.
        case key
        /// A key of reference `r` (an index into `references`).
        case keyOf(Int)
        case values([[UInt8]])
        case range(Int64, Int64)
        /// Dates and timestamps that follow the record's place in the span of days.
        case timeline
        case after(column: Int, lo: Int64, hi: Int64)
        case distinct(Int)
        case bool
    }

    struct ColumnPlan: Sendable {
        var name: String
        var type: ValueType
        var textCase: PipelineFile.TextCase
        var source: Source
        var nulls: Double
        var required: Bool
        /// The text before a generated number: `DEV-` of a reference's string key (its
        /// feed's name), `SEQ-` of a unique string, `name_` of a distinct value.
        var prefix: [UInt8] = []
    }

    /// A generated value, before it is text.
    enum Value: Equatable {
        case null
        case units(Int64)
        case key(ref: Int, row: Int)
        case pick(Int)
        case distinct(Int)
        case bool(Bool)
        /// Text that does not parse as the column's type, or a value outside a set.
        case junk
    }

    public let options: Options
    let pipeline: CheckedPipeline
    let facts: [ColumnPlan]
    let references: [(feed: PipelineFile.Feed, rows: Int, plans: [ColumnPlan], keyColumn: Int)]
    /// Per quarantine reason (0: malformed_row), the fact columns its expectation reads.
    let targets: [[Int]]
    /// Cumulative shares of the reasons a broken record is sent to (index = reason).
    let reasonShares: [Double]
    let brokenShare: Double
    let duplicateShare: Double
    let versionShare: Double
    let keyColumns: [Int]
    let byColumns: [Int]
    let startMicros: Int64
    let spanMicros: Int64
    let days: Int
    let scatter: Generator.Scatter

    public init(pipeline: CheckedPipeline, options: Options) throws {
        self.pipeline = pipeline
        self.options = options
        let file = pipeline.file
        let g = file.generation
        days = options.days ?? g.days ?? 90
        let startDay = Int64(options.startDay ?? g.startDay ?? 20_089)
        startMicros = startDay * CivilTime.microsPerDay
        spanMicros = Int64(days) * CivilTime.microsPerDay
        scatter = Generator.Scatter(records: options.records, seed: options.seed, random: options.order == .random)

        // Which columns hold keys of which reference: lookups `on` a bare column, and
        // `column in R`.
        let refIndex = Dictionary(file.references.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        var factDrawn: [String: Int] = [:]
        var refDrawn: [String: [String: Int]] = [:]
        var aliases: [String: String] = [:]
        for l in file.silver.lookups {
            if case let .column(q, name) = l.onExpr.kind, let r = refIndex[l.reference] {
                if let q, let feed = aliases[q] { refDrawn[feed, default: [:]][name] = r } else if q == nil { factDrawn[name] = r }
            }
            aliases[l.alias] = l.reference
        }
        for e in file.silver.expectations {
            Self.walk(e.expr) { n in
                if case let .inReference(x, reference, false) = n.kind, case let .column(nil, name) = x.kind, let r = refIndex[reference] {
                    factDrawn[name] = r
                }
            }
        }
        let dedup = file.silver.dedup
        keyColumns = dedup.map { d in d.key.compactMap { k in file.facts.columns.firstIndex { $0.name == k.name } } } ?? []
        byColumns = dedup.map { d in d.by.compactMap { k in file.facts.columns.firstIndex { $0.name == k.name } } } ?? []
        let uniqueColumn = keyColumns.last { factDrawn[file.facts.columns[$0].name] == nil } ?? keyColumns.last
        let defaultRows = max(10, options.records / 100)
        func plans(_ feed: PipelineFile.Feed, drawn: [String: Int], isReference: Bool) -> [ColumnPlan] {
            feed.columns.enumerated().map { k, c in
                var source: Source
                if isReference && c.name == feed.key {
                    source = .key
                } else if !isReference && k == uniqueColumn {
                    source = .unique
                } else if let h = c.hint, let v = h.values {
                    source = .values(v.map { Array($0.utf8) })
                } else if let h = c.hint, let r = h.range {
                    source = .range(r.lo, r.hi)
                } else if let h = c.hint, let a = h.after, let o = feed.columns.firstIndex(where: { $0.name == a.column }) {
                    source = .after(column: o, lo: a.lo, hi: a.hi)
                } else if let r = drawn[c.name] {
                    source = .keyOf(r)
                } else {
                    let distinct = c.hint?.distinct
                    switch c.type {
                    case .bool: source = .bool
                    case .int32, .int64: source = .range(distinct == nil ? 0 : 1, Int64(distinct ?? 1000))
                    case .float64: source = .range(0, 10_000)
                    case let .decimal(p, s):
                        let scale = Self.pow10(s)
                        source = .range(0, min(Self.pow10(p) - 1, 1000 * scale))
                    case .date, .timestamp: source = .timeline
                    case .string, .null: source = .distinct(distinct ?? 100)
                    }
                }
                var plan = ColumnPlan(name: c.name, type: c.type, textCase: c.textCase, source: source, nulls: c.hint?.nulls ?? 0, required: c.required)
                switch source {
                case .key where c.type == .string:
                    let p = String(feed.name.prefix(3)).uppercased() + "-"
                    plan.prefix = Array((c.textCase == .lower ? p.lowercased() : p).utf8)
                case .unique where c.type == .string: plan.prefix = Array((c.name.prefix(3).uppercased() + "-").utf8)
                case .distinct: plan.prefix = Array((c.name + "_").utf8)
                default: break
                }
                return plan
            }
        }
        facts = plans(file.facts, drawn: factDrawn, isReference: false)
        references = file.references.map { feed in
            (feed, g.rows[feed.name] ?? defaultRows, plans(feed, drawn: refDrawn[feed.name] ?? [:], isReference: true),
             FeedLayout(feed, lineage: false).keyColumn)
        }

        // The fact columns each expectation reads, through silver's columns and lookups.
        let factIndex = Dictionary(file.facts.columns.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        let derived = Dictionary(file.silver.columns.map { ($0.name, $0.expr) }, uniquingKeysWith: { a, _ in a })
        let lookupOn = Dictionary(file.silver.lookups.map { ($0.alias, $0.onExpr) }, uniquingKeysWith: { a, _ in a })
        func columns(_ e: Expr, depth: Int) -> Set<Int> {
            var out = Set<Int>()
            guard depth < 16 else { return out }
            Self.walk(e) { n in
                guard case let .column(q, name) = n.kind else { return }
                if let q, let on = lookupOn[q] {
                    out.formUnion(columns(on, depth: depth + 1))
                } else if q == nil, let k = factIndex[name] {
                    out.insert(k)
                } else if q == nil, let d = derived[name], !(d.kindIsColumn(name)) {
                    out.formUnion(columns(d, depth: depth + 1))
                }
            }
            return out
        }
        targets = [[]] + file.silver.expectations.map { columns($0.expr, depth: 0).sorted() }

        let reasons = pipeline.reasons
        let brokenShare = options.broken ?? g.broken ?? (g.brokenByReason.isEmpty ? 0.03 : g.brokenByReason.values.reduce(0, +))
        let reach = targets
        let weights: [Double] = (0..<reasons.count).map { r in
            if r >= reach.count || (r > 0 && reach[r].isEmpty) { return 0 } // overflow, or nothing to change
            return g.brokenByReason.isEmpty ? 1 : g.brokenByReason[reasons[r]] ?? 0
        }
        let total = weights.reduce(0, +)
        var cumulative: [Double] = []
        var sum = 0.0
        for w in weights {
            sum += total > 0 ? w / total : 0
            cumulative.append(sum)
        }
        reasonShares = cumulative
        self.brokenShare = total > 0 ? brokenShare : 0
        duplicateShare = options.duplicates ?? g.duplicates ?? 0.02
        versionShare = dedup == nil ? 0 : options.versions ?? g.versions ?? 0.05
        guard self.brokenShare + duplicateShare + versionShare <= 1 else {
            throw BatchError(.invalidArgument, path: file.path, "the shares of broken, duplicate and version records add up to more than 1")
        }
    }

    static func pow10(_ n: Int) -> Int64 { (0..<n).reduce(Int64(1)) { p, _ in p * 10 } }

    /// Visits `e` and every expression inside it.
    static func walk(_ e: Expr, _ visit: (Expr) -> Void) {
        visit(e)
        switch e.kind {
        case .column, .literal: break
        case let .unary(_, a), let .isNull(a, _), let .inReference(a, _, _), let .cast(a, _): walk(a, visit)
        case let .binary(_, a, b):
            walk(a, visit)
            walk(b, visit)
        case let .between(a, b, c, _):
            for x in [a, b, c] { walk(x, visit) }
        case let .inList(a, list, _):
            walk(a, visit)
            for x in list { walk(x, visit) }
        case let .call(_, args):
            for x in args { walk(x, visit) }
        case let .aggregate(_, argument, filter):
            if let argument { walk(argument, visit) }
            if let filter { walk(filter, visit) }
        case let .caseWhen(branches, otherwise):
            for b in branches {
                walk(b.condition, visit)
                walk(b.value, visit)
            }
            if let otherwise { walk(otherwise, visit) }
        }
    }

    // MARK: records

    enum Kind: Equatable {
        case fresh
        case broken(reason: Int)
        case duplicate(of: Int)
        case version(of: Int)
    }

    func rng(_ i: Int, _ salt: UInt64) -> SplitMix64 {
        SplitMix64(seed: options.seed &* 0x9E37_79B9_7F4A_7C15 ^ (UInt64(i) &* 0xD1B5_4A32_D192_ED03) ^ salt)
    }

    static func unit(_ r: inout SplitMix64) -> Double { Double(r.next() >> 11) / Double(1 << 53) }

    func baseKind(_ i: Int) -> (Int, Double, UInt64) {
        var r = rng(i, 0x4B49_4E44)
        let u = Self.unit(&r)
        let v = Self.unit(&r)
        let pick = r.next()
        if u < brokenShare { return (1, v, pick) }
        if u < brokenShare + duplicateShare { return (2, v, pick) }
        if u < brokenShare + duplicateShare + versionShare { return (3, v, pick) }
        return (0, v, pick)
    }

    func kind(_ i: Int) -> Kind {
        let (k, v, pick) = baseKind(i)
        switch k {
        case 1: return .broken(reason: reasonShares.firstIndex { v < $0 } ?? max(0, reasonShares.count - 1))
        case 2, 3:
            guard i > 0 else { return .fresh }
            var j = i - 1 - Int(pick % UInt64(min(i, 50_000)))
            while j >= 0 && baseKind(j).0 != 0 { j -= 1 }
            if j < 0 { return .fresh }
            return k == 2 ? .duplicate(of: j) : .version(of: j)
        default: return .fresh
        }
    }

    /// The values of fresh record `i`.
    func fresh(_ i: Int, into values: inout [Value]) {
        var r = rng(i, 0x5641_4C53)
        for (k, plan) in facts.enumerated() {
            if plan.nulls > 0 && Self.unit(&r) < plan.nulls && k != keyColumns.last {
                values[k] = .null
                _ = r.next()
                continue
            }
            values[k] = draw(plan, record: i, row: values, &r)
        }
    }

    func draw(_ plan: ColumnPlan, record i: Int, row: [Value], _ r: inout SplitMix64) -> Value {
        switch plan.source {
        case .unique: return .units(Int64(scatter(i)) + 1)
        case .key: return .units(Int64(i))
        case let .keyOf(ref): return .key(ref: ref, row: 1 + r.next(below: max(1, references[ref].rows)))
        case let .values(v): return .pick(r.next(below: v.count))
        case let .range(lo, hi): return .units(lo + Int64(r.next(below: Int(hi - lo + 1))))
        case .timeline:
            let place = options.records > 0 ? Int64(Double(spanMicros) * Double(scatter(i)) / Double(options.records)) : 0
            if plan.type == .date { return .units(startMicros / CivilTime.microsPerDay + place / CivilTime.microsPerDay) }
            let t = startMicros + place - place % 1_000_000 + Int64(r.next(below: 600)) * 1_000_000
            return .units(min(t, startMicros + spanMicros - 1_000_000))
        case let .after(column, lo, hi):
            let base: Int64
            if case let .units(t) = row[column] { base = t } else { base = startMicros }
            return .units(base + (lo + Int64(r.next(below: Int(hi - lo + 1)))) * 1_000_000)
        case let .distinct(n): return .distinct(r.next(below: n))
        case .bool: return .bool(r.next(below: 2) == 0)
        }
    }

    /// The values of record `i` of kind `kind`; a broken record at `attempt` (the last
    /// attempt leaves it fresh). False for a ragged (malformed) record: broken for
    /// malformed_row, or for an expectation whose columns the file lacks (`present`).
    func record(_ i: Int, _ kind: Kind, attempt: Int, present: [Bool], into values: inout [Value]) -> Bool {
        switch kind {
        case .fresh:
            fresh(i, into: &values)
        case let .duplicate(j):
            fresh(j, into: &values)
        case let .version(j):
            fresh(j, into: &values)
            var r = rng(i, 0x5645_5253)
            let tie = r.next(below: 10) == 0
            for c in byColumns where !tie {
                guard case let .units(v) = values[c] else { continue }
                let step: Int64 = facts[c].type == .timestamp ? Int64(1 + r.next(below: 3600)) * 1_000_000 : Int64(1 + r.next(below: 5))
                values[c] = .units(v + step)
            }
            let others = facts.indices.filter { c in
                switch facts[c].source {
                case .values, .range, .distinct, .bool, .keyOf: !keyColumns.contains(c) && !byColumns.contains(c)
                default: false // times follow each other; keys stay
                }
            }
            if !others.isEmpty {
                let c = others[r.next(below: others.count)]
                values[c] = draw(facts[c], record: i, row: values, &r)
            }
        case let .broken(reason):
            fresh(i, into: &values)
            let columns = targets[reason].filter { present[$0] }
            if reason == 0 || columns.isEmpty { return false } // malformed; or its columns are not in this file
            guard attempt < attempts(reason) - 1 else { return true }
            var r = rng(i, 0x4252_4B4E &+ UInt64(attempt))
            let c = columns[(attempt + r.next(below: columns.count)) % columns.count]
            values[c] = breaking(c, way: (attempt / columns.count + i) % 3, values: values, &r)
        }
        return true
    }

    /// Tries for a broken record: three ways for each column its expectation reads (six
    /// at least), then the record as fresh.
    func attempts(_ reason: Int) -> Int { min(12, max(6, 3 * targets[reason].count)) + 1 }

    /// Column `c`'s value changed one `way`: 0 empty, 1 out of its range (an unknown
    /// key, a time before its `after` column), 2 text that does not parse.
    func breaking(_ c: Int, way: Int, values: [Value], _ r: inout SplitMix64) -> Value {
        switch way {
        case 0: return .null
        case 1:
            switch facts[c].source {
            case let .keyOf(ref): return .key(ref: ref, row: references[ref].rows + 1 + r.next(below: 1000))
            case let .range(lo, hi): return .units(r.next(below: 2) == 0 ? hi + 1 + 10 * (hi - lo) : lo - 1 - 10 * (hi - lo))
            case let .after(o, _, _):
                guard case let .units(t) = values[o] else { return .junk }
                return .units(t - Int64(1 + r.next(below: 3600)) * 1_000_000)
            case .timeline:
                guard case let .units(t) = values[c] else { return .junk }
                return .units(t - (facts[c].type == .date ? 3650 : 3650 * CivilTime.microsPerDay))
            case .unique: return .units(-1)
            default: return .junk
            }
        default: return .junk
        }
    }

    // MARK: text

    func keyText(_ ref: Int, _ row: Int, into f: inout FieldText) {
        let keyPlan = references[ref].plans[references[ref].keyColumn]
        guard keyPlan.type == .string else { return unitsText(Int64(row), plan: keyPlan, into: &f) }
        f.setBytes(keyPlan.prefix)
        f.appendDigits(UInt64(row), width: 5)
    }

    /// Text of a value in the units of `ColumnHint`.
    func unitsText(_ v: Int64, plan: ColumnPlan, into f: inout FieldText) {
        switch plan.type {
        case .date: f.setDate(v)
        case .timestamp: f.setTimestamp(v, style: 0, offsetPick: 0)
        case .float64: f.setScaled(v, scale: 2)
        case let .decimal(_, s): f.setScaled(v, scale: s)
        case .string:
            f.setBytes(plan.prefix)
            f.appendDigits(v.magnitude, width: 9)
        default: f.setInt(Int(v))
        }
    }

    /// Column `k`'s text for `value`; false when the field is empty.
    func text(_ value: Value, plan: ColumnPlan, noise r: inout SplitMix64, into f: inout FieldText) -> Bool {
        f.quoted = false
        f.padded = false
        switch value {
        case .null: return false
        case let .units(v):
            if plan.type == .timestamp && options.noise {
                f.setTimestamp(v, style: r.next(below: 16), offsetPick: r.next(below: 8))
            } else {
                unitsText(v, plan: plan, into: &f)
            }
        case let .key(ref, row): keyText(ref, row, into: &f)
        case let .pick(k):
            if case let .values(v) = plan.source { f.setBytes(v[k]) }
        case let .distinct(k):
            f.setBytes(plan.prefix)
            f.appendDigits(UInt64(k), width: 1)
        case let .bool(b): f.set(b ? "true" : "false")
        case .junk: f.set(plan.type == .string ? "zz_unlisted" : "#N/A")
        }
        guard options.noise else { return true }
        if plan.textCase != .asIs, r.next(below: 5) == 0 { f.flipCase(style: 10 + r.next(below: 5)) }
        f.padded = r.next(below: 50) == 0
        f.quoted = r.next(below: 50) == 0
        return true
    }
}

extension Expr {
    /// True for a bare reference to column `name` (a silver column that keeps a feed's).
    func kindIsColumn(_ name: String) -> Bool {
        if case let .column(nil, n) = kind { return n == name }
        return false
    }
}

extension FieldText {
    /// `units` / 10^scale as text: `-12.34`.
    mutating func setScaled(_ units: Int64, scale: Int) {
        bytes.removeAll(keepingCapacity: true)
        if units < 0 { bytes.append(UInt8(ascii: "-")) }
        let m = units.magnitude
        let p = UInt64(PipelineGenerator.pow10(scale))
        appendDigits(m / p, width: 1)
        if scale > 0 {
            bytes.append(UInt8(ascii: "."))
            appendDigits(m % p, width: scale)
        }
    }
}
