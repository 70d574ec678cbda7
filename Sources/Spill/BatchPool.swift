import Foundation
import Segments

/// A fixed set of columnar batches of `--batch-rows` rows, made once, taken and given
/// back batch after batch: in steady state no batch memory is allocated.
///
/// Every batch's memory is reserved from the budget when the pool is made (a pool that
/// does not fit is an `outOfMemoryBudget` error naming the flags). The pool checks
/// ownership: giving back a batch it did not lend, or one already given back, traps;
/// `close()` traps when a batch is still out.
public final class BatchPool: @unchecked Sendable {
    public let schema: Schema
    public let batchRows: Int
    public let name: String
    private let lock = NSLock()
    private var free: [Int]
    private var isOut: [Bool]
    private let batches: [PooledBatch]
    private let reservation: Reservation
    private var closed = false

    /// Bytes one batch of `schema` takes: values, validity and, for strings, offsets plus
    /// `stringBytesPerRow` of text per row.
    public static func batchBytes(schema: Schema, rows: Int, stringBytesPerRow: Int = 16) -> Int {
        schema.fields.reduce(0) { total, f in
            let values = (f.type == .string ? rows + 1 : rows) * f.type.valueWidthBytes
            let validity = (rows + 63) / 64 * 8
            let heap = f.type == .string ? rows * stringBytesPerRow : 8
            return total + values + validity + heap
        }
    }

    public init(name: String, schema: Schema, batchRows: Int, count: Int, budget: MemoryBudget, stringBytesPerRow: Int = 16) throws(SpillError) {
        precondition(count >= 1 && batchRows >= 1)
        self.name = name
        self.schema = schema
        self.batchRows = batchRows
        reservation = try budget.reserve(count * Self.batchBytes(schema: schema, rows: batchRows, stringBytesPerRow: stringBytesPerRow),
                                         for: "\(name) batch pool (\(count) x \(batchRows) rows)")
        var made: [PooledBatch] = []
        for i in 0..<count {
            let columns = schema.fields.map { ColumnVector(type: $0.type, capacity: batchRows, heapBytes: $0.type == .string ? batchRows * stringBytesPerRow : 0) }
            made.append(PooledBatch(columns: columns, index: i))
        }
        batches = made
        free = Array((0..<count).reversed())
        isOut = Array(repeating: false, count: count)
        for b in batches { b.owner = self }
    }

    deinit { close() }

    public var capacity: Int { batches.count }
    public var available: Int { lock.withLock { free.count } }

    /// A batch, emptied; nil when all are out (the caller must give one back first).
    public func take() -> PooledBatch? {
        let i: Int? = lock.withLock {
            precondition(!closed, "\(name): take from a closed pool")
            guard let i = free.popLast() else { return nil }
            isOut[i] = true
            return i
        }
        guard let i else { return nil }
        let b = batches[i]
        b.reset()
        return b
    }

    /// Gives a batch back. Traps when it is not this pool's or is already back.
    public func give(_ batch: PooledBatch) {
        lock.withLock {
            precondition(batch.owner === self, "\(name): a batch given back to a pool it does not come from")
            precondition(isOut[batch.index], "\(name): batch \(batch.index) given back twice")
            isOut[batch.index] = false
            free.append(batch.index)
        }
    }

    /// Ends the pool: every batch must be back. Gives the memory back to the budget.
    public func close() {
        let wasOpen = lock.withLock { () -> Bool in
            defer { closed = true }
            return !closed
        }
        guard wasOpen else { return }
        let out = lock.withLock { isOut.enumerated().filter { $0.element }.map(\.offset) }
        precondition(out.isEmpty, "\(name): pool closed with batches \(out) still out; an operator did not give them back")
        for b in batches { b.owner = nil }
        reservation.end()
    }
}

/// One batch of a `BatchPool`: a column vector per schema field.
public final class PooledBatch {
    public let columns: [ColumnVector]
    let index: Int
    weak var owner: BatchPool?

    init(columns: [ColumnVector], index: Int) {
        self.columns = columns
        self.index = index
    }

    public var count: Int { columns.first?.count ?? 0 }
    public var isFull: Bool { columns.first?.isFull ?? true }

    public func reset() {
        for c in columns { c.reset() }
    }
}
