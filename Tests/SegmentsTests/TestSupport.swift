import Foundation
import Testing
@testable import Segments

/// A fresh folder under the temp dir, removed by `cleanup()`.
struct TempDir: Sendable {
    let path: String

    init(_ label: String = "seg") {
        path = NSTemporaryDirectory() + "batchrun-test-\(label)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.removeItem(atPath: path) // fresh name; nothing to remove normally
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            Issue.record("cannot create \(path): \(error)")
        }
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) } // best effort in tests
}

/// Values of one column in a plain, obviously-correct form: the oracle.
enum Values: Equatable {
    case ints([Int64?])          // int32, int64, decimal, date, timestamp
    case doubles([Double?])
    case bools([Bool?])
    case strings([[UInt8]?])

    var count: Int {
        switch self {
        case .ints(let v): return v.count
        case .doubles(let v): return v.count
        case .bools(let v): return v.count
        case .strings(let v): return v.count
        }
    }

    var nullCount: Int {
        switch self {
        case .ints(let v): return v.filter { $0 == nil }.count
        case .doubles(let v): return v.filter { $0 == nil }.count
        case .bools(let v): return v.filter { $0 == nil }.count
        case .strings(let v): return v.filter { $0 == nil }.count
        }
    }

    func slice(_ r: Range<Int>) -> Values {
        switch self {
        case .ints(let v): return .ints(Array(v[r]))
        case .doubles(let v): return .doubles(Array(v[r]))
        case .bools(let v): return .bools(Array(v[r]))
        case .strings(let v): return .strings(Array(v[r]))
        }
    }

    /// One null of this kind.
    var oneNull: Values {
        switch self {
        case .ints: return .ints([nil])
        case .doubles: return .doubles([nil])
        case .bools: return .bools([nil])
        case .strings: return .strings([nil])
        }
    }

    static func + (a: Values, b: Values) -> Values {
        switch (a, b) {
        case (.ints(let x), .ints(let y)): return .ints(x + y)
        case (.doubles(let x), .doubles(let y)): return .doubles(x + y)
        case (.bools(let x), .bools(let y)): return .bools(x + y)
        case (.strings(let x), .strings(let y)): return .strings(x + y)
        default: fatalError("mixed value kinds")
        }
    }

    /// Where two value lists first differ, for short failure messages; nil when equal.
    func firstDifference(_ other: Values) -> String? {
        if self == other { return nil }
        if count != other.count { return "\(count) rows vs \(other.count)" }
        for i in 0..<count where slice(i..<(i + 1)) != other.slice(i..<(i + 1)) {
            return "row \(i): \(String(describing: slice(i..<(i + 1))).prefix(200)) vs \(String(describing: other.slice(i..<(i + 1))).prefix(200))"
        }
        return "kinds differ"
    }

    /// Fills a vector with these values.
    func vector(_ type: ColumnType, capacity: Int? = nil) -> ColumnVector {
        let v = ColumnVector(type: type, capacity: max(capacity ?? count, 1))
        switch self {
        case .ints(let xs):
            for x in xs {
                guard let x else { v.appendNull(); continue }
                if type.valueWidthBytes == 4 { v.appendInt32(Int32(x)) } else { v.appendInt64(x) }
            }
        case .doubles(let xs): for x in xs { if let x { v.appendDouble(x) } else { v.appendNull() } }
        case .bools(let xs): for x in xs { if let x { v.appendBool(x) } else { v.appendNull() } }
        case .strings(let xs):
            for x in xs {
                if let x { x.withUnsafeBytes { v.appendString($0) } } else { v.appendNull() }
            }
        }
        return v
    }

    /// Reads a vector back into plain values.
    static func of(_ v: ColumnVector) -> Values {
        let rows = 0..<v.count
        switch v.type {
        case .float64: return .doubles(rows.map { v.isNull($0) ? nil : v.double($0) })
        case .bool: return .bools(rows.map { v.isNull($0) ? nil : v.bool($0) })
        case .string: return .strings(rows.map { r in v.isNull(r) ? nil : v.withString(r) { Array($0) } })
        default: return .ints(rows.map { v.isNull($0) ? nil : v.integer($0) })
        }
    }
}

/// Writes `columns` to a segment at `path` in one append.
@discardableResult
func writeSegment(_ path: String, _ schema: Schema, _ columns: [Values], options: SegmentWriterOptions = SegmentWriterOptions()) throws -> SegmentSummary {
    let writer = try SegmentWriter(path: path, schema: schema, options: options)
    let n = columns.first?.count ?? 0
    if n > 0 {
        try writer.append(zip(columns, schema.fields).map { $0.vector($1.type) })
    }
    return try writer.finish()
}

/// Reads every column of a segment back into plain values.
func readSegment(_ reader: SegmentReader) throws -> [Values] {
    var out: [Values] = []
    for c in 0..<reader.schema.count {
        let v = reader.makeVector(column: c)
        var acc: Values?
        for g in 0..<reader.rowGroups.count {
            try reader.read(column: c, rowGroup: g, into: v)
            let part = Values.of(v)
            acc = acc.map { $0 + part } ?? part
        }
        out.append(acc ?? Values.of(v))
    }
    return out
}
