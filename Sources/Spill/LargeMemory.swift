#if canImport(Glibc)
import Glibc
#endif

/// Memory for the big blocks that are read at random (a hash table's slots, the pages of
/// record arenas): from 2 MiB up, it is aligned to 2 MiB and marked for transparent huge
/// pages, so that a random access costs a cache miss but seldom a TLB miss too (under a
/// VM's nested paging a TLB miss is a long page walk). Where the kernel gives no huge
/// pages, this is plain memory.
public enum LargeMemory {
    static let hugePageBytes = 2 << 20

    public static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        var p: UnsafeMutableRawPointer?
        if bytes >= hugePageBytes, posix_memalign(&p, hugePageBytes, bytes) == 0, let p {
            _ = madvise(p, (bytes / hugePageBytes) * hugePageBytes, MADV_HUGEPAGE) // advice only: plain pages if refused
            return p
        }
        return UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 16)
    }

    public static func allocate<T>(_ type: T.Type, capacity: Int) -> UnsafeMutablePointer<T> {
        allocate(bytes: capacity * MemoryLayout<T>.stride).bindMemory(to: T.self, capacity: capacity)
    }

    /// Frees memory from `allocate` (either kind: both come from the C heap).
    public static func deallocate(_ p: UnsafeMutableRawPointer) {
        free(p)
    }

    public static func deallocate<T>(_ p: UnsafeMutablePointer<T>) {
        free(p)
    }
}
