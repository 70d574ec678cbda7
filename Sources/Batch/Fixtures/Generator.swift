import Foundation
import Segments

/// Writes a landing zone exactly as docs/TRANSACTIONS.md section 1 describes, byte for byte the
/// same for the same flags, plus `_expected.json`: the row counts each layer must have.
///
/// Every transaction record `i` is one of (decided by a hash of the seed and `i`):
/// ```
///   dirty      fails exactly one quarantine rule (spread over the 11 reasons); fresh id
///   duplicate  an exact re-send of an earlier fresh record j (the same text)
///   update     a later version of an earlier fresh record j: same id, later updated_at,
///              sometimes another status or event_time
///   fresh      a valid new transaction
/// ```
/// so `silver = fresh`, `duplicates_removed = duplicates + updates`, and each reason's
/// quarantine count is its number of dirty records. Benign noise that must not be
/// rejected is everywhere: mixed case, padding, quoted fields, time-zone offsets,
/// fractional seconds, CRLF files, a byte-order mark, reordered and extra header columns.
public struct Generator: Sendable {
    public struct Options: Sendable {
        public var records: Int
        public var seed: UInt64 = 42
        public var files = 4
        /// The last `compressedFiles` transaction files are written as `.csv.zst`.
        public var compressedFiles = 0
        public var days = 90
        /// First day of the events, days since 1970-01-01 (default 2025-01-01).
        public var startDay = 20_089
        public var customers: Int?
        public var products: Int?
        public var updateRate = 0.05
        public var dupRate = 0.02
        public var dirtyRate = 0.03
        /// Benign formatting noise (mixed case, padding, quoting, zones...).
        public var noise = true
        /// `time`: records in event-time order, ids ascending, as an append-only feed
        /// writes them; `random`: ids and event times scattered over the files, as real
        /// feeds arrive (the same records, counts and `_expected.json`).
        public var order: Order = .time
        public var threads = 2

        public init(records: Int) { self.records = records }

        public var customerCount: Int { customers ?? max(10, records / 50) }
        public var productCount: Int { products ?? max(10, records / 100) }
    }

    public enum Order: String, Sendable, CaseIterable { case time, random }

    /// Record `i`'s place in time and id, `0..<records`: `i` itself in time order; in
    /// random order a bijection that scatters neighbours, i -> (a*i + b) mod n with a
    /// coprime to n near n/phi.
    struct Scatter: Sendable {
        let n: Int, a: Int, b: Int
        let random: Bool

        init(records n: Int, seed: UInt64, random: Bool) {
            self.n = n
            self.random = random && n > 2
            var a = max(1, Int(Double(n) * 0.618_033_988_749_894_9)) | 1
            while self.random && Self.gcd(a, n) != 1 { a += 2 }
            self.a = a
            b = n > 0 ? Int(seed % UInt64(n)) : 0
        }

        static func gcd(_ x: Int, _ y: Int) -> Int { y == 0 ? x : gcd(y, x % y) }

        func callAsFunction(_ i: Int) -> Int {
            guard random else { return i }
            return Int((UInt64(a) &* UInt64(i) &+ UInt64(b)) % UInt64(n))
        }
    }

    /// Where record `i` falls in time and which id it carries (`Scatter`).
    func slot(_ i: Int) -> Int { scatter(i) }

    /// The transaction file's columns, in the order the files have them.
    public static let transactionColumns = [
        "transaction_id", "customer_id", "product_id", "quantity", "unit_price",
        "currency", "status", "channel", "event_time", "updated_at",
    ]

    public static let reasons = [
        "malformed_row", "missing_id", "bad_number", "bad_timestamp", "bad_quantity", "bad_price",
        "bad_status", "bad_channel", "unknown_currency", "unknown_customer", "unknown_product",
    ]

    /// Currencies with USD per unit (millionths).
    static let currencies: [(String, Int64)] = [
        ("USD", 1_000_000), ("EUR", 1_083_400), ("GBP", 1_267_900), ("JPY", 6_712), ("CHF", 1_131_500),
        ("CAD", 738_200), ("AUD", 659_800), ("SEK", 95_310), ("INR", 12_004), ("BRL", 201_450),
    ]
    /// Cumulative weights (out of 100) of drawing each currency.
    static let currencyWeights = [45, 65, 75, 80, 84, 88, 92, 95, 98, 100]
    static let statuses = ["completed", "pending", "cancelled", "refunded"]
    static let statusWeights = [70, 80, 88, 100]
    static let channels = ["web", "mobile", "store"]
    static let channelWeights = [50, 85, 100]
    static let categories = ["Electronics", "Books", "Home & Garden", "Toys", "Grocery", "Sports, Outdoors", "Beauty", "Automotive"]
    static let countries = ["US", "DE", "GB", "FR", "JP", "CA", "BR", "IN", "AU", "CH"]
    static let segments = ["consumer", "corporate", "small_business"]
    static let firstNames = ["Ana", "Bjørn", "Chloé", "Dmitri", "Eve", "François", "Grace", "Hiroshi", "Ines", "José", "Kai", "Zoë"]
    static let lastNames = ["O'Brien", "Smith", "Müller", "García", "Nguyen", "Kowalski", "Rossi", "Tanaka", "Dubois", "Silva"]

    public struct Expected: Sendable, Equatable {
        /// The quarantine reasons in the pipeline's order.
        public var reasons = Generator.reasons
        public var bronze = 0
        public var quarantined: [String: Int] = [:]
        public var duplicatesRemoved = 0
        public var silver = 0

        public var json: JSON {
            .object([
                ("bronze", .int(bronze)),
                ("quarantined", .object(reasons.map { ($0, .int(quarantined[$0] ?? 0)) })),
                ("duplicates_removed", .int(duplicatesRemoved)),
                ("silver", .int(silver)),
            ])
        }
    }

    public struct Result: Sendable {
        public var expected: Expected
        public var files: [String]
        public var bytes: Int
        /// What the user should know about the zone (hints that could not be met).
        public var notes: [String] = []
    }

    public let options: Options
    let scatter: Scatter

    public init(options: Options) {
        precondition(options.records >= 0 && options.files >= 1 && options.days >= 1)
        self.options = options
        scatter = Scatter(records: options.records, seed: options.seed, random: options.order == .random)
    }

    // MARK: record kinds

    enum Kind: Equatable {
        case fresh
        case dirty(Int)
        case duplicate(of: Int)
        case update(of: Int)
    }

    @inline(__always)
    func rng(_ i: Int, _ salt: UInt64) -> SplitMix64 {
        SplitMix64(seed: options.seed &* 0x9E37_79B9_7F4A_7C15 ^ (UInt64(i) &* 0xD1B5_4A32_D192_ED03) ^ salt)
    }

    /// The kind of record `i` before looking for the earlier record it refers to.
    func baseKind(_ i: Int) -> (Int, UInt64) {
        var r = rng(i, 0x4B49_4E44)
        let u = Double(r.next() >> 11) / Double(1 << 53)
        let pick = r.next()
        if u < options.dirtyRate { return (1, pick) }
        if u < options.dirtyRate + options.dupRate { return (2, pick) }
        if u < options.dirtyRate + options.dupRate + options.updateRate { return (3, pick) }
        return (0, pick)
    }

    func kind(_ i: Int) -> Kind {
        let (k, pick) = baseKind(i)
        switch k {
        case 1: return .dirty(Int(pick % UInt64(Self.reasons.count)))
        case 2, 3:
            // An earlier fresh record, usually not far back.
            guard i > 0 else { return .fresh }
            var j = i - 1 - Int((pick >> 8) % UInt64(min(i, 50_000)))
            while j >= 0 && baseKind(j).0 != 0 { j -= 1 }
            if j < 0 { return .fresh }
            return k == 2 ? .duplicate(of: j) : .update(of: j)
        default: return .fresh
        }
    }

    // MARK: writing

    public func write(to raw: String) throws -> Result {
        try SystemIO.makeDirectories(raw + "/transactions")
        var expected = Expected()
        expected.bronze = options.records
        // Count the kinds in parallel slices; the files are written in parallel too.
        let slices = max(1, min(64, options.records / 100_000 + 1))
        let counts = SharedSlots<[Int]>(count: slices)
        let records = options.records
        try Parallel.run(workers: options.threads) { _, next in
            while let s = next(slices) {
                var c = [Int](repeating: 0, count: Self.reasons.count + 3)
                for i in (s * records / slices)..<((s + 1) * records / slices) {
                    switch kind(i) {
                    case .fresh: c[0] += 1
                    case .duplicate: c[1] += 1
                    case .update: c[2] += 1
                    case .dirty(let r): c[3 + r] += 1
                    }
                }
                counts.set(s, c)
            }
        }
        var total = [Int](repeating: 0, count: Self.reasons.count + 3)
        for s in 0..<slices { for (k, v) in (counts.get(s) ?? []).enumerated() { total[k] += v } }
        expected.silver = total[0]
        expected.duplicatesRemoved = total[1] + total[2]
        for (r, name) in Self.reasons.enumerated() { expected.quarantined[name] = total[3 + r] }

        let names: [String] = (0..<options.files).map { f in
            let digits = String(f)
            let base = "transactions/part-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits + ".csv"
            return f >= options.files - options.compressedFiles ? base + ".zst" : base
        }
        let bytes = SharedSlots<Int>(count: names.count + 3)
        let fileCount = names.count
        try Parallel.run(workers: options.threads) { _, next in
            while let f = next(fileCount + 3) {
                let out = try GeneratedFile(path: raw + "/" + (f < fileCount ? names[f] : ["customers.csv", "products.csv", "fx_rates.csv"][f - fileCount]),
                                        compressed: f < fileCount && names[f].hasSuffix(".zst"))
                switch f - fileCount {
                case 0: try writeCustomers(out)
                case 1: try writeProducts(out)
                case 2: writeRates(out)
                default: try writeTransactions(file: f, out)
                }
                bytes.set(f, try out.finish())
            }
        }
        let json = expected.json.rendered() + "\n"
        try SystemIO.writeFileAtomically(raw + "/_expected.json", Array(json.utf8))
        return Result(expected: expected, files: names + ["customers.csv", "products.csv", "fx_rates.csv"],
                      bytes: (0..<(names.count + 3)).reduce(0) { $0 + (bytes.get($1) ?? 0) })
    }

    // MARK: transactions

    /// The columns in the order a file's header lists them, and whether it has an extra one.
    func layout(file: Int) -> (order: [Int], extra: Bool, crlf: Bool, bom: Bool) {
        guard options.noise else { return (Array(0..<10), false, false, false) }
        var r = rng(file, 0x4C41_594F)
        var order = Array(0..<10)
        if file % 2 == 1 { order.shuffle(using: &r) }
        return (order, file % 3 == 1, file % 2 == 1, file % 4 == 0)
    }

    func writeTransactions(file: Int, _ out: GeneratedFile) throws {
        let (order, extra, crlf, bom) = layout(file: file)
        let eol: StaticString = crlf ? "\r\n" : "\n"
        if bom { out.raw([0xEF, 0xBB, 0xBF]) }
        var headerNoise = rng(file, 0x4845_4144)
        for (k, c) in order.enumerated() {
            if k > 0 { out.byte(0x2C) }
            var name = Self.transactionColumns[c]
            if options.noise && headerNoise.next(below: 4) == 0 { name = " " + name.uppercased() }
            out.text(name)
        }
        if extra { out.text(",source_system") }
        out.text(eol)
        let first = file * options.records / options.files
        let last = (file + 1) * options.records / options.files
        var fields = [FieldText](repeating: FieldText(), count: 10)
        for i in first..<last {
            let recordKind = kind(i)
            switch recordKind {
            case .fresh: fill(&fields, fresh: i, noiseFrom: i)
            case .duplicate(let j): fill(&fields, fresh: j, noiseFrom: j)
            case .update(let j): fill(&fields, update: i, of: j)
            case .dirty(let reason): fill(&fields, dirty: i, reason: reason)
            }
            var r = rng(i, 0x5241_4747)
            var count = 10
            if case .dirty(0) = recordKind { count = r.next(below: 2) == 0 ? 8 : 11 }
            for k in 0..<min(count, 10) {
                if k > 0 { out.byte(0x2C) }
                out.field(fields[order[k]])
            }
            if count > 10 { out.text(",surplus") }
            if extra && count == 10 { out.text(r.next(below: 2) == 0 ? ",pos" : ",\"web-shop, eu\"") }
            if extra && count != 10 { out.text(",pos") }
            out.text(eol)
            if options.noise && r.next(below: 5000) == 0 { out.text(eol) } // a stray blank line
            try out.flushIfNeeded()
        }
    }

    /// The values of fresh record `i`.
    struct Values {
        var id: Int
        var customer: Int
        var product: Int
        var quantity: Int
        var cents: Int64
        var currency: Int
        var status: Int
        var channel: Int
        var eventMicros: Int64
        var updatedMicros: Int64
    }

    static func weighted(_ weights: [Int], _ r: inout SplitMix64) -> Int {
        let x = r.next(below: 100)
        return weights.firstIndex { x < $0 } ?? 0
    }

    func values(_ i: Int) -> Values {
        var r = rng(i, 0x5641_4C53)
        let span = Int64(options.days) * CivilTime.microsPerDay
        let base = Int64(options.startDay) * CivilTime.microsPerDay
        let position = options.records > 0 ? Int64(Double(span) * Double(slot(i)) / Double(options.records)) : 0
        let jitter = Int64(r.next(below: 7_200)) * 1_000_000 - 3_600_000_000
        var event = min(max(base, base + position + jitter), base + span - 1)
        event -= event % 1_000_000
        // A skewed customer choice: some customers buy far more often.
        let c = options.customerCount
        let u = Double(r.next() >> 11) / Double(1 << 53)
        let customer = 1 + min(c - 1, Int(Double(c) * u * u))
        let product = 1 + r.next(below: options.productCount)
        let quantity = r.next(below: 20) == 0 ? 10 + r.next(below: 991) : 1 + r.next(below: 5)
        let cents = Int64(99 + r.next(below: 50_000))
        return Values(id: slot(i), customer: customer, product: product, quantity: quantity, cents: cents,
                      currency: Self.weighted(Self.currencyWeights, &r), status: Self.weighted(Self.statusWeights, &r),
                      channel: Self.weighted(Self.channelWeights, &r), eventMicros: event,
                      updatedMicros: event + Int64(r.next(below: 3_600)) * 1_000_000)
    }

    func fill(_ f: inout [FieldText], fresh i: Int, noiseFrom n: Int) {
        var noise = rng(n, 0x4E4F_4953)
        render(&f, values(i), &noise)
    }

    func fill(_ f: inout [FieldText], update i: Int, of j: Int) {
        var v = values(j)
        var r = rng(i, 0x5550_4454)
        v.updatedMicros += Int64(1 + r.next(below: 72 * 3600)) * 1_000_000
        if r.next(below: 2) == 0 { v.status = r.next(below: Self.statuses.count) }
        if r.next(below: 10) == 0 { v.eventMicros += Int64(r.next(below: 86_400)) * 1_000_000 } // a correction, maybe to the next day
        if v.updatedMicros <= v.eventMicros { v.updatedMicros = v.eventMicros + 1_000_000 }
        var noise = rng(i, 0x4E4F_4953)
        render(&f, v, &noise)
    }

    func fill(_ f: inout [FieldText], dirty i: Int, reason: Int) {
        var v = values(i)
        var noise = rng(i, 0x4E4F_4953)
        var r = rng(i, 0x4449_5254)
        render(&f, v, &noise)
        switch Self.reasons[reason] {
        case "malformed_row": break // the writer drops or adds fields
        case "missing_id": f[0].set(r.next(below: 2) == 0 ? "" : "   ")
        case "bad_number":
            let k = 1 + r.next(below: 4)
            let bad = ["abc", "12x", "", "99999999999999999999", "1.5e3", "--3"]
            f[k].set(k == 4 ? ["12.345", "1,5", "", "$12.00", "1.", ".5"][r.next(below: 6)] : bad[r.next(below: bad.count)])
        case "bad_timestamp":
            let bad = ["2025-02-30T10:00:00Z", "2025-01-01T24:00:00Z", "01/02/2025 10:00", "", "2025-13-01T00:00:00Z",
                       "2025-01-01T10:00:00+19:00", "2025-01-01", "2025-01-01T10:00:00.1234567Z", "yesterday"]
            f[8 + r.next(below: 2)].set(bad[r.next(below: bad.count)])
        case "bad_quantity": f[3].set(["0", "-1", "1001", "5000", "-40"][r.next(below: 5)])
        case "bad_price": f[4].set(["-5.00", "-0.01", "-120", "-3.5"][r.next(below: 4)])
        case "bad_status": f[6].set(["shipped", "unknown", "", "complete", "REFUND"][r.next(below: 5)])
        case "bad_channel": f[7].set(["fax", "email", "", "phone", "webs"][r.next(below: 5)])
        case "unknown_currency": f[5].set(["XXX", "BTC", "", "US", "EURO"][r.next(below: 5)])
        case "unknown_customer":
            v.customer = options.customerCount + 1 + r.next(below: 1000)
            f[1].set(r.next(below: 4) == 0 ? "0" : String(v.customer))
        default: // unknown_product
            v.product = options.productCount + 1 + r.next(below: 1000)
            f[2].set(r.next(below: 4) == 0 ? "-7" : String(v.product))
        }
    }

    /// Renders values as field text, with benign noise drawn from `n`.
    func render(_ f: inout [FieldText], _ v: Values, _ n: inout SplitMix64) {
        // One record in four carries noise; the rest are written plainly, as most of a
        // real feed is.
        let noisy = options.noise && n.next() & 3 == 0
        let pick = noisy ? n.next() : 0
        // A 64-bit draw gives 16 independent 4-bit choices.
        func choice(_ k: Int) -> Int { Int((pick >> UInt64(4 * k)) & 15) }
        f[0].setID(v.id)
        f[1].setInt(v.customer)
        f[2].setInt(v.product)
        f[3].setInt(v.quantity)
        f[4].setCents(v.cents, style: noisy ? choice(0) % 4 : 0)
        f[5].setCased(Self.currencies[v.currency].0, style: noisy ? choice(1) : 0)
        f[6].setCased(Self.statuses[v.status], style: noisy ? choice(2) : 0)
        f[7].setCased(Self.channels[v.channel], style: noisy ? choice(3) : 0)
        f[8].setTimestamp(v.eventMicros, style: noisy ? choice(4) : 0, offsetPick: choice(5))
        f[9].setTimestamp(v.updatedMicros, style: noisy ? choice(6) : 0, offsetPick: choice(7))
        for k in 0..<10 {
            f[k].quoted = noisy && choice(8 + k % 8) == 0 && k != 0
            f[k].padded = noisy && choice((9 + k) % 16) == 1
        }
        if noisy && choice(15) == 0 { f[0].quoted = true }
    }

    // MARK: reference files

    func writeCustomers(_ out: GeneratedFile) throws {
        out.text("customer_id,name,country,segment,signup_date\n")
        var r = rng(0, 0x4355_5354)
        let count = options.customerCount
        func row(_ id: Int, _ r: inout SplitMix64) {
            out.text(String(id))
            out.byte(0x2C)
            var name = Self.firstNames[r.next(below: Self.firstNames.count)] + " " + Self.lastNames[r.next(below: Self.lastNames.count)]
            switch r.next(below: 20) {
            case 0: name += ", Jr."
            case 1: name = "\"" + name + "\" & Co"
            case 2: name += "\nc/o Accounts"
            default: break
            }
            out.quotedIfNeeded(name)
            out.byte(0x2C)
            out.text(Self.countries[r.next(below: Self.countries.count)])
            out.byte(0x2C)
            out.text(Self.segments[r.next(below: Self.segments.count)])
            out.byte(0x2C)
            out.text(ValueText.date(Int32(options.startDay - 30 - r.next(below: 2_000))))
            out.text("\n")
        }
        for id in 1...count {
            row(id, &r)
            try out.flushIfNeeded()
        }
        // Re-sent rows for a few keys: the later row wins.
        for id in 1...min(3, count) { row(id, &r) }
    }

    func writeProducts(_ out: GeneratedFile) throws {
        out.text("product_id,name,category,list_price\n")
        var r = rng(0, 0x5052_4F44)
        for id in 1...options.productCount {
            out.text(String(id))
            out.byte(0x2C)
            out.quotedIfNeeded("Item \(id) " + ["\"Deluxe\"", "Basic", "Pro, 2-pack", "Mini"][r.next(below: 4)])
            out.byte(0x2C)
            out.quotedIfNeeded(Self.categories[r.next(below: Self.categories.count)])
            out.byte(0x2C)
            out.text(ValueText.decimal(Int64(99 + r.next(below: 50_000)), scale: 2))
            out.text("\n")
            try out.flushIfNeeded()
        }
    }

    func writeRates(_ out: GeneratedFile) {
        out.text("currency,usd_per_unit\n")
        for (k, (code, rate)) in Self.currencies.enumerated() {
            // The first row of EUR is superseded by a later one (the later row wins).
            if code == "EUR" { out.text("eur,1.0000\n") }
            out.text(k % 3 == 1 ? code.lowercased() : code)
            out.byte(0x2C)
            out.text(ValueText.decimal(rate, scale: 6))
            out.text("\n")
        }
    }
}
