import Batch
import Foundation
import Testing

/// A lake that never passes a stale or damaged table for a good one: each case here is a
/// way an earlier build reported such a lake as sound or up to date.
@Suite struct LakeIntegrityTests {
    let dir = NSTemporaryDirectory() + "batchrun-integrity-\(UUID().uuidString.prefix(8))"
    var lake: String { dir + "/lake" }

    func generate(_ name: String, records: Int, seed: Int) throws -> String {
        let raw = dir + "/" + name
        let (s, _, e) = try CLI.run(["generate", "--records", String(records), "--out", raw, "--files", "2", "--seed", String(seed), "-q"])
        #expect(s == 0, "\(e)")
        return raw
    }

    /// `run --json`: the status and the report.
    func run(_ args: [String]) throws -> (Int32, [String: Any], String) {
        let (s, out, err) = try CLI.run(["run", "--lake", lake, "--json"] + args)
        let report = (try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]) ?? [:] // an error prints no report
        return (s, report, err)
    }

    func stage(_ report: [String: Any], _ name: String) -> [String: Any] {
        (report["stages"] as? [String: [String: Any]])?[name] ?? [:]
    }

    func verify() throws -> (Int32, String) {
        let (s, _, e) = try CLI.run(["verify", lake])
        return (s, e)
    }

    func segments(_ table: String) throws -> [String] {
        try FileManager.default.subpathsOfDirectory(atPath: lake + "/" + table).filter { $0.hasSuffix(".seg") }.sorted()
    }

    func flipByte(_ path: String, fromEnd: Int) throws {
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count - fromEnd] ^= 0x5A
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Case 1: silver deleted and built again as version 1 is another table than the
    /// silver gold was built from, so gold is rebuilt; before, gold was "up to date" and
    /// fact_transactions no longer matched silver.
    @Test func goldIsRebuiltWhenSilverIsMadeAnew() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let raw = try generate("raw", records: 6000, seed: 1)
        #expect(try run(["--raw", raw]).0 == 0)
        let extra = try generate("extra", records: 500, seed: 9)
        try FileManager.default.copyItem(atPath: extra + "/transactions/part-00000.csv", toPath: raw + "/transactions/late.csv")
        let (i, _, ie) = try CLI.run(["ingest", "--raw", raw, "--lake", lake, "-q"])
        #expect(i == 0, "\(ie)")
        try FileManager.default.removeItem(atPath: lake + "/silver")
        try FileManager.default.removeItem(atPath: lake + "/quarantine")
        let (s, report, err) = try run(["--raw", raw])
        #expect(s == 0, "\(err)")
        #expect(stage(report, "silver")["ran"] as? Bool == true)
        #expect(stage(report, "gold")["ran"] as? Bool == true, "\(report)")
        #expect((stage(report, "gold")["reason"] as? String ?? "").contains("another silver table"), "\(report)")
        let tables = report["tables"] as? [String: [String: Int]] ?? [:]
        #expect(tables["gold/fact_transactions"]?["rows"] == tables["silver"]?["rows"])
        let (v, ve) = try verify()
        #expect(v == 0, "\(ve)")
    }

    /// Case 1, the reference tables: gold refuses a silver checked against products that
    /// were replaced since (another landing zone ingested), and run builds silver again.
    @Test func goldRefusesSilverOfReplacedReferences() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let a = try generate("a", records: 4000, seed: 1)
        let b = try generate("b", records: 3000, seed: 2)
        for args in [["ingest", "--raw", a], ["silver"], ["ingest", "--raw", b]] {
            let (s, _, e) = try CLI.run(args + ["--lake", lake, "-q"])
            #expect(s == 0, "\(args): \(e)")
        }
        let (g, _, ge) = try CLI.run(["gold", "--lake", lake])
        #expect(g == 66 && ge.contains("silver was built from customers version 1") && ge.contains("run batchrun silver first"), "\(ge)")
        #expect(!FileManager.default.fileExists(atPath: lake + "/gold/fact_transactions/_log/00000000000000000001.log"))
        let (s, report, err) = try run(["--raw", b])
        #expect(s == 0 && stage(report, "silver")["ran"] as? Bool == true && stage(report, "gold")["ran"] as? Bool == true, "\(err)")
        let (v, ve) = try verify()
        #expect(v == 0, "\(ve)")
    }

    /// Case 2: run checks the committed files of the stages it would skip (sizes and
    /// footers): a damaged footer or a deleted file means rebuild; a damaged bronze stops
    /// with what to do, and --mode overwrite rebuilds it from RAW.
    @Test func runRebuildsWhatIsDamaged() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let raw = try generate("raw", records: 5000, seed: 3)
        #expect(try run(["--raw", raw]).0 == 0)

        try flipByte(lake + "/silver/" + (try segments("silver")[0]), fromEnd: 20)
        var (s, report, err) = try run(["--raw", raw])
        #expect(s == 0, "\(err)")
        #expect((stage(report, "silver")["reason"] as? String ?? "").contains("footer fails its checksum"), "\(report)")

        let gone = try segments("gold/daily_sales")[0]
        try FileManager.default.removeItem(atPath: lake + "/gold/daily_sales/" + gone)
        (s, report, err) = try run(["--raw", raw])
        #expect(s == 0 && stage(report, "silver")["ran"] as? Bool == false, "\(err)")
        #expect((stage(report, "gold")["reason"] as? String ?? "").contains("daily_sales is damaged"), "\(report)")

        // A flipped byte inside a chunk: only a full read sees it; --rebuild recovers.
        try flipByte(lake + "/silver/" + (try segments("silver")[1]), fromEnd: 400)
        #expect(try verify().0 == 65)
        #expect(try run(["--raw", raw, "--rebuild"]).0 == 0)
        #expect(try verify().0 == 0)

        let bronzeFile = lake + "/bronze/" + (try segments("bronze")[0])
        #expect(truncate(bronzeFile, 1000) == 0)
        (s, _, err) = try run(["--raw", raw])
        #expect(s == 65 && err.contains("bronze is damaged") && err.contains("--mode overwrite"), "\(err)")
        (s, report, err) = try run(["--raw", raw, "--mode", "overwrite"])
        #expect(s == 0 && stage(report, "silver")["ran"] as? Bool == true, "\(err)")
        let (v, ve) = try verify()
        #expect(v == 0, "\(ve)")
    }

    /// Case 3: a damaged log entry of a table that can be rebuilt is set aside (kept,
    /// named in the report) and the table built again; bronze's needs --mode overwrite.
    @Test func damagedLogsAreSetAsideAndRebuilt() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let raw = try generate("raw", records: 4000, seed: 4)
        #expect(try run(["--raw", raw]).0 == 0)
        let firstEntry = "/_log/00000000000000000001.log"

        try flipByte(lake + "/silver" + firstEntry, fromEnd: 40)
        let (s1, out1, e1) = try CLI.run(["silver", "--lake", lake, "--json"])
        #expect(s1 == 0, "\(e1)")
        let silver = try JSONSerialization.jsonObject(with: Data(out1.utf8)) as? [String: Any]
        let aside = try #require((silver?["set_aside"] as? [String])?.first)
        #expect(aside.contains("/_set_aside/silver-") && FileManager.default.fileExists(atPath: aside + firstEntry))

        try flipByte(lake + "/gold/dim_date" + firstEntry, fromEnd: 40)
        let (s2, report, e2) = try run(["--raw", raw])
        #expect(s2 == 0 && stage(report, "gold")["ran"] as? Bool == true, "\(e2)")
        #expect(((stage(report, "gold")["set_aside"] as? [String]) ?? []).contains { $0.contains("gold-dim_date-") }, "\(report)")
        #expect(try verify().0 == 0)

        try flipByte(lake + "/bronze" + firstEntry, fromEnd: 40)
        let (s3, _, e3) = try run(["--raw", raw])
        #expect(s3 == 65 && e3.contains("bronze is damaged") && e3.contains("--mode overwrite"), "\(e3)")
        let (s4, _, e4) = try run(["--raw", raw, "--mode", "overwrite"])
        #expect(s4 == 0, "\(e4)")
        let kept = try FileManager.default.contentsOfDirectory(atPath: lake + "/_set_aside")
        #expect(kept.contains { $0.hasPrefix("bronze-") }, "\(kept)")
        let (v, ve) = try verify()
        #expect(v == 0, "\(ve)")
    }

    /// Case 4: verify checks the tables the lake must hold given what it holds.
    @Test func verifySeesMissingTables() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let raw = try generate("raw", records: 3000, seed: 5)
        #expect(try run(["--raw", raw]).0 == 0)
        try FileManager.default.removeItem(atPath: lake + "/silver")
        try FileManager.default.removeItem(atPath: lake + "/quarantine")
        var (v, ve) = try verify()
        #expect(v == 65 && ve.contains("silver is missing, but gold/") && ve.contains("quarantine is missing"), "\(ve)")
        _ = FileManager.default.createFile(atPath: lake + "/silver", contents: Data("not a table".utf8))
        (v, ve) = try verify()
        #expect(v == 65 && ve.contains("is a file, not a table folder"), "\(ve)")
    }

    /// Case 5: a table folder whose first commit never happened is not damage, the next
    /// writer removes it, and a failed run says what it had committed.
    @Test func neverCommittedIsNotDamage() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let raw = try generate("raw", records: 3000, seed: 6)
        let (i, _, ie) = try CLI.run(["ingest", "--raw", raw, "--lake", lake, "-q"])
        #expect(i == 0, "\(ie)")
        for t in ["silver", "quarantine", "gold/dim_date"] {
            try FileManager.default.createDirectory(atPath: lake + "/" + t + "/_log", withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: lake + "/" + t + "/_log/_lock", contents: Data())
        }
        var (v, ve) = try verify()
        #expect(v == 0 && ve.contains("silver was never committed") && ve.contains("gold/dim_date was never committed"), "\(ve)")

        // A failing run (counts that differ from _expected.json) names what it committed.
        let expected = raw + "/_expected.json"
        let text = try String(contentsOfFile: expected, encoding: .utf8)
        try text.replacingOccurrences(of: "\"bronze\":3000", with: "\"bronze\":3001").write(toFile: expected, atomically: true, encoding: .utf8)
        #expect(try String(contentsOfFile: expected, encoding: .utf8) != text, "the test did not change _expected.json")
        let (s, _, err) = try run(["--raw", raw, "--mode", "overwrite"])
        #expect(s == 65 && err.contains("committed by this run before it stopped: bronze version 2") && err.contains("the silver stage did not finish"), "\(err)")
        #expect(!FileManager.default.fileExists(atPath: lake + "/gold/dim_date"), "the next writer removes a never-committed table")
        (v, ve) = try verify()
        #expect(v == 0 && !ve.contains("problem"), "\(ve)")
    }

    /// Case 8: checksums stream, so a small budget runs; the checksums are those of
    /// 16 MiB blocks (a lake ingested before sees the same files as already ingested).
    @Test func smallBudgetRuns() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let raw = try generate("raw", records: 20_000, seed: 8)
        let (s, _, err) = try run(["--raw", raw, "--memory-limit", "8MiB", "--batch-rows", "4096"])
        #expect(s == 0, "\(err)")
        #expect(try verify().0 == 0)
    }

    /// SIGKILL a run at random moments while another landing zone is ingested into the
    /// same lake side by side; afterwards one more run leaves a sound lake whose every
    /// derived table was built from the tables as they are.
    @Test func killedRunsBesideAnotherIngest() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let a = try generate("a", records: 20_000, seed: 11)
        let b = try generate("b", records: 8000, seed: 12)
        let seed = UInt64(ProcessInfo.processInfo.environment["CRASH_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64.max)
        print("kill-beside-ingest seed: \(seed) (set CRASH_SEED to repeat)")
        var rng = SplitMix64(seed: seed)
        guard let exe = CLI.binary() else { throw CocoaError(.fileNoSuchFile) }
        func start(_ args: [String]) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = args + ["--lake", lake, "-q"]
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        var killed = 0
        for round in 0..<6 {
            let runner = try start(["run", "--raw", round % 2 == 0 ? a : b, "--threads", "2"])
            usleep(UInt32(rng.next() % 300_000))
            let other = try start(["ingest", "--raw", round % 2 == 0 ? b : a])
            usleep(UInt32(50_000 + rng.next() % 500_000))
            kill(runner.processIdentifier, SIGKILL)
            runner.waitUntilExit()
            other.waitUntilExit()
            if runner.terminationReason == .uncaughtSignal { killed += 1 }
        }
        let (s, _, err) = try run(["--raw", a])
        #expect(s == 0, "\(err)")
        let (v, ve) = try verify()
        #expect(v == 0 && !ve.contains("note:"), "\(ve)")
        #expect(killed >= 1, "no run was killed mid-way; the test proved nothing")
    }

    /// Case 6: giant records stay within the budget. Each landing zone holds one file:
    /// a good record, the giant, a good record. Peak RSS is measured by a parent process
    /// (python's getrusage of its one child), not by batchrun itself.
    @Test func giantRecordsStayWithinTheBudget() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let header = "transaction_id,customer_id,product_id,quantity,unit_price,currency,status,channel,event_time,updated_at\n"
        let good = "t1,1,1,1,1.00,USD,completed,web,2025-01-01T00:00:00Z,2025-01-01T00:00:00Z\n"
        func zone(_ name: String, _ giant: (FileHandle) -> Void) throws -> String {
            let raw = dir + "/" + name
            try FileManager.default.createDirectory(atPath: raw + "/transactions", withIntermediateDirectories: true)
            let file = raw + "/transactions/a.csv"
            _ = FileManager.default.createFile(atPath: file, contents: Data((header + good).utf8))
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
            h.seekToEndOfFile()
            giant(h)
            h.write(Data(good.utf8))
            h.closeFile()
            return raw
        }
        func repeated(_ h: FileHandle, _ piece: [UInt8], bytes: Int) {
            let block = Data((0..<max(1, (1 << 20) / piece.count)).flatMap { _ in piece })
            var written = 0
            while written < bytes {
                let n = min(block.count, bytes - written)
                h.write(n == block.count ? block : block.prefix(n))
                written += n
            }
        }
        let invalid15 = try zone("invalid15") { h in
            h.write(Data("t2,1,1,1,1.00,USD,".utf8)); repeated(h, [0xFF, 0xFE], bytes: 15 << 20); h.write(Data(",web,2025-01-01T00:00:00Z,2025-01-01T00:00:00Z\n".utf8))
        }
        let long40 = try zone("long40") { h in
            h.write(Data("t2,1,1,1,1.00,USD,\"".utf8)); repeated(h, Array("x,".utf8), bytes: 40 << 20); h.write(Data("\",web,2025-01-01T00:00:00Z,2025-01-01T00:00:00Z\n".utf8))
        }
        let unclosed93 = try zone("unclosed93") { h in
            h.write(Data("t2,1,1,1,1.00,USD,\"completed,web,2025-01-01T00:00:00Z,2025-01-01T00:00:00Z\n".utf8)); repeated(h, Array(good.utf8), bytes: 93 << 20)
        }
        let underLimit = try zone("under") { h in
            h.write(Data("t2,1,1,1,1.00,USD,".utf8)); repeated(h, [0xFF, 0xFE], bytes: (1 << 20) - 4096); h.write(Data(",web,2025-01-01T00:00:00Z,2025-01-01T00:00:00Z\n".utf8))
        }
        let unclosedSmall = try zone("unclosed-small") { h in
            h.write(Data("t2,1,1,1,1.00,USD,\"completed,web,2025-01-01T00:00:00Z,2025-01-01T00:00:00Z\n".utf8)); repeated(h, Array(good.utf8), bytes: 10_000)
        }
        guard let exe = CLI.binary() else { throw CocoaError(.fileNoSuchFile) }
        let limitMiB = 32
        func ingest(_ raw: String) throws -> (status: Int32, peakMiB: Int, stderr: String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", "-c", """
                import resource, subprocess, sys
                r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                sys.stdout.write("%d %d\\n" % (r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024))
                sys.stdout.write(r.stderr.decode("utf-8", "replace"))
                """, exe, "ingest", "--raw", raw, "--lake", raw + "-lake", "--memory-limit", "\(limitMiB)MiB", "--batch-rows", "4096"]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            let first = text.split(separator: "\n", maxSplits: 1)
            let numbers = (first.first ?? "").split(separator: " ").compactMap { Int($0) }
            guard numbers.count == 2 else { return (-1, -1, text) }
            return (Int32(numbers[0]), numbers[1], first.count > 1 ? String(first[1]) : "")
        }
        for (raw, what) in [(invalid15, "a record starts here"), (long40, "a quoted field starts here and does not end within 1.0 MiB"),
                            (unclosed93, "a quoted field starts here and does not end within 1.0 MiB")] {
            let r = try ingest(raw)
            #expect(r.status == 65 && r.stderr.contains("transactions/a.csv, line 3") && r.stderr.contains(what), "\(raw): \(r)")
            #expect(r.peakMiB > 0 && r.peakMiB < limitMiB + 64, "\(raw): peak RSS \(r.peakMiB) MiB")
        }
        let under = try ingest(underLimit)
        #expect(under.status == 0 && under.peakMiB > 0 && under.peakMiB < limitMiB + 64, "\(under)")
        let small = try ingest(unclosedSmall)
        #expect(small.status == 0 && small.stderr.contains("transactions/a.csv, line 3: a quote opens there and never closes"), "\(small)")
    }
}
