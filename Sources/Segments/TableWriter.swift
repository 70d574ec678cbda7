import Foundation

/// The one writer of a table at a time.
///
/// Opening takes an exclusive lock on `_log/_lock` (a second writer gets
/// `SegmentError.locked`), then removes what a failed commit left behind: segment files
/// no committed version references, and temporary files. A commit then:
/// ```
///   1. segment files are written, fsynced and renamed into place (SegmentWriter.finish)
///   2. the log entry is written to a temporary file, fsynced, renamed to
///      _log/<version>.log, and the _log folder is fsynced      <- the commit point
///   3. files the commit removed are deleted (best effort; leftovers are cleaned later)
/// ```
/// A crash before the rename leaves the previous version intact; after it, the new one.
public final class TableWriter {
    public let path: String
    public let schema: Schema
    public let partitionColumns: [String]
    /// The committed state this writer builds on; nil for a new table.
    public private(set) var base: TableSnapshot?
    private var lockFD: Int32
    private var staged: [TableFile] = []
    private var sequence = 0
    private let sequenceLock = Mutex()
    /// Buffers of finished segment writers, for the next ones (guarded by sequenceLock).
    private var scratchPool: [SegmentWriter.Scratch] = []
    private let token = String(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF, radix: 16)

    public init(path: String, schema: Schema, partitionColumns: [String] = []) throws(SegmentError) {
        self.path = path
        self.schema = schema
        self.partitionColumns = partitionColumns
        let logDir = path + "/" + LogEntry.folder
        try SystemIO.makeDirectories(logDir)
        let lockPath = logDir + "/_lock"
        lockFD = try SystemIO.open(lockPath, O_RDWR | O_CREAT)
        if flock(lockFD, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            SystemIO.close(lockFD)
            let holder = (try? SystemIO.readFile(lockPath)).map { String(decoding: $0, as: UTF8.self) } ?? "" // only for the message
            throw SegmentError(.locked, path: path, errno: err,
                               "another batchrun process\(holder.isEmpty ? "" : " (pid \(holder))") is writing this table; wait for it to finish, then run again")
        }
        let pid = Array(String(getpid()).utf8)
        _ = ftruncate(lockFD, 0)
        _ = pid.withUnsafeBytes { pwrite(lockFD, $0.baseAddress, $0.count, 0) }
        do {
            base = try Table.versions(at: path).isEmpty ? nil : Table.snapshot(at: path)
            if let base, base.schema != schema || base.partitionColumns != partitionColumns {
                // A new schema is allowed only with a commit that replaces every file.
                schemaChanged = true
            }
            try cleanUp()
        } catch {
            close()
            throw error
        }
    }

    /// True when this writer's schema differs from the table's: its commit must replace all files.
    public private(set) var schemaChanged = false

    deinit { close() }

    /// Releases the lock; staged but uncommitted files are left for the next writer to remove.
    public func close() {
        if lockFD >= 0 {
            _ = flock(lockFD, LOCK_UN)
            SystemIO.close(lockFD)
            lockFD = -1
        }
    }

    /// A writer for a new segment of this table in the folder of `partition` (values in
    /// `partitionColumns` order). Stage its summary with `stage(_:partition:)` after finish().
    /// Safe to call from several threads at once (each gets its own file name).
    public func newSegment(partition: [String] = [], options: SegmentWriterOptions = SegmentWriterOptions()) throws(SegmentError) -> SegmentWriter {
        precondition(lockFD >= 0, "table writer is closed")
        precondition(partition.count == partitionColumns.count, "need one value per partition column")
        let folder = PartitionPath.folder(Array(zip(partitionColumns, partition)))
        let dir = folder.isEmpty ? path : path + "/" + folder
        try SystemIO.makeDirectories(dir)
        let number = sequenceLock.locked { () -> Int in
            sequence += 1
            return sequence
        }
        let next = (base?.version ?? 0) + 1
        let name = "part-\(next)-\(token)-\(number).\(SegmentFormat.fileExtension)"
        let scratch = sequenceLock.locked { scratchPool.popLast() }
        return try SegmentWriter(path: dir + "/" + name, schema: schema, options: options, scratch: scratch) { [weak self] s in
            guard let self else { return }
            self.sequenceLock.locked { if self.scratchPool.count < 2 { self.scratchPool.append(s) } }
        }
    }

    /// Records a finished segment to be added by the next commit.
    public func stage(_ summary: SegmentSummary, partition: [String] = []) {
        precondition(summary.path.hasPrefix(path + "/"), "segment \(summary.path) is not inside table \(path)")
        let relative = String(summary.path.dropFirst(path.count + 1))
        staged.append(TableFile(path: relative, rows: summary.rowCount, bytes: summary.fileBytes,
                                partition: Dictionary(uniqueKeysWithValues: zip(partitionColumns, partition))))
    }

    public var stagedFiles: [TableFile] { staged }

    /// Forgets every staged file (the caller deletes them): a build that starts over.
    public func unstageAll() {
        staged.removeAll()
    }

    /// Commits the staged files, removing `remove` (paths relative to the table) or, with
    /// `replaceAll`, every live file. Returns the new version.
    @discardableResult
    public func commit(operation: String, remove: [String] = [], replaceAll: Bool = false, info: [String: String] = [:]) throws(SegmentError) -> Int {
        precondition(lockFD >= 0, "table writer is closed")
        if schemaChanged && !replaceAll {
            throw SegmentError(.invalidArgument, path: path, "the table's schema or partitioning differs from this writer's; only a commit that replaces every file may change it")
        }
        let live = Set(base?.files.map(\.path) ?? [])
        let removing = replaceAll ? (base?.files.map(\.path) ?? []) : remove
        for r in removing where !live.contains(r) {
            throw SegmentError(.invalidArgument, path: path + "/" + r, "cannot remove a file the table does not hold")
        }
        let version = (base?.version ?? 0) + 1
        let entry = LogEntry(version: version, timestampMs: Int64(Date().timeIntervalSince1970 * 1000), operation: operation,
                             schema: (base == nil || schemaChanged) ? schema.fields.map(LogField.init) : nil,
                             partitionColumns: (base == nil || schemaChanged) ? partitionColumns : nil,
                             add: staged, remove: removing, info: info, tableId: base?.tableId ?? Self.newTableId())
        let bytes: [UInt8]
        do { bytes = try entry.serialized() } catch {
            throw SegmentError(.badLog, path: path, "could not encode the commit: \(error)")
        }
        let entryPath = path + "/" + LogEntry.folder + "/" + LogEntry.fileName(version)
        guard !SystemIO.exists(entryPath) else {
            throw SegmentError(.badLog, path: entryPath, "commit \(version) already exists: the table changed under this writer")
        }
        try SystemIO.writeFileAtomically(entryPath, bytes)
        // Committed. Deleting removed files is clean-up: a failure leaves them to the next writer.
        for r in removing { try? SystemIO.unlink(path + "/" + r) }
        staged = []
        schemaChanged = false
        base = try Table.snapshot(at: path, version: version)
        return version
    }

    /// A fresh table identity: 128 random bits in hex.
    static func newTableId() -> String {
        (0..<2).map { _ in
            let hex = String(UInt64.random(in: 0...UInt64.max), radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }

    /// Moves the table folder at `path` to `destination` (a path that does not exist, on
    /// the same file system) under the table's lock, so no writer is inside it: how a
    /// damaged table that can be rebuilt is set aside rather than deleted.
    public static func setAside(_ path: String, to destination: String) throws(SegmentError) {
        let lockPath = path + "/" + LogEntry.folder + "/_lock"
        let fd = SystemIO.isDirectory(path + "/" + LogEntry.folder) ? try SystemIO.open(lockPath, O_RDWR | O_CREAT) : -1
        defer { if fd >= 0 { _ = flock(fd, LOCK_UN); SystemIO.close(fd) } }
        if fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0 {
            throw SegmentError(.locked, path: path, errno: errno, "another batchrun process is writing this table; wait for it to finish, then run again")
        }
        try SystemIO.makeDirectories(SystemIO.parentDirectory(destination))
        try SystemIO.rename(path, destination)
        try SystemIO.fsyncDirectory(SystemIO.parentDirectory(path))
    }

    /// Removes every file under the table that the latest version does not reference
    /// (left by a failed commit, or removed by a commit but not yet deleted), and empty
    /// partition folders.
    private func cleanUp() throws(SegmentError) {
        let live = Set(base?.files.map(\.path) ?? [])
        func walk(_ relative: String) throws(SegmentError) -> Bool {
            let dir = relative.isEmpty ? path : path + "/" + relative
            var empty = true
            for name in try SystemIO.listDirectory(dir) {
                let rel = relative.isEmpty ? name : relative + "/" + name
                let full = path + "/" + rel
                if relative.isEmpty && name == LogEntry.folder {
                    for logName in try SystemIO.listDirectory(full) where logName.contains(".tmp-") {
                        try SystemIO.unlink(full + "/" + logName)
                    }
                    empty = false
                    continue
                }
                if SystemIO.isDirectory(full) {
                    if try walk(rel) { SystemIO.removeDirectoryIfEmpty(full) } else { empty = false }
                } else if live.contains(rel) {
                    empty = false
                } else if name.hasPrefix("part-") {
                    try SystemIO.unlink(full)
                } else {
                    empty = false
                }
            }
            return empty
        }
        _ = try walk("")
    }
}
