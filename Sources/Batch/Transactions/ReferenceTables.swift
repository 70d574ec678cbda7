import Segments

/// The reference tables of the transactions pipeline as the hand-wired silver and gold
/// read them (pipelines/transactions.yaml declares the same columns; a test checks it).
extension Reference {
    public struct File: Sendable {
        public var name: String
        public var schema: Schema
    }

    public static let customers = File(name: "customers", schema: Schema([
        Field("customer_id", .int64, nullable: false), Field("name", .string), Field("country", .string),
        Field("segment", .string), Field("signup_date", .date),
    ]))

    public static let products = File(name: "products", schema: Schema([
        Field("product_id", .int64, nullable: false), Field("name", .string), Field("category", .string),
        Field("list_price", .decimal(scale: 2)),
    ]))

    public static let fxRates = File(name: "fx_rates", schema: Schema([
        Field("currency", .string, nullable: false), Field("usd_per_unit", .decimal(scale: 6)),
    ]))

    public static let all = [customers, products, fxRates]
}
