import Foundation
import Segments
import Spill
import Testing
@testable import Batch

/// BATCHRUN_FORCE_SPILL=1 shrinks the roomy budgets so every operator spills.
enum ForceSpill {
    static var isOn: Bool { ProcessInfo.processInfo.environment["BATCHRUN_FORCE_SPILL"] == "1" }
    static func roomy(_ bytes: Int) -> Int { isOn ? 256 << 10 : bytes }
}

/// One row of the operator tests, as plain values.
struct TestRow: Hashable {
    var id: String
    var k: Int64?
    var ts: Int64
    var price: Int64?
    var note: String?
}

enum OperatorFixture {
    static let schema = Schema([
        Field("id", .string), Field("k", .int64), Field("ts", .timestamp), Field("price", .decimal(scale: 2)), Field("note", .string),
    ])

    static func rows(_ count: Int, shape: String, seed: UInt64) -> [TestRow] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { i in
            let id: String
            switch shape {
            case "allEqual": id = "SAME-KEY-0000000"
            case "skewed": id = rng.next(below: 10) < 8 ? "HOT-\(rng.next(below: 5))" : String(format: "T%015d", rng.next(below: 1_000_000))
            case "long": id = String(repeating: "L", count: 200 + rng.next(below: 800)) + String(rng.next(below: 300))
            default: id = String(format: "T%015d", rng.next(below: count / 2 + 1))
            }
            return TestRow(id: id, k: rng.next(below: 20) == 0 ? nil : Int64(rng.next(below: 1000)) - 500,
                           ts: 1_735_689_600_000_000 + Int64(rng.next(below: 1_000_000)) * 1_000_000,
                           price: rng.next(below: 10) == 0 ? nil : Int64(rng.next(below: 100_000)),
                           note: rng.next(below: 4) == 0 ? nil : "n\(i)")
        }
    }

    static func push(_ rows: [TestRow], batchRows: Int, _ body: ([ColumnVector], Range<Int>) throws -> Void) rethrows {
        let cols = schema.fields.map { ColumnVector(type: $0.type, capacity: batchRows) }
        var i = 0
        while i < rows.count {
            for c in cols { c.reset() }
            let end = min(rows.count, i + batchRows)
            for r in rows[i..<end] {
                cols[0].appendString(r.id)
                if let k = r.k { cols[1].appendInt64(k) } else { cols[1].appendNull() }
                cols[2].appendInt64(r.ts)
                if let p = r.price { cols[3].appendInt64(p) } else { cols[3].appendNull() }
                if let n = r.note { cols[4].appendString(n) } else { cols[4].appendNull() }
            }
            try body(cols, 0..<(end - i))
            i = end
        }
    }

    static func read(_ cols: [ColumnVector], _ n: Int) -> [TestRow] {
        (0..<n).map { r in
            TestRow(id: cols[0].string(r), k: cols[1].isNull(r) ? nil : cols[1].int64(r), ts: cols[2].int64(r),
                    price: cols[3].isNull(r) ? nil : cols[3].int64(r), note: cols[4].isNull(r) ? nil : cols[4].string(r))
        }
    }

    static let shapes: [(String, Int)] = [("uniform", 40_000), ("skewed", 12_000), ("allEqual", 3_000), ("long", 500), ("uniform", 0)]
}

@Suite struct OperatorTests {
    struct Setting: CustomTestStringConvertible, Sendable {
        var budget: Int
        var expect: String
        var testDescription: String { "\(expect), budget \(budget)" }
    }

    static let settings = [
        Setting(budget: ForceSpill.roomy(64 << 20), expect: "no spill"),
        Setting(budget: 1 << 20, expect: "spill"),
        Setting(budget: 200 << 10, expect: "many"),
    ]

    func spillDir() throws -> SpillManager {
        try SpillManager(parent: NSTemporaryDirectory() + "batchrun-operator-tests-\(UUID().uuidString.prefix(8))")
    }

    /// Sorted by (k descending, nulls last; id ascending), stably: the oracle is Swift's
    /// sort on (key, arrival). Also in range mode, split at k = 300, 0 and -200 (nulls,
    /// last in this order, fall in the last range).
    @Test(arguments: settings, [false, true])
    func sortMatchesAnInMemorySort(_ setting: Setting, ranges: Bool) throws {
        for (shape, count) in OperatorFixture.shapes {
            let seed = UInt64.random(in: 0...UInt64.max)
            let rows = OperatorFixture.rows(count, shape: shape, seed: seed)
            let spill = try spillDir()
            defer { spill.close() }
            let budget = MemoryBudget(limitBytes: setting.budget)
            var out: [TestRow] = []
            var stats = OperatorStats()
            do {
                let pool = try BatchPool(name: "sort output", schema: OperatorFixture.schema, batchRows: 1000, count: 2, budget: budget)
                defer { pool.close() }
                let keys = [SortKey(1, descending: true), SortKey(0)]
                let splitters = ranges ? SortOperator.splitKeys(keys, schema: OperatorFixture.schema, [300, 0, -200]) : []
                let sort = try SortOperator(schema: OperatorFixture.schema, keys: keys,
                                            budget: budget, spill: spill, blockBytes: 8192, fanInMax: 4, splitters: splitters)
                try OperatorFixture.push(rows, batchRows: 777) { try sort.push($0, rows: $1) }
                try sort.finish()
                while true {
                    guard let batch = pool.take() else { Issue.record("pool ran dry"); break }
                    let n = try sort.pull(into: batch.columns)
                    out += OperatorFixture.read(batch.columns, n)
                    pool.give(batch)
                    if n == 0 { break }
                }
                stats = sort.stats
            }
            let oracle = rows.enumerated().sorted { a, b in
                let ka = a.element.k, kb = b.element.k
                if ka != kb {
                    guard let ka else { return false }
                    guard let kb else { return true }
                    return ka > kb
                }
                if a.element.id != b.element.id { return Array(a.element.id.utf8).lexicographicallyPrecedes(Array(b.element.id.utf8)) }
                return a.offset < b.offset
            }.map(\.element)
            let context = "seed \(seed), \(shape), \(count) rows, \(setting.testDescription), ranges \(ranges): \(stats)"
            #expect(out == oracle, "\(context)")
            if !ranges {
                expectSpills(stats, setting, large: count >= 12_000, context)
            } else if count >= 12_000 {
                #expect(stats.buckets >= 2 && stats.spillBytesWritten > 0, "\(context)")
                if setting.expect == "many" { #expect(stats.spills >= 1, "\(context): a range bigger than the budget sorts by runs") }
            }
            #expect(budget.usedBytes == 0 && budget.liveReservations == 0, "\(context)")
            #expect(spill.filesPresent().isEmpty, "\(context)")
        }
    }

    /// A sort with a tag column gives, after `keep(tagsIn:)`, the sorted rows whose tag
    /// the bitmap holds and no other, whole: in memory, spilled, and in range mode, its
    /// ranges taken one by one ("taken") or read in turn by `pull` ("pulled").
    @Test(arguments: settings, ["none", "taken", "pulled"])
    func sortKeepsTheTaggedRows(_ setting: Setting, ranges: String) throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        let count = 20_000
        let rows: [(k: Int64?, s: String)] = (0..<count).map { _ in
            (rng.next(below: 20) == 0 ? nil : Int64(rng.next(below: 500)) - 250, String(repeating: "x", count: rng.next(below: 30)) + String(rng.next(below: 1000)))
        }
        let schema = Schema([Field("k", .int64), Field("row", .int64, nullable: false), Field("s", .string)])
        let spill = try spillDir()
        defer { spill.close() }
        let budget = MemoryBudget(limitBytes: setting.budget)
        var got: [String] = []
        do {
            let kept = try RowBitmap(rows: count, budget: budget)
            defer { kept.release() }
            for r in 0..<count where r % 3 != 0 && rng.next(below: 4) != 0 { kept.set(r) }
            let keys = [SortKey(0)]
            let sort = try SortOperator(schema: schema, keys: keys, budget: budget, spill: spill, blockBytes: 8192, fanInMax: 4,
                                        splitters: ranges == "none" ? [] : SortOperator.splitKeys(keys, schema: schema, [-100, 0, 100]), tag: 1)
            let columns = schema.fields.map { ColumnVector(type: $0.type, capacity: 1000) }
            for first in stride(from: 0, to: count, by: 1000) {
                for c in columns { c.reset() }
                for r in first..<min(first + 1000, count) {
                    if let k = rows[r].k { columns[0].appendInt64(k) } else { columns[0].appendNull() }
                    columns[1].appendInt64(Int64(r))
                    columns[2].appendString(rows[r].s)
                }
                try sort.push(columns, rows: 0..<columns[0].count)
            }
            try sort.finish()
            sort.keep(tagsIn: kept)
            func read(_ n: Int) {
                for r in 0..<n { got.append("\(columns[0].isNull(r) ? "null" : String(columns[0].int64(r))) \(columns[1].int64(r)) \(columns[2].string(r))") }
            }
            if ranges == "taken" {
                let all = sort.ranges()
                for i in 0..<all.count {
                    guard let range = try all.take(i, memoryMaxBytes: setting.budget / 2) else { continue }
                    while case let n = try range.pull(into: columns), n > 0 { read(n) }
                }
            } else {
                while case let n = try sort.pull(into: columns), n > 0 { read(n) }
            }
            // The expected rows, by the same bitmap: ascending, nulls first, stable.
            let expected = rows.indices.filter { kept.contains($0) }.sorted { a, b in
                let ka = rows[a].k, kb = rows[b].k
                if ka != kb {
                    guard let ka else { return true }
                    guard let kb else { return false }
                    return ka < kb
                }
                return a < b
            }.map { r in "\(rows[r].k.map(String.init) ?? "null") \(r) \(rows[r].s)" }
            let differs = got.indices.first { $0 >= expected.count || got[$0] != expected[$0] }
            #expect(got.count == expected.count && differs == nil,
                    "seed \(seed), \(setting.testDescription), ranges \(ranges): \(got.count) rows, \(expected.count) expected; first difference at \(differs.map { "\($0): \(got[$0])" } ?? "-")")
            #expect(got.count > count / 3 && got.count < count * 2 / 3)
        }
        #expect(budget.usedBytes == 0 && budget.liveReservations == 0)
    }

    /// `pull(orderColumn:)` gives the kept rows' values of one ordering column: per id,
    /// the row number of its greatest (ts, row), as an in-memory dedup says.
    @Test(arguments: settings)
    func dedupPullsOneOrderingColumn(_ setting: Setting) throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        let count = 20_000
        let rows: [(id: String, ts: Int64?)] = (0..<count).map { _ in ("K\(rng.next(below: 5000))", rng.next(below: 10) == 0 ? nil : Int64(rng.next(below: 50))) }
        let schema = Schema([Field("id", .string), Field("ts", .timestamp), Field("row", .int64, nullable: false)])
        let spill = try spillDir()
        defer { spill.close() }
        let budget = MemoryBudget(limitBytes: setting.budget)
        var got: [Int64] = []
        do {
            let dedup = try DedupOperator(schema: schema, keyColumns: [0], order: [SortKey(1), SortKey(2)], budget: budget, spill: spill, blockBytes: 1024)
            let columns = schema.fields.map { ColumnVector(type: $0.type, capacity: 1000) }
            for first in stride(from: 0, to: count, by: 1000) {
                for c in columns { c.reset() }
                for r in first..<(first + 1000) {
                    columns[0].appendString(rows[r].id)
                    if let ts = rows[r].ts { columns[1].appendInt64(ts) } else { columns[1].appendNull() }
                    columns[2].appendInt64(Int64(r))
                }
                try dedup.push(columns, rows: 0..<1000)
            }
            try dedup.finish()
            let out = ColumnVector(type: .int64, capacity: 700)
            while case let n = try dedup.pull(orderColumn: 2, into: out), n > 0 { got += (0..<n).map { out.int64($0) } }
        }
        // Nulls order first: the greatest is the latest non-null ts, then the last row.
        var best: [String: Int] = [:]
        for (r, row) in rows.enumerated() {
            guard let b = best[row.id] else { best[row.id] = r; continue }
            if (row.ts ?? Int64.min) >= (rows[b].ts ?? Int64.min) { best[row.id] = r }
        }
        #expect(got.sorted() == best.values.map(Int64.init).sorted(), "seed \(seed), \(setting.testDescription)")
        #expect(budget.usedBytes == 0 && budget.liveReservations == 0)
    }

    func expectSpills(_ stats: OperatorStats, _ setting: Setting, large: Bool, _ context: String) {
        guard large else { return }
        switch setting.expect {
        case "no spill": if !ForceSpill.isOn { #expect(stats.spills == 0, "\(context)") }
        case "spill": #expect(stats.spills >= 1, "\(context)")
        default: #expect(stats.spills >= 1 && stats.spillDepth >= 2, "\(context)")
        }
    }

    /// Per id, the row with the greatest (ts, k); ties: the first pushed.
    @Test(arguments: settings)
    func dedupMatchesAnInMemoryDedup(_ setting: Setting) throws {
        for (shape, count) in OperatorFixture.shapes {
            let seed = UInt64.random(in: 0...UInt64.max)
            let rows = OperatorFixture.rows(count, shape: shape, seed: seed)
            let spill = try spillDir()
            defer { spill.close() }
            // Hash partitions come 64 to a split: "many" needs a smaller budget to split twice.
            let budget = MemoryBudget(limitBytes: setting.expect == "many" ? 90 << 10 : setting.budget)
            var out: [TestRow] = []
            var stats = OperatorStats()
            do {
                let dedup = try DedupOperator(schema: OperatorFixture.schema, keyColumns: [0], order: [SortKey(2), SortKey(1)],
                                              budget: budget, spill: spill, blockBytes: 1024)
                try OperatorFixture.push(rows, batchRows: 500) { try dedup.push($0, rows: $1) }
                try dedup.finish()
                let cols = OperatorFixture.schema.fields.map { ColumnVector(type: $0.type, capacity: 640) }
                while true {
                    let n = try dedup.pull(into: cols)
                    if n == 0 { break }
                    out += OperatorFixture.read(cols, n)
                }
                stats = dedup.stats
            }
            var best: [String: TestRow] = [:]
            func greater(_ a: TestRow, _ b: TestRow) -> Bool {
                if a.ts != b.ts { return a.ts > b.ts }
                switch (a.k, b.k) {
                case (nil, _): return false
                case (_, nil): return true
                case let (x?, y?): return x > y
                }
            }
            for r in rows where best[r.id] == nil || greater(r, best[r.id]!) { best[r.id] = r }
            let context = "seed \(seed), \(shape), \(count) rows, \(setting.testDescription): \(stats)"
            #expect(out.count == best.count, "\(context)")
            #expect(Set(out) == Set(best.values), "\(context)")
            expectSpills(stats, setting, large: count >= 12_000 && shape == "uniform", context)
            #expect(budget.usedBytes == 0 && budget.liveReservations == 0, "\(context)")
            #expect(spill.filesPresent().isEmpty, "\(context)")
        }
    }

    /// count(*), sum(price), min(ts), max(k) per id.
    @Test(arguments: settings)
    func aggregationMatchesAnInMemoryGroupBy(_ setting: Setting) throws {
        for (shape, count) in OperatorFixture.shapes {
            let seed = UInt64.random(in: 0...UInt64.max)
            let rows = OperatorFixture.rows(count, shape: shape, seed: seed)
            let spill = try spillDir()
            defer { spill.close() }
            let budget = MemoryBudget(limitBytes: setting.expect == "many" ? 85 << 10 : setting.budget)
            struct Agg: Equatable { var n: Int64; var sum: Int64; var minTS: Int64?; var maxK: Int64? }
            var got: [String: Agg] = [:]
            var stats = OperatorStats()
            do {
                let agg = try AggregateOperator(schema: OperatorFixture.schema, groupColumns: [0],
                                                aggregates: [Aggregate(.count, nil, as: "n"), Aggregate(.sum, 3, as: "revenue"),
                                                             Aggregate(.min, 2, as: "first"), Aggregate(.max, 1, as: "top")],
                                                budget: budget, spill: spill, blockBytes: 1024)
                #expect(agg.outputSchema.fields.map(\.name) == ["id", "n", "revenue", "first", "top"])
                #expect(agg.outputSchema.fields.map(\.nullable) == [true, false, false, true, true])
                try OperatorFixture.push(rows, batchRows: 1000) { try agg.push($0, rows: $1) }
                try agg.finish()
                let cols = agg.outputSchema.fields.map { ColumnVector(type: $0.type, capacity: 300) }
                while true {
                    let n = try agg.pull(into: cols)
                    if n == 0 { break }
                    for r in 0..<n {
                        #expect(got[cols[0].string(r)] == nil, "a group twice, seed \(seed)")
                        got[cols[0].string(r)] = Agg(n: cols[1].int64(r), sum: cols[2].int64(r),
                                                     minTS: cols[3].isNull(r) ? nil : cols[3].int64(r), maxK: cols[4].isNull(r) ? nil : cols[4].int64(r))
                    }
                }
                stats = agg.stats
            }
            var oracle: [String: Agg] = [:]
            for r in rows {
                var a = oracle[r.id] ?? Agg(n: 0, sum: 0, minTS: nil, maxK: nil)
                a.n += 1
                a.sum += r.price ?? 0
                a.minTS = min(a.minTS ?? r.ts, r.ts)
                if let k = r.k { a.maxK = max(a.maxK ?? k, k) }
                oracle[r.id] = a
            }
            let context = "seed \(seed), \(shape), \(count) rows, \(setting.testDescription): \(stats)"
            #expect(got == oracle, "\(context)")
            expectSpills(stats, setting, large: count >= 12_000 && shape == "uniform", context)
            #expect(budget.usedBytes == 0 && budget.liveReservations == 0, "\(context)")
            #expect(spill.filesPresent().isEmpty, "\(context)")
        }
    }

    @Test func keyEncodingOrdersLikeTheValues() {
        let schema = Schema([Field("s", .string), Field("i", .int64), Field("f", .float64)])
        let s = ColumnVector(type: .string, capacity: 8), i = ColumnVector(type: .int64, capacity: 8), f = ColumnVector(type: .float64, capacity: 8)
        let strings = ["", "a", "a\u{0}", "a\u{0}b", "ab", "b", "é"]
        for x in strings { s.appendString(x) }
        s.appendNull()
        for x: Int64 in [Int64.min, -2, -1, 0, 1, 2, Int64.max] { i.appendInt64(x) }
        i.appendNull()
        for x in [-Double.infinity, -2.5, -0.0, 0.5, 1, 3e10, Double.infinity] { f.appendDouble(x) }
        f.appendNull()
        for (column, descending) in [(0, false), (1, false), (2, false), (0, true), (1, true)] {
            let enc = KeyEncoder(keys: [SortKey(column, descending: descending)], schema: schema)
            let keys: [[UInt8]] = (0..<8).map { r in
                let b = ByteBuffer()
                enc.encode([s, i, f], row: r, into: b)
                return b.bytes
            }
            // Rows 0..<7 are given in ascending order; row 7 is null (first ascending).
            var expected = [7] + Array(0..<7)
            if descending { expected.reverse() }
            let order = (0..<8).sorted { keys[$0].lexicographicallyPrecedes(keys[$1]) }
            #expect(order == expected, "column \(column) descending \(descending)")
        }
    }

    /// The bulk encoder writes the bytes of RowCodec and KeyEncoder, row by row: every
    /// type, nulls (none, some, all), strings with zero bytes and empty ones, descending
    /// keys, length prefixes, header and trailer gaps, a chunk not starting at row 0, and
    /// chunks of the rows a selection lists (out of order, repeated, more than a chunk).
    @Test(arguments: [UInt64(1), 2, 3])
    func batchEncoderWritesTheRowEncodersBytes(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let types: [ColumnType] = [.bool, .int32, .date, .int64, .decimal(scale: 2), .timestamp, .float64, .string, .string]
        let schema = Schema(types.enumerated().map { Field("c\($0.offset)", $0.element) })
        let rows = 1500
        let columns = types.map { ColumnVector(type: $0, capacity: rows) }
        for (k, c) in columns.enumerated() {
            // Column 1 has no nulls, column 8 only nulls, the others some.
            for _ in 0..<rows {
                if k == 8 || (k != 1 && rng.next(below: 5) == 0) { c.appendNull(); continue }
                switch c.type {
                case .bool: c.appendBool(rng.next(below: 2) == 1)
                case .int32, .date: c.appendInt32(Int32(rng.next(below: 2000)) - 1000)
                case .float64: c.appendDouble(Double(rng.next(below: 2000)) / 7 - 100)
                case .string:
                    let bytes = (0..<rng.next(below: 12)).map { _ in UInt8(rng.next(below: 4) == 0 ? 0 : 97 + rng.next(below: 3)) }
                    bytes.withUnsafeBytes { c.appendString($0) }
                default: c.appendInt64(Int64(rng.next(below: 1 << 40)) - (1 << 39))
                }
            }
        }
        let all = Array(types.indices)
        let keys = [SortKey(7), SortKey(3, descending: true), SortKey(6), SortKey(0, descending: true), SortKey(2), SortKey(8, descending: true)]
        let selection = [7, 1, 4]
        let encoder = RecordBatchEncoder(schema: schema, headerBytes: 16,
                                         sections: [.init(.row(selection)), .init(.key(keys), lengthPrefixed: true), .init(.row(all))], trailerBytes: 24)
        let rowCodec = RowCodec(types: types), selectionCodec = RowCodec(types: selection.map { types[$0] })
        let keyEncoder = KeyEncoder(keys: keys, schema: schema)
        func check(_ chunk: [Int]) {
            #expect(encoder.count == chunk.count)
            for (i, r) in chunk.enumerated() {
                #expect(encoder.row(i) == r)
                let a = ByteBuffer(), b = ByteBuffer(), c = ByteBuffer()
                selectionCodec.encode(columns, row: r, selection: selection, into: a)
                keyEncoder.encode(columns, row: r, into: b)
                rowCodec.encode(columns, row: r, into: c)
                var expected = [UInt8](repeating: 0, count: 16) + a.bytes
                expected += withUnsafeBytes(of: UInt32(b.count).littleEndian, Array.init) + b.bytes + c.bytes
                #expect(encoder.recordBytes(i) == expected.count + 24, "seed \(seed), row \(r)")
                #expect(encoder.sectionBytes(0, i) == a.count && encoder.sectionBytes(1, i) == b.count && encoder.sectionBytes(2, i) == c.count)
                let got = Array(UnsafeRawBufferPointer(start: encoder.record(i) + 16, count: expected.count - 16))
                #expect(got == Array(expected[16...]), "seed \(seed), row \(r)")
            }
        }
        for chunk in [0..<1024, 1024..<rows, 700..<701] {
            encoder.encode(columns, rows: chunk)
            check(Array(chunk))
        }
        let picked: [Int32] = (0..<1300).map { _ in Int32(rng.next(below: rows)) } + [3, 4, 5, 5, 1499, 0]
        var from = 0
        picked.withUnsafeBufferPointer { selection in
            encoder.encodeChunks(columns, selection: selection) {
                check(picked[from..<(from + encoder.count)].map(Int.init))
                from += encoder.count
            }
        }
        #expect(from == picked.count)
    }

    /// A key decodes back to its values: every type, both directions, nulls, strings with
    /// zero bytes (and 0xFF bytes), and a column keyed twice (decoded once).
    @Test func keysDecodeBackToTheirValues() {
        let types: [ColumnType] = [.string, .int64, .float64, .bool, .int32, .date, .decimal(scale: 2), .timestamp]
        let schema = Schema(types.enumerated().map { Field("c\($0.offset)", $0.element) })
        let columns = types.map { ColumnVector(type: $0, capacity: 16) }
        let strings: [[UInt8]?] = [[], [0], [97, 0, 98], [0xFF, 0, 0xFF], [0, 0], Array("é".utf8), nil, [1, 2, 255]]
        for (r, text) in strings.enumerated() {
            if let text { text.withUnsafeBytes { columns[0].appendString($0) } } else { columns[0].appendNull() }
            if r == 3 { for c in columns.dropFirst() { c.appendNull() }; continue }
            columns[1].appendInt64([Int64.min, -1, 0, 1, Int64.max, 42, 7, -7][r])
            columns[2].appendDouble([-Double.infinity, -2.5, -0.0, 0.0, 1e300, .infinity, 3.25, -1e-300][r])
            columns[3].appendBool(r % 2 == 0)
            columns[4].appendInt32([Int32.min, -1, 0, 1, Int32.max, 5, 6, 7][r])
            columns[5].appendInt32(Int32(20_000 + r))
            columns[6].appendInt64(Int64(r) * 1234 - 5000)
            columns[7].appendInt64(Int64(r) * 1_000_000_007)
        }
        for descending in [false, true] {
            var keys = types.indices.map { SortKey($0, descending: descending != ($0 % 3 == 0)) }
            keys.append(SortKey(1, descending: true)) // keyed twice: decoded once
            let encoder = KeyEncoder(keys: keys, schema: schema)
            let decodes = keys.indices.map { k in !keys[..<k].contains { $0.column == keys[k].column } }
            let out = types.map { ColumnVector(type: $0, capacity: 16) }
            let outByKey = keys.map { out[$0.column] }
            for r in 0..<strings.count {
                let b = ByteBuffer()
                encoder.encode(columns, row: r, into: b)
                let read = b.withUnsafeBytes { encoder.decode($0, appendTo: outByKey, decodes: decodes, scratch: ByteBuffer()) }
                #expect(read == b.count)
            }
            for (k, c) in columns.enumerated() {
                for r in 0..<strings.count {
                    let context = "column \(k) row \(r) descending \(descending)"
                    #expect(out[k].isNull(r) == c.isNull(r), "\(context)")
                    guard !c.isNull(r) else { continue }
                    switch c.type {
                    case .string: #expect(out[k].withString(r, Array.init) == c.withString(r, Array.init), "\(context)")
                    case .float64: #expect(out[k].double(r).bitPattern == c.double(r).bitPattern, "\(context)")
                    case .bool: #expect(out[k].bool(r) == c.bool(r), "\(context)")
                    default: #expect(out[k].integer(r) == c.integer(r), "\(context)")
                    }
                }
            }
        }
    }

    @Test func thePoolChecksOwnership() throws {
        let budget = MemoryBudget(limitBytes: 8 << 20)
        let pool = try BatchPool(name: "test", schema: OperatorFixture.schema, batchRows: 100, count: 2, budget: budget)
        #expect(budget.usedBytes == BatchPool.batchBytes(schema: OperatorFixture.schema, rows: 100) * 2)
        let a = try #require(pool.take())
        let b = try #require(pool.take())
        #expect(pool.take() == nil)
        a.columns[0].appendString("x")
        pool.give(a)
        let c = try #require(pool.take())
        #expect(c === a && c.count == 0)
        pool.give(b)
        pool.give(c)
        pool.close()
        #expect(budget.usedBytes == 0)
        #expect(throws: SpillError.self) {
            _ = try BatchPool(name: "too big", schema: OperatorFixture.schema, batchRows: 1_000_000, count: 4, budget: budget)
        }
    }
}
