import Segments

/// A calendar month: its day numbers and the parts gold writes.
struct CalendarMonth {
    var year: Int
    var month: Int
    /// Day numbers (since 1970-01-01) of the month's first and one past its last day.
    var days: Range<Int64>
    var dateKeyBase: Int32 { Int32(year) * 10_000 + Int32(month) * 100 }

    /// The date_key (yyyymmdd) of a day of this month.
    func dateKey(_ day: Int64) -> Int32 { dateKeyBase + Int32(day - days.lowerBound + 1) }
    /// A month partition's values: year=YYYY, month=MM.
    var partition: [String] {
        [String(year), month < 10 ? "0" + String(month) : String(month)]
    }

    init(containing day: Int64) {
        let c = ValueText.civil(day)
        year = Int(c.year)
        month = c.month
        let first = CivilTime.days(year: year, month: month, day: 1)
        days = first..<(first + Int64(CivilTime.daysInMonth(year: year, month: month)))
    }
}

extension CivilTime {
    /// ISO 8601 day of the week, 1 = Monday ... 7 = Sunday (1970-01-01 was a Thursday).
    public static func isoDayOfWeek(_ day: Int64) -> Int {
        Int((day % 7 + 7 + 3) % 7) + 1
    }

    /// ISO 8601 week number, 1-53: weeks start on Monday, and week 1 holds the year's
    /// first Thursday.
    public static func isoWeek(_ day: Int64) -> Int {
        let thursday = day - Int64(isoDayOfWeek(day)) + 4 // the Thursday of day's week decides its year
        let year = Int(ValueText.civil(thursday).year)
        return Int((thursday - days(year: year, month: 1, day: 1)) / 7) + 1
    }
}
