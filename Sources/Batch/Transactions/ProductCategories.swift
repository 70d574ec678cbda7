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
        var (low, high) = (Int64.max, Int64.min)
        var range: ClosedRange<Int64>? { low <= high ? low...high : nil }
        // The map's layout depends on the ids' range: it is reserved once they are read.
        let remedy = MemoryBudget.fixedSizeRemedy("the \(count) products stay in memory for the broadcast join")
        reservation = try budget.reserve(count * 12, for: "gold product lookup", remedy: remedy)
        do {
            ids.reserveCapacity(count)
            categoryOf.reserveCapacity(count)
            while case let n = try scan.next(), n > 0 {
                for r in 0..<n {
                    let id = scan.vectors[0].int64(r)
                    ids.append(id)
                    (low, high) = (min(low, id), max(high, id))
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
            try reservation.resize(to: Int64Map.bytes(count: count, range: range) + count * 12 + nameBytes * 2 + distinct.count * 64, remedy: remedy)
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
        map = Int64Map(count: count, range: range)
        for (i, id) in ids.enumerated() {
            map.set(id, categoryOf[i] < 0 ? 0 : rankOf[Int(categoryOf[i])])
        }
        // The ids and their categories are in the map now: their 12 bytes a product go back.
        ids = []
        categoryOf = []
        _ = reservation.tryResize(to: map.layout.bytes + nameBytes * 2 + distinct.count * 64)
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
