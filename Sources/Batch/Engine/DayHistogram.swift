/// Rows (or bytes) per day over any span of days, in bounded memory: 4096 bins of
/// 2^shift days each. A day outside the bins' span moves them; when the span of days
/// seen no longer fits, bins merge pairwise (the shift grows) until it does. A "day" is
/// any integer unit of time.
///
/// Silver counts its rows per day of its partition, or per 15 minutes of the timestamp
/// that leads its sort, this way, to cut its sort into ranges that each fit in memory.
struct DayHistogram {
    static let binCount = 4096
    /// Each bin covers 2^shift days.
    private(set) var shift = 0
    /// The first bin's number (a bin's number is day >> shift).
    private var base: Int64 = 0
    private var bins = [Int](repeating: 0, count: DayHistogram.binCount)
    /// Bin numbers seen: every count lies in low...high.
    private var low = Int64.max, high = Int64.min
    private(set) var total = 0

    @inline(__always)
    mutating func add(day: Int64, _ amount: Int = 1) {
        let b = (day >> Int64(shift)) - base
        if b < 0 || b >= Int64(Self.binCount) {
            fit(day)
            return add(day: day, amount)
        }
        bins[Int(b)] += amount
        total += amount
        low = min(low, b + base)
        high = max(high, b + base)
    }

    /// Moves and merges the bins until `day` falls in them.
    private mutating func fit(_ day: Int64) {
        let oldShift = shift, oldBase = base, old = bins
        var lo = day >> Int64(shift), hi = lo
        if total > 0 {
            while max(high, day >> Int64(shift)) - min(low, day >> Int64(shift)) >= Int64(Self.binCount) {
                shift += 1
                low >>= 1 // arithmetic shifts floor: (d >> s) >> 1 == d >> (s + 1)
                high >>= 1
            }
            lo = min(low, day >> Int64(shift))
            hi = max(high, day >> Int64(shift))
        }
        // Room on both sides of what is seen, for the days still to come.
        base = lo - (Int64(Self.binCount) - (hi - lo + 1)) / 2
        bins = [Int](repeating: 0, count: Self.binCount)
        for (i, c) in old.enumerated() where c != 0 {
            bins[Int(((oldBase + Int64(i)) >> Int64(shift - oldShift)) - base)] += c
        }
    }

    /// The counts in day order, each with its first day and the day after its last.
    var ranges: [(days: Range<Int64>, count: Int)] {
        guard total > 0 else { return [] }
        return (low...high).compactMap { n in
            let c = bins[Int(n - base)]
            return c == 0 ? nil : ((n << Int64(shift))..<((n + 1) << Int64(shift)), c)
        }
    }

    /// The first days of the second, third, ... of consecutive day ranges, each range
    /// holding at most `limit` of the counts where it can (a single bin above the limit
    /// is a range of its own): where to split a sort of these rows so each part fits.
    func splitDays(limit: Int) -> [Int64] {
        var splits: [Int64] = []
        var sum = 0
        for r in ranges {
            if sum > 0 && sum + r.count > limit {
                splits.append(r.days.lowerBound)
                sum = 0
            }
            sum += r.count
        }
        return splits
    }
}
