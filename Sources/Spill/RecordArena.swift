/// Memory for variable-length records, in pages that are never moved: growing adds a
/// page (reserved from the budget first) instead of copying everything into a bigger
/// block, so the memory in use is never twice the data while it grows.
///
/// A record lives at a location: `page << 32 | offset`. A record larger than a page gets
/// a page of its own size. `reset()` keeps the pages (and their reservation) for reuse;
/// `release()` frees them.
final class RecordArena {
    /// 2 MiB: one transparent huge page (`LargeMemory`), so records met at random (a
    /// probe's key compare, a sorted run's gather) seldom cost a TLB miss.
    static let pageBytesDefault = 2 << 20
    let pageBytes: Int
    @exclusivity(unchecked) private var pages: [UnsafeMutableRawPointer] = []
    @exclusivity(unchecked) private var pageSizes: [Int] = []
    /// Bytes used in each page before `current` (set when a page is left).
    @exclusivity(unchecked) private var pageUsed: [Int] = []
    /// Pages in use: 0..<current filled, `current` being filled.
    @exclusivity(unchecked) private var current = -1
    @exclusivity(unchecked) private var used = 0
    /// Bytes of all allocated pages.
    @exclusivity(unchecked) private(set) var allocatedBytes = 0

    init(pageBytes: Int = RecordArena.pageBytesDefault) {
        self.pageBytes = pageBytes
    }

    /// An arena for an engine that may hold up to `shareBytes`: pages of a 32nd of that
    /// (4 KiB to 2 MiB), so a small budget can still be used almost in full.
    convenience init(shareBytes: Int) {
        self.init(pageBytes: min(RecordArena.pageBytesDefault, max(4096, shareBytes / 32)))
    }

    deinit { release() }

    /// Bytes a new page for a record of `need` bytes takes, or 0 when the next free page
    /// (kept from before a reset) or the current one has room.
    func bytesToGrow(for need: Int) -> Int {
        if current >= 0 && used + need <= pageSizes[current] { return 0 }
        if current + 1 < pages.count && need <= pageSizes[current + 1] { return 0 }
        return max(pageBytes, need)
    }

    /// Room for `need` bytes; the caller has reserved `bytesToGrow(for:)` first.
    @inline(__always)
    func allocate(_ need: Int) -> (location: Int, pointer: UnsafeMutableRawPointer) {
        if current < 0 || used + need > pageSizes[current] {
            if current >= 0 {
                if current < pageUsed.count { pageUsed[current] = used } else { pageUsed.append(used) }
            }
            if current + 1 < pages.count && need <= pageSizes[current + 1] {
                current += 1
            } else {
                let size = max(pageBytes, need)
                let page = LargeMemory.allocate(bytes: size)
                // A kept page too small for this record is swapped for the new one.
                if current + 1 < pages.count {
                    LargeMemory.deallocate(pages[current + 1])
                    allocatedBytes -= pageSizes[current + 1]
                    pages[current + 1] = page
                    pageSizes[current + 1] = size
                } else {
                    pages.append(page)
                    pageSizes.append(size)
                }
                allocatedBytes += size
                current += 1
            }
            used = 0
        }
        let location = current << 32 | used
        let p = pages[current] + used
        used += need
        return (location, p)
    }

    @inline(__always)
    func pointer(_ location: Int) -> UnsafeMutableRawPointer {
        pages[location >> 32] + (location & 0xFFFF_FFFF)
    }

    /// Pages holding records, in order; for walking every record from the start.
    var pagesInUse: Int { current + 1 }

    /// Bytes of records in page `page`.
    func usedBytes(_ page: Int) -> Int {
        page < current ? pageUsed[page] : (page == current ? used : 0)
    }

    func pageStart(_ page: Int) -> UnsafeMutableRawPointer { pages[page] }

    /// Forgets every record; keeps the pages.
    func reset() {
        current = -1
        used = 0
    }

    /// Frees every page.
    func release() {
        for p in pages { LargeMemory.deallocate(p) }
        pages = []
        pageSizes = []
        pageUsed = []
        allocatedBytes = 0
        current = -1
        used = 0
    }
}
