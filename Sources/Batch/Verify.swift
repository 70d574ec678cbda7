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

    /// Every table of the lake, by display name and folder.
    static func tables(lake: String) -> [(String, String)] {
        Lake.topTables.map { ($0, lake + "/" + $0) }
            + Lake.referenceTables.map { ("reference/" + $0, Reference.tablePath(lake: lake, $0)) }
            + Lake.goldTables.map { ("gold/" + $0, Gold.path(lake: lake, $0)) }
    }

    public static func run(lake: String) throws -> Report {
        guard SystemIO.isDirectory(lake) else {
            throw BatchError(.missingInput, path: lake, "the lake folder does not exist; give the folder batchrun ingest or run wrote")
        }
        var report = Report()
        var snapshots: [String: TableSnapshot] = [:]
        for (name, path) in tables(lake: lake) where SystemIO.isDirectory(path) {
            var check = TableCheck(name: name, path: path)
            do {
                snapshots[name] = try checkTable(&check)
            } catch {
                check.problems.append(error.description)
            }
            if check.problems.isEmpty && check.version == 0 {
                check.problems.append("has no committed version")
            }
            report.tables.append(check)
        }
        reconcile(lake: lake, snapshots, into: &report)
        return report
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
    static func reconcile(lake: String, _ s: [String: TableSnapshot], into report: inout Report) {
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
                if q.commitInfos.last?["bronze_version"] != info["bronze_version"] {
                    report.problems.append("silver and quarantine come from different bronze versions (\(info["bronze_version"] ?? "?") and \(q.commitInfos.last?["bronze_version"] ?? "?")): run batchrun silver")
                }
            } else {
                report.problems.append("silver exists but quarantine does not: run batchrun silver")
            }
            if let bronze = s["bronze"], let v = info["bronze_version"] {
                if String(bronze.version) == v {
                    if bronze.rowCount != bronzeRows {
                        report.problems.append("bronze holds \(bronze.rowCount) rows, silver's commit recorded \(bronzeRows) for the same version")
                    }
                    checkExpected(lake: lake, bronze: bronze.rowCount, silver: silver.rowCount, quarantined: quarantined, duplicates: duplicates, into: &report)
                } else {
                    report.notes.append("silver was built from bronze version \(v); bronze is at version \(bronze.version): run batchrun silver (or run) to bring it up to date")
                }
            }
        }
        let gold = Lake.goldTables.compactMap { name in s["gold/" + name].map { (name, $0) } }
        guard !gold.isEmpty else { return }
        if gold.count < Lake.goldTables.count {
            let missing = Lake.goldTables.filter { s["gold/" + $0] == nil }
            report.problems.append("gold is incomplete, missing \(missing.joined(separator: ", ")): run batchrun gold")
        }
        let versions = Set(gold.map { $0.1.commitInfos.last?["silver_version"] ?? "?" })
        if versions.count > 1 {
            report.problems.append("gold tables come from different silver versions (\(versions.sorted().joined(separator: ", "))): a gold run did not finish; run batchrun gold")
        }
        if let silver = s["silver"], let v = versions.first, versions.count == 1 {
            if String(silver.version) != v {
                report.notes.append("gold was built from silver version \(v); silver is at version \(silver.version): run batchrun gold (or run) to bring it up to date")
            } else if let fact = s["gold/fact_transactions"], fact.rowCount != silver.rowCount {
                report.problems.append("fact_transactions holds \(fact.rowCount) rows, silver \(silver.rowCount)")
            }
        }
        for (name, t) in gold {
            if let recorded = t.commitInfos.last.flatMap({ int($0, "rows") }), recorded != t.rowCount {
                report.problems.append("gold/\(name) holds \(t.rowCount) rows, its commit recorded \(recorded)")
            }
        }
    }

    static func checkExpected(lake: String, bronze: Int, silver: Int, quarantined: Int, duplicates: Int, into report: inout Report) {
        let expected: Generator.Expected?
        do { expected = try Silver.loadExpected(lake: lake) } catch {
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
