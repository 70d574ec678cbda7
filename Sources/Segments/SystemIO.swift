#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one thin layer through which Segments makes its file-system calls, so that tests
/// can inject ENOSPC, EIO and short writes (`SystemIO.faults`).
public enum SystemIO {
    /// A fault to inject: the `after`-th call (0 = the next) of `operation` whose path
    /// contains `pathContains` fails with `errno` (or, for `.shortWrite`, writes half).
    public struct Fault: Sendable {
        public enum Operation: Sendable { case write, fsync, rename, open, read }
        public var operation: Operation
        public var pathContains: String
        public var errno: Int32
        public var after: Int
        public var shortWrite: Bool

        public init(_ operation: Operation, pathContains: String = "", errno: Int32 = EIO, after: Int = 0, shortWrite: Bool = false) {
            self.operation = operation
            self.pathContains = pathContains
            self.errno = errno
            self.after = after
            self.shortWrite = shortWrite
        }
    }

    private static let faultLock = Mutex()
    nonisolated(unsafe) private static var faultList: [Fault] = []

    /// Installs faults for the calls that follow (tests only); `[]` removes them.
    public static func setFaults(_ faults: [Fault]) {
        faultLock.locked { faultList = faults }
    }

    /// The errno to fail with, if an injected fault matches this call.
    private static func injected(_ op: Fault.Operation, _ path: String) -> (errno: Int32, short: Bool)? {
        faultLock.locked { () -> (Int32, Bool)? in
            guard !faultList.isEmpty else { return nil }
            for i in faultList.indices where faultList[i].operation == op && (faultList[i].pathContains.isEmpty || path.contains(faultList[i].pathContains)) {
                if faultList[i].after > 0 {
                    faultList[i].after -= 1
                    return nil
                }
                let f = faultList.remove(at: i)
                return (f.errno, f.shortWrite)
            }
            return nil
        }
    }

    static func error(_ what: String, _ path: String, _ err: Int32, offset: Int? = nil) -> SegmentError {
        var hint = ""
        switch err {
        case ENOSPC, EDQUOT: hint = "; free disk space or write somewhere else"
        case EACCES, EPERM, EROFS: hint = "; check the permissions of the folder"
        case ENOENT: hint = "; check that the path exists"
        default: break
        }
        return SegmentError(.io, path: path, offset: offset, errno: err, "\(what) failed\(hint)")
    }

    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(SegmentError) -> Int32 {
        if let f = injected(.open, path) { throw error("open", path, f.errno) }
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno == EINTR { continue }
            throw error("open", path, errno)
        }
    }

    /// Reads up to `buffer.count` bytes at file offset `offset`; returns how many (0 at end of file).
    public static func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String) throws(SegmentError) -> Int {
        if let f = injected(.read, path) { throw error("read", path, f.errno, offset: offset) }
        while true {
            let n = Glibc.pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw error("read", path, errno, offset: offset)
        }
    }

    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Writes all of `bytes` at the current position, retrying short writes.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(SegmentError) {
        var done = 0
        if let f = injected(.write, path) {
            if f.short, let b = bytes.baseAddress, bytes.count > 1 {
                _ = Glibc.write(fd, b, bytes.count / 2)
            }
            throw error("write", path, f.errno)
        }
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw error("write", path, errno, offset: done)
            }
            done += n
        }
    }

    /// Writes all of `bytes` at the current position.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(SegmentError) {
        // Array.withUnsafeBytes rethrows untyped errors: carry the typed one out by hand.
        var failure: SegmentError?
        bytes.withUnsafeBytes { b in
            do throws(SegmentError) { try writeAll(fd, b, path: path) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    public static func fsync(_ fd: Int32, path: String) throws(SegmentError) {
        if let f = injected(.fsync, path) { throw error("fsync", path, f.errno) }
        while Glibc.fsync(fd) != 0 {
            if errno == EINTR { continue }
            throw error("fsync", path, errno)
        }
    }

    /// Makes a rename or a new file inside `dir` durable.
    public static func fsyncDirectory(_ dir: String) throws(SegmentError) {
        let fd = try open(dir, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd, path: dir)
    }

    public static func rename(_ from: String, _ to: String) throws(SegmentError) {
        if let f = injected(.rename, to) { throw error("rename of \(from)", to, f.errno) }
        guard Glibc.rename(from, to) == 0 else { throw error("rename of \(from)", to, errno) }
    }

    /// Removes a file; a file that is already gone is not an error.
    public static func unlink(_ path: String) throws(SegmentError) {
        guard Glibc.unlink(path) == 0 || errno == ENOENT else { throw error("remove", path, errno) }
    }

    public static func removeDirectoryIfEmpty(_ path: String) {
        _ = Glibc.rmdir(path)
    }

    /// Creates `path` and its missing parents.
    public static func makeDirectories(_ path: String) throws(SegmentError) {
        if isDirectory(path) { return }
        let parent = parentDirectory(path)
        if parent != path && !parent.isEmpty { try makeDirectories(parent) }
        guard Glibc.mkdir(path, 0o755) == 0 || errno == EEXIST else { throw error("create folder", path, errno) }
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func fileSize(_ path: String) throws(SegmentError) -> Int {
        var st = stat()
        guard stat(path, &st) == 0 else { throw error("stat", path, errno) }
        return Int(st.st_size)
    }

    /// Names in `dir` (not `.` and `..`), sorted bytewise so every listing is deterministic.
    public static func listDirectory(_ dir: String) throws(SegmentError) -> [String] {
        guard let d = opendir(dir) else { throw error("list folder", dir, errno) }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    public static func parentDirectory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// Writes `bytes` to `path` atomically: a temporary file, fsync, rename, fsync of the folder.
    public static func writeFileAtomically(_ path: String, _ bytes: [UInt8]) throws(SegmentError) {
        let tmp = path + ".tmp-\(getpid())"
        let fd = try open(tmp, O_WRONLY | O_CREAT | O_TRUNC)
        do throws(SegmentError) {
            try writeAll(fd, bytes, path: tmp)
            try fsync(fd, path: tmp)
            close(fd)
            try rename(tmp, path)
        } catch {
            close(fd)
            _ = Glibc.unlink(tmp)
            throw error
        }
        try fsyncDirectory(parentDirectory(path))
    }

    public static func readFile(_ path: String) throws(SegmentError) -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw error("read", path, errno)
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }
}

/// A small pthread mutex for the few globals the module keeps.
final class Mutex: @unchecked Sendable {
    private var m = pthread_mutex_t()

    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }

    func locked<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(&m)
        defer { pthread_mutex_unlock(&m) }
        return try body()
    }
}
