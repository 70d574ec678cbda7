import Segments

/// A published lake: a Delta copy of silver, quarantine and every gold table of a lake,
/// kept current run after run (`run --publish DIR`, or `publish:` in the pipeline file).
/// Each table is `DIR/<table>`, exported as `DeltaTable.export` does: a new Delta version
/// when the lake table changed, in which only the partitions whose rows changed are
/// written again (the others keep their files and `add` actions); nothing when it did
/// not. Every commit is atomic, so a crash at any instant leaves each published table
/// readable at its previous or its new version.
public enum Publish {
    public struct Table: Sendable {
        public var name: String
        /// The Delta version after publishing.
        public var version: Int
        /// Whether this run committed a version.
        public var committed: Bool
        /// Files written, and files of the previous version kept.
        public var written: Int
        public var kept: Int
    }

    /// The tables a lake publishes, by name, with their lake paths.
    public static func tables(lake: String, pipeline: CheckedPipeline) -> [(name: String, path: String)] {
        [("silver", Silver.path(lake: lake)), ("quarantine", Silver.quarantinePath(lake: lake))]
            + pipeline.file.gold.map { ($0.name, Gold.path(lake: lake, $0.name)) }
    }

    public static func run(lake: String, pipeline: CheckedPipeline, to dir: String, limits: Limits) throws -> [Table] {
        var options = ParquetWriter.Options()
        options.rowGroupBytes = max(1 << 20, limits.memoryBytes / 4)
        try SystemIO.makeDirectories(dir)
        return try tables(lake: lake, pipeline: pipeline).map { name, path in
            let r = try DeltaTable.export(table: path, name: name, to: dir + "/" + name, options: options)
            return Table(name: name, version: r.version, committed: r.committed != nil, written: r.committed != nil ? r.files : 0, kept: r.kept)
        }
    }
}
