import Foundation
import Testing

/// Runs the built `batchrun` binary as a user would.
struct CLI {
    static func binary() -> String? {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("batchrun").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        let fallback = FileManager.default.currentDirectoryPath + "/.build/debug/batchrun"
        return FileManager.default.isExecutableFile(atPath: fallback) ? fallback : nil
    }

    /// (exit status, stdout, stderr)
    static func run(_ args: [String]) throws -> (Int32, String, String) {
        guard let exe = binary() else { throw CocoaError(.fileNoSuchFile) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}

@Suite struct CLITests {
    let dir = NSTemporaryDirectory() + "batchrun-cli-\(UUID().uuidString.prefix(8))"

    @Test func demoThenInspectJSON() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let (status, _, err) = try CLI.run(["demo", "--records", "50000", "--out", dir + "/sample", "--compression", "lz4"])
        #expect(status == 0, "\(err)")
        #expect(err.contains("wrote 50000 rows in 2 partitions"))
        let (s2, out, _) = try CLI.run(["inspect", dir + "/sample", "--json"])
        #expect(s2 == 0)
        let obj = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]
        #expect(obj?["rows"] as? Int == 50_000)
        #expect(obj?["kind"] as? String == "table")
        #expect((obj?["partitions"] as? [Any])?.count == 2)
        let columns = obj?["columns"] as? [[String: Any]] ?? []
        #expect(columns.count == 10)
        #expect(columns.first?["name"] as? String == "transaction_id")
        // A single segment of the table.
        let segments = obj?["segments"] as? [[String: Any]] ?? []
        let first = try #require(segments.first?["path"] as? String)
        let (s3, out3, _) = try CLI.run(["inspect", dir + "/sample/" + first, "--json"])
        #expect(s3 == 0)
        let seg = try JSONSerialization.jsonObject(with: Data(out3.utf8)) as? [String: Any]
        #expect(seg?["kind"] as? String == "segment")
        #expect(seg?["rows"] as? Int == 28_800)
        // The human report goes to stderr and names codecs and encodings.
        let (s4, out4, err4) = try CLI.run(["inspect", dir + "/sample"])
        #expect(s4 == 0 && out4.isEmpty)
        #expect(err4.contains("event_date=2025-01-01") && err4.contains("dictionary") && err4.contains("lz4"))
    }

    @Test func errorsHaveTheirExitCodes() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let (missing, _, e1) = try CLI.run(["inspect", dir + "/nope.seg"])
        #expect(missing == 66, "\(e1)")
        #expect(e1.contains("nope.seg"))
        FileManager.default.createFile(atPath: dir + "/bad.seg", contents: Data("not a segment at all, really not".utf8))
        let (bad, _, e2) = try CLI.run(["inspect", dir + "/bad.seg"])
        #expect(bad == 65, "\(e2)")
        #expect(e2.contains("bad.seg") && e2.contains("byte offset 0"))
        let (usage, _, e3) = try CLI.run(["demo", "--compression", "brotli"])
        #expect(usage == 64, "\(e3)")
        #expect(e3.contains("--compression"))
        let (notTable, _, e4) = try CLI.run(["inspect", dir])
        #expect(notTable == 64, "\(e4)")
    }
}
