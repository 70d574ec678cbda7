import Spill

/// One bit per bronze row: the rows whose version survives deduplication. Its memory
/// (rows / 8 bytes: 12.5 MB for 100M rows) is reserved from the budget.
final class RowBitmap: @unchecked Sendable { // set while one thread builds it, then only read
    private let words: UnsafeMutablePointer<UInt64>
    private let wordCount: Int
    private let reservation: Reservation

    init(rows: Int, budget: MemoryBudget) throws {
        wordCount = max(1, (rows + 63) / 64)
        reservation = try budget.reserve(wordCount * 8, for: "silver survivors bitmap")
        words = .allocate(capacity: wordCount)
        words.initialize(repeating: 0, count: wordCount)
    }

    deinit { words.deallocate() }

    @inline(__always) func set(_ row: Int) { words[row >> 6] |= 1 << UInt64(row & 63) }
    @inline(__always) func contains(_ row: Int) -> Bool { words[row >> 6] & (1 << UInt64(row & 63)) != 0 }
    func release() { reservation.end() }
}
