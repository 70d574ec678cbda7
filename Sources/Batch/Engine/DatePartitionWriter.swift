import Segments

/// Writes rows that arrive in date order into a date-partitioned table: one segment per
/// partition, opened when the first row of a partition comes and finished when a row of
/// the next one does. Silver's day partitions (`<column>=YYYY-MM-DD`) and gold
/// projections' day or month partitions (`year=YYYY/month=MM`) are written this way.
///
/// A date that goes back to an earlier partition is a caller's bug (its input is
/// sorted), reported as an invalid argument rather than written to a second segment.
public final class DatePartitionWriter {
    public enum Granularity: Sendable {
        /// One partition per day; the table's partition column is the date (YYYY-MM-DD).
        case day
        /// One partition per calendar month; the table's partition columns are year and month.
        case month
    }

    public let table: TableWriter
    public let granularity: Granularity
    let options: SegmentWriterOptions
    /// The open partition: its days, its values and its segment.
    private var current: (days: Range<Int64>, values: [String], segment: SegmentWriter)?
    /// Every segment finished so far, with its partition values.
    private var finished: [(segment: SegmentSummary, partition: [String])] = []
    /// Segments of `finished` staged in the table so far.
    private var staged = 0
    /// False: finished segments wait for `stageFinished()`, so that writers running side
    /// by side can be staged in an order that does not depend on timing.
    let stagesAtOnce: Bool
    /// Every segment finished so far.
    public var written: [SegmentSummary] { finished.map(\.segment) }
    /// Partitions opened so far.
    public private(set) var partitions = 0
    /// The partition values of each segment finished so far (writers side by side may
    /// each write part of one partition).
    public var partitionValues: [[String]] { finished.map(\.partition) }
    public private(set) var rows = 0

    public init(table: TableWriter, granularity: Granularity, options: SegmentWriterOptions, stagesAtOnce: Bool = true) {
        self.stagesAtOnce = stagesAtOnce
        precondition(table.partitionColumns.count == (granularity == .day ? 1 : 2), "the table's partition columns do not match the granularity")
        self.table = table
        self.granularity = granularity
        self.options = options
    }

    /// Appends `rows` of `columns`; `days` holds each row's date as days since 1970-01-01
    /// (an int32 column, not necessarily one of those written).
    public func append(_ columns: [ColumnVector], rows range: Range<Int>, days: ColumnVector) throws {
        var start = range.lowerBound
        while start < range.upperBound {
            let day = Int64(days.int32(start))
            if current.map({ !$0.days.contains(day) }) ?? true {
                if let c = current, day < c.days.lowerBound {
                    throw BatchError(.invalidArgument, path: table.path,
                                     "rows are not in date order: \(ValueText.date(Int32(day))) came after \(ValueText.date(Int32(c.days.lowerBound)))")
                }
                try finishPartition()
                let (days, values) = partition(of: day)
                current = (days, values, try table.newSegment(partition: values, options: options))
                partitions += 1
            }
            guard let c = current else { preconditionFailure("no open partition") }
            var end = start + 1
            while end < range.upperBound && c.days.contains(Int64(days.int32(end))) { end += 1 }
            try c.segment.append(columns, rows: start..<end)
            rows += end - start
            start = end
        }
    }

    /// Finishes the open partition's segment. The table's commit is the caller's.
    public func finish() throws {
        try finishPartition()
    }

    /// Drops the open segment, and the finished ones that were never committed.
    public func abandon() {
        current?.segment.abandon()
        current = nil
        for f in finished { try? SystemIO.unlink(f.segment.path) } // best effort: uncommitted files are removed by the next writer anyway
    }

    private func finishPartition() throws {
        guard let c = current else { return }
        current = nil
        finished.append((try c.segment.finish(), c.values))
        if stagesAtOnce { stageFinished() }
    }

    /// Stages the segments finished since the last call in the table, in the order they
    /// were written. Not safe beside another writer's staging of the same table.
    public func stageFinished() {
        for f in finished[staged...] { table.stage(f.segment, partition: f.partition) }
        staged = finished.count
    }

    private func partition(of day: Int64) -> (Range<Int64>, [String]) {
        switch granularity {
        case .day:
            return (day..<(day + 1), [ValueText.date(Int32(day))])
        case .month:
            let m = CalendarMonth(containing: day)
            return (m.days, m.partition)
        }
    }
}
