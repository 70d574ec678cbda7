import Batch
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
        let (status, out, err) = try CLI.run(["demo", "--records", "30000", "--dir", dir + "/demo", "--memory-limit", "64MiB", "--json"])
        #expect(status == 0, "\(err)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/demo/raw/_expected.json"))) as? [String: Any])
        let stages = try #require(report["stages"] as? [String: [String: Any]])
        #expect(stages["ingest"]?["rows_added"] as? Int == 30_000)
        #expect(stages["silver"]?["silver_rows"] as? Int == expected["silver"] as? Int)
        #expect(stages["silver"]?["duplicates_removed"] as? Int == expected["duplicates_removed"] as? Int)
        #expect(stages["silver"]?["checked_against_expected"] as? Bool == true)
        let tables = try #require(report["tables"] as? [String: [String: Int]])
        #expect(tables["gold/fact_transactions"]?["rows"] == expected["silver"] as? Int)
        #expect((tables["gold/dim_date"]?["rows"] ?? 0) == 90) // the generator's default 90 days
        #expect((report["peak_rss_bytes"] as? Int ?? 0) > 0)
        // A second demo replaces its own folder; a folder it did not make is refused.
        let (again, _, e2) = try CLI.run(["demo", "--records", "1000", "--dir", dir + "/demo", "-q"])
        #expect(again == 0, "\(e2)")
        try FileManager.default.createDirectory(atPath: dir + "/mine", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir + "/mine/keep.txt", contents: Data("x".utf8))
        let (refused, _, e3) = try CLI.run(["demo", "--records", "10", "--dir", dir + "/mine"])
        #expect(refused == 64 && e3.contains("not made by batchrun demo"), "\(e3)")
        #expect(FileManager.default.fileExists(atPath: dir + "/mine/keep.txt"))

        let (s2, out2, _) = try CLI.run(["inspect", dir + "/demo/lake/silver", "--json"])
        #expect(s2 == 0)
        let obj = try JSONSerialization.jsonObject(with: Data(out2.utf8)) as? [String: Any]
        #expect(obj?["kind"] as? String == "table")
        let columns = obj?["columns"] as? [[String: Any]] ?? []
        #expect(columns.first?["name"] as? String == "transaction_id")
        // The human report goes to stderr and names partitions and codecs.
        let (s4, out4, err4) = try CLI.run(["inspect", dir + "/demo/lake/gold/fact_transactions"])
        #expect(s4 == 0 && out4.isEmpty)
        #expect(err4.contains("year=2025/month=01") && err4.contains("lz4"), "\(err4)")
    }

    /// run twice (the second changes nothing), verify a sound lake (0) and a damaged one (65).
    @Test func runTwiceThenVerify() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let (g, _, ge) = try CLI.run(["generate", "--records", "8000", "--out", dir + "/raw", "--files", "2", "-q"])
        #expect(g == 0, "\(ge)")
        let (r1, out1, e1) = try CLI.run(["run", "--raw", dir + "/raw", "--lake", dir + "/lake", "--memory-limit", "32MiB", "--json"])
        #expect(r1 == 0, "\(e1)")
        let first = try #require(try JSONSerialization.jsonObject(with: Data(out1.utf8)) as? [String: Any])
        let stages1 = try #require(first["stages"] as? [String: [String: Any]])
        #expect(stages1["silver"]?["ran"] as? Bool == true && stages1["gold"]?["ran"] as? Bool == true)
        let (r2, _, e2) = try CLI.run(["run", "--raw", dir + "/raw", "--lake", dir + "/lake"])
        #expect(r2 == 0)
        #expect(e2.contains("nothing new") && e2.contains("up to date (bronze and reference unchanged)") && e2.contains("up to date (silver and reference unchanged)"), "\(e2)")

        let (v1, _, ve1) = try CLI.run(["verify", dir + "/lake"])
        #expect(v1 == 0 && ve1.contains("the lake is sound"), "\(ve1)")
        let table = dir + "/lake/gold/customer_monthly"
        let log = try String(contentsOfFile: table + "/_log/" + (try FileManager.default.contentsOfDirectory(atPath: table + "/_log").filter { $0.hasSuffix(".log") }.sorted().last ?? ""), encoding: .utf8)
        let name = try #require(log.range(of: "part-[^\"]*\\.seg", options: .regularExpression).map { String(log[$0]) })
        let file = table + "/" + name
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[bytes.count / 4] ^= 0x5A
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let (v2, _, ve2) = try CLI.run(["verify", dir + "/lake"])
        #expect(v2 == 65 && ve2.contains("gold/customer_monthly") && ve2.contains(name), "\(ve2)")
    }

    /// bench at two tiny sizes: the report, the chart, and --baseline's exit status.
    @Test func benchReportsAndComparesWithABaseline() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let (s, out, err) = try CLI.run(["bench", "--records", "2k,5k", "--repeat", "2", "--memory-limit", "32MiB,64MiB",
                                         "--dir", dir + "/work", "--out", dir + "/r.json", "--json"])
        #expect(s == 0, "\(err)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let results = try #require(report["results"] as? [[String: Any]])
        #expect(results.map { $0["records"] as? Int ?? 0 } == [2000, 2000, 5000, 5000])
        #expect(results.map { $0["memory_limit"] as? String ?? "" } == ["32MiB", "64MiB", "32MiB", "64MiB"])
        for r in results {
            let stages = try #require(r["stages"] as? [[String: Any]])
            #expect(stages.map { $0["stage"] as? String ?? "" } == ["ingest", "silver", "gold", "total"])
            for st in stages {
                #expect((st["seconds"] as? [Double])?.count == 2)
                #expect((st["median_seconds"] as? Double ?? 0) > 0 && (st["peak_rss_bytes"] as? Int ?? 0) > 1 << 20)
            }
            #expect(stages[0]["rows_in"] as? Int == r["records"] as? Int)
        }
        #expect(err.contains("vs smallest") && err.contains("ns/row"), "\(err)")
        // Two memory limits: a matrix per size, one cell starred as the fastest.
        #expect(err.contains("2K records: pipeline median time / peak RSS by setting") && err.contains("--memory-limit 64MiB"), "\(err)")
        #expect(FileManager.default.fileExists(atPath: dir + "/r.json") && FileManager.default.fileExists(atPath: dir + "/r.svg"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/work"), "the work folder is removed without --keep")

        // A baseline where every stage took 1 ms: this run is a regression (exit 1). One
        // where every stage took 100 s: no regression.
        let text = try String(contentsOfFile: dir + "/r.json", encoding: .utf8)
        for (seconds, status) in [("0.001", Int32(1)), ("100", Int32(0))] {
            let edited = text.replacingOccurrences(of: "\"median_seconds\" : [0-9.e-]+", with: "\"median_seconds\" : \(seconds)", options: .regularExpression)
            try edited.write(toFile: dir + "/base.json", atomically: true, encoding: .utf8)
            let (b, _, be) = try CLI.run(["bench", "--records", "2k", "--repeat", "1", "--memory-limit", "32MiB", "--dir", dir + "/work",
                                          "--svg", dir + "/b.svg", "--baseline", dir + "/base.json"])
            #expect(b == status, "\(be)")
            #expect(be.contains("regression: ") == (status == 1), "\(be)")
        }
        // A file that is not a report fails before any run, naming the file.
        let (bad, _, badErr) = try CLI.run(["bench", "--records", "2k", "--baseline", dir + "/r.svg"])
        #expect(bad == 64 && badErr.contains("r.svg"), "\(badErr)")
        let (usage, _, usageErr) = try CLI.run(["bench", "--records", "10q"])
        #expect(usage == 64 && usageErr.contains("--records"), "\(usageErr)")
    }

    @Test func errorsHaveTheirExitCodes() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let (missing, _, e1) = try CLI.run(["inspect", dir + "/nope.seg"])
        #expect(missing == 66, "\(e1)")
        #expect(e1.contains("nope.seg"))
        _ = FileManager.default.createFile(atPath: dir + "/bad.seg", contents: Data("not a segment at all, really not".utf8))
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

@Suite struct FirstHourTests {
    let dir = NSTemporaryDirectory() + "batchrun-first-hour-\(UUID().uuidString.prefix(8))"

    /// A mistyped command says which one was meant; --version answers.
    @Test func unknownCommandsAndVersion() throws {
        let (s, _, e) = try CLI.run(["injest", "--raw", "x"])
        #expect(s == 64 && e.contains("unknown command 'injest'; did you mean 'ingest'?") && e.contains("verify"), "\(e)")
        let (h, _, he) = try CLI.run(["help", "injest"])
        #expect(h == 64 && he.contains("did you mean 'ingest'?"), "\(he)")
        let (v, out, _) = try CLI.run(["--version"])
        #expect(v == 0 && out.hasPrefix("batchrun version "), "\(out)")
    }

    /// Every error starts "batchrun: error:"; with --json it is also a JSON object on
    /// stdout with the exit code. Sizes take the forms other tools use.
    @Test func errorsAndSizes() throws {
        let (s, out, err) = try CLI.run(["verify", dir + "/none", "--json"])
        #expect(s == 66 && err.hasPrefix("batchrun: error: "), "\(err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: [String: Any]])
        #expect(object["error"]?["exit_code"] as? Int == 66 && (object["error"]?["message"] as? String ?? "").contains("does not exist"))
        let (p, pout, perr) = try CLI.run(["run", "--raw", "x", "--lake", "y", "--memory-limit", "200%", "--json"])
        #expect(p == 64 && perr.hasPrefix("batchrun: error: --memory-limit '200%'") && perr.contains("at most 100%"), "\(perr)")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(pout.utf8)) as? [String: [String: Any]])
        #expect(parsed["error"]?["exit_code"] as? Int == 64 && !(parsed["error"]?["message"] as? String ?? "").contains("Usage"))
        // 64M and 1g are sizes: the run gets past the flags to the missing landing zone.
        for size in ["64M", "1g"] {
            let (m, _, merr) = try CLI.run(["ingest", "--raw", dir + "/none", "--lake", dir + "/lake", "--memory-limit", size])
            #expect(m == 66 && merr.contains("landing zone folder does not exist"), "\(size): \(merr)")
        }
        let (ok, _, okErr) = try CLI.run(["verify", dir + "/none", "-q"])
        #expect(ok == 66 && !okErr.contains("Error: "), "\(okErr)")
    }

    /// export writes only inside --out and takes the names run and verify print; a lake
    /// path that is a file cannot be written (73) nor verified.
    @Test func exportNamesAndLakePaths() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let (g, _, ge) = try CLI.run(["generate", "--records", "2000", "--out", dir + "/raw", "-q"])
        #expect(g == 0, "\(ge)")
        #expect(try CLI.run(["run", "--raw", dir + "/raw", "--lake", dir + "/lake", "-q"]).0 == 0)
        let (bad, _, badErr) = try CLI.run(["export", dir + "/lake", "../silver", "--out", dir + "/out"])
        #expect(bad == 64 && badErr.contains("is not a table of a lake"), "\(badErr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/silver.csv"))
        for name in ["gold/daily_sales", "daily_sales", "reference/products", "fx_rates"] {
            let (s, _, e) = try CLI.run(["export", dir + "/lake", name, "--out", dir + "/out", "-q"])
            #expect(s == 0, "\(name): \(e)")
        }
        let written = try FileManager.default.contentsOfDirectory(atPath: dir + "/out").sorted()
        #expect(written == ["daily_sales.csv", "fx_rates.csv", "products.csv"])
        _ = FileManager.default.createFile(atPath: dir + "/afile", contents: Data("x".utf8))
        let (f, _, fe) = try CLI.run(["ingest", "--raw", dir + "/raw", "--lake", dir + "/afile"])
        #expect(f == 73 && fe.contains("is a file, not a lake folder"), "\(fe)")
        let (v, _, ve) = try CLI.run(["verify", dir + "/afile"])
        #expect(v == 64 && ve.contains("is a file") && !ve.contains("does not exist"), "\(ve)")
    }

    /// SIGINT and SIGTERM say what was interrupted and that nothing committed is lost.
    @Test(arguments: [SIGINT, SIGTERM])
    func aSignalSaysWhatHappened(_ sig: Int32) throws {
        let work = dir + "-\(sig)"
        defer { try? FileManager.default.removeItem(atPath: work) } // best effort
        #expect(try CLI.run(["generate", "--records", "300000", "--out", work + "/raw", "-q"]).0 == 0)
        guard let exe = CLI.binary() else { throw CocoaError(.fileNoSuchFile) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["run", "--raw", work + "/raw", "--lake", work + "/lake", "--spill-dir", work + "/spill"]
        let err = Pipe()
        p.standardError = err
        try p.run()
        usleep(700_000)
        kill(p.processIdentifier, sig)
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 128 + sig, "the run was not stopped by the signal (it finished first?): \(text)")
        #expect(text.contains("interrupted by \(sig == SIGINT ? "SIGINT" : "SIGTERM")") && text.contains("last committed version"), "\(text)")
        let (v, _, ve) = try CLI.run(["verify", work + "/lake"])
        #expect(v == 0 || ve.contains("does not exist"), "\(ve)")
    }

    /// Every command's help has one USAGE style (the command, its required arguments,
    /// then [options]) and says each default once.
    @Test func helpIsConsistent() throws {
        for command in ["check", "generate", "ingest", "silver", "gold", "run", "demo", "bench", "export", "inspect", "verify"] {
            let (s, out, err) = try CLI.run([command, "--help"])
            let text = out + err
            #expect(s == 0, "\(command): \(err)")
            let usage = text.split(separator: "\n").first { $0.hasPrefix("USAGE: ") }.map(String.init) ?? ""
            #expect(usage.hasPrefix("USAGE: batchrun \(command)") && !usage.contains("<options>"), "\(command): \(usage)")
            let flat = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            // The old contract's name is spelled in two pieces: the document scan reads this file too.
            #expect(flat.range(of: #"\(default: [^)]*\)\. \(default:"#, options: .regularExpression) == nil && !text.contains("PIPELINE" + ".md"),
                    "\(command): a default said twice or a missing document")
        }
    }

    /// make install puts a working binary under PREFIX (install-binary: the copy without
    /// the release build, which the suite's binary stands in for).
    @Test func makeInstallPutsTheToolUnderPrefix() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        guard let exe = CLI.binary() else { throw CocoaError(.fileNoSuchFile) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["make", "-s", "-C", root, "install-binary", "PREFIX=\(dir)/prefix", "INSTALL_BIN=\(exe)"]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let installed = dir + "/prefix/bin/batchrun"
        #expect(FileManager.default.isExecutableFile(atPath: installed))
        let q = Process()
        q.executableURL = URL(fileURLWithPath: installed)
        q.arguments = ["--version"]
        let out = Pipe()
        q.standardOutput = out
        try q.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        q.waitUntilExit()
        #expect(q.terminationStatus == 0 && text.hasPrefix("batchrun version "), "\(text)")
    }
}

@Suite struct CheckCLITests {
    let dir = NSTemporaryDirectory() + "batchrun-check-\(UUID().uuidString.prefix(8))"

    /// check prints the tables of the built-in pipeline and of a file; a wrong file is
    /// exit 64 with file:line:column.
    @Test func checkValidAndWrongFiles() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let (s, out, err) = try CLI.run(["check", "--json"])
        #expect(s == 0, "\(err)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let tables = (report["tables"] as? [[String: Any]] ?? []).compactMap { $0["table"] as? String }
        #expect(tables == ["bronze", "reference/customers", "reference/products", "reference/fx_rates", "silver", "quarantine",
                           "gold/dim_date", "gold/dim_customer", "gold/dim_product", "gold/fact_transactions", "gold/daily_sales", "gold/customer_monthly"])
        let (s2, _, err2) = try CLI.run(["check"])
        #expect(s2 == 0 && err2.contains("pipeline 'transactions' is valid") && err2.contains("amount_usd      decimal(18,2) not null"), "\(err2)")

        let file = dir + "/p.yaml"
        try "name: p\nlanding:\n  facts:\n    name: f\n    files: f/*.csv\n    columns:\n      - {name: a, type: int64}\nsilver:\n  columns: [a, b: a +]\n  partition: a\n  order: [a]\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let (bad, _, badErr) = try CLI.run(["check", file])
        #expect(bad == 64 && badErr.contains(file + ":9:") && badErr.contains("expected a value"), "\(badErr)")
        let (missing, _, missingErr) = try CLI.run(["check", dir + "/none.yaml"])
        #expect(missing == 66 && missingErr.contains("none.yaml"), "\(missingErr)")
    }
}

@Suite struct IngestCLITests {
    let dir = NSTemporaryDirectory() + "batchrun-ingest-\(UUID().uuidString.prefix(8))"

    /// SIGKILL an ingestion at random moments, then run it again: every raw row is in
    /// bronze exactly once.
    @Test func killedIngestionLeavesEveryRowOnce() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let (g, _, ge) = try CLI.run(["generate", "--records", "60000", "--out", dir + "/raw", "--files", "3", "--zst-files", "1", "-q"])
        #expect(g == 0, "\(ge)")
        let seed = UInt64(ProcessInfo.processInfo.environment["CRASH_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64.max)
        print("ingest crash seed: \(seed) (set CRASH_SEED to repeat)")
        var rng = SplitMix64(seed: seed)
        guard let exe = CLI.binary() else { throw CocoaError(.fileNoSuchFile) }
        var killed = 0
        for _ in 0..<6 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = ["ingest", "--raw", dir + "/raw", "--lake", dir + "/lake", "-q", "--threads", "2"]
            try p.run()
            usleep(UInt32(20_000 + rng.next() % 400_000))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            if p.terminationReason == .uncaughtSignal { killed += 1 }
        }
        let (s, out, err) = try CLI.run(["ingest", "--raw", dir + "/raw", "--lake", dir + "/lake", "--json"])
        #expect(s == 0, "\(err)")
        let report = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]
        #expect(report?["bronze_rows"] as? Int == 60_000, "\(out)")
        let (s2, out2, _) = try CLI.run(["ingest", "--raw", dir + "/raw", "--lake", dir + "/lake", "--json"])
        #expect(s2 == 0)
        let again = try JSONSerialization.jsonObject(with: Data(out2.utf8)) as? [String: Any]
        #expect(again?["rows_added"] as? Int == 0 && again?["bronze_rows"] as? Int == 60_000)
        #expect(killed >= 1, "no ingestion was killed mid-run; the test proved nothing")
        // No file of a killed run is left: every file is a segment the log references.
        let files = try FileManager.default.subpathsOfDirectory(atPath: dir + "/lake/bronze").filter { $0.hasPrefix("part-") }
        let (_, inspect, _) = try CLI.run(["inspect", dir + "/lake/bronze", "--json"])
        let table = try JSONSerialization.jsonObject(with: Data(inspect.utf8)) as? [String: Any]
        let segments = (table?["segments"] as? [[String: Any]])?.compactMap { $0["path"] as? String } ?? []
        #expect(Set(files) == Set(segments) && !segments.isEmpty, "files \(files), segments \(segments)")
    }

    @Test func ingestErrorsHaveTheirExitCodes() throws {
        try FileManager.default.createDirectory(atPath: dir + "/raw/transactions", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let (missing, _, e1) = try CLI.run(["ingest", "--raw", dir + "/nope", "--lake", dir + "/lake"])
        #expect(missing == 66 && e1.contains("nope"), "\(e1)")
        _ = FileManager.default.createFile(atPath: dir + "/raw/transactions/a.csv", contents: Data())
        let (noHeader, _, e2) = try CLI.run(["ingest", "--raw", dir + "/raw", "--lake", dir + "/lake"])
        #expect(noHeader == 65 && e2.contains("transactions/a.csv") && e2.contains("header"), "\(e2)")
        _ = FileManager.default.createFile(atPath: dir + "/raw/transactions/a.csv", contents: Data("transaction_id,customer_id\n".utf8))
        let (noColumn, _, e3) = try CLI.run(["ingest", "--raw", dir + "/raw", "--lake", dir + "/lake"])
        #expect(noColumn == 65 && e3.contains("product_id"), "\(e3)")
        let (usage, _, e4) = try CLI.run(["ingest", "--raw", dir + "/raw", "--lake", dir + "/lake", "--memory-limit", "lots"])
        #expect(usage == 64 && e4.contains("MiB"), "\(e4)")
        let (mode, _, _) = try CLI.run(["ingest", "--raw", dir + "/raw", "--lake", dir + "/lake", "--mode", "merge"])
        #expect(mode == 64)
    }
}

/// `--pipeline FILE` on run, ingest, silver and gold: another pipeline runs on the same
/// engine, the lake keeps the file for the commands after, and a wrong file is refused
/// before any data is read.
@Suite struct PipelineFlagTests {
    let dir = NSTemporaryDirectory() + "batchrun-pipeline-flag-\(UUID().uuidString.prefix(8))"
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func sensorsByFlagThenByTheLakesFile() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let zone = Self.root + "/Tests/Pipelines/sensors", file = Self.root + "/pipelines/sensors.yaml", lake = dir + "/lake"
        let (status, out, err) = try CLI.run(["run", "--pipeline", file, "--raw", zone, "--lake", lake, "--json"])
        #expect(status == 0, "\(err)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let tables = try #require(report["tables"] as? [String: [String: Int]])
        #expect(tables["silver"]?["rows"] == 6 && tables["gold/site_daily"]?["rows"] == 5 && tables["gold/fact_transactions"] == nil, "\(tables)")
        // The lake keeps the file: silver and gold without --pipeline find it up to date;
        // export and verify know its tables.
        let (silver, _, e1) = try CLI.run(["run", "--raw", zone, "--lake", lake])
        #expect(silver == 0 && e1.contains("up to date"), "\(e1)")
        let (exported, _, e2) = try CLI.run(["export", lake, "dim_day", "--format", "csv", "--out", dir + "/out"])
        #expect(exported == 0, "\(e2)")
        #expect(try String(contentsOfFile: dir + "/out/dim_day.csv", encoding: .utf8).hasPrefix("day_key,date,weekday\n20250131,"))
        // Parquet: one file per partition folder; a codec that is not one is refused.
        let (parquet, _, e5) = try CLI.run(["export", lake, "silver", "--format", "parquet", "--compression", "lz4", "--out", dir + "/pq"])
        #expect(parquet == 0, "\(e5)")
        for day in ["2025-01-31", "2025-02-01", "2025-02-02"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/pq/silver/received_date=\(day)/part-00000.parquet"), "\(day)")
        }
        let (refused, _, e6) = try CLI.run(["export", lake, "silver", "--format", "parquet", "--compression", "brotli", "--out", dir + "/pq"])
        #expect(refused == 64 && e6.contains("--compression must be zstd, zstd:LEVEL (1-19), lz4 or none, not 'brotli'"), "\(e6)")
        let (verified, _, e3) = try CLI.run(["verify", lake, "-q"])
        #expect(verified == 0, "\(e3)")
        // A changed file rebuilds silver and gold (the lake records the file's digest).
        let changed = dir + "/sensors-changed.yaml"
        try (try String(contentsOfFile: file, encoding: .utf8)).replacingOccurrences(of: "between -60 and 80", with: "between -60 and 25")
            .write(toFile: changed, atomically: true, encoding: .utf8)
        let (rebuilt, out2, e4) = try CLI.run(["silver", "--pipeline", changed, "--lake", lake, "--json"])
        #expect(rebuilt == 0, "\(e4)")
        let silverReport = try #require(try JSONSerialization.jsonObject(with: Data(out2.utf8)) as? [String: Any])
        #expect((silverReport["quarantined"] as? [String: Int])?["bad_reading"] == 3, "\(out2)") // 95, 30 and 31 degrees
    }

    /// generate and bench take the file too: a zone for it, which a run then meets.
    @Test func generateAndBenchForAPipelineFile() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let file = Self.root + "/pipelines/sensors.yaml", raw = dir + "/raw"
        let (status, out, err) = try CLI.run(["generate", "--pipeline", file, "--records", "3000", "--out", raw, "--json"])
        #expect(status == 0, "\(err)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let silver = try #require((report["expected"] as? [String: Any])?["silver"] as? Int)
        let (ran, runOut, e1) = try CLI.run(["run", "--pipeline", file, "--raw", raw, "--lake", dir + "/lake", "--json"])
        #expect(ran == 0, "\(e1)")
        let tables = try #require((try JSONSerialization.jsonObject(with: Data(runOut.utf8)) as? [String: Any])?["tables"] as? [String: [String: Int]])
        #expect(tables["silver"]?["rows"] == silver)
        // Flags of the transactions generator are refused for another file.
        let (refused, _, e2) = try CLI.run(["generate", "--pipeline", file, "--records", "10", "--out", dir + "/raw2", "--customers", "5"])
        #expect(refused == 64 && e2.contains("--customers is for the built-in transactions pipeline"), "\(e2)")
        let (benched, benchOut, e3) = try CLI.run(["bench", "--pipeline", file, "--records", "2k", "--repeat", "1", "--dir", dir + "/bench",
                                                  "--svg", dir + "/bench.svg", "--json", "-q"])
        #expect(benched == 0, "\(e3)")
        let bench = try #require(try JSONSerialization.jsonObject(with: Data(benchOut.utf8)) as? [String: Any])
        #expect((bench["results"] as? [Any])?.count == 1, "\(benchOut)")
        // plan: the operators of each stage, with their grants for the flags given.
        let (planned, planOut, e4) = try CLI.run(["plan", file, "--memory-limit", "64MiB", "--threads", "2", "--json"])
        #expect(planned == 0, "\(e4)")
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(planOut.utf8)) as? [String: Any])
        let stages = try #require(plan["stages"] as? [[String: Any]])
        #expect(stages.map { $0["stage"] as? String } == ["ingest", "silver", "gold"] && plan["memory_limit_bytes"] as? Int == 64 << 20)
        let silverOps = try #require(stages[1]["operators"] as? [[String: Any]])
        #expect(silverOps.contains { $0["operator"] as? String == "dedup" && ($0["memory_bytes"] as? Int ?? 0) > 40 << 20 }, "\(silverOps)")
    }

    /// `spark` writes the job and its README; the job is valid Python that defines the
    /// pipeline's stages and takes --raw, --out and --format.
    @Test func sparkWritesAJobPythonCompiles() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        let (status, out, err) = try CLI.run(["spark", Self.root + "/pipelines/sensors.yaml", "--out", dir + "/job", "--json"])
        #expect(status == 0, "\(err)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let job = try #require(report["job"] as? String)
        #expect(job == dir + "/job/sensors_job.py" && report["readme"] as? String == dir + "/job/" + "README.md")
        let text = try String(contentsOfFile: job, encoding: .utf8)
        for part in ["def silver(bronze, refs):", "def gold_site_daily(tables, refs):", "keep_one(valid, [\"__device_id\", \"__sequence\"], [\"__received_at\"], \"least\")",
                     "ap.add_argument(\"--format\", choices=[\"parquet\", \"delta\"]"] {
            #expect(text.contains(part), "\(part)")
        }
        let readme = try String(contentsOfFile: dir + "/job/" + "README.md", encoding: .utf8)
        #expect(readme.contains("spark-submit --master local[2] sensors_job.py --raw RAW --out OUT"))
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])", job]
        let errors = Pipe()
        python.standardError = errors
        try python.run()
        python.waitUntilExit()
        #expect(python.terminationStatus == 0, "\(String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
    }

    @Test func aWrongFileIsRefusedBeforeAnyDataIsRead() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) } // best effort
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/wrong.yaml"
        try (try String(contentsOfFile: Self.root + "/pipelines/sensors.yaml", encoding: .utf8))
            .replacingOccurrences(of: "humidity between 0 and 100", with: "humidty between 0 and 100").write(toFile: file, atomically: true, encoding: .utf8)
        let (planned, _, planErr) = try CLI.run(["plan", file])
        #expect(planned == 64 && planErr.contains("wrong.yaml:54:55: unknown column 'humidty'"), "\(planErr)")
        let (sparked, _, sparkErr) = try CLI.run(["spark", file, "--out", dir + "/job"])
        #expect(sparked == 64 && sparkErr.contains("wrong.yaml:54:55: unknown column 'humidty'"), "\(sparkErr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/job"), "spark wrote a job for a wrong file")
        for command in [["run", "--raw", Self.root + "/Tests/Pipelines/sensors", "--lake", dir + "/lake"], ["ingest", "--raw", Self.root + "/Tests/Pipelines/sensors", "--lake", dir + "/lake"],
                        ["silver", "--lake", dir + "/lake"], ["gold", "--lake", dir + "/lake"]] {
            let (status, _, err) = try CLI.run(command + ["--pipeline", file])
            #expect(status == 64 && err.contains("wrong.yaml:54:55: unknown column 'humidty'; did you mean 'humidity'?"), "\(command[0]): \(err)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/lake/bronze"), "\(command[0]) read data")
        }
    }
}
