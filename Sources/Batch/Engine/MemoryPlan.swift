import Spill

/// How a stage splits what the budget has left between its spilling operators, and the
/// spill block sizes that fit each share. All limits of a stage in one place.
///
/// ```
///   available = budget left after the stage's batches
///   per operator (of `operators` working at once):
///     share     = available x 90% / operators      the operator's whole footprint
///     block     = share / 64 (sort) or / 256 (hash; 64 partition writers x 1 buffer)
///     engine    = share - its writers' buffers     what its arena and index may hold
/// ```
/// Blocks stay between 4 KiB and 256 KiB (sort) or 1 KiB and 64 KiB (hash): smaller
/// blocks cost more writes, bigger ones only memory.
public struct MemoryPlan: Sendable {
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
