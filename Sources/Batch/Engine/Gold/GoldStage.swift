import Segments
import Spill

/// silver -> the gold tables of any pipeline file, out of core. The tables that read one
/// source (silver, or a gold table built before) are built together in one pass over it:
///
/// ```
///   reference copy   reference table ───────────────────────────────────> table
///   source, one scan of the columns its tables need, batch by batch:
///     calendar       least, greatest of a date column ─(after)─> one row a date ─> sort
///     projection     lookups, columns ─> in order? ─yes─> (month or day) partitions
///                                                   └no─> the pass again, sorting it
///     aggregate      lookups, where, group keys, accumulators ─> spilling aggregation
///                      ─(after)─> measures ─> sort ─> table
/// ```
/// With two threads the tables of a pass are split between two lanes, by the time each
/// took on the first batches: one runs beside the scan, the other a batch behind it. A projection whose source comes in its order
/// (silver, in event time, written by month) is written as it streams; the first row out
/// of order makes the pass run again with that projection sorted. Every segment is
/// staged in its table's writer; the caller commits.
public struct GoldStage {
    public struct Report: Sendable {
        /// Rows per gold table, by name.
        public var rows: [String: Int] = [:]
        public var bytesWritten = 0
        /// Partitions written by the partitioned tables.
        public var partitions = 0
        /// Projections that had to be sorted (their source was not in their order).
        public var sorted: [String] = []
        /// The aggregations, added up.
        public var aggregates = OperatorStats()
        /// Each pass (`pass <source>`) and the reference copies.
        public var phases = PhaseTimes()
    }

    public let pipeline: CheckedPipeline
    public let budget: MemoryBudget
    public let spill: SpillManager
    public var limits = Limits()
    var batchRows: Int { limits.batchRows }
    var threads: Int { limits.passThreads }

    public init(pipeline: CheckedPipeline, budget: MemoryBudget, spill: SpillManager) {
        self.pipeline = pipeline
        self.budget = budget
        self.spill = spill
    }

    /// Each gold table's schema, from the checked pipeline.
    public func schema(_ table: String) -> Schema {
        let t = pipeline.gold.first { $0.name == "gold/" + table }
        return Schema((t?.columns ?? []).map { Field($0.name, ExpressionKernel.columnType($0.type), nullable: $0.nullable) })
    }

    /// A gold table's partition columns: its day's name, or year and month.
    public func partitionColumns(_ table: String) -> [String] {
        guard let t = pipeline.file.gold.first(where: { $0.name == table }), let (p, _) = t.partition else { return [] }
        switch p {
        case let .day(c): return [c]
        case .month: return ["year", "month"]
        }
    }

    var segmentOptions: SegmentWriterOptions { SegmentWriterOptions(compression: limits.compression, rowGroupRows: Lake.rowGroupRows) }

    /// Builds every gold table from `silver` and the `references` (by feed name) into
    /// `writers` (by gold table name). On an error, the segments written are deleted.
    public func run(silver: TableReader, references: [String: TableReader], writers: [String: TableWriter]) throws -> Report {
        var report = Report()
        let plans = pipeline.goldPlans
        let tables = try LookupTable.load(pipeline.file.references, readers: references, uses: plans.map { ($0.scope, $0.lookups) },
                                          expressions: plans.flatMap { $0.columns + $0.groupBy + ($0.filter.map { [$0] } ?? []) },
                                          stage: "gold", budget: budget)
        func writer(_ name: String) -> TableWriter {
            guard let w = writers[name] else { preconditionFailure("no writer for gold table \(name)") }
            return w
        }
        var written: [String: [SegmentSummary]] = [:]
        do {
            let gold = Array(zip(pipeline.file.gold, pipeline.goldPlans))
            for (t, _) in gold {
                guard case let .reference(r) = t.kind else { continue }
                guard let reader = references[r] else { throw BatchError(.missingInput, path: r, "the reference table \(r) was not given to gold") }
                written[t.name] = [try copy(RowSource(reader), to: writer(t.name))]
            }
            report.phases.lap("references")
            // Sources in the order their first table comes; a source that is a gold table
            // is read once it is built.
            var sources: [String] = []
            for (t, _) in gold where !isCopy(t) && !sources.contains(t.from) { sources.append(t.from) }
            while let i = sources.firstIndex(where: { $0 == "silver" || written[$0] != nil }) {
                let name = sources.remove(at: i)
                let source = name == "silver" ? RowSource(silver) : try RowSource(files: (written[name] ?? []).map(\.path), schema: schema(name))
                let members = gold.filter { !isCopy($0.0) && $0.0.from == name }
                var sorting: Set<String> = []
                while true {
                    let builders = try members.map { t, plan in
                        try builder(t, plan, source: source, tables: tables, writer: writer(t.name), sort: sorting.contains(t.name))
                    }
                    do {
                        try pass(source, builders)
                    } catch let e as OutOfOrder {
                        for b in builders { b.abandon() }
                        sorting.insert(e.table)
                        continue
                    } catch {
                        for b in builders { b.abandon() }
                        throw error
                    }
                    for b in builders {
                        written[b.table] = b.written
                        if let a = b as? AggregateBuilder {
                            report.aggregates.rowsIn += a.stats.rowsIn
                            report.aggregates.rowsOut += a.stats.rowsOut
                            report.aggregates.spills += a.stats.spills
                            report.aggregates.spillBytesWritten += a.stats.spillBytesWritten
                            report.aggregates.spillDepth = max(report.aggregates.spillDepth, a.stats.spillDepth)
                        }
                        if let p = b as? ProjectionBuilder {
                            report.partitions += p.partitions
                            // One row per row of the source, or nothing is committed.
                            let rows = b.written.reduce(0) { $0 + $1.rowCount }
                            guard rows == source.rowCount else {
                                throw BatchError(.reconciliation, path: writer(b.table).path, "gold does not reconcile: \(b.table) has \(rows) rows, \(name) \(source.rowCount)")
                            }
                        }
                    }
                    report.sorted += members.map(\.0.name).filter { sorting.contains($0) }
                    break
                }
                report.phases.lap("pass " + name)
            }
            if let left = sources.first {
                throw BatchError(.invalidArgument, path: pipeline.file.path, "gold tables read '\(left)', which no gold table before them builds")
            }
        } catch {
            for s in written.values.joined() { try? SystemIO.unlink(s.path) } // never committed
            throw error
        }
        for t in pipeline.file.gold { report.rows[t.name] = (written[t.name] ?? []).reduce(0) { $0 + $1.rowCount } }
        report.bytesWritten = written.values.joined().reduce(0) { $0 + $1.fileBytes }
        return report
    }

    func isCopy(_ t: PipelineFile.GoldTable) -> Bool {
        if case .reference = t.kind { return true }
        return false
    }

    /// Thrown by a streaming projection on the first row out of its order.
    struct OutOfOrder: Error {
        var table: String
    }

    func builder(_ t: PipelineFile.GoldTable, _ plan: CheckedPipeline.GoldPlan, source: RowSource, tables: [String: LookupTable],
                 writer: TableWriter, sort: Bool) throws -> TableBuilder {
        let rows = max(1, min(batchRows, source.capacity))
        switch t.kind {
        case let .calendar(_, column):
            return try CalendarBuilder(self, t, plan, source: source, column: column, rows: rows, writer: writer)
        case .projection:
            return try ProjectionBuilder(self, t, plan, source: source, tables: tables, rows: rows, writer: writer, sorts: sort)
        case .aggregate:
            return try AggregateBuilder(self, t, plan, source: source, tables: tables, rows: rows, writer: writer)
        case .reference:
            preconditionFailure("a reference copy has no builder")
        }
    }

    /// One pass over `source`: each batch goes to every builder (with two threads, the
    /// builders are split in two lanes after the first batches: lane 0 runs beside the
    /// scan), then the builders finish.
    func pass(_ source: RowSource, _ builders: [TableBuilder]) throws {
        let columns = Array(Set(builders.flatMap(\.inputColumns))).sorted()
        let rows = max(1, min(batchRows, source.capacity))
        // The first batches go to every builder beside the scan, timed; the builders are
        // then split between the lanes so that their times (the scan's counted
        // in lane 0) are as even as can be.
        let calibration = threads >= 2 && builders.count > 1 ? Limits.calibrationBatches : 0
        // Each builder's and the scan's fastest batch: a batch that paid a one-time cost
        // (a hash table growing, a segment opened, a page fault storm) would skew a sum of
        // so few batches, and a wrong split costs a fifth of the pass.
        let never = Duration.seconds(1 << 40)
        var spent = [Duration](repeating: never, count: builders.count)
        var scanning = never
        var lane1: [TableBuilder] = []
        var lane0 = builders
        var batchesMade = 0
        let clock = ContinuousClock()
        let scan = try source.scan(columns)
        let full = { (loaded: [ColumnVector]) -> [ColumnVector] in
            var all = source.schema.fields.map { ColumnVector(type: $0.type, capacity: 1) }
            for (k, c) in columns.enumerated() { all[c] = loaded[k] }
            return all
        }
        final class Batch {
            let loaded: [ColumnVector]
            let all: [ColumnVector]
            var rows = 0
            /// The builders the second lane runs on this batch.
            var second: [TableBuilder] = []
            init(_ loaded: [ColumnVector], _ all: [ColumnVector]) {
                self.loaded = loaded
                self.all = all
            }
        }
        let group = scan.vectors
        let sliced = rows < source.capacity
        func makeBatch() -> Batch {
            let loaded = group.map { ColumnVector(type: $0.type, capacity: sliced ? rows : $0.capacity) }
            return Batch(loaded, full(loaded))
        }
        let first = makeBatch()
        let buffers = (first, threads >= 2 ? makeBatch() : first)
        var groupRows = 0, offset = 0
        try Parallel.pipeline(threads: threads >= 2 ? 2 : 1, buffers: buffers, produce: { out in
            let started = clock.now
            if sliced {
                if offset == groupRows {
                    groupRows = try scan.next()
                    offset = 0
                    if groupRows == 0 { return false }
                }
                let n = min(rows, groupRows - offset)
                for (k, c) in out.loaded.enumerated() {
                    c.reset()
                    c.append(contentsOf: group[k], rows: offset..<(offset + n))
                }
                offset += n
                out.rows = n
            } else {
                out.rows = try scan.next(into: out.loaded)
                if out.rows == 0 { return false }
            }
            if batchesMade < calibration {
                scanning = min(scanning, clock.now - started)
                for (k, b) in builders.enumerated() {
                    let t = clock.now
                    try b.consume(out.all, rows: out.rows)
                    spent[k] = min(spent[k], clock.now - t)
                }
                batchesMade += 1
                if batchesMade == calibration { (lane0, lane1) = Self.split(builders, spent: spent, scanning: scanning) }
                out.second = []
                return true
            }
            for b in lane0 { try b.consume(out.all, rows: out.rows) }
            out.second = lane1
            return true
        }, consume: { batch in
            for b in batch.second { try b.consume(batch.all, rows: batch.rows) }
        })
        // Each builder finishes on its own (its sort, its writer); two at a time with two
        // threads, each sort then planned for half the memory. A worker that finds no
        // builder left lends its thread to the one still finishing (an aggregate's
        // measuring beside its sort's input, a drain's pull beside its writing).
        if threads >= 2 && builders.count > 1 {
            let shared = Handed(builders)
            let busy = BusyWorkers(busy: 2, threads: 2)
            try Parallel.run(workers: 2) { _, next in
                defer { busy.leave() }
                while let i = next(shared.value.count) { try shared.value[i].finish(busy) }
            }
        } else {
            let alone = BusyWorkers(busy: 1, threads: min(threads, 2))
            for b in builders { try b.finish(alone) }
        }
    }

    /// The builders in two lanes with the most even times, the scan's in lane 0: every
    /// split tried for up to 16 builders, else the longest first to the lighter lane.
    static func split(_ builders: [TableBuilder], spent: [Duration], scanning: Duration) -> ([TableBuilder], [TableBuilder]) {
        let cost = spent.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
        let scan = Double(scanning.components.seconds) + Double(scanning.components.attoseconds) / 1e18
        var best: (worst: Double, second: Set<Int>) = (.infinity, [])
        if builders.count <= 16 {
            for mask in 0..<(1 << builders.count) {
                var loads = [scan, 0.0]
                for k in builders.indices { loads[(mask >> k) & 1] += cost[k] }
                if max(loads[0], loads[1]) < best.worst { best = (max(loads[0], loads[1]), Set(builders.indices.filter { (mask >> $0) & 1 == 1 })) }
            }
        } else {
            var loads = [scan, 0.0]
            var second = Set<Int>()
            for k in builders.indices.sorted(by: { cost[$0] > cost[$1] }) {
                let lane = loads[1] < loads[0] ? 1 : 0
                loads[lane] += cost[k]
                if lane == 1 { second.insert(k) }
            }
            best.second = second
        }
        return (builders.indices.filter { !best.second.contains($0) }.map { builders[$0] }, best.second.sorted().map { builders[$0] })
    }

    // MARK: reference copies

    func copy(_ source: RowSource, to writer: TableWriter) throws -> SegmentSummary {
        let scan = try source.scan()
        return try segment(of: writer) { segment in
            while case let n = try scan.next(), n > 0 { try segment.append(scan.vectors, rows: 0..<n) }
        }
    }

    /// One segment of `writer`, filled by `fill`, finished and staged; abandoned on an error.
    func segment(of writer: TableWriter, _ fill: (SegmentWriter) throws -> Void) throws -> SegmentSummary {
        let segment = try writer.newSegment(options: segmentOptions)
        do {
            try fill(segment)
            let s = try segment.finish()
            writer.stage(s)
            return s
        } catch {
            segment.abandon()
            throw error
        }
    }

    /// A sort of a table's rows by `order` (column names of `schema`).
    func sorter(_ schema: Schema, order: [String]) throws -> SortOperator {
        let plan = limits.goldSort(available: budget.availableBytes)
        let keys = order.compactMap { name in schema.fields.firstIndex { $0.name == name } }.map { SortKey($0) }
        return try SortOperator(schema: schema, keys: keys.isEmpty ? [SortKey(0)] : keys, budget: budget, spill: spill,
                                blockBytes: plan.sortBlockBytes, memoryMaxBytes: plan.sortEngineBytes)
    }

    /// An operator's rows (their first `schema.count` columns) in one segment of `writer`.
    /// With a spare thread, the rows are pulled (a sort's merge and decode) on one thread
    /// while the other encodes and compresses the batch before.
    func drain<O: BatchOperator>(_ operation: O, schema: Schema, rows: Int, to writer: TableWriter, threads: BusyWorkers) throws -> SegmentSummary {
        try operation.finish()
        let make = { DrainBatch(operation.outputSchema.fields.map { ColumnVector(type: $0.type, capacity: rows) }, columns: schema.count) }
        let n = threads.available
        let first = make()
        return try segment(of: writer) { segment in
            try Parallel.pipeline(threads: n, buffers: (first, n >= 2 ? make() : first), produce: { b in
                b.rows = try operation.pull(into: b.out)
                return b.rows > 0
            }, consume: { b in
                try segment.append(b.columns, rows: 0..<b.rows)
            })
        }
    }
}

/// A batch `GoldStage.drain` pulls into: the operator's columns, and the table's among them.
private final class DrainBatch {
    let out: [ColumnVector]
    let columns: [ColumnVector]
    var rows = 0

    init(_ out: [ColumnVector], columns: Int) {
        self.out = out
        self.columns = Array(out[0..<columns])
    }
}

/// One gold table built from batches of its source (`GoldStage.pass`).
protocol TableBuilder: AnyObject {
    var table: String { get }
    /// The source columns it reads.
    var inputColumns: [Int] { get }
    /// Rows `0..<n` of `batch`, the source's columns by number (only those some builder
    /// of the pass reads are loaded).
    func consume(_ batch: [ColumnVector], rows n: Int) throws
    /// After the last batch: what is left to write; `threads` tells whether a second
    /// thread is free for it.
    func finish(_ threads: BusyWorkers) throws
    /// The segments written, staged in the table's writer.
    var written: [SegmentSummary] { get }
    /// Deletes what it wrote (the pass stopped).
    func abandon()
}
