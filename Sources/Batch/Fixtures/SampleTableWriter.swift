import Segments

/// Writes `SampleTable` rows into a table partitioned by event_date (the UTC date of
/// event_time), one segment per date, in batches of `batchRows`: the demo's table.
public enum SampleTableWriter {
    public struct Result {
        public var version: Int
        public var rows: Int
        public var bytes: Int
        public var partitions: Int
    }

    public static func write(records: Int, to path: String, compression: Compression, batchRows: Int = 65_536, seed: UInt64 = 42) throws(SegmentError) -> Result {
        let writer = try TableWriter(path: path, schema: SampleTable.schema, partitionColumns: ["event_date"])
        defer { writer.close() }
        let sample = SampleTable(seed: seed)
        let columns = SampleTable.makeColumns(capacity: batchRows)
        var options = SegmentWriterOptions(compression: compression)
        options.metadata = ["generator": "batchrun sample", "seed": String(seed)]
        var current: (day: Int64, writer: SegmentWriter)?
        var bytes = 0
        var partitions = 0
        func close() throws(SegmentError) {
            guard let c = current else { return }
            let summary = try c.writer.finish()
            writer.stage(summary, partition: [ValueText.date(Int32(c.day))])
            bytes += summary.fileBytes
            current = nil
        }
        var first = 0
        while first < records {
            let n = min(batchRows, records - first)
            sample.fill(columns, first: first, count: n)
            // Rows arrive in event-time order: split the batch where the date changes.
            var start = 0
            while start < n {
                let day = floorDiv(columns[8].int64(start), 86_400_000_000)
                var end = start + 1
                while end < n && floorDiv(columns[8].int64(end), 86_400_000_000) == day { end += 1 }
                if current?.day != day {
                    try close()
                    current = (day, try writer.newSegment(partition: [ValueText.date(Int32(day))], options: options))
                    partitions += 1
                }
                try current?.writer.append(columns, rows: start..<end)
                start = end
            }
            first += n
        }
        try close()
        let version = try writer.commit(operation: "sample", replaceAll: true, info: ["records": String(records)])
        return Result(version: version, rows: records, bytes: bytes, partitions: partitions)
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}
