/// Distinct strings of one string vector, found with an open-addressing hash table.
///
/// Entries are the row numbers of first occurrences, so no string is copied. Slots carry
/// a generation number, so starting the next chunk clears nothing: the table is reused.
public final class StringDictionary {
    // slot = generation << 32 | (entry + 1); a slot of another generation is empty.
    private var slots: UnsafeMutablePointer<UInt64>
    private var slotCount: Int
    private var generation: UInt64 = 0
    private var entryRows: UnsafeMutablePointer<Int32>
    private var entryHashes: UnsafeMutablePointer<UInt64>
    private var entryCapacity: Int
    public private(set) var count = 0
    public private(set) var bytesTotal = 0
    private var lengths: UnsafeMutablePointer<Int32>

    public init() {
        slotCount = 1024
        slots = .allocate(capacity: slotCount)
        slots.initialize(repeating: 0, count: slotCount)
        entryCapacity = 512
        entryRows = .allocate(capacity: entryCapacity)
        entryHashes = .allocate(capacity: entryCapacity)
        lengths = .allocate(capacity: entryCapacity)
    }

    deinit {
        slots.deallocate()
        entryRows.deallocate()
        entryHashes.deallocate()
        lengths.deallocate()
    }

    public func firstRow(_ e: Int) -> Int { Int(entryRows[e]) }
    public func length(_ e: Int) -> Int { Int(lengths[e]) }

    /// Fills `indices[0..<v.count]` with each row's entry; false when more than
    /// `entriesMax` distinct values turn up (then the dictionary is abandoned).
    /// Null rows get entry 0 (any valid index; the validity bitmap hides them).
    /// Rows after which a chunk whose values are still nearly all distinct gives up.
    static let probeRows = 1024

    public func build(_ v: ColumnVector, entriesMax: Int, indices: UnsafeMutablePointer<UInt32>) -> Bool {
        let neededSlots = Swift.max(1024, (entriesMax * 2).nextPowerOfTwo)
        if neededSlots > slotCount {
            slots.deallocate()
            slotCount = neededSlots
            slots = .allocate(capacity: slotCount)
            slots.initialize(repeating: 0, count: slotCount)
            generation = 0
        }
        if entriesMax + 1 > entryCapacity {
            entryRows.deallocate()
            entryHashes.deallocate()
            lengths.deallocate()
            entryCapacity = entriesMax + 1
            entryRows = .allocate(capacity: entryCapacity)
            entryHashes = .allocate(capacity: entryCapacity)
            lengths = .allocate(capacity: entryCapacity)
        }
        generation &+= 1
        if generation >= (1 << 31) {
            slots.update(repeating: 0, count: slotCount)
            generation = 1
        }
        count = 0
        bytesTotal = 0
        let mask = slotCount - 1
        // Nearly every value of the first rows distinct (ids, names): a dictionary will not
        // pay, so stop here rather than hash half the chunk to find that out.
        let probeRows = v.count >= 4 * Self.probeRows ? Self.probeRows : Int.max
        for row in 0..<v.count {
            if row == probeRows && count * 8 > probeRows * 7 { return false }
            if v.isNull(row) { indices[row] = 0; continue }
            let found: Int? = v.withString(row) { bytes in
                let h = Bytes.hash(bytes)
                var s = Int(truncatingIfNeeded: h) & mask
                while true {
                    let slot = slots[s]
                    if slot >> 32 != generation {
                        guard count < entriesMax else { return nil }
                        let e = count
                        entryRows[e] = Int32(row)
                        entryHashes[e] = h
                        lengths[e] = Int32(bytes.count)
                        bytesTotal += bytes.count
                        count += 1
                        slots[s] = generation << 32 | UInt64(e + 1)
                        return e
                    }
                    let e = Int(slot & 0xFFFF_FFFF) - 1
                    if entryHashes[e] == h, v.withString(Int(entryRows[e]), { Bytes.equal($0, bytes) }) {
                        return e
                    }
                    s = (s + 1) & mask
                }
            }
            guard let e = found else { return false }
            indices[row] = UInt32(e)
        }
        return true
    }
}

extension Int {
    var nextPowerOfTwo: Int {
        guard self > 1 else { return 1 }
        return 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount)
    }
}
