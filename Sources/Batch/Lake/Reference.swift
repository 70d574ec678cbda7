import Segments
import Spill

/// The reference files of a landing zone (a pipeline's `landing.references`) as tables
/// of the lake, `LAKE/reference/<name>`, one row per key (the later row of a repeated key
/// wins), ordered by key. They are trusted: a row that does not parse is an error naming
/// the file and line, and nothing is committed.
public enum Reference {
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

    /// Parses `RAW/<file>` of each reference feed and replaces its table.
    public static func ingest(_ feeds: [FeedLayout], raw: String, lake: String, budget: MemoryBudget, spill: SpillManager,
                              limits: Limits) throws -> [Report] {
        var reports: [Report] = []
        for file in feeds {
            reports.append(try ingest(file, raw: raw, lake: lake, budget: budget, spill: spill, limits: limits))
        }
        return reports
    }

    static func ingest(_ file: FeedLayout, raw: String, lake: String, budget: MemoryBudget, spill: SpillManager,
                       limits: Limits) throws -> Report {
        let display = file.feed.files
        // The same bytes as last time: the table stands (and keeps its version, which
        // silver and gold record to know they are up to date).
        let checksum = try RawFiles.smallFileChecksum(path: raw + "/" + display, displayPath: display)
        let path = tablePath(lake: lake, file.name)
        if Table.exists(at: path), let last = try? Table.snapshot(at: path), // an unreadable table is rebuilt
           last.schema == file.schema, last.commitInfos.last?["checksum"] == checksum, last.firstMissingOrShortFile() == nil {
            return Report(name: file.name, rowsRead: Int(last.commitInfos.last?["rows_read"] ?? "") ?? last.rowCount, rows: last.rowCount, unchanged: true)
        }
        let source = try RawSource(path: raw + "/" + display, displayPath: display)
        let scanner = try CSVScanner(source: source, chunkBytes: Limits.referenceChunkBytes, budget: budget)
        let positions = try scanner.readHeader(columns: file.feed.columns.map { ($0.name.lowercased(), $0.required) }, path: display, advice: "fix the file")
        let key = file.keyColumn
        let headerFields = scanner.fieldCount
        // Later rows win: dedup by key, ordered by line number; then sort by key.
        let scratch = ByteScratch()
        let withLine = Schema(file.schema.fields + [Field("_line", .int64)])
        let plan = limits.reference(available: budget.availableBytes)
        let dedup = try DedupOperator(schema: withLine, keyColumns: [key], order: [SortKey(file.schema.count)], budget: budget, spill: spill,
                                      blockBytes: plan.hashBlockBytes, memoryMaxBytes: plan.hashEngineBytes)
        let batch = withLine.fields.map { ColumnVector(type: $0.type, capacity: min(limits.batchRows, Limits.referenceBatchRowsMax)) }
        var read = 0
        while try scanner.next() {
            guard scanner.fieldCount == headerFields else {
                throw BatchError(.badReference, path: display, line: scanner.recordLine,
                                 "has \(scanner.fieldCount) fields where the header has \(headerFields); reference rows must parse, fix the file")
            }
            for k in 0..<file.columnCount {
                guard positions[k] >= 0 else { batch[k].appendNull(); continue }
                try scanner.withField(positions[k], scratch: scratch) { v throws in
                    try append(v, layout: file, column: k, to: batch[k], isKey: k == key, file: display, line: scanner.recordLine)
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
        let sort = try SortOperator(schema: withLine, keys: [SortKey(key)], budget: budget, spill: spill,
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
        let segment = try writer.newSegment(options: SegmentWriterOptions(compression: limits.compression, rowGroupRows: Lake.rowGroupRows))
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

    /// Appends one field's value.
    static func append(_ v: UnsafeRawBufferPointer, layout: FeedLayout, column k: Int, to c: ColumnVector, isKey: Bool,
                       file: String, line: Int) throws {
        let column = layout.feed.columns[k].name
        if v.isEmpty {
            if isKey { throw BatchError(.badReference, path: file, line: line, column: column, "the key is empty; every reference row needs one") }
            c.appendNull()
            return
        }
        guard layout.append(v, column: k, to: c) else {
            throw BatchError(.badReference, path: file, line: line, column: column,
                             "'\(String(decoding: v, as: UTF8.self))' is not \(FeedLayout.grammar(layout.kinds[k])); reference rows must parse, fix the file")
        }
    }
}
