import Spill

/// Where an external sort in range mode cuts its rows, from how many rows fall on each
/// value of the sort's leading key (a histogram in units of that key: days of a date,
/// slices of a timestamp) and the bytes a row takes in the sort.
struct SortRangePlan {
    var rowsPerUnit: DayHistogram
    var bytesPerRow: Int

    /// The units that begin the second, third, ... range, each range filling at most 80%
    /// of the sort's memory (of its share of it, with `sortsAtOnce` ranges sorted side by
    /// side); none when all rows fit at once and are fewer than `Limits.rangesWorthBytes` (or one
    /// thread sorts them); about `2 x sortsAtOnce` ranges when they fit but are more. The
    /// ranges' file writers take at most an eighth of the share: with many ranges their
    /// blocks shrink (down to 32 KiB), and past that the ranges grow (so with a small
    /// budget and many rows a range may still need runs). `fit` is false when some range
    /// is over that memory.
    func split(plan: Limits.Shares, sortsAtOnce: Int) -> (starts: [Int64], fit: Bool, bucketBlockBytes: Int) {
        let perRow = max(1, bytesPerRow)
        let total = rowsPerUnit.total
        let fitsAtOnce = total <= max(1, plan.sortEngineBytes * 4 / 5 / perRow)
        // Rows that fit at once are still cut in ranges when there are two threads and
        // enough rows for the second to pay: their sorting and writing then run side by
        // side (at 1M rows that halves silver's last phase).
        guard !fitsAtOnce || (sortsAtOnce >= 2 && total * perRow >= Limits.rangesWorthBytes) else { return ([], true, plan.sortBlockBytes) }
        let fitting = max(1, plan.sortEngineBytes / sortsAtOnce * 4 / 5 / perRow)
        var limit = fitsAtOnce ? min(fitting, total / (2 * sortsAtOnce) + 1) : fitting
        let writersBytes = plan.shareBytes / 8
        let smallestBlock = min(32 << 10, plan.sortBlockBytes)
        let maxRanges = max(2, writersBytes / SpillWriter.memoryBytes(blockBytes: smallestBlock, compresses: false))
        var splits = rowsPerUnit.splitDays(limit: limit)
        while splits.count >= maxRanges {
            limit += limit / 4 + 1
            splits = rowsPerUnit.splitDays(limit: limit)
        }
        var block = plan.sortBlockBytes
        while block > smallestBlock && (splits.count + 1) * SpillWriter.memoryBytes(blockBytes: block, compresses: false) > writersBytes { block /= 2 }
        let fit = limit <= fitting && rowsPerUnit.ranges.allSatisfy { $0.count <= fitting }
        return (splits, fit, max(block, smallestBlock))
    }
}
