import Foundation
import Segments
import Spill

extension PipelineGenerator {
    /// A landing zone for `pipeline` with default rates and noise: the transactions
    /// generator for the built-in pipeline's text, this one for any other file.
    public static func zone(for pipeline: CheckedPipeline, records: Int, seed: UInt64, files: Int, order: Generator.Order,
                            threads: Int, to raw: String) throws -> Generator.Result {
        if pipeline.file.text == BuiltinPipelines.defaultText {
            var g = Generator.Options(records: records)
            g.seed = seed
            g.files = files
            g.threads = threads
            g.order = order
            return try Generator(options: g).write(to: raw)
        }
        var o = Options(records: records)
        o.seed = seed
        o.files = files
        o.threads = threads
        o.order = order
        return try PipelineGenerator(pipeline: pipeline, options: o).write(to: raw)
    }

    /// What one worker counted of the records it wrote.
    struct Tally {
        var quarantined: [Int]
        var valid = 0
        /// Bit g: dedup key group g (a fresh record's index) has a valid record.
        var groups: [UInt64]
        /// Per reason: records meant valid that it quarantined, and broken records that
        /// could not be made to fail it.
        var meantValid: [Int]
        var unbroken: [Int]

        init(reasons: Int, records: Int) {
            quarantined = Array(repeating: 0, count: reasons)
            groups = Array(repeating: 0, count: (records + 63) / 64)
            meantValid = Array(repeating: 0, count: reasons)
            unbroken = Array(repeating: 0, count: reasons)
        }

        mutating func add(_ o: Tally) {
            valid += o.valid
            for k in quarantined.indices {
                quarantined[k] += o.quarantined[k]
                meantValid[k] += o.meantValid[k]
                unbroken[k] += o.unbroken[k]
            }
            for w in groups.indices { groups[w] |= o.groups[w] }
        }
    }

    /// The fact files' paths under RAW: `part-NNNNN` where the glob's last name has its
    /// `*`, in the folders its fixed part names.
    func factFileNames() throws -> [String] {
        let glob = pipeline.file.facts.files
        let prefix = RawFiles.fixedPrefix(glob)
        let segments = glob.split(separator: "/").map(String.init)
        let rest = Array(segments.dropFirst(prefix.isEmpty ? 0 : prefix.split(separator: "/").count))
        return try (0..<options.files).map { f in
            let digits = String(f)
            let part = "part-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits
            var path = rest.dropLast().filter { $0 != "**" }.map { $0.replacingOccurrences(of: "*", with: "x").replacingOccurrences(of: "?", with: "x") }
            let last = rest.last ?? "*.csv"
            let star = last.range(of: "*")
            var name = star.map { last.replacingCharacters(in: $0, with: part) } ?? last
            name = name.replacingOccurrences(of: "*", with: "").replacingOccurrences(of: "?", with: "x")
            path.append(name)
            guard Glob.matches(path, rest), star != nil || options.files == 1 else {
                throw BatchError(.invalidArgument, path: pipeline.file.path, "generate cannot name \(options.files) files that the facts glob '\(glob)' matches; put a * in its file name, as in readings/*.csv")
            }
            let rel = (prefix.isEmpty ? [] : [prefix]) + path
            let joined = rel.joined(separator: "/")
            return f >= options.files - options.compressedFiles ? joined + ".zst" : joined
        }
    }

    public func write(to raw: String) throws -> Generator.Result {
        let budget = MemoryBudget(limitBytes: 1 << 40)
        var tables: [String: LookupTable] = [:]
        var written: [String] = []
        var bytes = 0
        for (r, ref) in references.enumerated() {
            let path = raw + "/" + ref.feed.files
            for other in [pipeline.file.facts.files] where Glob.matches(ref.feed.files.split(separator: "/").map(String.init), other.split(separator: "/").map(String.init)) {
                throw BatchError(.invalidArgument, path: pipeline.file.path, "the reference file \(ref.feed.files) would match the facts glob '\(other)'; put the facts in a folder of their own")
            }
            let out = try GeneratedFile(path: path, compressed: RawSource.isCompressedName(path))
            let layout = FeedLayout(ref.feed, lineage: false)
            let vectors = layout.schema.fields.map { ColumnVector(type: $0.type, capacity: max(1, ref.rows), heapBytes: $0.type == .string ? ref.rows * 16 : 0) }
            out.text(ref.feed.columns.map(\.name).joined(separator: ","))
            out.byte(0x0A)
            var values = [Value](repeating: .null, count: ref.plans.count)
            var field = FieldText()
            for row in 1...max(1, ref.rows) where ref.rows > 0 {
                var rng = self.rng(row, 0x5245_4600 &+ UInt64(r))
                for (k, plan) in ref.plans.enumerated() {
                    if case .key = plan.source {
                        values[k] = .key(ref: r, row: row)
                    } else if plan.nulls > 0 && Self.unit(&rng) < plan.nulls {
                        values[k] = .null
                    } else {
                        values[k] = draw(plan, record: row, row: values, &rng)
                    }
                    if k > 0 { out.byte(0x2C) }
                    if text(values[k], plan: plan, noise: &rng, into: &field) {
                        out.field(field)
                        let ok = field.bytes.withUnsafeBytes { layout.append($0, column: k, to: vectors[k]) }
                        if !ok { vectors[k].appendNull() }
                    } else {
                        vectors[k].appendNull()
                    }
                }
                out.byte(0x0A)
                try out.flushIfNeeded()
            }
            bytes += try out.finish()
            written.append(ref.feed.files)
            tables[ref.feed.name] = try LookupTable(name: ref.feed.name, columns: vectors, keyColumn: layout.keyColumn, budget: budget)
        }

        let names = try factFileNames()
        let reasons = pipeline.reasons
        let tallies = SharedSlots<Tally>(count: max(1, options.threads))
        let sizes = SharedSlots<Int>(count: names.count)
        let references = Handed(tables) // read only: lookups of the routers
        try Parallel.run(workers: max(1, options.threads)) { worker, next in
            var tally = Tally(reasons: reasons.count, records: options.records)
            let router = try ExpectationRouter(pipeline: pipeline, references: references.value, capacity: Self.chunk)
            while let f = next(names.count) {
                sizes.set(f, try writeFacts(file: f, path: raw + "/" + names[f], router: router, tally: &tally))
            }
            tallies.set(worker, tally)
        }
        var total = Tally(reasons: reasons.count, records: options.records)
        for w in 0..<max(1, options.threads) { if let t = tallies.get(w) { total.add(t) } }
        var expected = Generator.Expected()
        expected.reasons = reasons
        expected.bronze = options.records
        for (k, name) in reasons.enumerated() { expected.quarantined[name] = total.quarantined[k] }
        expected.silver = pipeline.file.silver.dedup == nil ? total.valid : total.groups.reduce(0) { $0 + $1.nonzeroBitCount }
        expected.duplicatesRemoved = total.valid - expected.silver
        try SystemIO.writeFileAtomically(raw + "/_expected.json", Array((expected.json.rendered() + "\n").utf8))
        var notes: [String] = []
        for (k, name) in reasons.enumerated() {
            if total.meantValid[k] > 0 {
                notes.append("\(total.meantValid[k]) record(s) drawn from the hints fail \(name); give its columns generate: hints (range, values, after) that pass it")
            }
            if total.unbroken[k] > 0 {
                notes.append("\(total.unbroken[k]) record(s) meant to fail \(name) could not be made to (no change to one of its columns failed it first); they were written valid")
            }
        }
        return Generator.Result(expected: expected, files: written + names,
                                bytes: bytes + (0..<names.count).reduce(0) { $0 + (sizes.get($1) ?? 0) }, notes: notes)
    }

    static let chunk = 4096

    /// Writes fact file `f`: its records in chunks, each chunk routed until every
    /// broken record fails its reason or has used its attempts.
    func writeFacts(file f: Int, path: String, router: ExpectationRouter, tally: inout Tally) throws -> Int {
        let out = try GeneratedFile(path: path, compressed: path.hasSuffix(".zst"))
        // With several files, the first lacks the columns that are not required.
        let present = facts.map { $0.required || f > 0 || options.files == 1 }
        out.text(pipeline.file.facts.columns.indices.filter { present[$0] }.map { pipeline.file.facts.columns[$0].name }.joined(separator: ","))
        out.byte(0x0A)
        let layout = FeedLayout(pipeline.file.facts, lineage: true)
        let batch = layout.schema.fields.map { ColumnVector(type: $0.type, capacity: Self.chunk, heapBytes: $0.type == .string ? Self.chunk * 16 : 0) }
        let routed = UnsafeMutablePointer<UInt8>.allocate(capacity: Self.chunk)
        defer { routed.deallocate() }
        var lines = [[UInt8]](repeating: [], count: Self.chunk)
        var kinds = [Kind](repeating: .fresh, count: Self.chunk)
        var tries = [Int](repeating: 0, count: Self.chunk)
        var outcome = [UInt8](repeating: 0, count: Self.chunk)
        var values = [Value](repeating: .null, count: facts.count)
        var field = FieldText()
        let presentCount = present.filter { $0 }.count
        let first = f * options.records / options.files
        let last = (f + 1) * options.records / options.files
        let rescued = layout.columnCount + FeedLayout.lineageFields.count - 1
        for start in stride(from: first, to: last, by: Self.chunk) {
            let n = min(Self.chunk, last - start)
            for r in 0..<n {
                kinds[r] = kind(start + r)
                tries[r] = 0
            }
            var pending = Array(0..<n)
            while !pending.isEmpty {
                for c in batch { c.reset() }
                for r in pending {
                    let i = start + r
                    let whole = record(i, kinds[r], attempt: tries[r], present: present, into: &values)
                    var noise: SplitMix64
                    if case let .duplicate(j) = kinds[r] { noise = rng(j, 0x4E4F_4953) } else { noise = rng(i, 0x4E4F_4953) }
                    lines[r].removeAll(keepingCapacity: true)
                    var failed = false
                    var fields = 0
                    for k in facts.indices where present[k] {
                        let shown = text(values[k], plan: facts[k], noise: &noise, into: &field)
                        let last = fields == presentCount - 1
                        fields += 1
                        if !whole && last { break }
                        if fields > 1 { lines[r].append(0x2C) }
                        if shown { field.forEachCSVByte { lines[r].append($0) } }
                        guard whole else { continue }
                        if shown {
                            let ok = field.bytes.withUnsafeBytes { layout.append($0, column: k, to: batch[k]) }
                            if !ok {
                                batch[k].appendNull()
                                failed = true
                            }
                        } else {
                            batch[k].appendNull()
                        }
                    }
                    if !whole {
                        if fields == 1 { lines[r].append(contentsOf: Array(",surplus".utf8)) }
                        for k in 0..<layout.columnCount { batch[k].appendNull() }
                    } else {
                        for k in facts.indices where !present[k] { batch[k].appendNull() }
                    }
                    lines[r].append(0x0A)
                    batch[rescued - 4].appendString("generated")
                    batch[rescued - 3].appendInt64(Int64(i))
                    batch[rescued - 2].appendInt64(0)
                    batch[rescued - 1].appendInt64(0)
                    if failed || !whole { batch[rescued].appendString("{}") } else { batch[rescued].appendNull() }
                }
                do {
                    try router.route(batch, rows: pending.count, into: routed)
                } catch let e as EvaluationError {
                    throw BatchError(.invalidArgument, path: pipeline.file.path, "generated record \(start + pending[e.row]): \(e.message)")
                }
                var again: [Int] = []
                for (b, r) in pending.enumerated() {
                    if case let .broken(reason) = kinds[r], reason > 0, routed[b] != reason, routed[b] != 0, tries[r] < attempts(reason) - 1 {
                        tries[r] += 1
                        again.append(r)
                    } else {
                        outcome[r] = routed[b]
                    }
                }
                pending = again
            }
            for r in 0..<n {
                let i = start + r
                out.raw(lines[r])
                let reason = outcome[r]
                if reason == ExpectationRouter.valid {
                    tally.valid += 1
                    var group = i
                    switch kinds[r] {
                    case let .duplicate(j), let .version(j): group = j
                    default: break
                    }
                    tally.groups[group / 64] |= 1 << UInt64(group % 64)
                } else {
                    tally.quarantined[Int(reason)] += 1
                }
                switch kinds[r] {
                case let .broken(k): if Int(reason) != k && reason != 0 { tally.unbroken[k] += 1 }
                default: if reason != ExpectationRouter.valid { tally.meantValid[Int(reason)] += 1 }
                }
            }
            try out.flushIfNeeded()
        }
        return try out.finish()
    }
}
