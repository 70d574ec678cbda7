import Foundation
import Segments
import Spill

/// The operators each stage of a checked pipeline runs, in order, with the memory each is
/// granted under `Limits`: what `batchrun plan` prints, as EXPLAIN does. The grants come
/// from the functions the stages call (`Limits.silver`, `Limits.goldBuilder`,
/// `SilverStage.batching`, ...), before any data is read; where a stage decides from its
/// data (silver's range sort, a projection that must be sorted), both cases are given.
/// Reference tables stay in memory at their size, reserved before the grants are cut.
public struct OperatorPlan: Sendable {
    public struct Operator: Sendable {
        /// scan, parse, sink, lookup, route, project, dedup, sort, aggregate, ...
        public var kind: String
        public var detail: String
        /// The bytes granted (nil: only a batch's worth or nothing to speak of).
        public var memoryBytes: Int?
        /// How the grant is used, when there is one.
        public var memoryNote: String
    }

    public struct Stage: Sendable {
        public var name: String
        public var note: String
        public var operators: [Operator]
    }

    public let limits: Limits
    public let pipeline: CheckedPipeline
    public private(set) var stages: [Stage] = []

    public init(_ pipeline: CheckedPipeline, limits: Limits) throws {
        self.pipeline = pipeline
        self.limits = limits
        stages = [ingest(), try silver(), gold()].compactMap { $0 }
    }

    func op(_ kind: String, _ detail: String, _ bytes: Int? = nil, _ note: String = "") -> Operator {
        Operator(kind: kind, detail: detail, memoryBytes: bytes, memoryNote: note)
    }

    func list(_ names: [String]) -> String { names.joined(separator: ", ") }

    func ingest() -> Stage {
        let f = pipeline.file
        let layout = FeedLayout(f.facts, lineage: true)
        let perWorker = Limits.readChunkBytes + (limits.batchRows + SegmentFormat.rowGroupRowsDefault) * layout.rowBytesEstimate
        let workers = max(1, min(limits.threads, limits.memoryBytes / perWorker))
        var ops = [
            op("scan", "RAW/\(f.facts.files) (and .csv.zst), files in bytewise order; a file already in bronze (same checksum) is skipped",
               Ingest.checksumReadBytes, "checksum buffer per worker"),
            op("parse", "CSV into typed batches of \(limits.batchRows) rows: \(f.facts.columns.count) columns + 5 lineage columns; plain files split in ranges parsed side by side",
               perWorker, "per worker: a \(ByteSize.format(Limits.readChunkBytes)) read buffer, a batch and a row group"),
            op("sink", "bronze: appended in one commit, \(limits.compression)"),
        ]
        for r in f.references {
            let share = limits.reference(available: limits.memoryBytes)
            ops.append(op("reference", "RAW/\(r.files) -> reference/\(r.name), one row per \(r.key ?? "key") (the later row wins), sorted by it",
                          share.shareBytes, "dedup by key; spills past \(ByteSize.format(share.hashEngineBytes))"))
        }
        return Stage(name: "ingest", note: "up to \(workers) worker(s)", operators: ops)
    }

    func silver() throws -> Stage {
        let p = pipeline
        let shapes = try SilverStage.shapes(p)
        let bronze = Schema(p.bronze.columns.map { Field($0.name, ExpressionKernel.columnType($0.type), nullable: $0.nullable) })
        let (unit, batchBytes) = SilverStage.batching(pipeline: p, limits: limits, bronze: bronze, capacity: Lake.rowGroupRows,
                                                      available: limits.memoryBytes)
        let available = max(0, limits.memoryBytes - batchBytes)
        let ranged = limits.silver(available: available, rangeMode: true)
        let shared = limits.silver(available: available, rangeMode: false)
        var ops = [op("scan", "bronze, \(unit) rows at a time (\(limits.passThreads) thread(s): scan and route | dedup and sort)", batchBytes, "the pass's batches")]
        for l in p.file.silver.lookups {
            ops.append(op("lookup", "\(l.alias): the row of \(l.reference) whose key is \(l.on.text.trimmed)", nil,
                          "\(l.reference) in memory at its size"))
        }
        var tested: [String] = []
        for e in p.expectations.map(\.expr) {
            e.forEachNode { n in
                if case let .inReference(_, r, _) = n.node, !tested.contains(r) { tested.append(r) }
            }
        }
        for r in tested where !p.file.silver.lookups.contains(where: { $0.reference == r }) {
            ops.append(op("lookup", "keys of \(r) (for 'in \(r)')", nil, "the keys of \(r) in memory"))
        }
        ops.append(op("route", "first failing expectation -> quarantine: " + list(p.reasons)))
        ops.append(op("project", "\(p.silverColumns.count) silver columns, vectorized: " + list(p.silver.columns.map(\.name))))
        if let d = p.file.silver.dedup {
            ops.append(op("dedup", "one row per (\(list(d.key.map(\.name)))), the \(d.keep.rawValue) (\(list(d.by.map(\.name)))), ties to the row ingested last",
                          ranged.dedup.shareBytes,
                          "hash table of narrow rows; \(ByteSize.format(shared.dedup.shareBytes)) when the sort shares the pass; spills by hash partition"))
        }
        let leading = shapes.sort.fields[shapes.sortKeys[0].column].name
        let slices = shapes.unitsPerDay == CivilTime.microsPerDay ? "15-minute slices of \(leading)" : "days of \(leading)"
        ops.append(op("sort", "by (\(list(shapes.sortKeys.map { shapes.sort.fields[$0.column].name }))); past \(ByteSize.format(min(Limits.rangesWorthBytes, ranged.sort.sortEngineBytes * 4 / 5))) of rows, cut in ranges by \(slices) and sorted \(limits.passThreads) at a time",
                      ranged.sort.shareBytes, "after the pass when cut in ranges; \(ByteSize.format(shared.sort.shareBytes)) beside the dedup otherwise; runs spill"))
        ops.append(op("sink", "silver partitioned by \(p.silver.partition ?? "-"), ordered by \(list(p.silver.order)); quarantine in bronze order; \(limits.compression)"))
        ops.append(op("reconcile", "bronze = quarantined + silver + duplicates removed (and _expected.json when the lake has one), before the commit"))
        return Stage(name: "silver", note: "\(ByteSize.format(available)) left after the batches, less the reference tables", operators: ops)
    }

    func gold() -> Stage? {
        let p = pipeline
        guard !p.file.gold.isEmpty else { return nil }
        let builder = limits.goldBuilder(available: limits.memoryBytes)
        let sortShare = limits.goldSort(available: limits.memoryBytes)
        var ops: [Operator] = []
        var sources: [String] = []
        for t in p.file.gold {
            if case .reference = t.kind { continue }
            if !sources.contains(t.from) { sources.append(t.from) }
        }
        for (t, plan) in zip(p.file.gold, p.goldPlans) {
            let order = t.order.isEmpty ? "" : ", ordered by \(list(t.order.map(\.name)))"
            switch t.kind {
            case let .reference(r):
                ops.append(op("copy", "\(t.name): reference \(r), in key order", sortShare.shareBytes, "sort; spills"))
            case let .calendar(table, column):
                ops.append(op("calendar", "\(t.name): every date from the least to the greatest \(table).\(column); columns \(list(t.columns.map(\.name)))\(order)"))
            case .projection:
                let part = t.partition.map { p -> String in
                    switch p.0 {
                    case let .day(c): return ", partitioned by \(c)"
                    case let .month(c): return ", partitioned by month(\(c))"
                    }
                } ?? ""
                ops.append(op("project", "\(t.name): one row per row of \(t.from), \(plan.columns.count) columns\(part)\(order); streamed while rows come in that order, else sorted",
                              builder.shareBytes, "only when sorted; spills"))
            case let .aggregate(filter, groupBy, measures):
                let lookups = t.lookups.map { "\($0.alias) on \($0.on.text.trimmed)" }
                ops.append(op("aggregate", "\(t.name): \(lookups.isEmpty ? "" : "lookups " + list(lookups) + "; ")\(filter.map { "where \($0.source.text.trimmed); " } ?? "")group by (\(list(groupBy.map(\.name)))); \(list(measures.map { $0.name + " = " + $0.source.text.trimmed }))\(order)",
                              builder.shareBytes, "hash aggregation, chunks pre-combined; spills by hash partition"))
            }
        }
        let scans = sources.map { "\($0)" }
        return Stage(name: "gold", note: "one pass per source (\(list(scans))), \(limits.passThreads) lane(s) of builders; reference tables in memory first",
                     operators: ops)
    }

    // MARK: text

    public var text: String {
        var lines = ["plan of \(pipeline.file.path) ('\(pipeline.file.name)') at --memory-limit \(ByteSize.format(limits.memoryBytes)), --batch-rows \(limits.batchRows), --threads \(limits.threads)"]
        for s in stages {
            lines.append("")
            lines.append("\(s.name)  (\(s.note))")
            let width = max(9, s.operators.map(\.kind.count).max() ?? 0)
            for o in s.operators {
                var line = "  " + o.kind.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + o.detail
                if let b = o.memoryBytes { line += "\n  " + String(repeating: " ", count: width) + "  memory: \(ByteSize.format(b))" + (o.memoryNote.isEmpty ? "" : " (\(o.memoryNote))") } else if !o.memoryNote.isEmpty { line += "\n  " + String(repeating: " ", count: width) + "  memory: \(o.memoryNote)" }
                lines.append(line)
            }
        }
        return lines.joined(separator: "\n")
    }

    public var json: JSON {
        .object([
            ("file", .string(pipeline.file.path)), ("memory_limit_bytes", .int(limits.memoryBytes)), ("batch_rows", .int(limits.batchRows)),
            ("threads", .int(limits.threads)),
            ("stages", .array(stages.map { s in
                .object([("stage", .string(s.name)), ("note", .string(s.note)),
                         ("operators", .array(s.operators.map { o in
                             .object([("operator", .string(o.kind)), ("detail", .string(o.detail)),
                                      ("memory_bytes", o.memoryBytes.map { .int($0) } ?? .null), ("memory_note", .string(o.memoryNote))])
                         }))])
            })),
        ])
    }
}

extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
