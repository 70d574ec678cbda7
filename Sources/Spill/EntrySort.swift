/// Sorting a run's index: most significant byte first, in place, on the entries' 16
/// prefix bytes (an American flag sort), then small or prefix-equal buckets by the full
/// comparison. The result is the comparison's order exactly (it ends on arrival, so it
/// is a total order); radix passes only do most of the work without comparisons.
///
/// A run of a million rows keyed by a timestamp is sorted in two or three byte passes,
/// each touching every entry once, where a merge sort makes twenty comparison passes.
extension ExternalSorter {
    /// Buckets this small are sorted by insertion with the full comparison.
    static let insertionSortMax = 24

    @inline(__always)
    static func byte(_ e: Entry, _ b: Int) -> Int {
        let word = b < 8 ? e.prefix : e.prefix2
        return Int(truncatingIfNeeded: word >> UInt64(56 - 8 * (b & 7))) & 0xFF
    }

    /// Sorts `n` entries at `base` by `less`, a total order that agrees with the prefix
    /// bytes (a greater byte at the first difference means greater).
    static func sortEntries(_ base: UnsafeMutablePointer<Entry>, _ n: Int, by less: (Entry, Entry) -> Bool) {
        guard n > 1 else { return }
        // Bytes that vary at all across the run; the others need no pass.
        var diff1: UInt64 = 0, diff2: UInt64 = 0
        let first = base[0]
        for i in 1..<n {
            diff1 |= base[i].prefix ^ first.prefix
            diff2 |= base[i].prefix2 ^ first.prefix2
        }
        var varying = [Bool](repeating: false, count: 16)
        for b in 0..<16 { varying[b] = ((b < 8 ? diff1 : diff2) >> UInt64(56 - 8 * (b & 7))) & 0xFF != 0 }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * 256 * 16) { counts in
            varying.withUnsafeBufferPointer { sortBucket(base, n, byte: 0, varying: $0, scratch: counts.baseAddress!, by: less) }
        }
    }

    private static func sortBucket(_ base: UnsafeMutablePointer<Entry>, _ n: Int, byte b0: Int, varying: UnsafeBufferPointer<Bool>,
                                   scratch: UnsafeMutablePointer<Int>, by less: (Entry, Entry) -> Bool) {
        if n <= insertionSortMax {
            insertionSort(base, n, by: less)
            return
        }
        var b = b0
        while b < 16 && !varying[b] { b += 1 }
        if b == 16 {
            // Equal 16-byte prefixes: only the comparison can order these.
            var all = UnsafeMutableBufferPointer(start: base, count: n)
            all.sort(by: less)
            return
        }
        // Each level of the recursion has its own 3 x 256 counters in `scratch`.
        let count = scratch, next = scratch + 256, end = scratch + 512
        count.update(repeating: 0, count: 256)
        for i in 0..<n { count[byte(base[i], b)] += 1 }
        var at = 0
        for d in 0..<256 {
            next[d] = at
            at += count[d]
            end[d] = at
        }
        // Cycle each entry to its bucket's next free place.
        for d in 0..<256 {
            while next[d] < end[d] {
                var x = base[next[d]]
                var t = byte(x, b)
                while t != d {
                    swap(&x, &base[next[t]])
                    next[t] += 1
                    t = byte(x, b)
                }
                base[next[d]] = x
                next[d] += 1
            }
        }
        var start = 0
        for d in 0..<256 {
            let k = end[d] - start
            if k > 1 { sortBucket(base + start, k, byte: b + 1, varying: varying, scratch: scratch + 768, by: less) }
            start = end[d]
        }
    }

    private static func insertionSort(_ base: UnsafeMutablePointer<Entry>, _ n: Int, by less: (Entry, Entry) -> Bool) {
        for i in 1..<n {
            let x = base[i]
            var j = i
            while j > 0 && less(x, base[j - 1]) {
                base[j] = base[j - 1]
                j -= 1
            }
            base[j] = x
        }
    }
}
