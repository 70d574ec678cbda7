import CShims
import Foundation
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
///
/// With split keys (range mode), records are not sorted on the way in: each goes, as it
/// is, to the bucket file of its key range, written uncompressed. The buckets are then
/// sorted one after another, each by a sorter of its own, in memory when it fits (and
/// by runs and merges when it does not):
///
/// ```
///   add()  ──> bucket = number of split keys <= key ──> bucket file 0, 1, ... k
///   next() <── sort(bucket 0), then sort(bucket 1), ...
/// ```
/// The output is the same as without split keys; when each bucket fits in memory, no
/// run is compressed, written, read back or merged. A caller who knows its key
/// distribution (silver knows its rows per day) picks split keys that make buckets fit.
public final class ExternalSorter {
    public struct Stats: Sendable {
        public var rowsIn = 0
        /// Sorted runs written to disk (first pass and intermediate merges).
        public var runsSpilled = 0
        /// Merge passes over spilled runs, the final one included (0: nothing spilled).
        public var mergePasses = 0
        public var spillBytesWritten = 0
        public var fanIn = 0
        /// Range mode: buckets that received records, and their bytes.
        public var buckets = 0
        public var bucketBytesWritten = 0

        mutating func add(bucket s: Stats) {
            runsSpilled += s.runsSpilled
            mergePasses = Swift.max(mergePasses, s.mergePasses)
            spillBytesWritten += s.spillBytesWritten
            fanIn = Swift.max(fanIn, s.fanIn)
        }
    }

    let budget: MemoryBudget
    let spill: SpillManager
    let consumer: String
    let blockBytes: Int
    /// Range mode: the block size of the bucket files, written and read back whole
    /// (smaller than `blockBytes` when there are many buckets, so their writers fit).
    let bucketBlockBytes: Int
    /// Merge fan-in cap (tests lower it to force multi-pass merges).
    let fanInMax: Int
    /// The most this sorter's run buffer may hold, so that other consumers of the same
    /// budget keep their share.
    let memoryMaxBytes: Int
    private let reservation: Reservation
    /// Held from the start so that a full run buffer can always be written out.
    private let writerReservation: Reservation
    private let arena: RecordArena
    @exclusivity(unchecked) private var entries: UnsafeMutablePointer<Entry>
    @exclusivity(unchecked) private var entryCapacity = 0
    @exclusivity(unchecked) private var entryCount = 0
    private var runs: [SpillFile] = []
    @exclusivity(unchecked) public private(set) var stats = Stats()
    private var finished = false
    // Output state.
    @exclusivity(unchecked) private var memoryCursor = 0
    @exclusivity(unchecked) private var merger: LoserTreeMerger?
    // Range mode: the sorted split keys, end to end (key i is splitBytes[splitStarts[i]
    // ..< splitStarts[i + 1]]), the bucket writers, the finished buckets (nil: empty or
    // taken), and the sorter of the bucket being read.
    private let rangeMode: Bool
    private let splitCount: Int
    private let splitBytes: UnsafeMutableRawPointer
    private let splitStarts: UnsafeMutablePointer<Int>
    @exclusivity(unchecked) private var bucketWriters = SpillWriterSet()
    private var buckets: [SpillFile?] = []
    private var bucketCursor = 0
    private var bucketSorter: ExternalSorter?
    /// Guards `buckets` and `stats` while buckets are sorted side by side (`sortedBucket`).
    private let bucketLock = NSLock()

    /// Whether a record (its key and payload) is kept on the way out.
    public typealias Filter = @Sendable (_ key: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) -> Bool
    /// Set after `finish`, before the first record is read: the records it refuses are
    /// left out of the output. A bucket leaves them out as it is read back, so they are
    /// not even sorted; otherwise `next()` skips them.
    public var keeping: Filter?

    struct Entry {
        /// The key's first 16 bytes, big-endian, zero-padded: most comparisons stop here,
        /// without touching the arena.
        var prefix: UInt64
        var prefix2: UInt64
        /// Where the record is in the arena; grows with arrival, so it breaks ties stably.
        var location: Int
    }

    static let entryBytes = MemoryLayout<Entry>.stride

    /// `splitters`, sorted ascending, turn on range mode: k split keys make k + 1 buckets,
    /// each with a writer of `blockBytes` (reserved here, all of them).
    public init(budget: MemoryBudget, spill: SpillManager, consumer: String = "external sort",
                blockBytes: Int = 256 << 10, fanInMax: Int = 512, memoryMaxBytes: Int = Int.max,
                splitters: [[UInt8]] = [], bucketBlockBytes: Int? = nil) throws(SpillError) {
        precondition(fanInMax >= 2, "a merge needs a fan-in of at least 2")
        precondition(zip(splitters, splitters.dropFirst()).allSatisfy { $0.lexicographicallyPrecedes($1) }, "split keys must be ascending and distinct")
        self.budget = budget
        self.spill = spill
        self.consumer = consumer
        self.blockBytes = blockBytes
        self.bucketBlockBytes = bucketBlockBytes ?? blockBytes
        self.fanInMax = fanInMax
        self.memoryMaxBytes = memoryMaxBytes
        rangeMode = !splitters.isEmpty
        splitCount = splitters.count
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: max(1, splitters.reduce(0) { $0 + $1.count }), alignment: 8)
        let starts = UnsafeMutablePointer<Int>.allocate(capacity: splitters.count + 1)
        starts[0] = 0
        for (i, k) in splitters.enumerated() {
            k.withUnsafeBytes { (bytes + starts[i]).copyMemory(from: $0.baseAddress!, byteCount: k.count) }
            starts[i + 1] = starts[i] + k.count
        }
        splitBytes = bytes
        splitStarts = starts
        writerReservation = splitters.isEmpty
            ? try budget.reserve(SpillWriter.memoryBytes(blockBytes: blockBytes), for: consumer + " run writer")
            : try budget.reserve((splitters.count + 1) * SpillWriter.memoryBytes(blockBytes: self.bucketBlockBytes, compresses: false), for: consumer + " bucket writers")
        reservation = try budget.reserve(0, for: consumer)
        arena = RecordArena(shareBytes: min(budget.limitBytes, memoryMaxBytes))
        entries = UnsafeMutablePointer<Entry>.allocate(capacity: 0)
        if rangeMode {
            var opened: [SpillWriter] = []
            for _ in 0...splitCount {
                opened.append(try spill.newWriter(label: "sort-bucket", consumer: consumer, blockBytes: self.bucketBlockBytes, compresses: false))
            }
            bucketWriters = SpillWriterSet(opened)
        }
    }

    deinit {
        arena.release()
        entries.deallocate()
        splitBytes.deallocate()
        splitStarts.deallocate()
        merger = nil
        bucketSorter = nil
        bucketWriters = SpillWriterSet() // unfinished writers delete their files
        for case let f? in buckets[bucketCursor...] { spill.discard(f) } // not read: a stopped run
        reservation.end()
        writerReservation.end()
    }

    // MARK: input

    /// Adds a record. The bytes are copied.
    public func add(key: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) throws(SpillError) {
        precondition(!finished, "\(consumer): add after finish")
        let at = try room(8 + key.count + payload.count, key: key)
        at.storeBytes(of: UInt32(key.count), as: UInt32.self)
        at.storeBytes(of: UInt32(payload.count), toByteOffset: 4, as: UInt32.self)
        if key.count > 0 { (at + 8).copyMemory(from: key.baseAddress!, byteCount: key.count) }
        if payload.count > 0 { (at + 8 + key.count).copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
        stats.rowsIn += 1
    }

    /// Adds `count` whole records laid out as in the arena: record i is
    /// `base + starts[i] ..< base + starts[i + 1]`, `u32 keyBytes, u32 payloadBytes, key,
    /// payload`. The bulk form of `add(key:payload:)`: the bytes are copied.
    public func add(records base: UnsafeRawPointer, starts: UnsafePointer<Int>, count: Int) throws(SpillError) {
        precondition(!finished, "\(consumer): add after finish")
        for i in 0..<count {
            try add(record: UnsafeRawBufferPointer(start: base + starts[i], count: starts[i + 1] - starts[i]))
        }
        stats.rowsIn += count
    }

    /// One whole record, as laid out in the arena.
    @inline(__always)
    private func add(record: UnsafeRawBufferPointer) throws(SpillError) {
        let key = UnsafeRawBufferPointer(start: record.baseAddress! + 8, count: Int(record.loadUnaligned(as: UInt32.self)))
        try room(record.count, key: key).copyMemory(from: record.baseAddress!, byteCount: record.count)
    }

    /// Where a record of `need` bytes with key `key` goes: the run buffer, or in range
    /// mode its bucket's block.
    @inline(__always)
    private func room(_ need: Int, key: UnsafeRawBufferPointer) throws(SpillError) -> UnsafeMutableRawPointer {
        rangeMode ? try bucketWriters.claim(bucket(of: key), need) : try place(need, key: key)
    }

    /// Range mode: the bucket `key` falls in, the number of split keys that are <= key
    /// (binary search).
    @inline(__always)
    private func bucket(of key: UnsafeRawBufferPointer) -> Int {
        var lo = 0, hi = splitCount
        while lo < hi {
            let mid = (lo + hi) / 2
            let s = splitBytes + splitStarts[mid], n = splitStarts[mid + 1] - splitStarts[mid]
            if Bytes.compare(UnsafeRawBufferPointer(start: s, count: n), key) <= 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Room in the run buffer for a record of `need` bytes with key `key` (spilling the
    /// run first when the budget is full), and its index entry: where the record goes.
    @inline(__always)
    private func place(_ need: Int, key: UnsafeRawBufferPointer) throws(SpillError) -> UnsafeMutableRawPointer {
        while !makeRoom(need) {
            guard entryCount > 0 else { throw budget.exhausted(consumer, need + Self.entryBytes) }
            try spillRun()
        }
        let (location, at) = arena.allocate(need)
        entries[entryCount] = Entry(prefix: Self.prefix(key, from: 0), prefix2: Self.prefix(key, from: 8), location: location)
        entryCount += 1
        return at
    }

    /// Bytes `from..<from+8` of the key as a big-endian integer, zero-padded.
    @inline(__always)
    static func prefix(_ key: UnsafeRawBufferPointer, from: Int) -> UInt64 {
        if key.count >= from + 8 { return UInt64(bigEndian: key.loadUnaligned(fromByteOffset: from, as: UInt64.self)) }
        var p: UInt64 = 0
        var i = from
        while i < key.count {
            p |= UInt64(key[i]) << UInt64(56 - 8 * (i - from))
            i += 1
        }
        return p
    }

    /// Room for one more record of `need` bytes: a new arena page and/or a bigger index,
    /// reserved first (the index's old and new copies both, while it moves). False when
    /// the budget (or this sorter's share) has no room: time to spill.
    private func makeRoom(_ need: Int) -> Bool {
        let eb = Self.entryBytes
        let page = arena.bytesToGrow(for: need)
        let indexFull = entryCount == entryCapacity
        if page == 0 && !indexFull { return true }
        var capacity = entryCapacity
        if indexFull {
            // Double, or grow by a quarter near the limit.
            let steady = arena.allocatedBytes + page
            let candidates = [max(entryCapacity * 2, 1024), entryCapacity + max(1024, entryCapacity / 4)]
            guard let fit = candidates.first(where: { steady + ($0 + entryCapacity) * eb <= memoryMaxBytes && reservation.tryResize(to: steady + ($0 + entryCapacity) * eb) }) else {
                return false
            }
            capacity = fit
            let fresh = UnsafeMutablePointer<Entry>.allocate(capacity: capacity)
            fresh.update(from: entries, count: entryCount)
            entries.deallocate()
            entries = fresh
            entryCapacity = capacity
        }
        let target = arena.allocatedBytes + page + entryCapacity * eb
        guard target <= memoryMaxBytes, reservation.tryResize(to: target) else { return false }
        return true
    }

    private func sortRun() {
        let arena = self.arena
        Self.sortEntries(entries, entryCount) { a, b in
            if a.prefix != b.prefix { return a.prefix < b.prefix }
            if a.prefix2 != b.prefix2 { return a.prefix2 < b.prefix2 }
            let pa = arena.pointer(a.location), pb = arena.pointer(b.location)
            let ka = Int(pa.loadUnaligned(as: UInt32.self))
            let kb = Int(pb.loadUnaligned(as: UInt32.self))
            if ka > 16 && kb > 16 {
                let c = Bytes.compare(pa + 24, pb + 24, min(ka, kb) - 16)
                if c != 0 { return c < 0 }
            }
            if ka != kb { return ka < kb }
            return a.location < b.location
        }
    }

    /// Sorts the run buffer and writes it to a spill file; the buffer is then empty.
    private func spillRun() throws(SpillError) {
        sortRun()
        let writer = try spill.newWriter(label: "sort-run", consumer: consumer, blockBytes: blockBytes)
        let entries = self.entries, count = entryCount
        // Records are read in key order from all over the arena: each is a cache miss.
        // Prefetching a few records ahead lets those misses overlap.
        let ahead = 8
        for i in 0..<min(ahead, count) { batchrun_prefetch(arena.pointer(entries[i].location)) }
        for i in 0..<count {
            if i + ahead < count { batchrun_prefetch(arena.pointer(entries[i + ahead].location)) }
            let at = arena.pointer(entries[i].location)
            let k = Int(at.loadUnaligned(as: UInt32.self))
            let p = Int(at.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            // Spilled record: u32 keyBytes, key, payload.
            try writer.append(UnsafeRawBufferPointer(start: at, count: 4), UnsafeRawBufferPointer(start: at + 8, count: k + p))
        }
        let file = try writer.finish()
        runs.append(file)
        stats.runsSpilled += 1
        stats.spillBytesWritten += file.bytes
        entryCount = 0
        arena.reset()
    }

    // MARK: output

    /// Ends the input. With spilled runs, merges down to one final pass.
    public func finish() throws(SpillError) {
        precondition(!finished, "\(consumer): finish called twice")
        finished = true
        if rangeMode {
            for w in bucketWriters.writers {
                let f = try w.finish()
                if f.records == 0 {
                    spill.discard(f)
                    buckets.append(nil)
                    continue
                }
                buckets.append(f)
                stats.buckets += 1
                stats.bucketBytesWritten += f.bytes
            }
            bucketWriters = SpillWriterSet()
            writerReservation.end() // the bucket sorters reserve their own
            return
        }
        if runs.isEmpty {
            sortRun()
            return
        }
        if entryCount > 0 { try spillRun() }
        // The run buffer is no longer needed: its memory goes to the merge.
        arena.release()
        entries.deallocate()
        entries = UnsafeMutablePointer<Entry>.allocate(capacity: 0)
        entryCapacity = 0
        _ = reservation.tryResize(to: 0) // shrinking always succeeds
        writerReservation.end()
        let readerBytes = SpillWriter.memoryBytes(blockBytes: blockBytes)
        let share = min(budget.availableBytes, memoryMaxBytes)
        let fanIn = min(fanInMax, max(2, (share - readerBytes) / readerBytes))
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
        if rangeMode { return try nextFromBuckets() } // the buckets apply `keeping`
        guard let keeping else { return try nextSorted() }
        while let r = try nextSorted() {
            if keeping(r.key, r.payload) { return r }
        }
        return nil
    }

    /// The next record of the in-memory sort or of the merge.
    @inline(__always)
    private func nextSorted() throws(SpillError) -> (key: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer)? {
        if let merger { return try merger.next() }
        guard memoryCursor < entryCount else { return nil }
        // As in spillRun: the records come from all over the arena; fetch ahead.
        if memoryCursor + 8 < entryCount { batchrun_prefetch(arena.pointer(entries[memoryCursor + 8].location)) }
        let at = arena.pointer(entries[memoryCursor].location)
        memoryCursor += 1
        let k = Int(at.loadUnaligned(as: UInt32.self))
        let p = Int(at.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        return (UnsafeRawBufferPointer(start: at + 8, count: k), UnsafeRawBufferPointer(start: at + 8 + k, count: p))
    }
}

extension ExternalSorter {
    /// Empties a finished sorter that sorted in memory and whose rows were all read, for
    /// new input, keeping its arena pages, its index and their reservation. False (and
    /// nothing changed) for a sorter that spilled: it gave its memory up to the merge.
    func recycle() -> Bool {
        guard finished, !rangeMode, merger == nil, runs.isEmpty, stats.runsSpilled == 0, memoryCursor == entryCount else { return false }
        arena.reset()
        entryCount = 0
        memoryCursor = 0
        finished = false
        stats = Stats()
        return true
    }

    /// Range mode, after `finish`: the number of buckets (split keys + 1).
    public var bucketCount: Int { buckets.count }

    /// Range mode, after `finish`: bucket `i` read into a sorter of its own (its file is
    /// deleted) and sorted, ready for `next()`; nil when the bucket is empty. A bucket is
    /// taken once. Callers may take different buckets from several threads at once (each
    /// sorter holding at most `memoryMaxBytes`); `next()` of this sorter then returns
    /// only what nobody took.
    ///
    /// `reusing`, a sorter from an earlier bucket whose rows were all read, is given the
    /// bucket when it sorted in memory: its arena pages are already mapped, so loading
    /// the bucket does not fault them in (and zero them) again. The records `keeping`
    /// refuses are left out as the bucket is read.
    public func sortedBucket(_ i: Int, memoryMaxBytes: Int, reusing: consuming ExternalSorter? = nil) throws(SpillError) -> ExternalSorter? {
        precondition(finished && rangeMode, "\(consumer): buckets are taken after finish, in range mode")
        let taken = bucketLock.withLock { () -> SpillFile? in
            defer { buckets[i] = nil }
            return buckets[i]
        }
        guard let file = taken else { return nil }
        // From here the file is this call's: the reader's close deletes it, on any path.
        let readerMemory: Reservation, reader: SpillReader
        do throws(SpillError) {
            readerMemory = try budget.reserve(SpillWriter.memoryBytes(blockBytes: bucketBlockBytes, compresses: false), for: consumer + " bucket reader")
            do throws(SpillError) { reader = try SpillReader(file: file, manager: spill, consumer: consumer, blockBytes: bucketBlockBytes) } catch {
                readerMemory.end()
                throw error
            }
        } catch {
            spill.discard(file)
            throw error
        }
        defer {
            reader.close()
            readerMemory.end()
        }
        var recycled: ExternalSorter?
        if let old = reusing, old.memoryMaxBytes == memoryMaxBytes, old.recycle() { recycled = old }
        _ = consume reusing // not recyclable: freed before a new one takes its memory
        let sorter: ExternalSorter
        if let recycled {
            sorter = recycled
        } else {
            sorter = try ExternalSorter(budget: budget, spill: spill, consumer: consumer, blockBytes: blockBytes,
                                        fanInMax: fanInMax, memoryMaxBytes: memoryMaxBytes)
        }
        let batch = UnsafeMutablePointer<UnsafeRawBufferPointer>.allocate(capacity: 256)
        defer { batch.deallocate() }
        let keeping = self.keeping
        while case let n = try reader.next(upTo: 256, into: batch), n > 0 {
            var kept = n
            for j in 0..<n {
                if let keeping {
                    let r = batch[j], k = Int(r.loadUnaligned(as: UInt32.self)), p = Int(r.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
                    guard keeping(UnsafeRawBufferPointer(rebasing: r[8..<(8 + k)]), UnsafeRawBufferPointer(rebasing: r[(8 + k)..<(8 + k + p)])) else {
                        kept -= 1
                        continue
                    }
                }
                try sorter.add(record: batch[j])
            }
            sorter.stats.rowsIn += kept
        }
        try sorter.finish()
        bucketLock.withLock { stats.add(bucket: sorter.stats) } // final: its runs are all written by now
        return sorter
    }

    /// Range mode: the next record of the current bucket's sorter; when it runs out, the
    /// next bucket is taken and sorted.
    private func nextFromBuckets() throws(SpillError) -> (key: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer)? {
        while true {
            if let s = bucketSorter, let r = try s.next() { return r }
            guard bucketCursor < buckets.count else {
                bucketSorter = nil
                return nil
            }
            bucketCursor += 1
            bucketSorter = try sortedBucket(bucketCursor - 1, memoryMaxBytes: memoryMaxBytes, reusing: bucketSorter.take())
        }
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
    @exclusivity(unchecked) private var current: [UnsafeRawBufferPointer?]
    @exclusivity(unchecked) private var tree: [Int]
    private let k: Int
    @exclusivity(unchecked) private var lastWinner = -1
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
        let c = Bytes.compare(ra.baseAddress! + 4, rb.baseAddress! + 4, min(ka, kb))
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
