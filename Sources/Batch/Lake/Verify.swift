import Segments

/// `batchrun verify LAKE`: every table's commit log replays, every committed file
/// matches the log and its footer, every chunk passes its checksum and decodes, files
/// sit in their partition's folder, and the layers reconcile (the counts silver and
/// gold recorded against the tables as they are). Reads only; repairs nothing.
public enum Verify {
    public struct TableCheck: Sendable {
        public var name: String
        public var path: String
        public var version = 0
        public var files = 0
        public var rows = 0
        public var bytes = 0
        public var chunks = 0
        /// What is wrong with this table; empty when it is sound.
        public var problems: [String] = []
    }

    public struct Report: Sendable {
        public var tables: [TableCheck] = []
        /// Layer-level problems: counts that do not reconcile, inconsistent versions.
        public var problems: [String] = []
        /// Not wrong, but worth knowing: a derived table older than its inputs.
        public var notes: [String] = []
        public var isSound: Bool { problems.isEmpty && tables.allSatisfy { $0.problems.isEmpty } }
        public var allProblems: [String] { tables.flatMap { t in t.problems.map { "\(t.name): \($0)" } } + problems }
    }

    /// Which tables a lake must hold given the ones it holds: gold needs silver, quarantine,
    /// its reference tables and every other gold table; silver and quarantine need each
    /// other, bronze and the reference tables. Bronze alone is a lake.
    static func required(by present: Set<String>, pipeline: CheckedPipeline) -> [(table: String, because: String)] {
        var out: [(String, String)] = []
        let gold = pipeline.file.gold.map { "gold/" + $0.name }
        if let g = gold.first(where: present.contains) {
            for t in ["silver", "quarantine"] + Gold.references(pipeline).map({ "reference/" + $0.name }) + gold { out.append((t, g)) }
        }
        if let s = ["silver", "quarantine"].first(where: present.contains) {
            for t in ["bronze", "silver", "quarantine"] + pipeline.file.references.map({ "reference/" + $0.name }) { out.append((t, s)) }
        }
        return out.filter { !present.contains($0.0) }
    }

    public static func run(lake: String) throws -> Report {
        guard SystemIO.exists(lake) else {
            throw BatchError(.missingInput, path: lake, "the lake folder does not exist; give the folder batchrun ingest or run wrote")
        }
        guard SystemIO.isDirectory(lake) else {
            throw BatchError(.invalidArgument, path: lake, "is a file, not a lake folder; give the folder batchrun ingest or run wrote")
        }
        let pipeline = try Lake.pipeline(lake: lake)
        var report = Report()
        var snapshots: [String: TableSnapshot] = [:]
        var present = Set<String>()
        for (name, path) in Lake.allTables(lake: lake) where SystemIO.exists(path) {
            var check = TableCheck(name: name, path: path)
            if !SystemIO.isDirectory(path) {
                check.problems.append("\(path) is a file, not a table folder; move it away and run batchrun run")
            } else if Lake.isNeverCommitted(path) {
                report.notes.append("\(name) was never committed (a stage failed or was stopped before its first commit); the next batchrun ingest, silver, gold or run removes the folder")
                continue
            } else {
                do {
                    snapshots[name] = try checkTable(&check)
                } catch {
                    check.problems.append(error.description)
                }
            }
            present.insert(name)
            report.tables.append(check)
        }
        var missing = Set<String>()
        for (table, because) in required(by: present, pipeline: pipeline) where missing.insert(table).inserted {
            report.problems.append("\(table) is missing, but \(because) exists and is built from it: run batchrun run (with --rebuild if the inputs are unchanged)")
        }
        reconcile(lake: lake, snapshots, pipeline: pipeline, into: &report)
        return report
    }

    /// True when a derived table's commit `info` says it was built from `input` as it is
    /// now: the same version of the same table (the id when the commit records one).
    static func isBuilt(_ info: [String: String], from name: String, _ input: TableSnapshot) -> Bool {
        info[name + "_version"] == String(input.version) && (info[name + "_table"].map { $0 == input.tableId } ?? true)
    }

    /// The same, between two derived tables that both record `name`.
    static func sameInput(_ a: [String: String], _ b: [String: String], _ name: String) -> Bool {
        a[name + "_version"] == b[name + "_version"] && a[name + "_table"] == b[name + "_table"]
    }

    /// Replays the log, opens every file and decodes every chunk; a chunk that fails is
    /// a problem of the table, and the check goes on with the next.
    static func checkTable(_ check: inout TableCheck) throws(SegmentError) -> TableSnapshot {
        let reader = try TableReader(path: check.path)
        check.version = reader.snapshot.version
        check.files = reader.segmentCount
        check.rows = reader.snapshot.rowCount
        check.bytes = reader.snapshot.bytes
        for (k, file) in reader.snapshot.files.enumerated() {
            let folder = PartitionPath.folder(reader.snapshot.partitionColumns.map { ($0, file.partition[$0] ?? "") })
            if !folder.isEmpty && !file.path.hasPrefix(folder + "/") {
                check.problems.append("\(file.path) is logged in partition \(folder) but lies elsewhere")
            }
            let segment = try reader.segment(k)
            let vectors = (0..<segment.schema.count).map { segment.makeVector(column: $0) }
            for g in segment.rowGroups.indices {
                for c in vectors.indices {
                    if let problem = readChunk(segment, column: c, rowGroup: g, into: vectors[c]) {
                        check.problems.append(problem)
                    } else {
                        check.chunks += 1
                    }
                }
            }
        }
        return reader.snapshot
    }

    static func readChunk(_ segment: SegmentReader, column: Int, rowGroup: Int, into vector: ColumnVector) -> String? {
        do {
            try segment.read(column: column, rowGroup: rowGroup, into: vector)
            return nil
        } catch {
            return error.description
        }
    }

    /// The counts each derived table recorded, against the tables as they stand.
    static func reconcile(lake: String, _ s: [String: TableSnapshot], pipeline: CheckedPipeline, into report: inout Report) {
        func int(_ info: [String: String], _ key: String) -> Int? { info[key].flatMap(Int.init) }
        if let silver = s["silver"], let info = silver.commitInfos.last {
            let bronzeRows = int(info, "bronze_rows") ?? -1
            let quarantined = int(info, "quarantined") ?? -1
            let duplicates = int(info, "duplicates_removed") ?? -1
            if silver.rowCount + quarantined + duplicates != bronzeRows {
                report.problems.append("silver does not reconcile: bronze \(bronzeRows) != quarantined \(quarantined) + silver \(silver.rowCount) + duplicates removed \(duplicates)")
            }
            if let q = s["quarantine"] {
                if q.rowCount != quarantined {
                    report.problems.append("quarantine holds \(q.rowCount) rows, silver's commit recorded \(quarantined)")
                }
                let qInfo = q.commitInfos.last ?? [:]
                if (["bronze"] + pipeline.file.references.map(\.name)).contains(where: { !sameInput(qInfo, info, $0) }) {
                    report.problems.append("silver and quarantine come from different inputs (bronze versions \(info["bronze_version"] ?? "?") and \(qInfo["bronze_version"] ?? "?")): run batchrun silver")
                }
            }
            if let bronze = s["bronze"] {
                if isBuilt(info, from: "bronze", bronze) {
                    if bronze.rowCount != bronzeRows {
                        report.problems.append("bronze holds \(bronze.rowCount) rows, silver's commit recorded \(bronzeRows) for the same version")
                    }
                    checkExpected(lake: lake, bronze: bronze.rowCount, silver: silver.rowCount, quarantined: quarantined, duplicates: duplicates,
                                  reasons: pipeline.reasons, into: &report)
                } else {
                    report.notes.append("silver was built from bronze version \(info["bronze_version"] ?? "?")\(info["bronze_table"] == bronze.tableId ? "" : " of another bronze table"); bronze is at version \(bronze.version): run batchrun silver (or run) to bring it up to date")
                }
            }
            for name in pipeline.file.references.map(\.name) {
                if let r = s["reference/" + name], !isBuilt(info, from: name, r) {
                    report.notes.append("silver was built from an earlier \(name) table (version \(info[name + "_version"] ?? "?")); it is at version \(r.version): run batchrun silver (or run) to bring it up to date")
                }
            }
        }
        let gold = pipeline.file.gold.map(\.name).compactMap { name in s["gold/" + name].map { (name, $0) } }
        guard !gold.isEmpty else { return }
        let infos = gold.map { $0.1.commitInfos.last ?? [:] }
        let goldReferences = Gold.references(pipeline).map(\.name)
        if infos.contains(where: { i in (["silver"] + goldReferences).contains { !sameInput(i, infos[0], $0) } }) {
            let versions = Set(infos.map { $0["silver_version"] ?? "?" })
            report.problems.append("gold tables come from different inputs (silver versions \(versions.sorted().joined(separator: ", "))): a gold run did not finish; run batchrun gold")
        } else if let silver = s["silver"], let goldInfo = infos.first {
            let silverInfo = silver.commitInfos.last ?? [:]
            if !isBuilt(goldInfo, from: "silver", silver) {
                report.notes.append("gold was built from silver version \(goldInfo["silver_version"] ?? "?")\(goldInfo["silver_table"] == silver.tableId ? "" : " of another silver table"); silver is at version \(silver.version): run batchrun gold (or run) to bring it up to date")
            } else {
                let silverReferences = goldReferences.filter { silverInfo[$0 + "_table"] != nil }
                if let other = silverReferences.first(where: { !sameInput(goldInfo, silverInfo, $0) }) {
                    report.problems.append("gold was built from other reference tables than silver (\(other) version \(goldInfo[other + "_version"] ?? "?") against silver's \(silverInfo[other + "_version"] ?? "?")): run batchrun run")
                }
                // A projection of silver has one row per silver row.
                for t in pipeline.file.gold where t.from == "silver" {
                    guard case .projection = t.kind, let table = s["gold/" + t.name], table.rowCount != silver.rowCount else { continue }
                    report.problems.append("\(t.name) holds \(table.rowCount) rows, silver \(silver.rowCount)")
                }
            }
        }
        for (name, t) in gold {
            if let recorded = t.commitInfos.last.flatMap({ int($0, "rows") }), recorded != t.rowCount {
                report.problems.append("gold/\(name) holds \(t.rowCount) rows, its commit recorded \(recorded)")
            }
        }
    }

    static func checkExpected(lake: String, bronze: Int, silver: Int, quarantined: Int, duplicates: Int, reasons: [String], into report: inout Report) {
        let expected: Generator.Expected?
        do { expected = try Silver.loadExpected(lake: lake, reasons: reasons) } catch {
            report.problems.append("\(error)")
            return
        }
        guard let e = expected else { return }
        let q = e.quarantined.values.reduce(0, +)
        if (e.bronze, e.silver, q, e.duplicatesRemoved) != (bronze, silver, quarantined, duplicates) {
            report.problems.append("counts differ from _expected.json: bronze \(bronze) (expected \(e.bronze)), silver \(silver) (expected \(e.silver)), quarantined \(quarantined) (expected \(q)), duplicates removed \(duplicates) (expected \(e.duplicatesRemoved))")
        }
    }
}
