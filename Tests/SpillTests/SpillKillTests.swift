import Foundation
import Testing
@testable import Spill

@Suite struct SpillKillTests {
    static func childPath() -> String? {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("SpillLoop").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        let fallback = FileManager.default.currentDirectoryPath + "/.build/debug/SpillLoop"
        return FileManager.default.isExecutableFile(atPath: fallback) ? fallback : nil
    }

    /// Starts the child and waits for its spill folder; returns it and the process.
    func start(_ parent: String) throws -> (Process, String, FileHandle) {
        let exe = try #require(Self.childPath(), "SpillLoop executable not found")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = [parent]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        var text = ""
        while !text.contains("\n") {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { break }
            text += String(decoding: d, as: UTF8.self)
        }
        let folder = String(text.split(separator: "\n").first?.dropFirst("folder ".count) ?? "")
        return (p, folder, out.fileHandleForReading)
    }

    /// SIGKILL mid-spill leaves a folder; the next run removes it at start.
    @Test func aKilledRunsFolderIsRemovedByTheNextRun() throws {
        let parent = NSTemporaryDirectory() + "batchrun-spill-kill-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: parent) } // best effort
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = Rng(seed)
        for round in 0..<3 {
            let (p, folder, _) = try start(parent)
            #expect(folder.hasPrefix(parent + "/batchrun-spill-"))
            usleep(UInt32(100_000 + rng.below(400_000)))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            #expect(p.terminationReason == .uncaughtSignal, "seed \(seed) round \(round)")
            #expect(FileManager.default.fileExists(atPath: folder), "a killed run cannot clean up; its folder stays")
            let next = try SpillManager(parent: parent)
            #expect(next.staleFoldersRemoved == 1, "seed \(seed) round \(round)")
            #expect(!FileManager.default.fileExists(atPath: folder))
            next.close()
            // A live run's folder is not touched by another run starting.
            let (live, liveFolder, _) = try start(parent)
            let other = try SpillManager(parent: parent)
            #expect(other.staleFoldersRemoved == 0 && FileManager.default.fileExists(atPath: liveFolder))
            other.close()
            kill(live.processIdentifier, SIGKILL)
            live.waitUntilExit()
            SpillManager.removeStale(in: parent)
        }
        let left = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
        #expect(left.isEmpty, "\(left)")
    }

    /// SIGINT and SIGTERM remove the folder before the process exits.
    @Test(arguments: [SIGINT, SIGTERM])
    func aSignalledRunCleansUp(_ sig: Int32) throws {
        let parent = NSTemporaryDirectory() + "batchrun-spill-signal-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: parent) } // best effort
        let (p, folder, out) = try start(parent)
        // Wait until it has spilled at least once, so files exist.
        var text = ""
        while !text.contains("spilled") {
            let d = out.availableData
            if d.isEmpty { break }
            text += String(decoding: d, as: UTF8.self)
        }
        kill(p.processIdentifier, sig)
        p.waitUntilExit()
        #expect(p.terminationStatus == 128 + sig)
        #expect(!FileManager.default.fileExists(atPath: folder))
    }
}
