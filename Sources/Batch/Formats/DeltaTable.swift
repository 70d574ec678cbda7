import Foundation
import Segments
#if canImport(Glibc)
import Glibc
#endif

/// Writes a lake table as a Delta Lake table (the Delta Lake protocol, delta-io/delta): its Parquet
/// files and a transaction log, `DIR/_delta_log/NNNNNNNNNNNNNNNNNNNN.json`, one JSON
/// action a line.
///
/// ```
///   version 0   commitInfo, protocol (reader 1, writer 2), metaData (schema, partition
///               columns), add per file (partition values, size, time, stats), txn
///   version n   commitInfo, remove per file of the previous version, add per new file,
///               txn; metaData again when the schema or partitioning changed
/// ```
/// Each commit's `txn` carries appId `batchrun:<table>` and the lake table's version:
/// exporting a lake version already exported commits nothing (exactly-once). A commit is
/// its JSON written to a temporary file and linked to its version's name, which fails
/// when the name exists: two writers racing for one version cannot both win, and the
/// loser's files are never visible. Partition columns are in the schema and in `add`'s
/// `partitionValues`, not in the files; a table cut by month gets `year` and `month`
/// (integer) columns for its folders.
public enum DeltaTable {
    public struct Result: Sendable {
        /// The Delta version committed, or nil when the lake version was there already.
        public var committed: Int?
        /// The table's Delta version after the export.
        public var version: Int
        public var rows: Int
        public var bytes: Int
        public var files: Int
        /// Files of the previous version kept (their partitions' rows did not change).
        public var kept = 0
    }

    /// What the log says so far: its last version, the live files, the last txn version
    /// of each app, and the schema and partitioning of the last metaData.
    struct LogState {
        var version = -1
        /// The live files' paths, in the order they were added.
        var files: [String] = []
        /// Each live file's `batchrun.partition_hash` tag.
        var hashes: [String: String] = [:]
        var txn: [String: Int] = [:]
        var schemaString: String?
        var partitionColumns: [String] = []
        var tableId: String?
    }

    static func logFolder(_ dir: String) -> String { dir + "/_delta_log" }

    static func fileName(_ version: Int) -> String {
        let digits = String(version)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".json"
    }

    /// Replays every JSON commit of `dir`'s log in version order.
    static func readLog(_ dir: String) throws -> LogState {
        var state = LogState()
        let folder = logFolder(dir)
        guard SystemIO.isDirectory(folder) else { return state }
        let versions = try SystemIO.listDirectory(folder).compactMap { name -> Int? in
            guard name.hasSuffix(".json"), name.count == 25 else { return nil }
            return Int(name.dropLast(5))
        }.sorted()
        var live = Set<String>(), order: [String] = [], hashes: [String: String] = [:]
        for v in versions {
            guard v == state.version + 1 else {
                throw BatchError(.damagedTable, path: folder, "the Delta log skips from version \(state.version) to \(v); it is not one batchrun can extend")
            }
            let text = String(decoding: try SystemIO.readFile(folder + "/" + fileName(v)), as: UTF8.self)
            for line in text.split(separator: "\n") where !line.isEmpty {
                guard let action = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw BatchError(.damagedTable, path: folder + "/" + fileName(v), "holds a line that is not a JSON action")
                }
                if let add = action["add"] as? [String: Any], let path = add["path"] as? String {
                    if live.insert(path).inserted { order.append(path) }
                    if let h = (add["tags"] as? [String: Any])?[Self.hashTag] as? String { hashes[path] = h }
                } else if let remove = action["remove"] as? [String: Any], let path = remove["path"] as? String {
                    live.remove(path)
                } else if let txn = action["txn"] as? [String: Any], let app = txn["appId"] as? String, let tv = txn["version"] as? Int {
                    state.txn[app] = tv
                } else if let meta = action["metaData"] as? [String: Any] {
                    state.schemaString = meta["schemaString"] as? String
                    state.partitionColumns = meta["partitionColumns"] as? [String] ?? []
                    state.tableId = meta["id"] as? String
                }
            }
            state.version = v
        }
        state.files = order.filter { live.contains($0) }
        state.hashes = hashes.filter { live.contains($0.key) }
        return state
    }

    /// The tag of an `add` that fingerprints its partition's rows in the lake.
    static let hashTag = "batchrun.partition_hash"

    /// Per partition folder of the snapshot ("" for a table without partitions), a
    /// fingerprint of its rows: per column, a streaming hash of each row's null flag and
    /// value (strings with their length), whatever files and row groups hold them; then
    /// the columns' hashes hashed together. Equal rows in equal order, equal fingerprint.
    static func partitionHashes(_ reader: TableReader) throws -> [String: String] {
        let schema = reader.snapshot.schema
        var streams: [String: [Checksum.Stream]] = [:]
        var order: [String] = []
        let scratch = ByteBuffer(capacity: 1 << 16)
        for (k, f) in reader.snapshot.files.enumerated() {
            let folder = f.path.split(separator: "/").dropLast().joined(separator: "/")
            if streams[folder] == nil {
                streams[folder] = schema.fields.map { _ in Checksum.Stream() }
                order.append(folder)
            }
            let segment = try reader.segment(k)
            for c in schema.fields.indices {
                let v = segment.makeVector(column: c)
                for g in segment.rowGroups.indices {
                    try segment.read(column: c, rowGroup: g, into: v)
                    scratch.removeAll()
                    for r in 0..<v.count {
                        let null = v.isNull(r)
                        scratch.append(null ? 0 : 1)
                        if null { continue }
                        switch v.type {
                        case .string:
                            v.withString(r) { b in
                                scratch.appendLE(UInt32(b.count))
                                scratch.append(b)
                            }
                        case .bool: scratch.append(v.bool(r) ? 1 : 0)
                        case .float64: scratch.appendLE(v.double(r).bitPattern)
                        default: scratch.appendLE(v.integer(r))
                        }
                        if scratch.count >= 1 << 16 {
                            scratch.withUnsafeBytes { streams[folder]![c].update($0) }
                            scratch.removeAll()
                        }
                    }
                    scratch.withUnsafeBytes { streams[folder]![c].update($0) }
                }
            }
        }
        var out: [String: String] = [:]
        for folder in order {
            var all: [UInt8] = []
            for st in streams[folder] ?? [] { withUnsafeBytes(of: st.digest().littleEndian) { all.append(contentsOf: $0) } }
            out[folder] = String(Checksum.xxh64(all), radix: 16)
        }
        return out
    }

    /// Exports the lake table at `table` as the Delta table `dir` (made or extended),
    /// named `name` in its txn appId. Only the partitions whose rows changed since the
    /// Delta table's last version are written: the others keep their files and `add`s.
    public static func export(table: String, name: String, to dir: String, options: ParquetWriter.Options) throws -> Result {
        let reader = try TableReader(path: table)
        let snapshot = reader.snapshot
        let app = "batchrun:" + name
        let state = try readLog(dir)
        if state.txn[app] == snapshot.version {
            return Result(committed: nil, version: state.version, rows: snapshot.rowCount, bytes: 0, files: state.files.count)
        }
        let partitionColumns = snapshot.partitionColumns
        let extra = partitionColumns.filter { p in !snapshot.schema.fields.contains { $0.name == p } }
        let schemaString = Self.schemaString(snapshot, extra: extra)
        let sameShape = state.version >= 0 && state.schemaString == schemaString && state.partitionColumns == partitionColumns
        // Partitions whose fingerprint a live file already carries are kept as they are.
        let hashes = try partitionHashes(reader)
        func folder(_ path: String) -> String { path.split(separator: "/").dropLast().joined(separator: "/") }
        let kept = sameShape ? Set(state.files.filter { hashes[folder($0)] != nil && state.hashes[$0] == hashes[folder($0)] }) : []
        let keptFolders = Set(kept.map(folder))
        let changed = Set(hashes.keys).subtracting(keptFolders)
        let commitId = UUID().uuidString.lowercased()
        let written = try TableExport.parquetFiles(reader, into: dir, fileName: "part-00000-\(commitId).parquet", options: options,
                                                   only: state.version < 0 || !sameShape ? nil : changed)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var lines: [JSON] = []
        lines.append(.object([("commitInfo", .object([
            ("timestamp", .int(Int(now))), ("operation", .string(state.version < 0 ? "CREATE TABLE" : "WRITE")),
            ("operationParameters", .object([("mode", .string(state.version < 0 ? "ErrorIfExists" : "Overwrite")),
                                             ("partitionBy", .string(JSON.array(partitionColumns.map { .string($0) }).rendered()))])),
            ("engineInfo", .string(options.createdBy)), ("isBlindAppend", .bool(false)),
        ]))]))
        if state.version < 0 {
            lines.append(.object([("protocol", .object([("minReaderVersion", .int(1)), ("minWriterVersion", .int(2))]))]))
        }
        if !sameShape {
            lines.append(.object([("metaData", .object([
                ("id", .string(state.tableId ?? UUID().uuidString.lowercased())), ("name", .string(name)),
                ("format", .object([("provider", .string("parquet")), ("options", .object([]))])),
                ("schemaString", .string(schemaString)),
                ("partitionColumns", .array(partitionColumns.map { .string($0) })),
                ("configuration", .object([])), ("createdTime", .int(Int(now))),
            ]))]))
        }
        for path in state.files where !kept.contains(path) {
            lines.append(.object([("remove", .object([("path", .string(path)), ("deletionTimestamp", .int(Int(now))),
                                                      ("dataChange", .bool(true))]))]))
        }
        for f in written.files {
            let values = partitionColumns.map { ($0, JSON.string(f.partition[$0] ?? "")) }
            lines.append(.object([("add", .object([
                ("path", .string(f.path)), ("partitionValues", .object(values)), ("size", .int(f.bytes)),
                ("modificationTime", .int(Int(now))), ("dataChange", .bool(true)),
                ("stats", .string(Self.stats(f, fields: written.fields).rendered())),
                ("tags", .object([(hashTag, .string(hashes[folder(f.path)] ?? ""))])),
            ]))]))
        }
        lines.append(.object([("txn", .object([("appId", .string(app)), ("version", .int(snapshot.version)),
                                               ("lastUpdated", .int(Int(now)))]))]))
        let version = state.version + 1
        try commit(lines.map { $0.rendered() }.joined(separator: "\n") + "\n", version: version, dir: dir, files: written.files.map(\.path))
        return Result(committed: version, version: version, rows: written.files.reduce(0) { $0 + $1.rows },
                      bytes: written.files.reduce(0) { $0 + $1.bytes }, files: written.files.count, kept: kept.count)
    }

    /// Puts version `version`'s JSON in place, never over an existing one: written to a
    /// temporary file, synced, then linked to its name (link fails when the name exists).
    /// On failure the files of this commit are deleted.
    static func commit(_ text: String, version: Int, dir: String, files: [String]) throws {
        let folder = logFolder(dir)
        try SystemIO.makeDirectories(folder)
        let final = folder + "/" + fileName(version)
        let temp = folder + "/.tmp-\(getpid())-" + fileName(version)
        try SystemIO.writeFileAtomically(temp, Array(text.utf8))
        defer { try? SystemIO.unlink(temp) } // the link holds the commit; the temporary name goes
        if link(temp, final) != 0 {
            let why = errno
            for f in files { try? SystemIO.unlink(dir + "/" + f) } // never part of a version
            if why == EEXIST {
                throw BatchError(.cannotCreate, path: final, "another writer committed Delta version \(version) of this table first; nothing of this export is visible: run the export again")
            }
            throw BatchError(.cannotCreate, path: final, "cannot commit the Delta log entry (\(String(cString: strerror(why))))")
        }
        try SystemIO.fsyncDirectory(folder)
    }

    /// The schema in Delta's JSON form: the files' columns, then the partition columns
    /// that are not columns of the table (`year`, `month`: integer).
    static func schemaString(_ snapshot: TableSnapshot, extra: [String]) -> String {
        func type(_ t: ColumnType) -> String {
            switch t {
            case .string: "string"
            case .bool: "boolean"
            case .int32: "integer"
            case .int64: "long"
            case .float64: "double"
            case let .decimal(s): "decimal(18,\(s))"
            case .date: "date"
            case .timestamp: "timestamp"
            }
        }
        var columns = snapshot.schema.fields.map { ($0.name, type($0.type), $0.nullable) }
        columns += extra.map { ($0, "integer", true) }
        return JSON.object([("type", .string("struct")), ("fields", .array(columns.map { c in
            .object([("name", .string(c.0)), ("type", .string(c.1)), ("nullable", .bool(c.2)), ("metadata", .object([]))])
        }))]).rendered()
    }

    /// An `add` action's stats: the row count, null counts, and min and max where they
    /// are exact in JSON (integers, dates, short strings; not decimals, floats or
    /// timestamps, which Delta's JSON would round).
    static func stats(_ f: TableExport.ParquetFile, fields: [Field]) -> JSON {
        var mins: [(String, JSON)] = [], maxs: [(String, JSON)] = [], nulls: [(String, JSON)] = []
        for (c, field) in fields.enumerated() where c < f.stats.count {
            let s = f.stats[c]
            nulls.append((field.name, .int(s.nullCount)))
            guard let lo = s.min, let hi = s.max else { continue }
            func value(_ b: [UInt8]) -> JSON? {
                func le<T: FixedWidthInteger>(_: T.Type) -> T { b.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(as: T.self)) } }
                switch field.type {
                case .int32: return .int(Int(le(Int32.self)))
                case .int64: return .int(Int(le(Int64.self)))
                case .date: return .string(ValueText.date(le(Int32.self)))
                case .string:
                    guard b.count <= 32, let s = String(validating: b, as: UTF8.self) else { return nil }
                    return .string(s)
                default: return nil
                }
            }
            if let l = value(lo), let h = value(hi) {
                mins.append((field.name, l))
                maxs.append((field.name, h))
            }
        }
        return .object([("numRecords", .int(f.rows)), ("minValues", .object(mins)), ("maxValues", .object(maxs)), ("nullCount", .object(nulls))])
    }
}
