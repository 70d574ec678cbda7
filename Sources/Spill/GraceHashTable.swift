import CShims
import Segments
#if canImport(Glibc)
import Glibc
#endif

/// A hash table of byte records keyed by a byte key, inside a memory budget, spilling by
/// grace-hash partitioning: the engine under spill-to-disk dedup and hash aggregation.
///
/// ```
///   add() ──> in-memory table (arena of records + open-addressing slots), one reservation
///               │ the reservation cannot grow
///               ▼
///           64 partition files, by 6 bits of the key's hash (level 0: bits 63..58);
///           the table's records go there, and so does every later add()
///   next() ──> the table's records; or, partition by partition: load it into the table;
///               │ still too big: split it again by the next 6 hash bits (level + 1)
///               ▼
///           emit its records, clear the table, take the next partition
/// ```
/// What "same key again" does is the mode's combine rule:
/// - `dedup`: the record with the greatest order bytes (memcmp) stays; on equal order,
///   the first one added.
/// - `aggregate`: fixed-width Int64 values merge slot by slot (sum, min or max).
///
/// Records in the arena and in spill files: `u64 hash, u32 keyBytes, u32 restBytes, key, rest`;
/// for dedup, `rest = u32 orderBytes, order, payload`; for aggregation, `rest` is the values.
/// Output order is the order records entered the table (partition by partition when it
/// spilled): deterministic for an input and a budget, but not across budgets; callers
/// that need an order sort afterwards.
public final class GraceHashTable {
    public enum AggregateOp: Sendable { case sum, min, max }
    public enum Mode: Sendable {
        case dedup
        case aggregate([AggregateOp])
    }

    public struct Stats: Sendable {
        public var rowsIn = 0
        public var rowsOut = 0
        /// Times the in-memory table overflowed and was split to disk.
        public var spills = 0
        /// Deepest partitioning level used (0: spilled once, by the first 4 bits).
        public var deepestLevel = -1
        public var spillFiles = 0
        public var spillBytesWritten = 0
    }

    /// Partitions per split: 64, by 6 bits of the hash, so one split usually suffices
    /// even when the input is 64 times the table's memory.
    public static let fanOut = 64
    static let bitsPerLevel = 6
    static let levelsMax = 9
    static let headerBytes = 16
    /// Bytes of a record's header: `u64 hash, u32 keyBytes, u32 restBytes`.
    public static let recordHeaderBytes = headerBytes
    /// Set in a record's rest length when a later version replaced it (dedup).
    static let deadBit: UInt32 = 0x8000_0000

    let mode: Mode
    let ops: [AggregateOp]
    let budget: MemoryBudget
    let spill: SpillManager
    let consumer: String
    let blockBytes: Int
    private let reservation: Reservation
    /// Memory for one level of partition writers, held from the start so a spill can
    /// always happen.
    private let writersReservation: Reservation
    /// The most this table may hold, so that other consumers of the budget keep a share.
    let memoryMaxBytes: Int
    private let arena: RecordArena
    /// Open addressing, linear probing; a slot holds the key's hash and 1 + the record's
    /// arena location (0: empty), side by side so a probe touches one cache line.
    struct Slot {
        var hash: UInt64
        var location: Int
    }
    static let slotBytes = MemoryLayout<Slot>.stride
    @exclusivity(unchecked) private var slots: UnsafeMutablePointer<Slot>
    @exclusivity(unchecked) private var slotCount = 0
    @exclusivity(unchecked) private var used = 0
    @exclusivity(unchecked) public private(set) var stats = Stats()

    // Spill state.
    @exclusivity(unchecked) private var writers = SpillWriterSet()
    @exclusivity(unchecked) private var writersLevel = 0
    @exclusivity(unchecked) private var pending: [(file: SpillFile, level: Int)] = []
    @exclusivity(unchecked) private var finished = false
    /// Output position: an arena page and an offset in it.
    @exclusivity(unchecked) private var cursorPage = 0
    @exclusivity(unchecked) private var cursorOffset = 0
    /// Assembles a dedup row's rest in add().
    private let scratch = ByteBuffer(capacity: 256)
    /// Records of a spilled partition, read and probed a batch at a time.
    static let probeBatch = 256
    private let batch = UnsafeMutablePointer<UnsafeRawBufferPointer>.allocate(capacity: GraceHashTable.probeBatch)

    public init(mode: Mode, budget: MemoryBudget, spill: SpillManager, consumer: String, blockBytes: Int = 64 << 10,
                memoryMaxBytes: Int = Int.max) throws(SpillError) {
        self.memoryMaxBytes = memoryMaxBytes
        self.mode = mode
        if case .aggregate(let o) = mode { ops = o } else { ops = [] }
        self.budget = budget
        self.spill = spill
        self.consumer = consumer
        self.blockBytes = blockBytes
        writersReservation = try budget.reserve(Self.writersBytes(blockBytes: blockBytes), for: consumer + " partition writers")
        reservation = try budget.reserve(0, for: consumer)
        arena = RecordArena(shareBytes: min(budget.limitBytes, memoryMaxBytes))
        slots = LargeMemory.allocate(Slot.self, capacity: 0)
    }

    deinit {
        arena.release()
        LargeMemory.deallocate(slots)
        batch.deallocate()
        writers = SpillWriterSet()
        for p in pending { spill.discard(p.file) } // unconsumed partitions of an abandoned table
        reservation.end()
        writersReservation.end()
    }

    /// Memory of one level of partition writers (held from the start).
    public static func writersBytes(blockBytes: Int) -> Int {
        fanOut * SpillWriter.memoryBytes(blockBytes: blockBytes, compresses: false)
    }

    // MARK: input

    /// Dedup mode: adds a row with its key, its order bytes and its payload.
    public func add(key: UnsafeRawBufferPointer, order: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) throws(SpillError) {
        guard case .dedup = mode else { preconditionFailure("\(consumer): add(key:order:payload:) needs dedup mode") }
        scratch.removeAll()
        scratch.appendLE(UInt32(order.count))
        scratch.append(order)
        scratch.append(payload)
        try scratch.withUnsafeBytes { (rest) throws(SpillError) in
            try insert(hash: Self.hash(key: key), key: key, rest: rest, level: 0)
        }
        stats.rowsIn += 1
    }

    /// Aggregate mode: adds a row's key and its values, one per op.
    public func add(key: UnsafeRawBufferPointer, values: UnsafeBufferPointer<Int64>) throws(SpillError) {
        precondition(values.count == ops.count, "\(consumer): \(ops.count) values expected")
        try insert(hash: Self.hash(key: key), key: key, rest: UnsafeRawBufferPointer(values), level: 0)
        stats.rowsIn += 1
    }

    /// Adds `count` whole records laid out as in a spill file: record i is
    /// `base + starts[i] ..< base + starts[i + 1]`, `u64 hash, u32 keyBytes, u32 restBytes,
    /// key, rest`, with the hash that `hash(key:)` gives and the rest of the table's mode.
    /// The bulk form of the `add` calls: the callers encode a batch of rows at a time.
    public func add(records base: UnsafeRawPointer, starts: UnsafePointer<Int>, count: Int) throws(SpillError) {
        stats.rowsIn += count
        var i = 0
        while i < count {
            if !writers.isEmpty && writersLevel == 0 {
                // Spilled: every later record goes straight to its partition.
                while i < count {
                    let r = UnsafeRawBufferPointer(start: base + starts[i], count: starts[i + 1] - starts[i])
                    try writers.claim(Self.partition(r.loadUnaligned(as: UInt64.self), level: 0), r.count)
                        .copyMemory(from: r.baseAddress!, byteCount: r.count)
                    i += 1
                }
                return
            }
            let n = Swift.min(Self.probeBatch, count - i)
            for j in 0..<n {
                batch[j] = UnsafeRawBufferPointer(start: base + starts[i + j], count: starts[i + j + 1] - starts[i + j])
            }
            try insertBatch(n, level: 0)
            i += n
        }
    }

    /// Two values of one aggregate slot combined. A sum saturates, so one that leaves
    /// Int64 shows as Int64.max/min rather than wrapping into a wrong value.
    @inline(__always)
    public static func combine(_ op: AggregateOp, _ a: Int64, _ b: Int64) -> Int64 {
        switch op {
        case .sum:
            let (x, o) = a.addingReportingOverflow(b)
            return o ? (b > 0 ? Int64.max : Int64.min) : x
        case .min: return Swift.min(a, b)
        case .max: return Swift.max(a, b)
        }
    }

    /// The hash a record's key carries.
    @inline(__always)
    public static func hash(key: UnsafeRawBufferPointer) -> UInt64 { Bytes.hash(key) }

    @inline(__always)
    private func recordKey(_ location: Int) -> UnsafeRawBufferPointer {
        let at = arena.pointer(location)
        let k = Int(at.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        return UnsafeRawBufferPointer(start: at + Self.headerBytes, count: k)
    }

    @inline(__always)
    private func recordRest(_ location: Int) -> UnsafeRawBufferPointer {
        let at = arena.pointer(location)
        let k = Int(at.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        let r = Int(at.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        return UnsafeRawBufferPointer(start: at + Self.headerBytes + k, count: r)
    }

    private func insert(hash: UInt64, key: UnsafeRawBufferPointer, rest: UnsafeRawBufferPointer, level: Int) throws(SpillError) {
        if !writers.isEmpty && level == writersLevel {
            try writePartitioned(hash: hash, key: key, rest: rest)
            return
        }
        // The probe reads the slot array through a local: one exclusivity check per
        // insert instead of one per probed slot (combine never moves the slots).
        let slots = self.slots
        if slotCount > 0 {
            let mask = slotCount - 1
            var i = Int(truncatingIfNeeded: hash) & mask
            while slots[i].location != 0 {
                if slots[i].hash == hash {
                    let o = slots[i].location - 1
                    let k = recordKey(o)
                    if k.count == key.count && Bytes.equal(k.baseAddress, key.baseAddress, key.count) {
                        try combine(slot: i, offset: o, hash: hash, key: key, rest: rest, level: level)
                        return
                    }
                }
                i = (i + 1) & mask
            }
        }
        // A new key.
        let need = Self.headerBytes + key.count + rest.count
        if !(try makeRoom(need, newSlot: true, level: level)) {
            try writePartitioned(hash: hash, key: key, rest: rest)
            return
        }
        let o = append(hash: hash, key: key, rest: rest)
        let fresh = self.slots // makeRoom may have grown (moved) them
        let mask = slotCount - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while fresh[i].location != 0 { i = (i + 1) & mask }
        fresh[i] = Slot(hash: hash, location: o + 1)
        used += 1
    }

    private func combine(slot: Int, offset o: Int, hash: UInt64, key: UnsafeRawBufferPointer, rest: UnsafeRawBufferPointer, level: Int) throws(SpillError) {
        let old = recordRest(o)
        switch mode {
        case .aggregate:
            let slotsOld = UnsafeMutableRawPointer(mutating: old.baseAddress!)
            for (j, op) in ops.enumerated() {
                let a = slotsOld.loadUnaligned(fromByteOffset: 8 * j, as: Int64.self)
                let b = rest.loadUnaligned(fromByteOffset: 8 * j, as: Int64.self)
                slotsOld.storeBytes(of: Self.combine(op, a, b), toByteOffset: 8 * j, as: Int64.self)
            }
        case .dedup:
            let oldOrderBytes = Int(old.loadUnaligned(as: UInt32.self))
            let newOrderBytes = Int(rest.loadUnaligned(as: UInt32.self))
            let c = Bytes.compare(old.baseAddress! + 4, rest.baseAddress! + 4, Swift.min(oldOrderBytes, newOrderBytes))
            let greater = c < 0 || (c == 0 && newOrderBytes > oldOrderBytes)
            guard greater else { return }
            if rest.count == old.count {
                UnsafeMutableRawPointer(mutating: old.baseAddress!).copyMemory(from: rest.baseAddress!, byteCount: rest.count)
                return
            }
            // Another size: the new record goes at the end of the arena (the old one is dead).
            let need = Self.headerBytes + key.count + rest.count
            if !(try makeRoom(need, newSlot: false, level: level)) {
                // The table just spilled; the record goes to its partition, where the
                // older version went too.
                try writePartitioned(hash: hash, key: key, rest: rest)
                return
            }
            // The old record is dead: the arena walk skips it.
            let at = arena.pointer(o)
            at.storeBytes(of: at.loadUnaligned(fromByteOffset: 12, as: UInt32.self) | Self.deadBit, toByteOffset: 12, as: UInt32.self)
            let fresh = append(hash: hash, key: key, rest: rest)
            slots[slot].location = fresh + 1
        }
    }

    private func append(hash: UInt64, key: UnsafeRawBufferPointer, rest: UnsafeRawBufferPointer) -> Int {
        let (o, at) = arena.allocate(Self.headerBytes + key.count + rest.count)
        Self.write(at, hash: hash, key: key, rest: rest)
        return o
    }

    /// Lays out a record at `at`: header (hash, key and rest lengths), key, rest.
    @inline(__always)
    private static func write(_ at: UnsafeMutableRawPointer, hash: UInt64, key: UnsafeRawBufferPointer, rest: UnsafeRawBufferPointer) {
        at.storeBytes(of: hash, as: UInt64.self)
        at.storeBytes(of: UInt32(key.count), toByteOffset: 8, as: UInt32.self)
        at.storeBytes(of: UInt32(rest.count), toByteOffset: 12, as: UInt32.self)
        if let k = key.baseAddress { Bytes.copy(at + headerBytes, k, key.count) }
        if let r = rest.baseAddress { Bytes.copy(at + headerBytes + key.count, r, rest.count) }
    }

    /// Makes room for a record of `need` bytes (and a slot): a new arena page and/or a
    /// bigger slot array, reserved first (old and new slots both, while they move). False
    /// when the table had to spill instead: the caller then writes the record to its
    /// partition.
    private func makeRoom(_ need: Int, newSlot: Bool, level: Int) throws(SpillError) -> Bool {
        let slotBytes = Self.slotBytes
        let needSlots = newSlot && (used + 1) * 10 > slotCount * 7
        let page = arena.bytesToGrow(for: need)
        if !needSlots && page == 0 { return true }
        let slotTarget = needSlots ? Swift.max(slotCount * 2, 64) : slotCount
        let steady = arena.allocatedBytes + page + slotTarget * slotBytes
        let peak = steady + (needSlots ? slotCount * slotBytes : 0)
        if peak <= memoryMaxBytes && reservation.tryResize(to: peak) {
            if needSlots { rehash(slotTarget) }
            _ = reservation.tryResize(to: steady) // shrinking always succeeds
            return true
        }
        try spillTable(level: level)
        return false
    }

    private func rehash(_ count: Int) {
        let fresh = LargeMemory.allocate(Slot.self, capacity: count)
        fresh.initialize(repeating: Slot(hash: 0, location: 0), count: count)
        let mask = count - 1
        for s in 0..<slotCount where slots[s].location != 0 {
            var i = Int(truncatingIfNeeded: slots[s].hash) & mask
            while fresh[i].location != 0 { i = (i + 1) & mask }
            fresh[i] = slots[s]
        }
        LargeMemory.deallocate(slots)
        slots = fresh
        slotCount = count
    }

    @inline(__always)
    private func record(at p: UnsafeMutableRawPointer) -> (UInt64, UnsafeRawBufferPointer, UnsafeRawBufferPointer, Int, Bool) {
        let hash = p.loadUnaligned(as: UInt64.self)
        let k = Int(p.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        let rawRest = p.loadUnaligned(fromByteOffset: 12, as: UInt32.self)
        let r = Int(rawRest & ~Self.deadBit)
        return (hash, UnsafeRawBufferPointer(start: p + Self.headerBytes, count: k),
                UnsafeRawBufferPointer(start: p + Self.headerBytes + k, count: r), Self.headerBytes + k + r, rawRest & Self.deadBit != 0)
    }

    // MARK: spilling

    @inline(__always)
    static func partition(_ hash: UInt64, level: Int) -> Int {
        Int((hash >> UInt64(64 - bitsPerLevel * (level + 1))) & UInt64(fanOut - 1))
    }

    /// Moves every record of the table to partition files of `level`, empties the table,
    /// and routes later records of this level there.
    private func spillTable(level: Int) throws(SpillError) {
        guard level <= Self.levelsMax else {
            throw budget.exhausted(consumer + " (one hash partition holds more distinct keys than the budget after \(Self.levelsMax + 1) splits)", Self.headerBytes)
        }
        precondition(writers.isEmpty, "\(consumer): partition writers already open")
        stats.spills += 1
        stats.deepestLevel = Swift.max(stats.deepestLevel, level)
        writersLevel = level
        var opened: [SpillWriter] = []
        for _ in 0..<Self.fanOut {
            opened.append(try spill.newWriter(label: "hash-l\(level)", consumer: consumer, blockBytes: blockBytes, compresses: false))
        }
        writers = SpillWriterSet(opened)
        // A sequential walk of the arena (live records in the order they were added),
        // not the slots' hash order.
        for page in 0..<arena.pagesInUse {
            let base = arena.pageStart(page)
            let end = arena.usedBytes(page)
            var o = 0
            while o < end {
                let (hash, key, rest, size, dead) = record(at: base + o)
                if !dead { try writePartitioned(hash: hash, key: key, rest: rest) }
                o += size
            }
        }
        clearTable()
    }

    private func writePartitioned(hash: UInt64, key: UnsafeRawBufferPointer, rest: UnsafeRawBufferPointer) throws(SpillError) {
        let at = try writers.claim(Self.partition(hash, level: writersLevel), Self.headerBytes + key.count + rest.count)
        Self.write(at, hash: hash, key: key, rest: rest)
    }

    /// Finishes the open partition writers and queues their files (level order kept:
    /// partition 0 first).
    private func closeWriters() throws(SpillError) {
        var files: [(SpillFile, Int)] = []
        for w in writers.writers {
            let f = try w.finish()
            stats.spillFiles += 1
            stats.spillBytesWritten += f.bytes
            if f.records > 0 {
                files.append((f, writersLevel + 1))
            } else {
                spill.discard(f) // empty partition: nothing to read back
            }
        }
        writers = SpillWriterSet()
        // A stack: the first partition is processed first.
        pending.append(contentsOf: files.reversed())
    }

    private func clearTable() {
        if slotCount > 0 { slots.update(repeating: Slot(hash: 0, location: 0), count: slotCount) }
        used = 0
        arena.reset()
        cursorPage = 0
        cursorOffset = 0
    }

    // MARK: output

    public func finish() throws(SpillError) {
        precondition(!finished, "\(consumer): finish called twice")
        finished = true
        if !writers.isEmpty { try closeWriters() }
        cursorPage = 0
        cursorOffset = 0
        if !pending.isEmpty { try loadNextPartition() }
    }

    /// Loads the next pending partition into the (empty) table; a partition that
    /// overflows it is split again, and its parts are processed first.
    private func loadNextPartition() throws(SpillError) {
        while let (file, level) = pending.popLast() {
            clearTable()
            presize(keys: file.records)
            let reader = try SpillReader(file: file, manager: spill, consumer: consumer, blockBytes: blockBytes)
            while true {
                let n = try reader.next(upTo: Self.probeBatch, into: batch)
                if n == 0 { break }
                try insertBatch(n, level: level)
            }
            reader.close()
            if writers.isEmpty { return }
            // It overflowed: its records now sit in the next level's partitions.
            try closeWriters()
        }
        clearTable()
    }

    /// Sizes the empty table's slots for `keys` keys at most, when the budget allows, so
    /// that loading a partition does not rehash again and again as it grows.
    private func presize(keys: Int) {
        var target = 64
        while target * 7 < keys * 10 { target <<= 1 }
        guard target > slotCount, used == 0 else { return }
        let steady = arena.allocatedBytes + target * Self.slotBytes
        let peak = steady + slotCount * Self.slotBytes // old and new slots, while they move
        guard peak <= memoryMaxBytes, reservation.tryResize(to: peak) else { return }
        rehash(target)
        _ = reservation.tryResize(to: steady) // shrinking always succeeds
    }

    /// Inserts the `n` records of `batch` (spill-file records: header, key, rest). Each
    /// probe's first slot is a cache miss in a table larger than the cache: the slot of
    /// the record `slotAhead` places ahead is prefetched, and `recordAhead` places ahead
    /// (its slot has arrived by then) the record that slot points to, when the hash
    /// matches: a key seen before is compared with its record (most rows of an
    /// aggregation). A rolling distance keeps a steady number of misses in flight.
    private func insertBatch(_ n: Int, level: Int) throws(SpillError) {
        let batch = self.batch
        let prefetching = slotCount > 0 && !(level == writersLevel && !writers.isEmpty)
        let slots = self.slots
        let mask = slotCount - 1
        let slotAhead = 16, recordAhead = 8
        @inline(__always) func hash(_ j: Int) -> UInt64 { batch[j].loadUnaligned(as: UInt64.self) }
        @inline(__always) func prefetchRecord(_ j: Int) {
            let h = hash(j)
            let slot = slots[Int(truncatingIfNeeded: h) & mask]
            if slot.location != 0 && slot.hash == h { batchrun_prefetch_write(arena.pointer(slot.location - 1)) }
        }
        if prefetching {
            for j in 0..<Swift.min(slotAhead, n) { batchrun_prefetch_write(slots + (Int(truncatingIfNeeded: hash(j)) & mask)) }
        }
        for j in 0..<n {
            // Growing the table (in insert) moves the slots: prefetch only while they stay.
            if prefetching && slotCount - 1 == mask && self.slots == slots {
                if j + slotAhead < n { batchrun_prefetch_write(slots + (Int(truncatingIfNeeded: hash(j + slotAhead)) & mask)) }
                if j + recordAhead < n { prefetchRecord(j + recordAhead) }
            }
            let r = batch[j]
            let k = Int(r.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
            try insert(hash: hash(j), key: UnsafeRawBufferPointer(rebasing: r[Self.headerBytes..<(Self.headerBytes + k)]),
                       rest: UnsafeRawBufferPointer(rebasing: r[(Self.headerBytes + k)...]), level: level)
        }
    }

    /// The next surviving record: its key and its rest (for dedup, use `dedupParts`).
    public func next() throws(SpillError) -> (key: UnsafeRawBufferPointer, rest: UnsafeRawBufferPointer)? {
        precondition(finished, "\(consumer): next before finish")
        while true {
            // Walk the arena: live records in the order they were added.
            while cursorPage < arena.pagesInUse {
                if cursorOffset >= arena.usedBytes(cursorPage) {
                    cursorPage += 1
                    cursorOffset = 0
                    continue
                }
                let (_, key, rest, size, dead) = record(at: arena.pageStart(cursorPage) + cursorOffset)
                cursorOffset += size
                if !dead {
                    stats.rowsOut += 1
                    return (key, rest)
                }
            }
            guard !pending.isEmpty else { return nil }
            try loadNextPartition()
        }
    }

    /// Splits a dedup record's rest into its order bytes and payload.
    public static func dedupParts(_ rest: UnsafeRawBufferPointer) -> (order: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        let n = Int(rest.loadUnaligned(as: UInt32.self))
        return (UnsafeRawBufferPointer(rebasing: rest[4..<(4 + n)]), UnsafeRawBufferPointer(rebasing: rest[(4 + n)...]))
    }
}
