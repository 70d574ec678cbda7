import Foundation
import Segments
import Spill
import Testing
@testable import Batch

/// The landing zone of any pipeline file: ingest reads the feeds a file declares, with
/// their grammars, globs, optional columns and reference keys, not the transactions'.
@Suite struct LandingTests {
    static let sensors = """
    name: sensors
    landing:
      facts:
        name: readings
        files: feeds/*/day-*.csv
        columns:
          - {name: sensor, type: string, case: upper}
          - {name: slot, type: int32}
          - {name: celsius, type: float64}
          - {name: flow, type: 'decimal(6,3)', unsigned: true}
          - {name: ok, type: bool}
          - {name: day, type: date}
          - {name: note, type: string, required: false}
      references:
        - name: sites
          file: sites.csv
          key: code
          columns:
            - {name: code, type: string, case: lower}
            - {name: region, type: int32}
    silver:
      columns: [sensor, day]
      partition: day
      order: [sensor]
    """

    @Test func anyPipelinesFeedsAreIngested() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let raw = s.path + "/raw"
        try FileManager.default.createDirectory(atPath: raw + "/feeds/north/deep", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: raw + "/feeds/south", withIntermediateDirectories: true)
        // Matched: feeds/<any>/day-*.csv (one folder deep). Not matched: deeper, other names.
        try "SENSOR,slot,celsius,flow,ok,day\nab,1,21.5,1.25,TRUE,2025-03-14\nCd,-2,-1e2,001.000,false,2024-02-29\nzz,x,nan,-1.5,yes,2023-02-29\n,,,,,\n"
            .write(toFile: raw + "/feeds/north/day-1.csv", atomically: true, encoding: .utf8)
        try "day,note,ok,flow,celsius,slot,sensor\n2025-01-01,hi,false,999.999,.5,2147483647,q\n2025-01-02,,true,1000,0,2147483648,r\n"
            .write(toFile: raw + "/feeds/south/day-2.csv", atomically: true, encoding: .utf8)
        try "x\n1\n".write(toFile: raw + "/feeds/north/deep/day-3.csv", atomically: true, encoding: .utf8)
        try "x\n1\n".write(toFile: raw + "/feeds/south/night-1.csv", atomically: true, encoding: .utf8)
        try "code,region\nN1,7\nS2,8\nn1,9\n".write(toFile: raw + "/sites.csv", atomically: true, encoding: .utf8)

        let file = try PipelineLoader.load(text: Self.sensors, path: "sensors.yaml")
        var o = Ingest.Options(raw: raw, lake: s.path + "/lake")
        o.landing = Landing(file)
        o.ingestedAt = 1_750_000_000_000_000
        let spill = try SpillManager(parent: NSTemporaryDirectory() + "batchrun-landing-tests-\(UUID().uuidString.prefix(8))")
        defer { spill.close() }
        let report = try Ingest(options: o, budget: MemoryBudget(limitBytes: 64 << 20), spill: spill).run()
        #expect(report.files.map(\.path) == ["feeds/north/day-1.csv", "feeds/south/day-2.csv"])
        #expect(report.rowsAdded == 6)

        let bronze = try exported(s.path + "/lake/bronze", in: s, as: "bronze")
        let lines = bronze.split(separator: "\n").map(String.init)
        #expect(lines[0] == "sensor,slot,celsius,flow,ok,day,note,_source_file,_source_line,_ingest_seq,_ingested_at,_rescued")
        #expect(lines[1].hasPrefix("AB,1,21.5,1.250,true,2025-03-14,,feeds/north/day-1.csv,2,1,"))
        #expect(lines[2].hasPrefix("CD,-2,-100.0,1.000,false,2024-02-29,,feeds/north/day-1.csv,3,1,"))
        // What does not parse is null and kept, by the pipeline's column names.
        #expect(lines[3].hasPrefix("ZZ,,,,,,,feeds/north/day-1.csv,4,1,"), "\(lines[3])")
        #expect(lines[3].hasSuffix(#","{""slot"":""x"",""celsius"":""nan"",""flow"":""-1.5"",""ok"":""yes"",""day"":""2023-02-29""}""#), "\(lines[3])")
        #expect(lines[4].hasPrefix(",,,,,,,feeds/north/day-1.csv,5,1,"))
        // Columns in another order; the optional column present here; int32 range.
        #expect(lines[5].hasPrefix("Q,2147483647,0.5,999.999,false,2025-01-01,hi,feeds/south/day-2.csv,2,1,"))
        #expect(lines[6].hasPrefix("R,,0.0,,true,2025-01-02,,feeds/south/day-2.csv,3,1,"), "\(lines[6])")
        #expect(lines[6].hasSuffix(#","{""slot"":""2147483648"",""flow"":""1000""}""#), "\(lines[6])")

        // The reference table: keys lower-cased, the later row of a key wins, in key order.
        let sites = try exported(s.path + "/lake/reference/sites", in: s, as: "sites")
        #expect(sites == "code,region\nn1,9\ns2,8\n")
        let info = try Table.snapshot(at: s.path + "/lake/bronze").commitInfos.last ?? [:]
        #expect(info["pipeline"] == "sensors")
    }

    @Test func aMissingRequiredColumnAndABadReferenceRowAreNamed() throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let raw = s.path + "/raw"
        try FileManager.default.createDirectory(atPath: raw + "/feeds/a", withIntermediateDirectories: true)
        try "sensor,slot,celsius,flow,ok\nab,1,2,3,true\n".write(toFile: raw + "/feeds/a/day-1.csv", atomically: true, encoding: .utf8)
        try "code,region\nN1,seven\n".write(toFile: raw + "/sites.csv", atomically: true, encoding: .utf8)
        var o = Ingest.Options(raw: raw, lake: s.path + "/lake")
        o.landing = Landing(try PipelineLoader.load(text: Self.sensors, path: "sensors.yaml"))
        let spill = try SpillManager(parent: NSTemporaryDirectory() + "batchrun-landing-tests-\(UUID().uuidString.prefix(8))")
        defer { spill.close() }
        #expect { try Ingest(options: o, budget: MemoryBudget(limitBytes: 64 << 20), spill: spill).run() } throws: {
            guard let e = $0 as? BatchError else { return false }
            return e.code == .missingColumn && e.column == "day" && e.path == "feeds/a/day-1.csv"
        }
        try "sensor,slot,celsius,flow,ok,day\nab,1,2,3,true,2025-01-01\n".write(toFile: raw + "/feeds/a/day-1.csv", atomically: true, encoding: .utf8)
        #expect { try Ingest(options: o, budget: MemoryBudget(limitBytes: 64 << 20), spill: spill).run() } throws: {
            guard let e = $0 as? BatchError else { return false }
            return e.code == .badReference && e.path == "sites.csv" && e.line == 2 && e.column == "region" && e.message.contains("an int32 integer")
        }
        let committed = Table.exists(at: s.path + "/lake/bronze") ? try Table.versions(at: s.path + "/lake/bronze") : []
        #expect(committed.isEmpty)
    }

    @Test func globs() {
        func m(_ path: String, _ pattern: String) -> Bool {
            Glob.matches(path.split(separator: "/").map(String.init), pattern.split(separator: "/").map(String.init))
        }
        #expect(m("a.csv", "**/*.csv") && m("x/y/a.csv", "**/*.csv") && !m("x/a.txt", "**/*.csv"))
        #expect(m("x/day-1.csv", "*/day-?.csv") && !m("x/day-10.csv", "*/day-?.csv") && !m("x/y/day-1.csv", "*/day-?.csv"))
        #expect(m("a/b/c.csv", "a/**/c.csv") && m("a/c.csv", "a/**/c.csv") && !m("b/c.csv", "a/**/c.csv"))
        #expect(RawFiles.fixedPrefix("transactions/**/*.csv") == "transactions" && RawFiles.fixedPrefix("*.csv") == "" && RawFiles.fixedPrefix("a/b/*.csv") == "a/b")
    }

    @Test func fieldGrammars() {
        func p<T>(_ s: String, _ f: (UnsafeRawBufferPointer) -> T?) -> T? {
            var s = s
            return s.withUTF8 { f(UnsafeRawBufferPointer($0)) }
        }
        // decimal(17,2) is the contract's unit_price grammar: 15 digits before the point.
        let expected: [(String, Int64?)] = [("0", 0), ("-1.5", -150), ("+123456789012345.67", 12_345_678_901_234_567), ("1234567890123456", nil),
                                            ("1.234", nil), (".5", nil), ("1.", nil), ("--1", nil), ("", nil)]
        for (text, value) in expected {
            #expect(p(text) { FieldParsers.decimal($0, wholeDigits: 15, scale: 2) } == value, "\(text)")
        }
        #expect(p("12.5") { FieldParsers.decimal($0, wholeDigits: 3, scale: 0) } == nil)
        #expect(p("-1") { FieldParsers.decimal($0, wholeDigits: 3, scale: 2, signed: false) } == nil)
        #expect(p("1e3", FieldParsers.float64) == 1000 && p("-.5", FieldParsers.float64) == -0.5 && p("inf", FieldParsers.float64) == nil
                && p("1e999", FieldParsers.float64) == nil && p("1.5.2", FieldParsers.float64) == nil)
        #expect(p("TRUE", FieldParsers.bool) == true && p("False", FieldParsers.bool) == false && p("1", FieldParsers.bool) == nil)
        #expect(p("-2147483648", FieldParsers.int32) == Int32.min && p("2147483648", FieldParsers.int32) == nil)
    }
}
