import ArgumentParser
import Batch
import Segments
import Spill

/// Exit codes, from sysexits.h. Each error maps to exactly one.
enum ExitStatus {
    static let usage: Int32 = 64        // EX_USAGE: a flag or argument is wrong
    static let dataError: Int32 = 65    // EX_DATAERR: input data or a stored file is bad
    static let noInput: Int32 = 66      // EX_NOINPUT: an input file or folder does not exist
    static let cantCreate: Int32 = 73   // EX_CANTCREAT: an output cannot be created
    static let ioError: Int32 = 74      // EX_IOERR: reading or writing failed
    static let tempFail: Int32 = 75     // EX_TEMPFAIL: another process holds the table; retry later
    static let noPermission: Int32 = 77 // EX_NOPERM: an input cannot be read for lack of permission
    static let outOfMemory: Int32 = 69  // EX_UNAVAILABLE: the memory budget cannot hold what must stay in memory
    static let outOfSpillQuota: Int32 = 78 // EX_CONFIG: --max-spill is too small for this input

    static let documentation = """
    Exit codes: 0 success; 64 usage error; 65 bad data (damaged segment or log, data that \
    does not parse, a missing column, counts that do not reconcile); 66 missing input; \
    69 the memory budget is too small (raise --memory-limit); 73 output cannot be created; \
    74 I/O error (out of disk, read or write failure); 75 another batchrun is writing the \
    same table; 77 an input file is not readable (permissions); 78 spill files would pass \
    --max-spill (raise it).
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

    static func code(for error: BatchError) -> Int32 {
        switch error.code {
        case .missingInput: return noInput
        case .noHeader, .missingColumn, .badReference, .reconciliation, .damagedTable, .recordTooLarge: return dataError
        case .staleInput: return noInput
        case .cannotCreate: return cantCreate
        case .invalidArgument, .badPipeline: return usage
        case .unreadable:
            switch error.errno {
            case EACCES?, EPERM?: return noPermission
            case nil: return dataError  // bad compressed data
            default: return ioError
            }
        }
    }

    static func code(for error: SpillError) -> Int32 {
        switch error.code {
        case .outOfMemoryBudget: return outOfMemory
        case .outOfSpillQuota: return outOfSpillQuota
        case .outOfDisk, .io: return ioError
        }
    }
}

/// Runs `body`, turning an error into its message on stderr and its exit code.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let failure as Pipeline.Failure {
        do { try reportingErrors { throw failure.underlying } } catch {
            printErr("batchrun: \(failure)")
            throw error
        }
    } catch let error as SegmentError {
        reportError("\(error)", exitCode: ExitStatus.code(for: error))
        throw ExitCode(ExitStatus.code(for: error))
    } catch let error as BatchError {
        reportError("\(error)", exitCode: ExitStatus.code(for: error))
        throw ExitCode(ExitStatus.code(for: error))
    } catch let error as SpillError {
        reportError("\(error)", exitCode: ExitStatus.code(for: error))
        throw ExitCode(ExitStatus.code(for: error))
    }
}

#if canImport(Glibc)
import Glibc
#endif
