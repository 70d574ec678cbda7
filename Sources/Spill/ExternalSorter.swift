import Segments
#if canImport(Glibc)
import Glibc
#endif

/// Sorts byte records by a binary key (memcmp order; ties keep arrival order) within a
/// memory budget: the external sort engine. It never interprets the key: callers encode
/// their sort columns into order-preserving bytes.
///
/// ```
///   add()  ──> run buffer (arena of records + index), grown through one reservation
///                │ reservation cannot grow
///                ▼
///            sort index (8-byte key prefix, then memcmp, then arrival) ──> run file (LZ4 blocks)
///   finish()     │ more runs than the fan-in: merge fan-in runs into one, repeat
///                ▼
///   next() <── loser tree over the last runs (or the in-memory run when nothing spilled)
/// ```
/// Records in the arena: `u32 keyBytes, u32 payloadBytes, key, payload`.
public final class ExternalSorter {
    public struct Stats: Sendable {
        public var rowsIn = 0
        /// Sorted runs written to disk (first pass and intermediate merges).
        public var runsSpilled = 0
        /// Merge passes over spilled runs, the final one included (0: nothing spilled).
        public var mergePasses = 0
        public var spillBytesWritten = 0
        public var fanIn = 0
    }

    let budget: MemoryBudget
    let spill: SpillManager
    let consumer: String
    let blockBytes: Int
    /// Merge fan-in cap (tests lower it to force multi-pass merges).
    let fanInMax: Int
    private let reservation: Reservation
    /// Held from the start so that a full run buffer can always be written out.
    private let writerReservation: Reservation
    private var arena: UnsafeMutableRawPointer
    private var arenaCapacity = 0
    private var arenaUsed = 0
    private var entries: UnsafeMutablePointer<Entry>
    private var entryCapacity = 0
    private var entryCount = 0
    private var runs: [SpillFile] = []
    public private(set) var stats = Stats()
    private var finished = false
    // Output state.
    private var memoryCursor = 0
    private var merger: LoserTreeMerger?

    struct Entry {
        /// The key's first 8 bytes, big-endian, zero-padded: most comparisons stop here.
        var prefix: UInt64
        /// Offset of the record in the arena; grows with arrival, so it breaks ties stably.
        var offset: Int
    }

    static let entryBytes = MemoryLayout<Entry>.stride

    public init(budget: MemoryBudget, spill: SpillManager, consumer: String = "external sort",
                blockBytes: Int = 256 << 10, fanInMax: Int = 512) throws(SpillError) {
        precondition(fanInMax >= 2, "a merge needs a fan-in of at least 2")
        self.budget = budget
        self.spill = spill
        self.consumer = consumer
        self.blockBytes = blockBytes
        self.fanInMax = fanInMax
        writerReservation = try budget.reserve(SpillWriter.memoryBytes(blockBytes: blockBytes), for: consumer + " run writer")
        reservation = try budget.reserve(0, for: consumer)
        arena = UnsafeMutableRawPointer.allocate(byteCount: 0, alignment: 16)
        entries = UnsafeMutablePointer<Entry>.allocate(capacity: 0)
    }

    deinit {
        arena.deallocate()
        entries.deallocate()
        merger = nil
        reservation.end()
        writerReservation.end()
    }

    // MARK: input

    /// Adds a record. The bytes are copied.
    public func add(key: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) throws(SpillError) {
        precondition(!finished, "\(consumer): add after finish")
        let need = 8 + key.count + payload.count
        while arenaUsed + need > arenaCapacity || entryCount == entryCapacity {
            if !grow(need) {
                guard entryCount > 0 else { throw budget.exhausted(consumer, need + Self.entryBytes) }
                try spillRun()
            }
        }
        let at = arena + arenaUsed
        at.storeBytes(of: UInt32(key.count), as: UInt32.self)
        at.storeBytes(of: UInt32(payload.count), toByteOffset: 4, as: UInt32.self)
        if key.count > 0 { (at + 8).copyMemory(from: key.baseAddress!, byteCount: key.count) }
        if payload.count > 0 { (at + 8 + key.count).copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
        entries[entryCount] = Entry(prefix: Self.prefix(key), offset: arenaUsed)
        entryCount += 1
        arenaUsed += need
        stats.rowsIn += 1
    }

    @inline(__always)
    static func prefix(_ key: UnsafeRawBufferPointer) -> UInt64 {
        if key.count >= 8 { return UInt64(bigEndian: key.loadUnaligned(as: UInt64.self)) }
        var p: UInt64 = 0
        for i in 0..<key.count { p |= UInt64(key[i]) << UInt64(56 - 8 * i) }
        return p
    }

    /// Grows the arena and the index: doubling, or, near the limit, to what the budget
    /// has left. False when not even one more record fits: time to spill.
    private func grow(_ need: Int) -> Bool {
        let eb = Self.entryBytes
        var arenaTarget = arenaUsed + need > arenaCapacity ? max(arenaUsed + need, max(arenaCapacity * 2, 64 << 10)) : arenaCapacity
        var entryTarget = entryCount == entryCapacity ? max(entryCapacity * 2, 1024) : entryCapacity
        let maxTotal = reservation.bytes + budget.availableBytes
        if arenaTarget + entryTarget * eb > maxTotal {
            let arenaMin = max(arenaCapacity, arenaUsed + need)
            let entryMin = max(entryCapacity, entryCount + 1)
            guard arenaMin + entryMin * eb <= maxTotal else { return false }
            let spare = maxTotal - arenaMin - entryMin * eb
            arenaTarget = min(arenaTarget, arenaMin + spare / 5 * 4)
            entryTarget = min(entryTarget, entryMin + spare / 5 / eb)
        }
        guard reservation.tryResize(to: arenaTarget + entryTarget * eb) else { return false }
        if arenaTarget != arenaCapacity {
            let fresh = UnsafeMutableRawPointer.allocate(byteCount: arenaTarget, alignment: 16)
            fresh.copyMemory(from: arena, byteCount: arenaUsed)
            arena.deallocate()
            arena = fresh
            arenaCapacity = arenaTarget
        }
        if entryTarget != entryCapacity {
            let fresh = UnsafeMutablePointer<Entry>.allocate(capacity: entryTarget)
            fresh.update(from: entries, count: entryCount)
            entries.deallocate()
            entries = fresh
            entryCapacity = entryTarget
        }
        return true
    }

    @inline(__always)
    func key(at offset: Int) -> UnsafeRawBufferPointer {
        let n = Int(arena.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        return UnsafeRawBufferPointer(start: arena + offset + 8, count: n)
    }

    private func sortRun() {
        let base = arena
        var index = UnsafeMutableBufferPointer(start: entries, count: entryCount)
        index.sort { a, b in
            if a.prefix != b.prefix { return a.prefix < b.prefix }
            let ka = Int(base.loadUnaligned(fromByteOffset: a.offset, as: UInt32.self))
            let kb = Int(base.loadUnaligned(fromByteOffset: b.offset, as: UInt32.self))
            if ka > 8 || kb > 8 {
                let c = memcmp(base + a.offset + 8, base + b.offset + 8, min(ka, kb))
                if c != 0 { return c < 0 }
            }
            if ka != kb { return ka < kb }
            return a.offset < b.offset
        }
    }

    /// Sorts the run buffer and writes it to a spill file; the buffer is then empty.
    private func spillRun() throws(SpillError) {
        sortRun()
        let writer = try spill.newWriter(label: "sort-run", consumer: consumer, blockBytes: blockBytes)
        for i in 0..<entryCount {
            let o = entries[i].offset
            let k = Int(arena.loadUnaligned(fromByteOffset: o, as: UInt32.self))
            let p = Int(arena.loadUnaligned(fromByteOffset: o + 4, as: UInt32.self))
            // Spilled record: u32 keyBytes, key, payload.
            try writer.append(UnsafeRawBufferPointer(start: arena + o, count: 4), UnsafeRawBufferPointer(start: arena + o + 8, count: k + p))
        }
        let file = try writer.finish()
        runs.append(file)
        stats.runsSpilled += 1
        stats.spillBytesWritten += file.bytes
        entryCount = 0
        arenaUsed = 0
    }

    // MARK: output

    /// Ends the input. With spilled runs, merges down to one final pass.
    public func finish() throws(SpillError) {
        precondition(!finished, "\(consumer): finish called twice")
        finished = true
        if runs.isEmpty {
            sortRun()
            return
        }
        if entryCount > 0 { try spillRun() }
        // The run buffer is no longer needed: its memory goes to the merge.
        arena.deallocate()
        entries.deallocate()
        arena = UnsafeMutableRawPointer.allocate(byteCount: 0, alignment: 16)
        entries = UnsafeMutablePointer<Entry>.allocate(capacity: 0)
        arenaCapacity = 0
        entryCapacity = 0
        _ = reservation.tryResize(to: 0) // shrinking always succeeds
        writerReservation.end()
        let readerBytes = SpillWriter.memoryBytes(blockBytes: blockBytes)
        let fanIn = min(fanInMax, max(2, (budget.availableBytes - readerBytes) / readerBytes))
        stats.fanIn = fanIn
        while runs.count > fanIn {
            // One pass: merge groups of fanIn runs into new runs.
            var next: [SpillFile] = []
            var i = 0
            while i < runs.count {
                let group = Array(runs[i..<min(i + fanIn, runs.count)])
                i += fanIn
                if group.count == 1 { next.append(group[0]); continue }
                let m = try LoserTreeMerger(runs: group, spill: spill, budget: budget, consumer: consumer, blockBytes: blockBytes)
                let writerMemory = try budget.reserve(readerBytes, for: consumer + " merge writer")
                let writer = try spill.newWriter(label: "sort-merge", consumer: consumer, blockBytes: blockBytes)
                while let r = try m.next() {
                    var k = UInt32(r.key.count)
                    try withUnsafeBytes(of: &k) { (kb) throws(SpillError) in
                        try writer.append(kb, UnsafeRawBufferPointer(start: r.key.baseAddress, count: r.key.count + r.payload.count))
                    }
                }
                let file = try writer.finish()
                writerMemory.end()
                next.append(file)
                stats.runsSpilled += 1
                stats.spillBytesWritten += file.bytes
            }
            runs = next
            stats.mergePasses += 1
        }
        merger = try LoserTreeMerger(runs: runs, spill: spill, budget: budget, consumer: consumer, blockBytes: blockBytes)
        runs = []
        stats.mergePasses += 1
    }

    /// The next record in key order; its bytes are valid until the next call.
    public func next() throws(SpillError) -> (key: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer)? {
        precondition(finished, "\(consumer): next before finish")
        if let merger { return try merger.next() }
        guard memoryCursor < entryCount else { return nil }
        let o = entries[memoryCursor].offset
        memoryCursor += 1
        let k = Int(arena.loadUnaligned(fromByteOffset: o, as: UInt32.self))
        let p = Int(arena.loadUnaligned(fromByteOffset: o + 4, as: UInt32.self))
        return (UnsafeRawBufferPointer(start: arena + o + 8, count: k), UnsafeRawBufferPointer(start: arena + o + 8 + k, count: p))
    }
}

/// A k-way merge of sorted runs with a tree of losers.
///
/// ```
///                 [winner]            tree[0]: the smallest current record
///                    |
///                 [ L1 ]              each inner node keeps the loser of the match
///               /        \            played there; the winner moves up
///           [ L2 ]      [ L3 ]
///           /   \       /   \
///         r0    r1    r2    r3        leaves: the runs' current records
/// ```
/// Taking the winner advances its run and replays only the matches on its path to the
/// root: log2(k) comparisons per record. Ties go to the earlier run, which keeps the
/// sort stable.
final class LoserTreeMerger {
    private let readers: [SpillReader]
    private var current: [UnsafeRawBufferPointer?]
    private var tree: [Int]
    private let k: Int
    private var lastWinner = -1
    private let memory: Reservation

    init(runs: [SpillFile], spill: SpillManager, budget: MemoryBudget, consumer: String, blockBytes: Int) throws(SpillError) {
        memory = try budget.reserve(runs.count * SpillWriter.memoryBytes(blockBytes: blockBytes), for: consumer + " merge readers")
        var rs: [SpillReader] = []
        for r in runs { rs.append(try SpillReader(file: r, manager: spill, consumer: consumer, blockBytes: blockBytes)) }
        readers = rs
        k = runs.count
        current = Array(repeating: nil, count: k)
        tree = Array(repeating: 0, count: max(k, 1))
        for i in 0..<k { current[i] = try readers[i].next() }
        // Nodes 1..<k are inner nodes, k..<2k the leaves (leaf i at k+i).
        if k > 1 { tree[0] = build(1) }
    }

    /// Plays the matches below node `t`; stores each loser, returns the winner.
    private func build(_ t: Int) -> Int {
        if t >= k { return t - k }
        let a = build(2 * t)
        let b = build(2 * t + 1)
        if before(b, a) {
            tree[t] = a
            return b
        }
        tree[t] = b
        return a
    }

    deinit {
        for r in readers { r.close() }
        memory.end()
    }

    /// True when run a's record goes before run b's (exhausted runs go last).
    @inline(__always)
    private func before(_ a: Int, _ b: Int) -> Bool {
        guard let ra = current[a] else { return false }
        guard let rb = current[b] else { return true }
        let ka = Int(ra.loadUnaligned(as: UInt32.self))
        let kb = Int(rb.loadUnaligned(as: UInt32.self))
        let c = memcmp(ra.baseAddress! + 4, rb.baseAddress! + 4, min(ka, kb))
        if c != 0 { return c < 0 }
        if ka != kb { return ka < kb }
        return a < b
    }

    private func replay(_ leaf: Int) {
        var winner = leaf
        var node = (leaf + k) / 2
        while node > 0 {
            let other = tree[node]
            if before(other, winner) {
                tree[node] = winner
                winner = other
            }
            node /= 2
        }
        tree[0] = winner
    }

    func next() throws(SpillError) -> (key: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer)? {
        if lastWinner >= 0 {
            current[lastWinner] = try readers[lastWinner].next()
            replay(lastWinner)
        }
        guard k > 0 else { return nil }
        let w = tree[0]
        guard w >= 0, let r = current[w] else { return nil }
        lastWinner = w
        let kn = Int(r.loadUnaligned(as: UInt32.self))
        return (UnsafeRawBufferPointer(rebasing: r[4..<(4 + kn)]), UnsafeRawBufferPointer(rebasing: r[(4 + kn)...]))
    }
}
