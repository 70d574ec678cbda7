import Segments
import Spill

/// The broadcast side of gold's join: product_id -> the rank of its category among the
/// distinct categories in byte order (0 = null), in an open-addressing table whose
/// memory is reserved from the budget.
public final class ProductCategories {
    private var map: Int64Map
    /// The distinct categories in rank order, from rank 1.
    private let names: ColumnVector
    private let reservation: Reservation

    public init(_ products: TableReader, budget: MemoryBudget) throws {
        let count = products.snapshot.rowCount
        let scan = TableScan(products, columns: [0, 2])
        var nameBytes = 0
        var distinct: [[UInt8]: Int32] = [:]
        var ids: [Int64] = []
        var categoryOf: [Int32] = []
        reservation = try budget.reserve(Int64Map.bytes(count: count) + count * 12, for: "gold product lookup",
                                         remedy: MemoryBudget.fixedSizeRemedy("the \(count) products stay in memory for the broadcast join"))
        do {
            ids.reserveCapacity(count)
            categoryOf.reserveCapacity(count)
            while case let n = try scan.next(), n > 0 {
                for r in 0..<n {
                    ids.append(scan.vectors[0].int64(r))
                    if scan.vectors[1].isNull(r) {
                        categoryOf.append(-1)
                        continue
                    }
                    let name = scan.vectors[1].withString(r) { Array($0) }
                    if let k = distinct[name] {
                        categoryOf.append(k)
                    } else {
                        let k = Int32(distinct.count)
                        distinct[name] = k
                        nameBytes += name.count
                        categoryOf.append(k)
                    }
                }
            }
            try reservation.resize(to: Int64Map.bytes(count: count) + count * 12 + nameBytes * 2 + distinct.count * 64)
        } catch {
            reservation.end()
            throw error
        }
        let sorted = distinct.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        var rankOf = [Int32](repeating: 0, count: sorted.count)
        let names = ColumnVector(type: .string, capacity: max(1, sorted.count), heapBytes: nameBytes)
        for (k, entry) in sorted.enumerated() {
            rankOf[Int(entry.value)] = Int32(k + 1)
            entry.key.withUnsafeBytes { names.appendString($0) }
        }
        self.names = names
        map = Int64Map(count: count)
        for (i, id) in ids.enumerated() {
            map.set(id, categoryOf[i] < 0 ? 0 : rankOf[Int(categoryOf[i])])
        }
    }

    /// The category rank of a product; silver's rule 11 guarantees it exists (0 if not).
    @inline(__always)
    public func rank(of id: Int64) -> Int32 { map.get(id) ?? 0 }

    /// Starts loading what `rank(of: id)` reads, for a probe some rows ahead.
    @inline(__always)
    public func prefetch(_ id: Int64) { map.prefetch(id) }

    public func appendCategory(rank: Int32, to out: ColumnVector) {
        if rank == 0 {
            out.appendNull()
        } else {
            names.withString(Int(rank - 1)) { out.appendString($0) }
        }
    }

    public func release() { reservation.end() }
}
