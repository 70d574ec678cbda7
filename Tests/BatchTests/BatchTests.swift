import Foundation
import Segments
import Testing
@testable import Batch

@Suite struct SampleTableTests {
    /// Row i is the same whatever batches it is generated in.
    @Test func rowsDoNotDependOnBatching() {
        let sample = SampleTable(seed: 7)
        let whole = SampleTable.makeColumns(capacity: 1000)
        sample.fill(whole, first: 0, count: 1000)
        let part = SampleTable.makeColumns(capacity: 333)
        var row = 0
        while row < 1000 {
            let n = min(333, 1000 - row)
            sample.fill(part, first: row, count: n)
            for i in 0..<n {
                #expect(part[0].string(i) == whole[0].string(row + i))
                #expect(part[4].isNull(i) == whole[4].isNull(row + i))
                #expect(part[4].int64(i) == whole[4].int64(row + i))
                #expect(part[8].int64(i) == whole[8].int64(row + i))
            }
            row += n
        }
        #expect(whole[0].string(42) == "T000000000000042")
    }
}

@Suite struct ValueTextTests {
    @Test func decimals() {
        #expect(ValueText.decimal(12345, scale: 2) == "123.45")
        #expect(ValueText.decimal(-5, scale: 2) == "-0.05")
        #expect(ValueText.decimal(0, scale: 2) == "0.00")
        #expect(ValueText.decimal(Int64.min, scale: 2) == "-92233720368547758.08")
        #expect(ValueText.decimal(7, scale: 0) == "7")
    }

    @Test func datesAndTimestamps() {
        #expect(ValueText.date(0) == "1970-01-01")
        #expect(ValueText.date(-1) == "1969-12-31")
        #expect(ValueText.date(20_161) == "2025-03-14")
        #expect(ValueText.date(19_417) == "2023-03-01")
        #expect(ValueText.date(11_016) == "2000-02-29")
        #expect(ValueText.timestamp(0) == "1970-01-01T00:00:00Z")
        #expect(ValueText.timestamp(1_741_910_400_000_000) == "2025-03-14T00:00:00Z")
        #expect(ValueText.timestamp(1_741_910_400_000_001) == "2025-03-14T00:00:00.000001Z")
        #expect(ValueText.timestamp(-1) == "1969-12-31T23:59:59.999999Z")
    }
}

@Suite struct JSONTests {
    @Test func rendering() {
        let j = JSON.object([("a", .int(1)), ("b", .string("x\"y\n")), ("c", .array([.bool(true), .null])), ("d", .double(2.5))])
        #expect(j.rendered() == #"{"a":1,"b":"x\"y\n","c":[true,null],"d":2.5}"#)
        let parsed = try? JSONSerialization.jsonObject(with: Data(j.rendered(pretty: true).utf8)) as? [String: Any]
        #expect(parsed?["a"] as? Int == 1)
    }
}

@Suite struct InspectionTests {
    @Test func tableInspectionSumsSegmentsAndPartitions() throws {
        let dir = NSTemporaryDirectory() + "batchrun-inspect-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let result = try SampleTableWriter.write(records: 70_000, to: dir + "/sample", compression: .zstd(3), batchRows: 10_000)
        #expect(result.rows == 70_000)
        #expect(result.partitions == 3) // 28,800 rows a day
        let report = try Inspection.inspect(dir + "/sample")
        #expect(report.kind == "table")
        #expect(report.rows == 70_000)
        #expect(report.partitions.map(\.rows) == [28_800, 28_800, 12_400])
        #expect(report.partitions.map { $0.values["event_date"] } == ["2025-01-01", "2025-01-02", "2025-01-03"])
        let id = report.columns.first { $0.name == "transaction_id" }!
        #expect(Inspection.text(id.min, .string) == "T000000000000000")
        #expect(Inspection.text(id.max, .string) == "T000000000069999")
        let price = report.columns.first { $0.name == "unit_price" }!
        #expect(price.nullCount > 0 && price.nullCount < 2_000)
        #expect(report.json["rows"] == .int(70_000))
        #expect(report.columns.allSatisfy { $0.uncompressedBytes > 0 && $0.compressedBytes > 0 })
        // Reading every row back gives the generator's rows, in order.
        let reader = try TableReader(path: dir + "/sample")
        let expected = SampleTable.makeColumns(capacity: 70_000)
        SampleTable(seed: 42).fill(expected, first: 0, count: 70_000)
        var row = 0
        for seg in try (0..<reader.segmentCount).map({ try reader.segment($0) }) {
            let v = seg.makeVector(column: 0)
            for g in seg.rowGroups.indices {
                try seg.read(column: 0, rowGroup: g, into: v)
                for i in 0..<v.count {
                    #expect(v.string(i) == expected[0].string(row))
                    row += 1
                }
            }
        }
        #expect(row == 70_000)
    }
}

@Suite struct CSVWriterTests {
    @Test func textFormsAndQuoting() {
        let schema = Schema([Field("s", .string), Field("d", .decimal(scale: 2)), Field("t", .timestamp),
                             Field("day", .date), Field("b", .bool), Field("i", .int64)])
        let cols = schema.fields.map { ColumnVector(type: $0.type, capacity: 4) }
        cols[0].appendString("plain"); cols[0].appendString("a,b"); cols[0].appendString("say \"hi\"\nbye"); cols[0].appendNull()
        for v: Int64 in [12345, -5, 0] { cols[1].appendInt64(v) }
        cols[1].appendNull()
        for v: Int64 in [1_741_910_400_000_000, 1_741_910_400_000_001, 0] { cols[2].appendInt64(v) }
        cols[2].appendNull()
        for v: Int32 in [20_161, 0, -1] { cols[3].appendInt32(v) }
        cols[3].appendNull()
        cols[4].appendBool(true); cols[4].appendBool(false); cols[4].appendNull(); cols[4].appendBool(true)
        for v: Int64 in [0, -9_223_372_036_854_775_808, 9_223_372_036_854_775_807] { cols[5].appendInt64(v) }
        cols[5].appendNull()
        let out = ByteBuffer()
        let csv = CSVWriter()
        csv.appendHeader(schema, to: out)
        csv.appendRows(cols, rows: 0..<4, to: out)
        let text = String(decoding: out.bytes, as: UTF8.self)
        #expect(text == """
        s,d,t,day,b,i
        plain,123.45,2025-03-14T00:00:00Z,2025-03-14,true,0
        "a,b",-0.05,2025-03-14T00:00:00.000001Z,1970-01-01,false,-9223372036854775808
        "say ""hi""
        bye",0.00,1970-01-01T00:00:00Z,1969-12-31,,9223372036854775807
        ,,,,true,

        """)
    }
}
