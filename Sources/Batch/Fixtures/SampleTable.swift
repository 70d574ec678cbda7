import Segments

/// A deterministic generator of bronze-shaped rows, for the demo, tests and benchmarks:
/// ids, integers, decimals, timestamps and low-cardinality strings, in the column layout
/// of docs/TRANSACTIONS.md's transactions.
public struct SampleTable {
    public static let schema = Schema([
        Field("transaction_id", .string),
        Field("customer_id", .int64),
        Field("product_id", .int64),
        Field("quantity", .int64),
        Field("unit_price", .decimal(scale: 2)),
        Field("currency", .string),
        Field("status", .string),
        Field("channel", .string),
        Field("event_time", .timestamp),
        Field("updated_at", .timestamp),
    ])

    static let currencies = ["USD", "EUR", "GBP", "JPY", "CHF", "CAD"]
    static let statuses = ["completed", "completed", "completed", "pending", "cancelled", "refunded"]
    static let channels = ["web", "mobile", "store"]
    /// 2025-01-01T00:00:00Z in microseconds.
    static let startMicros: Int64 = 1_735_689_600_000_000

    public var seed: UInt64
    public var customers: Int
    public var products: Int
    /// Share of rows with a null in a nullable field, in percent.
    public var nullPercent: Int

    public init(seed: UInt64 = 42, customers: Int = 20_000, products: Int = 10_000, nullPercent: Int = 1) {
        self.seed = seed
        self.customers = customers
        self.products = products
        self.nullPercent = nullPercent
    }

    /// Fills `columns` (one per schema field, reset here) with rows `first..<first+count`.
    /// Row `i` is the same whatever batches it is generated in.
    public func fill(_ columns: [ColumnVector], first: Int, count: Int) {
        precondition(columns.count == Self.schema.count)
        for c in columns { c.reset() }
        var id = [UInt8](repeating: 0, count: 16)
        for i in first..<(first + count) {
            var rng = SplitMix64(seed: seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
            // transaction_id: "T" and 15 digits.
            id[0] = UInt8(ascii: "T")
            var n = i
            for k in stride(from: 15, through: 1, by: -1) {
                id[k] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
            }
            id.withUnsafeBytes { columns[0].appendString($0) }
            columns[1].appendInt64(Int64(rng.next(below: customers) + 1))
            columns[2].appendInt64(Int64(rng.next(below: products) + 1))
            columns[3].appendInt64(Int64(rng.next(below: 10) + 1))
            if rng.next(below: 100) < nullPercent { columns[4].appendNull() } else {
                columns[4].appendInt64(Int64(rng.next(below: 50_000) + 99))
            }
            columns[5].appendString(Self.currencies[rng.next(below: Self.currencies.count)])
            columns[6].appendString(Self.statuses[rng.next(below: Self.statuses.count)])
            columns[7].appendString(Self.channels[rng.next(below: Self.channels.count)])
            // About 3 seconds apart on average, with jitter: mostly increasing.
            let t = Self.startMicros + Int64(i) * 3_000_000 + Int64(rng.next(below: 2_000_000))
            columns[8].appendInt64(t)
            columns[9].appendInt64(t + Int64(rng.next(below: 600)) * 1_000_000)
        }
    }

    public static func makeColumns(capacity: Int) -> [ColumnVector] {
        schema.fields.map { ColumnVector(type: $0.type, capacity: capacity, heapBytes: capacity * 16) }
    }
}

/// SplitMix64: a small, fast, seedable generator with good statistical quality.
public struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in 0..<bound without modulo bias worth caring about for test data.
    public mutating func next(below bound: Int) -> Int {
        Int((next() >> 11) % UInt64(bound))
    }
}
