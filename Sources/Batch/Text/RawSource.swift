import Segments
#if canImport(Glibc)
import Glibc
#endif

/// The bytes of one raw landing file, in order: a plain file read with `pread` from a
/// start offset, or a `.csv.zst` file decompressed as a stream. Memory: the caller's
/// buffer, plus zstd's input buffer (about 128 KiB) for compressed files.
public final class RawSource {
    /// The file's path as reported in errors (relative to RAW).
    public let displayPath: String
    public let isCompressed: Bool
    private let fd: Int32
    private var fileOffset: Int
    private let decoder: ZstdStreamDecoder?
    private var input: UnsafeMutableRawBufferPointer
    private var inputStart = 0
    private var inputEnd = 0
    private var inputEOF = false
    /// Bytes read from the file itself (compressed bytes for `.zst`).
    public private(set) var fileBytesRead = 0

    public static func isCompressedName(_ path: String) -> Bool { path.hasSuffix(".zst") }

    /// Opens `path`; plain files start at `offset`, compressed ones at 0.
    public init(path: String, displayPath: String, offset: Int = 0) throws {
        self.displayPath = displayPath
        isCompressed = Self.isCompressedName(path)
        do {
            fd = try SystemIO.open(path, O_RDONLY)
        } catch {
            throw Self.readError(displayPath, error, "cannot open the file")
        }
        fileOffset = isCompressed ? 0 : offset
        if isCompressed {
            decoder = ZstdStreamDecoder()
            input = UnsafeMutableRawBufferPointer.allocate(byteCount: ZstdStreamDecoder.inputSizeBytes, alignment: 16)
        } else {
            decoder = nil
            input = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        }
    }

    deinit {
        SystemIO.close(fd)
        if isCompressed { input.deallocate() }
    }

    static func readError(_ displayPath: String, _ error: SegmentError, _ what: String) -> BatchError {
        if error.errno == ENOENT {
            return BatchError(.missingInput, path: displayPath, errno: error.errno, "\(what): it does not exist")
        }
        let hint = error.errno == EACCES || error.errno == EPERM ? "; make it readable (chmod +r) and run again" : "; check the disk and run again"
        return BatchError(.unreadable, path: displayPath, offset: error.offset, errno: error.errno, "\(what)\(hint)")
    }

    /// Reads up to `buffer.count` bytes of (decompressed) data; 0 means the end.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let decoder else { return try readPlain(into: buffer) }
        while true {
            if inputStart == inputEnd && !inputEOF {
                let n = try readPlain(into: input)
                inputStart = 0
                inputEnd = n
                if n == 0 { inputEOF = true }
            }
            let pending = UnsafeRawBufferPointer(rebasing: input[inputStart..<inputEnd])
            switch decoder.decompress(pending, into: buffer) {
            case .failure(let f):
                throw BatchError(.unreadable, path: displayPath, offset: fileBytesRead - (inputEnd - inputStart),
                                 "is not valid zstd data (\(f.message)); recompress it or remove the .zst suffix")
            case .success(let (consumed, produced)):
                inputStart += consumed
                if produced > 0 { return produced }
                if inputEOF && inputStart == inputEnd {
                    guard decoder.atFrameEnd else {
                        throw BatchError(.unreadable, path: displayPath, offset: fileBytesRead,
                                         "zstd data ends in the middle of a frame: the file is truncated")
                    }
                    return 0
                }
            }
        }
    }

    /// Reads the file's own bytes at `offset` until `buffer` is full or the file ends
    /// (for checksums; compressed files are read as they are stored).
    public func readFileBytes(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var total = 0
        while total < buffer.count {
            let n: Int
            do {
                n = try SystemIO.pread(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...]), at: offset + total, path: displayPath)
            } catch {
                throw Self.readError(displayPath, error, "cannot read the file")
            }
            if n == 0 { break }
            total += n
        }
        fileBytesRead += total
        return total
    }

    private func readPlain(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        do {
            let n = try SystemIO.pread(fd, into: buffer, at: fileOffset, path: displayPath)
            fileOffset += n
            fileBytesRead += n
            return n
        } catch {
            throw Self.readError(displayPath, error, "cannot read the file")
        }
    }
}
