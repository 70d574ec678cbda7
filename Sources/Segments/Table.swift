import Foundation

/// The committed state of a table at one version.
public struct TableSnapshot: Sendable {
    public var path: String
    public var version: Int
    public var schema: Schema
    public var partitionColumns: [String]
    /// Live files, in the order they were added.
    public var files: [TableFile]
    /// The `info` of every commit, oldest first.
    public var commitInfos: [[String: String]]
    /// The table's identity (see `LogEntry.tableId`): the same for every version of one
    /// table, different for a table made again in the same folder.
    public var tableId: String

    /// `tableId@version`: what a table built from this one records of it.
    public var identity: String { tableId + "@" + String(version) }

    /// The first committed file that is missing or whose size differs from the log's
    /// record, as a sentence; nil when every file is there with its size. Cheap: one
    /// stat per file, no read.
    public func firstMissingOrShortFile() -> String? {
        for f in files {
            let full = path + "/" + f.path
            guard let size = try? SystemIO.fileSize(full) else { return "committed file \(f.path) is missing" } // any stat failure: not readable as committed
            if size != f.bytes { return "committed file \(f.path) is \(size) bytes, its commit recorded \(f.bytes)" }
        }
        return nil
    }

    public var rowCount: Int { files.reduce(0) { $0 + $1.rows } }
    public var bytes: Int { files.reduce(0) { $0 + $1.bytes } }

    /// Distinct partitions, in the order of their first file.
    public var partitions: [[String: String]] {
        var seen = Set<[String: String]>()
        return files.compactMap { seen.insert($0.partition).inserted ? $0.partition : nil }
    }
}

/// A table: a folder of segment files plus a commit log (`_log/`).
///
/// Readers see only committed files: a snapshot replays the log up to one version.
/// `TableReader` opens every file of a snapshot at once, so a later commit that removes
/// (and deletes) files cannot take them away from it.
public enum Table {
    public static func exists(at path: String) -> Bool {
        SystemIO.isDirectory(path + "/" + LogEntry.folder)
    }

    /// Versions present in the log, ascending.
    public static func versions(at path: String) throws(SegmentError) -> [Int] {
        let logDir = path + "/" + LogEntry.folder
        guard SystemIO.isDirectory(logDir) else {
            throw SegmentError(.badLog, path: path, "is not a batchrun table (no \(LogEntry.folder)/ folder); check the path")
        }
        return try SystemIO.listDirectory(logDir).compactMap(LogEntry.version(ofFileName:)).sorted()
    }

    /// The snapshot at `version` (default: the latest).
    public static func snapshot(at path: String, version: Int? = nil) throws(SegmentError) -> TableSnapshot {
        let versions = try versions(at: path)
        guard let latest = versions.last else {
            throw SegmentError(.badLog, path: path, "table has no committed version yet")
        }
        let target = version ?? latest
        guard target >= 1, target <= latest else {
            throw SegmentError(.invalidArgument, path: path, "version \(target) does not exist; the table has versions 1...\(latest)")
        }
        var schema: Schema?
        var partitionColumns: [String] = []
        var files: [TableFile] = []
        var infos: [[String: String]] = []
        var tableId: String?
        for v in 1...target {
            guard versions.contains(v) else {
                throw SegmentError(.badLog, path: path + "/" + LogEntry.folder, "commit \(v) is missing from the log: the log is damaged")
            }
            let entryPath = path + "/" + LogEntry.folder + "/" + LogEntry.fileName(v)
            let entry = try LogEntry.parse(try SystemIO.readFile(entryPath), path: entryPath)
            guard entry.version == v else {
                throw SegmentError(.badLog, path: entryPath, "entry says version \(entry.version), its name says \(v)")
            }
            if let fields = entry.schema {
                let parsed = fields.compactMap { $0.field() }
                guard parsed.count == fields.count, Set(parsed.map(\.name)).count == parsed.count else {
                    throw SegmentError(.badLog, path: entryPath, "schema in the log is not valid")
                }
                schema = Schema(parsed)
            }
            if let p = entry.partitionColumns { partitionColumns = p }
            let removed = Set(entry.remove)
            if !removed.isEmpty { files.removeAll { removed.contains($0.path) } }
            files.append(contentsOf: entry.add)
            infos.append(entry.info)
            // A log older than table ids: the first commit's time stands for one.
            if tableId == nil { tableId = entry.tableId ?? "v1-\(entry.timestampMs)" }
        }
        guard let schema, let tableId else { throw SegmentError(.badLog, path: path, "the log never records a schema") }
        return TableSnapshot(path: path, version: target, schema: schema, partitionColumns: partitionColumns, files: files,
                             commitInfos: infos, tableId: tableId)
    }
}

/// A snapshot with every one of its files mapped: what a query reads.
///
/// Opening maps each committed file (so a writer that replaces the table later cannot
/// take the snapshot's bytes away) and validates its footer against the log, but keeps
/// no footer: a footer's row-group directory grows with the file (about 200 bytes per
/// row group and column), so holding every file's at once would make a scan's memory
/// grow with the table (30 MiB for 100M bronze rows). `segment(_:)` parses one when a
/// reader needs it, and the reader holds it only as long as it lives.
public final class TableReader {
    public let snapshot: TableSnapshot
    private let files: [MappedFile]
    /// The most rows in any row group of any file: the capacity a vector needs.
    public let rowGroupRowsMax: Int

    public init(path: String, version: Int? = nil) throws(SegmentError) {
        snapshot = try Table.snapshot(at: path, version: version)
        var mapped: [MappedFile] = []
        var groupRows = 1
        for f in snapshot.files {
            let full = path + "/" + f.path
            let file: MappedFile
            do {
                file = try MappedFile(fd: try SystemIO.open(full, O_RDONLY), path: full)
            } catch where error.code == .io && error.errno == ENOENT {
                // Either a writer replaced the table (and deleted the file) after the log
                // was read, or the file was lost while the log still holds it.
                if let latest = try? Table.versions(at: path).last, latest != snapshot.version {
                    throw SegmentError(.io, path: full, errno: ENOENT, "a committed file is gone; another writer replaced the table while it was being opened, open it again")
                }
                throw SegmentError(.corrupt, path: full, errno: ENOENT,
                                   "a file of the table's committed version \(snapshot.version) is missing: the table is damaged; rebuild it (batchrun run --rebuild for silver and gold, --mode overwrite for bronze) or restore it from a copy")
            }
            let reader = try SegmentReader(file: file)
            guard reader.schema == snapshot.schema, reader.rowCount == f.rows else {
                throw SegmentError(.corrupt, path: full, "segment does not match the commit log (schema or row count differs)")
            }
            groupRows = max(groupRows, reader.rowGroupRowsMax)
            reader.releaseFooterPages()
            mapped.append(file)
        }
        files = mapped
        rowGroupRowsMax = groupRows
    }

    /// The snapshot's files, in commit order.
    public var segmentCount: Int { files.count }

    /// A reader of file `k` (in commit order), its footer parsed again: keep it while
    /// reading that file, and let it go before the next.
    public func segment(_ k: Int) throws(SegmentError) -> SegmentReader {
        try SegmentReader(file: files[k])
    }
}
