import Foundation
import Segments

/// The folders of a lake: `bronze`, `silver` and `quarantine` at the top, the gold
/// tables under `gold/`, the reference tables of the pipeline's landing zone under
/// `reference/`. Damaged tables that a stage rebuilt are moved to `_set_aside/`.
public enum Lake {
    public static let topTables = ["bronze", "silver", "quarantine"]
    /// Rows per row group of every lake table: a reader decodes one row group of a column
    /// at a time, so this bounds a scan's memory (about 2.5 MiB for a bronze row group of
    /// 15 columns), small enough for a 16 MiB budget; big enough for good compression.
    public static let rowGroupRows = 16_384
    /// The reference and gold tables of the pipeline the lake runs (the built-in one),
    /// as its file names them, in its order.
    public static let referenceTables = BuiltinPipelines.defaultFile.references.map(\.name)
    public static let goldTables = BuiltinPipelines.defaultFile.gold.map(\.name)
    /// Where damaged tables go when a stage rebuilds them: never deleted, only moved.
    public static let setAsideFolder = "_set_aside"

    /// The folder of table `name` (`silver`, `NAME` or `gold/NAME` for a gold table,
    /// `NAME` or `reference/NAME` for a reference table), or an error: `invalidArgument` for a name
    /// that is no table's (a path like `../silver` included), `missingInput` listing the
    /// tables there are when the lake lacks it.
    public static func tablePath(lake: String, name: String) throws -> String {
        let known = allTables(lake: lake)
        let short = { (n: String) in String(n.split(separator: "/").last ?? "") }
        guard let table = known.first(where: { $0.name == name || short($0.name) == name }) else {
            throw BatchError(.invalidArgument, path: name, "is not a table of a lake; the tables are \(known.map { $0.name }.joined(separator: ", ")) (gold and reference tables also by their last name)")
        }
        if Table.exists(at: table.path) { return table.path }
        let present = known.filter { Table.exists(at: $0.path) }.map(\.name)
        throw BatchError(.missingInput, path: lake, "has no table '\(name)'; tables present: \(present.isEmpty ? "none (run batchrun run first)" : present.joined(separator: ", "))")
    }

    /// Refuses a lake path that is a file: a stage could not create its tables there.
    static func requireFolder(_ lake: String) throws {
        if SystemIO.exists(lake) && !SystemIO.isDirectory(lake) {
            throw BatchError(.cannotCreate, path: lake, "is a file, not a lake folder; give --lake a folder (it is made when missing)")
        }
    }

    /// Every table a lake may hold, by its pipeline: display name (`gold/NAME`) and folder.
    public static func allTables(lake: String) -> [(name: String, path: String)] {
        let file = ((try? pipeline(lake: lake)) ?? BuiltinPipelines.defaultChecked).file
        return topTables.map { ($0, lake + "/" + $0) }
            + file.references.map { ("reference/" + $0.name, lake + "/reference/" + $0.name) }
            + file.gold.map { ("gold/" + $0.name, lake + "/gold/" + $0.name) }
    }

    // MARK: the lake's pipeline

    /// Where a lake keeps the text of the pipeline file it was last run with (none: the
    /// default pipeline).
    public static func pipelinePath(lake: String) -> String { lake + "/_pipeline.yaml" }

    /// The pipeline of `lake`: the file at `path` when one is given, else the one the lake
    /// keeps, else the default pipeline. A file that is wrong is refused
    /// (exit 64) with its line and column.
    public static func pipeline(lake: String, file path: String? = nil) throws -> CheckedPipeline {
        if let path { return try PipelineLoader.checked(path: path) }
        let kept = pipelinePath(lake: lake)
        if SystemIO.exists(kept) { return try PipelineLoader.checked(path: kept) }
        return BuiltinPipelines.defaultChecked
    }

    /// Keeps the text of `file` in the lake (made when missing), for the commands that
    /// later read the lake without `--pipeline`. The built-in pipeline is not written: a
    /// lake without the file runs it.
    public static func keep(_ file: PipelineFile, lake: String) throws {
        let path = pipelinePath(lake: lake)
        if file.text == BuiltinPipelines.defaultText {
            if SystemIO.exists(path) { try SystemIO.unlink(path) }
            return
        }
        let bytes = Array(file.text.utf8)
        if SystemIO.exists(path), let old = try? SystemIO.readFile(path), old == bytes { return }
        try requireFolder(lake)
        try SystemIO.makeDirectories(lake)
        try SystemIO.writeFileAtomically(path, bytes)
    }

    // MARK: lineage

    /// What a derived table records of each input it was built from, in its commit info:
    /// `<name>_version` and `<name>_table` (the input's table id).
    static func lineage(_ inputs: [(name: String, snapshot: TableSnapshot)]) -> [String: String] {
        var out: [String: String] = [:]
        for (name, s) in inputs {
            out[name + "_version"] = String(s.version)
            out[name + "_table"] = s.tableId
        }
        return out
    }

    /// The lineage the inputs have now (their logs only; no file is opened).
    static func currentLineage(_ inputs: [(name: String, path: String)]) throws -> [String: String] {
        lineage(try inputs.map { ($0.name, try Table.snapshot(at: $0.path)) })
    }

    /// A stage's inputs, each opened at its latest version when the stage starts: the
    /// stage reads exactly these snapshots (their files stay mapped), whatever another
    /// writer commits meanwhile, and records their lineage.
    public struct PinnedInputs {
        public let readers: [String: TableReader]
        public let lineage: [String: String]

        public func reader(_ name: String) -> TableReader {
            guard let r = readers[name] else { preconditionFailure("input \(name) was not pinned") }
            return r
        }
    }

    static func pin(_ inputs: [(name: String, path: String)]) throws -> PinnedInputs {
        var readers: [String: TableReader] = [:]
        for (name, path) in inputs { readers[name] = try TableReader(path: path) }
        return PinnedInputs(readers: readers, lineage: lineage(inputs.compactMap { i in readers[i.name].map { (i.name, $0.snapshot) } }))
    }

    /// Why `table` must be built again from inputs of `lineage`, or nil when its latest
    /// commit records exactly that lineage and its committed files are all there, whole:
    /// each file has its recorded size and a footer that passes its checksum (no chunk is
    /// read; `verify` does that).
    static func staleness(of table: String, builtFrom lineage: [String: String]) -> String? {
        guard Table.exists(at: table) else { return "was never built" }
        let reader: TableReader
        do { reader = try TableReader(path: table) } catch {
            if error.code == .badLog && isNeverCommitted(table) {
                return "was never committed"
            }
            return "is damaged: \(error)"
        }
        let s = reader.snapshot
        if let problem = s.firstMissingOrShortFile() { return "is damaged: \(problem)" }
        let info = s.commitInfos.last ?? [:]
        // Entries other than tables' (the pipeline file's digest) must be the same.
        for key in lineage.keys.sorted() where !key.hasSuffix("_table") && !key.hasSuffix("_version") && info[key] != lineage[key] {
            return key == "pipeline_digest" ? "was built by another pipeline file (or another version of it)" : "was built with another \(key)"
        }
        for key in lineage.keys.sorted() where key.hasSuffix("_table") {
            let name = String(key.dropLast("_table".count))
            let version = lineage[name + "_version"] ?? "?"
            guard let built = info[key] else { return "was built before table identities were recorded" }
            if built != lineage[key] {
                return "was built from another \(name) table (\(name) was made anew since; it is at version \(version))"
            }
            if info[name + "_version"] != version {
                return "was built from \(name) version \(info[name + "_version"] ?? "?"); \(name) is at version \(version)"
            }
        }
        return nil
    }

    /// Why any of `tables` (display name, folder) must be built again from `inputs` by
    /// `pipeline`, or nil when each was built from the inputs' current identities and
    /// versions by the same file, and its files are whole.
    static func staleness(of tables: [(name: String, path: String)], inputs: [(name: String, path: String)], pipeline: CheckedPipeline) -> String? {
        let lineage: [String: String]
        do { lineage = try currentLineage(inputs).merging(["pipeline_digest": pipeline.digest]) { a, _ in a } } catch {
            return "its inputs cannot be read (\(error))" // the stage says what is missing when it opens them
        }
        for t in tables {
            if let why = staleness(of: t.path, builtFrom: lineage) { return t.name + " " + why }
        }
        return nil
    }

    // MARK: writers of derived tables

    /// A writer of a table that a stage can rebuild from its inputs (silver, quarantine,
    /// gold). A table whose log is damaged, or a file in the way of its folder, is moved
    /// to `LAKE/_set_aside/` (never deleted) and the table starts anew; the place it went
    /// is appended to `setAside`.
    static func derivedWriter(lake: String, path: String, schema: Schema, partitionColumns: [String] = [],
                              setAside: inout [String]) throws -> TableWriter {
        if SystemIO.exists(path) && !SystemIO.isDirectory(path) {
            setAside.append(try moveAside(lake: lake, path: path))
            return try TableWriter(path: path, schema: schema, partitionColumns: partitionColumns)
        }
        do {
            return try TableWriter(path: path, schema: schema, partitionColumns: partitionColumns)
        } catch {
            let code = error.code
            guard code == .badLog || code == .corrupt || code == .notASegment || code == .truncated else { throw error }
        }
        setAside.append(try moveAside(lake: lake, path: path))
        return try TableWriter(path: path, schema: schema, partitionColumns: partitionColumns)
    }

    /// Moves a damaged table (or whatever is in its place) to `LAKE/_set_aside/<name>-<UTC time>`.
    static func moveAside(lake: String, path: String) throws -> String {
        let relative = path.hasPrefix(lake + "/") ? String(path.dropFirst(lake.count + 1)) : String(path.split(separator: "/").last ?? "table")
        let stamp = Self.stamp(Date())
        var destination = lake + "/" + setAsideFolder + "/" + relative.replacingOccurrences(of: "/", with: "-") + "-" + stamp
        var n = 1
        while SystemIO.exists(destination) {
            n += 1
            destination = lake + "/" + setAsideFolder + "/" + relative.replacingOccurrences(of: "/", with: "-") + "-" + stamp + "-\(n)"
        }
        if SystemIO.isDirectory(path) {
            try TableWriter.setAside(path, to: destination)
        } else {
            try SystemIO.makeDirectories(SystemIO.parentDirectory(destination))
            try SystemIO.rename(path, destination)
        }
        return destination
    }

    static func stamp(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return f.string(from: date)
    }

    /// True when `path` is a table folder whose first commit never happened: only `_log/`
    /// with the writer's lock (and perhaps uncommitted files), left by a stage that failed
    /// or was killed before it committed.
    public static func isNeverCommitted(_ path: String) -> Bool {
        Table.exists(at: path) && (try? Table.versions(at: path))?.isEmpty == true // unreadable _log: not this case
    }

    /// Removes the never-committed table folders of the lake (see `isNeverCommitted`)
    /// that no writer holds: what every stage does before it writes.
    static func removeNeverCommitted(lake: String) {
        for (_, path) in allTables(lake: lake) where isNeverCommitted(path) {
            let lockPath = path + "/_log/_lock"
            let fd = open(lockPath, O_RDWR)
            if fd >= 0 {
                defer { close(fd) }
                guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { continue } // a writer is inside: its commit is coming
            }
            guard isNeverCommitted(path) else { continue } // a writer committed before the lock was taken
            try? FileManager.default.removeItem(atPath: path) // best effort: a leftover that stays is only reported as never committed
            let parent = SystemIO.parentDirectory(path)
            if parent != lake { SystemIO.removeDirectoryIfEmpty(parent) } // gold/ or reference/, never the lake
        }
    }
}

/// What silver and gold are told: the lake and the engine flags they use.
public struct StageOptions: Sendable {
    public var lake: String
    /// Batch rows, codec, and threads: with 2, each pass runs as two stages on two
    /// threads (Parallel.pipeline); with 1, in turn.
    public var limits = Limits()
    /// The pipeline the lake runs (the default pipeline unless told).
    public var pipeline = BuiltinPipelines.defaultChecked
    public init(lake: String) { self.lake = lake }
}
