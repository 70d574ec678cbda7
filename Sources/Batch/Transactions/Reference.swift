import Segments
import Spill

/// The reference files of a landing zone (customers.csv, products.csv, fx_rates.csv) as
/// tables of the lake, `LAKE/reference/<name>`, one row per key (the later row of a
/// repeated key wins), ordered by key. They are trusted: a row that does not parse is an
/// error naming the file and line, and nothing is committed.
public enum Reference {
    public struct File: Sendable {
        public var name: String
        public var schema: Schema
        /// How each column's raw text parses.
        public var kinds: [Kind]
        public var keyColumn: Int { 0 }
    }

    public enum Kind: Sendable { case int64, string, upperString, date, decimal2, micros6 }

    public static let customers = File(name: "customers", schema: Schema([
        Field("customer_id", .int64, nullable: false), Field("name", .string), Field("country", .string),
        Field("segment", .string), Field("signup_date", .date),
    ]), kinds: [.int64, .string, .string, .string, .date])

    public static let products = File(name: "products", schema: Schema([
        Field("product_id", .int64, nullable: false), Field("name", .string), Field("category", .string),
        Field("list_price", .decimal(scale: 2)),
    ]), kinds: [.int64, .string, .string, .decimal2])

    public static let fxRates = File(name: "fx_rates", schema: Schema([
        Field("currency", .string, nullable: false), Field("usd_per_unit", .decimal(scale: 6)),
    ]), kinds: [.upperString, .micros6])

    public static let all = [customers, products, fxRates]

    public static func tablePath(lake: String, _ name: String) -> String { lake + "/reference/" + name }

    public struct Report: Sendable {
        public var name: String
        public var rowsRead: Int
        public var rows: Int
        /// True when the file's bytes were those the table was built from: it was kept.
        public var unchanged = false
        /// Where a damaged table went before it was built again.
        public var setAside: String?
    }

    /// Parses `RAW/<name>.csv` for each reference file and replaces its table.
    public static func ingest(raw: String, lake: String, budget: MemoryBudget, spill: SpillManager, batchRows: Int,
                              compression: Compression) throws -> [Report] {
        var reports: [Report] = []
        for file in all {
            reports.append(try ingest(file, raw: raw, lake: lake, budget: budget, spill: spill, batchRows: batchRows, compression: compression))
        }
        return reports
    }

    static func ingest(_ file: File, raw: String, lake: String, budget: MemoryBudget, spill: SpillManager, batchRows: Int,
                       compression: Compression) throws -> Report {
        let display = file.name + ".csv"
        // The same bytes as last time: the table stands (and keeps its version, which
        // silver and gold record to know they are up to date).
        let checksum = try RawFiles.smallFileChecksum(path: raw + "/" + display, displayPath: display)
        let path = tablePath(lake: lake, file.name)
        if Table.exists(at: path), let last = try? Table.snapshot(at: path), // an unreadable table is rebuilt
           last.schema == file.schema, last.commitInfos.last?["checksum"] == checksum, last.firstMissingOrShortFile() == nil {
            return Report(name: file.name, rowsRead: Int(last.commitInfos.last?["rows_read"] ?? "") ?? last.rowCount, rows: last.rowCount, unchanged: true)
        }
        let source = try RawSource(path: raw + "/" + display, displayPath: display)
        let scanner = try CSVScanner(source: source, chunkBytes: 1 << 20, budget: budget)
        let positions = try scanner.readHeader(requiring: file.schema.fields.map(\.name), path: display, advice: "fix the file")
        let headerFields = scanner.fieldCount
        // Later rows win: dedup by key, ordered by line number; then sort by key.
        let scratch = ByteScratch()
        let upper = ByteScratch(capacity: 16)
        let withLine = Schema(file.schema.fields + [Field("_line", .int64)])
        let plan = MemoryPlan(available: budget.availableBytes, operators: 2)
        let dedup = try DedupOperator(schema: withLine, keyColumns: [0], order: [SortKey(file.schema.count)], budget: budget, spill: spill,
                                      blockBytes: plan.hashBlockBytes, memoryMaxBytes: plan.hashEngineBytes)
        let batch = withLine.fields.map { ColumnVector(type: $0.type, capacity: batchRows) }
        var read = 0
        while try scanner.next() {
            guard scanner.fieldCount == headerFields else {
                throw BatchError(.badReference, path: display, line: scanner.recordLine,
                                 "has \(scanner.fieldCount) fields where the header has \(headerFields); reference rows must parse, fix the file")
            }
            for (k, kind) in file.kinds.enumerated() {
                try scanner.withField(positions[k], scratch: scratch) { v throws in
                    try append(v, kind: kind, to: batch[k], isKey: k == 0, upper: upper, file: display, line: scanner.recordLine,
                               column: file.schema.fields[k].name)
                }
            }
            batch[file.schema.count].appendInt64(Int64(scanner.recordLine))
            read += 1
            if batch[0].isFull {
                try dedup.push(batch, rows: 0..<batch[0].count)
                for c in batch { c.reset() }
            }
        }
        if batch[0].count > 0 { try dedup.push(batch, rows: 0..<batch[0].count) }
        try dedup.finish()
        let sort = try SortOperator(schema: withLine, keys: [SortKey(0)], budget: budget, spill: spill,
                                    blockBytes: plan.sortBlockBytes, memoryMaxBytes: plan.sortEngineBytes)
        while true {
            let n = try dedup.pull(into: batch)
            if n == 0 { break }
            try sort.push(batch, rows: 0..<n)
        }
        try sort.finish()
        // The file is at hand, so a damaged table is set aside and built again from it.
        var setAside: [String] = []
        let writer = try Lake.derivedWriter(lake: lake, path: path, schema: file.schema, setAside: &setAside)
        defer { writer.close() }
        let segment = try writer.newSegment(options: SegmentWriterOptions(compression: compression, rowGroupRows: Lake.rowGroupRows))
        var rows = 0
        while true {
            let n = try sort.pull(into: batch)
            if n == 0 { break }
            try segment.append(Array(batch[0..<file.schema.count]), rows: 0..<n)
            rows += n
        }
        writer.stage(try segment.finish())
        try writer.commit(operation: "reference", replaceAll: true, info: ["source": display, "rows_read": String(read), "checksum": checksum])
        return Report(name: file.name, rowsRead: read, rows: rows, setAside: setAside.first)
    }

    /// Appends one field's value; `upper` is reused to upper-case text.
    static func append(_ v: UnsafeRawBufferPointer, kind: Kind, to c: ColumnVector, isKey: Bool, upper: ByteScratch,
                       file: String, line: Int, column: String) throws {
        if v.isEmpty {
            if isKey { throw BatchError(.badReference, path: file, line: line, column: column, "the key is empty; every reference row needs one") }
            c.appendNull()
            return
        }
        func bad(_ grammar: String) -> BatchError {
            BatchError(.badReference, path: file, line: line, column: column,
                       "'\(String(decoding: v, as: UTF8.self))' is not \(grammar); reference rows must parse, fix the file")
        }
        switch kind {
        case .string: c.appendString(v)
        case .upperString:
            upper.reset(minimumCapacity: v.count)
            for b in v { upper.append(b &- 0x61 < 26 ? b &- 0x20 : b) }
            c.appendString(upper.bytes)
        case .int64:
            guard let x = FieldParsers.int64(v) else { throw bad("an integer") }
            c.appendInt64(x)
        case .date:
            guard let d = FieldParsers.date(v) else { throw bad("a date YYYY-MM-DD") }
            c.appendInt32(d)
        case .decimal2:
            guard let x = FieldParsers.decimal2(v) else { throw bad("a decimal with up to 2 places") }
            c.appendInt64(x)
        case .micros6:
            guard let x = FieldParsers.micros6(v) else { throw bad("a rate like 1.083400 (up to 6 places)") }
            c.appendInt64(x)
        }
    }
}
