#if canImport(Glibc)
import Glibc
#endif
import Batch
import Foundation

/// Runs another process and measures it from outside: wall time from spawn to exit and
/// its maximum resident set size (wait4's rusage), which in-process counters cannot give
/// per run because a process's peak only grows.
struct ChildProcess {
    struct Outcome {
        /// The exit status, or 128 + the signal that ended it.
        var status: Int32
        var stdout: Data
        var seconds: Double
        var peakRSSBytes: Int
    }

    /// This executable, for running batchrun's own commands.
    static func currentExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0] // /proc is always there on Linux
    }

    /// Runs `executable` with `arguments`; its stdout is captured, its stderr goes to
    /// `stderrPath` (created or truncated).
    static func run(_ executable: String, _ arguments: [String], stderrPath: String) throws -> Outcome {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw BatchError(.unreadable, path: executable, errno: errno, "cannot make a pipe to read the child's report")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let clock = ContinuousClock()
        let start = clock.now
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw BatchError(.unreadable, path: executable, errno: rc, "cannot start the process")
        }
        // Read the report until the child closes its stdout, then reap it.
        var output = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n > 0 {
                output.append(contentsOf: buffer[0..<n])
            } else if n == 0 || errno != EINTR {
                break
            }
        }
        close(fds[0])
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let seconds = (clock.now - start).seconds
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as macros.
        let signal = status & 0x7f
        let exit = signal == 0 ? (status >> 8) & 0xff : 128 + signal
        return Outcome(status: exit, stdout: output, seconds: seconds, peakRSSBytes: usage.ru_maxrss * 1024)
    }
}
