import Segments

/// The folders of a lake: `bronze`, `silver` and `quarantine` at the top, the gold
/// tables under `gold/`, the reference data (customers, products, fx_rates) under
/// `reference/`.
public enum Lake {
    public static let topTables = ["bronze", "silver", "quarantine"]
    /// Rows per row group of every lake table: a reader decodes one row group of a column
    /// at a time, so this bounds a scan's memory (about 2.5 MiB for a bronze row group of
    /// 15 columns), small enough for a 16 MiB budget; big enough for good compression.
    public static let rowGroupRows = 16_384
    public static let referenceTables = ["customers", "products", "fx_rates"]
    public static let goldTables = ["dim_date", "dim_customer", "dim_product", "fact_transactions", "daily_sales", "customer_monthly"]

    /// The folder of table `name`, or a `missingInput` error listing the tables there are.
    public static func tablePath(lake: String, name: String) throws -> String {
        let candidates = topTables.contains(name) ? [lake + "/" + name] : [lake + "/gold/" + name, lake + "/reference/" + name, lake + "/" + name]
        for c in candidates where Table.exists(at: c) { return c }
        let present = (topTables.map { lake + "/" + $0 } + goldTables.map { lake + "/gold/" + $0 } + referenceTables.map { lake + "/reference/" + $0 })
            .filter { Table.exists(at: $0) }
            .map { String($0.split(separator: "/").last ?? "") }
        throw BatchError(.missingInput, path: lake, "has no table '\(name)'; tables present: \(present.isEmpty ? "none (run batchrun run first)" : present.joined(separator: ", "))")
    }

    /// The current version of each input table, keyed `<name>_version`: what a derived
    /// table records in its commit to say what it was built from.
    public static func inputVersions(_ inputs: [(name: String, path: String)]) throws -> [String: String] {
        var out: [String: String] = [:]
        for (name, path) in inputs {
            out[name + "_version"] = String(try Table.versions(at: path).last ?? 0)
        }
        return out
    }

    /// True when `table`'s latest commit records exactly these input versions.
    public static func isBuilt(from inputs: [String: String], table: String) -> Bool {
        guard Table.exists(at: table), let info = (try? Table.snapshot(at: table))?.commitInfos.last else { return false } // unreadable: rebuild
        return inputs.allSatisfy { info[$0.key] == $0.value }
    }
}

/// What silver and gold are told: the lake and the engine flags they use.
public struct StageOptions: Sendable {
    public var lake: String
    public var batchRows = 65_536
    public var compression: Compression = .lz4
    /// 2: each pass runs as two stages on two threads (Parallel.pipeline); 1: in turn.
    public var threads = 2
    public init(lake: String) { self.lake = lake }
}
