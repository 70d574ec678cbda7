import Dispatch
import Foundation
import Segments

/// The spill files of one run: a private folder under `--spill-dir`, a disk quota
/// (`--max-spill`), and clean-up.
///
/// ```
///   SPILL_DIR/batchrun-spill-<pid>-<token>/
///       .lock            flock held for the life of the run
///       <label>-<n>.spill
/// ```
/// A folder whose `.lock` can be taken belongs to a run that died (killed, crashed):
/// `init` removes such folders. Files are deleted as soon as they are consumed, the
/// folder at `close()`, and on SIGINT/SIGTERM (`installSignalCleanup`).
///
/// The spill layer moves and counts bytes; it never looks at keys or order.
public final class SpillManager: @unchecked Sendable {
    public let folder: String
    /// Bytes of spill files that may exist at once; Int.max for no limit.
    public let quotaBytes: Int
    private let lock = NSLock()
    private var onDisk = 0
    private var peak = 0
    private var written = 0
    private var fileCount = 0
    private var nextNumber = 0
    private var lockFD: Int32 = -1
    private var closed = false
    /// Stale folders of dead runs removed when this one started.
    public let staleFoldersRemoved: Int
    /// The parent folder this manager made (it did not exist): removed at close when empty.
    private let madeParent: String?

    public static let folderPrefix = "batchrun-spill-"
    /// The hidden name a spill folder has until it is locked and renamed into place.
    static let creatingPrefix = ".creating-"

    public init(parent: String = NSTemporaryDirectory(), quotaBytes: Int = Int.max) throws(SpillError) {
        self.quotaBytes = quotaBytes
        let base = parent.hasSuffix("/") ? String(parent.dropLast()) : parent
        madeParent = SystemIO.isDirectory(base) ? nil : base
        do {
            try SystemIO.makeDirectories(base)
        } catch {
            throw SpillError(.io, consumer: "spill", requestedBytes: 0, "cannot create the spill folder \(base): \(error.message); pass --spill-dir a writable folder")
        }
        staleFoldersRemoved = Self.removeStale(in: base)
        let token = String(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF, radix: 16)
        folder = base + "/" + Self.folderPrefix + "\(getpid())-\(token)"
        // Made under a hidden name, locked, then renamed into place: another run's
        // removeStale never sees it without its lock held.
        let creating = base + "/" + Self.creatingPrefix + Self.folderPrefix + "\(getpid())-\(token)"
        do {
            try SystemIO.makeDirectories(creating)
            lockFD = try SystemIO.open(creating + "/.lock", O_RDWR | O_CREAT)
            _ = flock(lockFD, LOCK_EX | LOCK_NB)
            try SystemIO.rename(creating, folder)
        } catch {
            throw SpillError(.io, consumer: "spill", requestedBytes: 0, "cannot create \(folder): \(error.message); pass --spill-dir a writable folder")
        }
        Self.register(folder)
    }

    deinit { close() }

    /// Removes every spill file and the folder. Later calls do nothing.
    public func close() {
        let wasOpen = lock.withLock { () -> Bool in
            defer { closed = true }
            return !closed
        }
        guard wasOpen else { return }
        Self.removeTree(folder)
        if lockFD >= 0 { SystemIO.close(lockFD) }
        Self.unregister(folder)
        if let madeParent { SystemIO.removeDirectoryIfEmpty(madeParent) } // another run's folder inside keeps it
    }

    // MARK: accounting

    /// Spill bytes on disk now.
    public var bytesOnDisk: Int { lock.withLock { onDisk } }
    /// The most spill bytes on disk at once.
    public var peakBytesOnDisk: Int { lock.withLock { peak } }
    /// Spill bytes written in all (a file read back and rewritten counts twice).
    public var bytesWritten: Int { lock.withLock { written } }
    /// Spill files created in all.
    public var filesCreated: Int { lock.withLock { fileCount } }

    func charge(_ bytes: Int, consumer: String) throws(SpillError) {
        let ok = lock.withLock { () -> Bool in
            guard onDisk + bytes <= quotaBytes else { return false }
            onDisk += bytes
            written += bytes
            peak = max(peak, onDisk)
            return true
        }
        if !ok {
            throw SpillError(.outOfSpillQuota, consumer: consumer, requestedBytes: bytes,
                             "spill files would pass the --max-spill quota of \(ByteSize.format(quotaBytes)); raise --max-spill or --memory-limit")
        }
    }

    func release(_ bytes: Int) {
        lock.withLock { onDisk -= bytes }
    }

    /// A new spill file, open for writing. It is made under `creationLock`, so the
    /// signal handler's clean-up can neither miss it nor remove the folder under it.
    func createFile(_ label: String) throws(SegmentError) -> (path: String, fd: Int32) {
        Self.creationLock.lock()
        defer { Self.creationLock.unlock() }
        let n = lock.withLock { () -> Int in
            nextNumber += 1
            fileCount += 1
            return nextNumber
        }
        let path = folder + "/\(label)-\(n).spill"
        return (path, try SystemIO.open(path, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600))
    }

    /// Files in the folder now (for tests and clean-up checks).
    public func filesPresent() -> [String] {
        ((try? SystemIO.listDirectory(folder)) ?? []).filter { $0 != ".lock" } // a missing folder has no files
    }

    // MARK: stale folders and signals

    /// Removes folders of runs that are no longer alive (their `.lock` can be taken).
    @discardableResult
    public static func removeStale(in parent: String) -> Int {
        guard let names = try? SystemIO.listDirectory(parent) else { return 0 } // nothing to clean in a folder we cannot list
        var removed = 0
        for name in names where name.hasPrefix(creatingPrefix + folderPrefix) {
            // A folder whose creation was cut short; one younger than a minute may still be in the making.
            var st = stat()
            let path = parent + "/" + name
            if stat(path, &st) == 0 && time(nil) - st.st_mtim.tv_sec > 60 {
                removeTree(path)
                removed += 1
            }
        }
        for name in names where name.hasPrefix(folderPrefix) {
            let path = parent + "/" + name
            guard let fd = try? SystemIO.open(path + "/.lock", O_RDWR) else {
                // No lock file: not a folder a run made (they are renamed into place locked).
                removeTree(path)
                removed += 1
                continue
            }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                removeTree(path)
                removed += 1
            }
            SystemIO.close(fd)
        }
        return removed
    }

    static func removeTree(_ path: String) {
        if let names = try? SystemIO.listDirectory(path) { // a folder already gone is fine
            for name in names { try? SystemIO.unlink(path + "/" + name) }
        }
        SystemIO.removeDirectoryIfEmpty(path)
    }

    private static let registryLock = NSLock()
    nonisolated(unsafe) private static var registry: Set<String> = []
    nonisolated(unsafe) private static var signalSources: [DispatchSourceSignal] = []

    /// Held while a spill file is made (`createFile`); the signal handler takes it
    /// before it clears the folders and never gives it back.
    private static let creationLock = NSLock()

    static func register(_ folder: String) { registryLock.withLock { _ = registry.insert(folder) } }
    static func unregister(_ folder: String) { registryLock.withLock { _ = registry.remove(folder) } }

    /// On SIGINT or SIGTERM, removes every open spill folder, then exits with 128+signal.
    /// The handler runs on a dispatch queue, not in signal context.
    public static func installSignalCleanup(message: (@Sendable (Int32) -> String)? = nil) {
        registryLock.withLock {
            guard signalSources.isEmpty else { return }
            for sig in [SIGINT, SIGTERM] {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler {
                    // Taken for good: a thread about to make a spill file waits here
                    // until the exit, so no file appears behind the clean-up (and no
                    // thread fails on a folder that is gone).
                    creationLock.lock()
                    let folders = registryLock.withLock { registry }
                    for f in folders { removeTree(f) }
                    if let message {
                        FileHandle.standardError.write(Data((message(sig) + "\n").utf8))
                    }
                    exit(128 + sig)
                }
                source.resume()
                signalSources.append(source)
            }
        }
    }
}
