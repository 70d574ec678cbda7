import ArgumentParser
import Segments

/// Exit codes, from sysexits.h. Each error maps to exactly one.
enum ExitStatus {
    static let usage: Int32 = 64        // EX_USAGE: a flag or argument is wrong
    static let dataError: Int32 = 65    // EX_DATAERR: input data or a stored file is bad
    static let noInput: Int32 = 66      // EX_NOINPUT: an input file or folder does not exist
    static let cantCreate: Int32 = 73   // EX_CANTCREAT: an output cannot be created
    static let ioError: Int32 = 74      // EX_IOERR: reading or writing failed
    static let tempFail: Int32 = 75     // EX_TEMPFAIL: another process holds the table; retry later

    static let documentation = """
    Exit codes: 0 success; 64 usage error; 65 bad data (damaged segment or log, data that \
    does not parse); 66 missing input; 73 output cannot be created; 74 I/O error (disk full, \
    permissions); 75 another batchrun is writing the same table.
    """

    static func code(for error: SegmentError) -> Int32 {
        switch error.code {
        case .notASegment, .truncated, .corrupt, .codec, .badLog: return dataError
        case .invalidArgument: return usage
        case .locked: return tempFail
        case .io:
            switch error.errno {
            case ENOENT?, ENOTDIR?: return noInput
            case EACCES?, EPERM?, EROFS?, EEXIST?: return cantCreate
            default: return ioError
            }
        }
    }
}

/// Runs `body`, turning a SegmentError into its message on stderr and its exit code.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as SegmentError {
        printErr("batchrun: error: \(error)")
        throw ExitCode(ExitStatus.code(for: error))
    }
}

#if canImport(Glibc)
import Glibc
#endif
