import Batch
import Foundation
import Segments
import Testing

@Suite struct DatePartitionWriterTests {
    let dir = NSTemporaryDirectory() + "batchrun-partition-\(UUID().uuidString.prefix(8))"
    let schema = Schema([Field("id", .int64), Field("day", .int32)])

    /// Days 2024-01-30 ... 2024-03-01 (31 days, across two month ends and a leap day),
    /// one row per day plus a second row on each of the first three days.
    func rows() -> (id: ColumnVector, day: ColumnVector) {
        let first = Int32(CivilTime.days(year: 2024, month: 1, day: 30))
        let id = ColumnVector(type: .int64, capacity: 64), day = ColumnVector(type: .int32, capacity: 64)
        var n: Int64 = 0
        for d in first..<(first + 32) {
            for _ in 0..<(d < first + 3 ? 2 : 1) {
                id.appendInt64(n)
                day.appendInt32(d)
                n += 1
            }
        }
        return (id, day)
    }

    @Test(arguments: [(DatePartitionWriter.Granularity.day, ["event_date"], 32), (.month, ["year", "month"], 3)])
    func onePartitionPerDateBucket(granularity: DatePartitionWriter.Granularity, columns: [String], expected: Int) throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let (id, day) = rows()
        let table = try TableWriter(path: dir + "/t", schema: schema, partitionColumns: columns)
        let w = DatePartitionWriter(table: table, granularity: granularity, options: SegmentWriterOptions())
        // Batches that cut through partitions at odd places.
        var start = 0
        for size in [1, 4, 7, 2, 30] where start < id.count {
            let end = min(id.count, start + size)
            try w.append([id, day], rows: start..<end, days: day)
            start = end
        }
        try w.finish()
        try table.commit(operation: "test")
        table.close()
        #expect(w.partitions == expected && w.rows == 35 && w.written.count == expected)
        let snapshot = try TableReader(path: dir + "/t").snapshot
        #expect(snapshot.rowCount == 35 && snapshot.files.count == expected)
        if granularity == .day {
            #expect(snapshot.partitions.first == ["event_date": "2024-01-30"])
            #expect(snapshot.partitions.contains(["event_date": "2024-02-29"]))
        } else {
            #expect(snapshot.partitions == [["year": "2024", "month": "01"], ["year": "2024", "month": "02"], ["year": "2024", "month": "03"]])
            #expect(snapshot.files.map(\.rows) == [4, 30, 1]) // Jan 30-31 (2 rows each), February (2 rows on the 1st), March 1
        }
    }

    @Test func aDateGoingBackIsRefusedAndNothingStays() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let (id, day) = rows()
        let table = try TableWriter(path: dir + "/t", schema: schema, partitionColumns: ["event_date"])
        let w = DatePartitionWriter(table: table, granularity: .day, options: SegmentWriterOptions())
        try w.append([id, day], rows: 10..<20, days: day)
        #expect(throws: BatchError.self) { try w.append([id, day], rows: 0..<5, days: day) }
        w.abandon()
        table.close()
        let files = try FileManager.default.subpathsOfDirectory(atPath: dir + "/t").filter { $0.hasSuffix(".seg") }
        #expect(files.isEmpty, "\(files)")
    }
}
