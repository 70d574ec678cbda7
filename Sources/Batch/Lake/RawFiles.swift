import Segments
#if canImport(Glibc)
import Glibc
#endif

/// One fact file of a landing zone.
public struct RawFile: Sendable {
    /// Path relative to RAW, e.g. `events/part-00001.csv`: `_source_file`.
    public var relativePath: String
    public var fullPath: String
    public var sizeBytes: Int
    public var isCompressed: Bool { RawSource.isCompressedName(relativePath) }
}

/// Finding and fingerprinting the raw files of a landing zone.
public enum RawFiles {
    /// The leading folders of a glob that hold no wildcard: `events` of
    /// `events/**/*.csv`; "" when the first segment has one.
    public static func fixedPrefix(_ pattern: String) -> String {
        let segments = pattern.split(separator: "/").map(String.init)
        let fixed = segments.dropLast().prefix { !$0.contains("*") && !$0.contains("?") }
        return fixed.joined(separator: "/")
    }

    /// Every file under RAW that `pattern` matches (`*` and `?` within a name, `**` any
    /// folders), with the `.csv.zst` twin of each `.csv` pattern, in lexicographic
    /// (bytewise) order of their paths relative to RAW. Names starting with `.` are skipped.
    public static func list(raw: String, pattern: String) throws -> [RawFile] {
        let prefix = fixedPrefix(pattern)
        guard SystemIO.isDirectory(raw) else {
            throw BatchError(.missingInput, path: raw, "the landing zone folder does not exist; give --raw the folder that holds \(prefix.isEmpty ? "the files" : prefix + "/") and the reference files")
        }
        let root = prefix.isEmpty ? raw : raw + "/" + prefix
        guard SystemIO.isDirectory(root) else {
            throw BatchError(.missingInput, path: root, "the landing zone has no \(prefix)/ folder; put the files matching \(pattern) in RAW/\(prefix)/")
        }
        let rest = pattern.split(separator: "/").map(String.init).dropFirst(prefix.isEmpty ? 0 : prefix.split(separator: "/").count)
        var found: [RawFile] = []
        func walk(_ relative: String, _ depth: [String]) throws {
            let dir = relative.isEmpty ? raw : raw + "/" + relative
            let names: [String]
            do { names = try SystemIO.listDirectory(dir) } catch {
                throw RawSource.readError(relative, error, "cannot list the folder")
            }
            for name in names where !name.hasPrefix(".") {
                let rel = relative.isEmpty ? name : relative + "/" + name
                let full = raw + "/" + rel
                let path = depth + [name]
                if SystemIO.isDirectory(full) {
                    if Glob.mayMatchBelow(path, Array(rest)) { try walk(rel, path) }
                } else if Glob.matches(path, Array(rest)) || (name.hasSuffix(".csv.zst") && Glob.matches(depth + [String(name.dropLast(4))], Array(rest))) {
                    let size: Int
                    do { size = try SystemIO.fileSize(full) } catch {
                        throw RawSource.readError(rel, error, "cannot read the file's size")
                    }
                    found.append(RawFile(relativePath: rel, fullPath: full, sizeBytes: size))
                }
            }
        }
        try walk(prefix, [])
        found.sort { Array($0.relativePath.utf8).lexicographicallyPrecedes(Array($1.relativePath.utf8)) }
        return found
    }

    /// Size of the blocks a file's checksum is built from. A constant: changing it would
    /// change every checksum and make append mode ingest old files again.
    public static let checksumBlockBytes = 16 << 20

    /// The checksum of a file's bytes that makes ingestion exactly-once:
    /// `xxh64(seed: size, the little-endian xxh64 of each checksumBlockBytes block)`, so
    /// blocks can be hashed in parallel. Written `xxh64t:<16 hex digits>`.
    public static func fileChecksum(size: Int, blockHashes: [UInt64]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(blockHashes.count * 8)
        for h in blockHashes { withUnsafeBytes(of: h.littleEndian) { bytes.append(contentsOf: $0) } }
        let sum = bytes.withUnsafeBytes { Checksum.xxh64($0, seed: UInt64(size)) }
        let hex = String(sum, radix: 16)
        return "xxh64t:" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The checksum of a small file read in one pass through a 1 MiB buffer:
    /// `xxh64(seed: size, the little-endian xxh64 of each 1 MiB block)`, written
    /// `xxh64m:<16 hex digits>`. It tells a reference file that changed from one that did
    /// not; `displayPath` names the file in errors.
    public static func smallFileChecksum(path: String, displayPath: String) throws -> String {
        let source = try RawSource(path: path, displayPath: displayPath, offset: 0)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var hashes: [UInt8] = []
        var offset = 0
        while true {
            let n = try source.readFileBytes(at: offset, into: buffer)
            if n == 0 && offset > 0 { break }
            withUnsafeBytes(of: Checksum.xxh64(UnsafeRawBufferPointer(rebasing: buffer[0..<n])).littleEndian) { hashes.append(contentsOf: $0) }
            offset += n
            if n < buffer.count { break }
        }
        let sum = hashes.withUnsafeBytes { Checksum.xxh64($0, seed: UInt64(offset)) }
        let hex = String(sum, radix: 16)
        return "xxh64m:" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// LF bytes in `bytes`, eight at a time.
    public static func countLineFeeds(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        let n = bytes.count
        var count = 0
        var i = 0
        let ones: UInt64 = 0x0101_0101_0101_0101
        let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        let lf = ones &* 0x0A
        while i + 8 <= n {
            let x = base.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ lf
            // A byte of x is zero exactly when its high bit is clear in t.
            let t = ((x & low7) &+ low7) | x
            count += (~t & ~low7).nonzeroBitCount
            i += 8
        }
        while i < n {
            if base.load(fromByteOffset: i, as: UInt8.self) == 0x0A { count += 1 }
            i += 1
        }
        return count
    }
}

/// Glob matching of relative paths, segment by segment: `*` any characters of a name,
/// `?` one character, a `**` segment any number of folders (none included).
public enum Glob {
    public static func matches(_ path: [String], _ pattern: [String]) -> Bool {
        guard let p = pattern.first else { return path.isEmpty }
        if p == "**" {
            let rest = Array(pattern.dropFirst())
            for k in 0...path.count where matches(Array(path.dropFirst(k)), rest) { return true }
            return false
        }
        guard let name = path.first, segment(Array(name.utf8)[...], Array(p.utf8)[...]) else { return false }
        return matches(Array(path.dropFirst()), Array(pattern.dropFirst()))
    }

    /// True when a folder at `path` may hold a match: some prefix of the pattern takes it.
    public static func mayMatchBelow(_ path: [String], _ pattern: [String]) -> Bool {
        guard let name = path.first else { return true }
        guard let p = pattern.first else { return false }
        if p == "**" { return true }
        guard segment(Array(name.utf8)[...], Array(p.utf8)[...]) else { return false }
        return mayMatchBelow(Array(path.dropFirst()), Array(pattern.dropFirst()))
    }

    static func segment(_ name: ArraySlice<UInt8>, _ pattern: ArraySlice<UInt8>) -> Bool {
        guard let c = pattern.first else { return name.isEmpty }
        if c == UInt8(ascii: "*") {
            for k in name.startIndex...name.endIndex where segment(name[k...], pattern.dropFirst()) { return true }
            return false
        }
        guard let n = name.first, c == UInt8(ascii: "?") || c == n else { return false }
        return segment(name.dropFirst(), pattern.dropFirst())
    }
}
