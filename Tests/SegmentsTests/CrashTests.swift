import Foundation
import Testing
@testable import Segments

/// SIGKILL a process that commits in a loop, many times, at random moments.
@Suite struct CrashTests {
    /// The CommitLoop executable, built beside the test bundle.
    static func commitLoopPath() -> String? {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("CommitLoop").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        let fallback = FileManager.default.currentDirectoryPath + "/.build/debug/CommitLoop"
        return FileManager.default.isExecutableFile(atPath: fallback) ? fallback : nil
    }

    @Test func killedCommitsLeaveTheLastCommittedVersionIntact() throws {
        guard let exe = Self.commitLoopPath() else {
            Issue.record("CommitLoop executable not found next to \(CommandLine.arguments[0])")
            return
        }
        let dir = TempDir("crash")
        defer { dir.cleanup() }
        let table = dir.path + "/t"
        let rowsPerCommit = 3000
        var seed = UInt64(ProcessInfo.processInfo.environment["CRASH_SEED"] ?? "") ?? UInt64.random(in: 1...1_000_000)
        let startSeed = seed
        var reportedMax = 0
        var kills = 0
        for round in 0..<30 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let delayMs = 5 + Int(seed >> 33) % 120
            let child = Process()
            child.executableURL = URL(fileURLWithPath: exe)
            child.arguments = [table, String(rowsPerCommit)]
            let out = Pipe()
            child.standardOutput = out
            child.standardError = FileHandle.nullDevice
            try child.run()
            usleep(useconds_t(delayMs * 1000))
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            if child.terminationReason == .uncaughtSignal { kills += 1 }
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            for line in text.split(separator: "\n") where line.hasPrefix("committed ") {
                reportedMax = max(reportedMax, Int(line.dropFirst(10)) ?? 0)
            }
            guard Table.exists(at: table), !(try Table.versions(at: table)).isEmpty else {
                #expect(reportedMax == 0, "seed \(startSeed) round \(round): commits were reported but the table has none")
                continue
            }
            try Self.checkTable(table, rowsPerCommit: rowsPerCommit, atLeast: reportedMax, context: "seed \(startSeed) round \(round)")
            // The next writer cleans up what the kill left, and every remaining file is live.
            let w = try TableWriter(path: table, schema: Schema([Field("value", .int64), Field("label", .string)]), partitionColumns: ["bucket"])
            let live = Set(w.base?.files.map(\.path) ?? [])
            let onDisk = Set(try FileManager.default.subpathsOfDirectory(atPath: table).filter { $0.hasSuffix(".seg") || $0.contains(".tmp-") })
            #expect(onDisk == live, "seed \(startSeed) round \(round): stray files \(onDisk.subtracting(live))")
            w.close()
        }
        #expect(kills >= 25, "the child should be killed mid-loop (seed \(startSeed))")
        #expect(reportedMax >= 3, "the child should commit several times in 30 runs (seed \(startSeed))")
        // And the table still takes a commit of its own.
        let w = try TableWriter(path: table, schema: Schema([Field("value", .int64), Field("label", .string)]), partitionColumns: ["bucket"])
        let before = w.base?.version ?? 0
        #expect(try w.commit(operation: "after-crashes", info: [:]) == before + 1)
        w.close()
    }

    /// The table opens at a committed version >= `atLeast`, and every live segment holds
    /// exactly the rows its commit wrote, as the log says.
    static func checkTable(_ table: String, rowsPerCommit: Int, atLeast: Int, context: String) throws {
        let reader = try TableReader(path: table)
        #expect(reader.snapshot.version >= atLeast, "\(context): version \(reader.snapshot.version) < reported \(atLeast)")
        // Replay the log: commit k replaces everything when k % 3 == 0, else adds.
        var expected: [Int] = []
        for info in reader.snapshot.commitInfos {
            guard let k = info["k"].flatMap(Int.init) else { continue }
            if k % 3 == 0 { expected = [k] } else { expected.append(k) }
        }
        var found: [Int] = []
        for seg in try (0..<reader.segmentCount).map({ try reader.segment($0) }) {
            guard let k = seg.metadata["k"].flatMap(Int.init) else {
                Issue.record("\(context): segment without its commit number")
                continue
            }
            found.append(k)
            let v = seg.makeVector(column: 0)
            var values: [Int64] = []
            for g in seg.rowGroups.indices {
                try seg.read(column: 0, rowGroup: g, into: v)
                values += (0..<v.count).map { v.int64($0) }
            }
            #expect(values == (0..<rowsPerCommit).map { Int64(k * 1_000_000 + $0) }, "\(context): segment of commit \(k) differs")
        }
        #expect(found.sorted() == expected.sorted(), "\(context): live commits \(found.sorted()) vs log \(expected.sorted())")
    }
}
