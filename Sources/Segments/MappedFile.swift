#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file mapped read-only. It is the one owner of the mapping and unmaps it at deinit;
/// views of its bytes are lent through `withBytes` and must not outlive the call.
final class MappedFile {
    let path: String
    let size: Int
    private let base: UnsafeRawPointer?
    static let pageBytes = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Maps the open file `fd` and closes it (the mapping keeps the file alive).
    init(fd: Int32, path: String) throws(SegmentError) {
        defer { SystemIO.close(fd) }
        self.path = path
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemIO.error("stat", path, errno) }
        size = Int(st.st_size)
        if size == 0 {
            base = nil
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { throw SystemIO.error("mmap", path, errno) }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: size))
    }

    /// Tells the kernel the pages of `range` are no longer needed: they leave this
    /// process's resident set (and are read again from the page cache if touched).
    /// Returns the bytes released.
    @discardableResult
    func release(_ range: Range<Int>) -> Int {
        guard let base, !range.isEmpty else { return 0 }
        let page = Self.pageBytes
        let start = range.lowerBound / page * page
        let end = min((range.upperBound + page - 1) / page * page, (size + page - 1) / page * page)
        guard end > start else { return 0 }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
        return end - start
    }
}
