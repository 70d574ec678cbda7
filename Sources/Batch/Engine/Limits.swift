import Segments
import Spill

/// Every tunable of a run, derived once from the command line (`--memory-limit`,
/// `--batch-rows`, `--threads`, `--compression`), and how each stage splits its memory
/// between its operators. The stages take their grants from here, and `batchrun plan`
/// prints the same grants.
///
/// ```
///   available = budget left after a stage's batches and reference tables
///   per operator (of `operators` working at once):
///     share     = available x 90% / operators      the operator's whole footprint
///     block     = share / 64 (sort) or / 256 (hash; 64 partition writers x 1 buffer)
///     engine    = share - its writers' buffers     what its arena and index may hold
/// ```
/// Blocks stay between 4 KiB and 256 KiB (sort) or 1 KiB and 64 KiB (hash): smaller
/// blocks cost more writes, bigger ones only memory.
public struct Limits: Sendable {
    /// The memory budget (the process's peak RSS stays near it).
    public var memoryBytes: Int
    /// Rows per columnar batch.
    public var batchRows: Int
    /// Ingest's workers; silver's and gold's passes use two threads at most.
    public var threads: Int
    /// Codec of the tables written.
    public var compression: Compression

    public init(memoryBytes: Int = 1 << 30, batchRows: Int = 65_536, threads: Int = 2, compression: Compression = .lz4) {
        self.memoryBytes = memoryBytes
        self.batchRows = batchRows
        self.threads = threads
        self.compression = compression
    }

    /// Threads of a silver or gold pass: 2 (scan and route, then dedup and sort; or two
    /// lanes of gold builders) or 1.
    public var passThreads: Int { threads >= 2 ? 2 : 1 }

    // MARK: tunables

    /// Silver routes at most this share (1/4) of its available memory in batches; its
    /// batches shrink (not below 1024 rows) until they fit.
    public static let batchShareDivisor = 4
    /// Silver cuts its sort into ranges when its rows would take more than this, or
    /// than 80% of the sort's memory.
    public static let rangesWorthBytes = 64 << 20
    /// The unit of silver's range histogram when a timestamp leads the sort: 15 minutes.
    public static let sliceMicros: Int64 = 15 * 60 * 1_000_000
    /// Gold times its builders on this many batches before splitting them between lanes.
    public static let calibrationBatches = 3
    /// Ingest's CSV read size per reader, and reference files' read size.
    public static let readChunkBytes = 4 << 20
    public static let referenceChunkBytes = 1 << 20
    /// Reference files are read in batches of at most this many rows.
    public static let referenceBatchRowsMax = 16_384

    // MARK: shares of memory

    /// One operator's share of `available` when `operators` work at once, and the spill
    /// block sizes that fit it.
    public struct Shares: Sendable, Equatable {
        public var shareBytes: Int
        public var sortBlockBytes: Int
        public var hashBlockBytes: Int

        public init(available: Int, operators: Int) {
            shareBytes = max(64 << 10, available * 9 / 10 / max(1, operators))
            sortBlockBytes = min(256 << 10, max(4 << 10, shareBytes / 64))
            hashBlockBytes = min(64 << 10, max(1 << 10, shareBytes / 256))
        }

        /// What a sort's arena may hold once its run writer's buffers are counted.
        public var sortEngineBytes: Int { max(16 << 10, shareBytes - SpillWriter.memoryBytes(blockBytes: sortBlockBytes)) }
        /// What a hash table may hold once its partition writers' buffers are counted.
        public var hashEngineBytes: Int { max(16 << 10, shareBytes - GraceHashTable.writersBytes(blockBytes: hashBlockBytes)) }
    }

    /// Silver's grants. In range mode the sort only writes its ranges' files during the
    /// pass, so the dedup has the whole of the memory, and then the sort (ranges sorted
    /// `passThreads` at a time); otherwise the two share it.
    public func silver(available: Int, rangeMode: Bool) -> (dedup: Shares, sort: Shares) {
        let whole = Shares(available: available, operators: 1)
        let halves = Shares(available: available, operators: 2)
        return rangeMode ? (whole, whole) : (halves, halves)
    }

    /// A gold aggregate's or a sorted projection's grant: two may work at once.
    public func goldBuilder(available: Int) -> Shares { Shares(available: available, operators: 2) }

    /// A sort of gold's (a reference copy, a calendar): one per lane.
    public func goldSort(available: Int) -> Shares { Shares(available: available, operators: passThreads) }

    /// A reference file's dedup (later row wins), beside its batch.
    public func reference(available: Int) -> Shares { Shares(available: available, operators: 2) }
}
