import Batch
import Foundation
import FoundationXML
import Testing

@Suite struct ScaleBenchTests {
    @Test func countsAndLists() {
        #expect(ScaleBench.parseCount("10k") == 10_000)
        #expect(ScaleBench.parseCount("10K") == 10_000)
        #expect(ScaleBench.parseCount("1M") == 1_000_000)
        #expect(ScaleBench.parseCount("1.5m") == 1_500_000)
        #expect(ScaleBench.parseCount("2G") == 2_000_000_000)
        #expect(ScaleBench.parseCount("100_000") == 100_000)
        #expect(ScaleBench.parseCount("12345") == 12_345)
        for bad in ["", "k", "1x", "-5", "1.5", "0.0001k", "ten"] { #expect(ScaleBench.parseCount(bad) == nil, "\(bad)") }
        #expect(ScaleBench.formatCount(10_000) == "10K")
        #expect(ScaleBench.formatCount(2_500_000) == "2.5M")
        #expect(ScaleBench.formatCount(100_000_000) == "100M")
        #expect(ScaleBench.formatCount(1234) == "1234")
        #expect(ScaleBench.parseList("10k,100k,1M,10k", ScaleBench.parseCount) == [10_000, 100_000, 1_000_000])
        #expect(ScaleBench.parseList("10k,,1M", ScaleBench.parseCount) == nil)
        #expect(ScaleBench.parseList("", ScaleBench.parseCount) == nil)
    }

    @Test func medians() {
        #expect(ScaleBench.median([3, 1, 2]) == 2)
        #expect(ScaleBench.median([4, 1, 3, 2]) == 2.5)
        #expect(ScaleBench.median([7]) == 7)
        #expect(ScaleBench.median([]) == 0)
    }

    static func run(_ ingest: Double, _ silver: Double, _ gold: Double, rss: Int = 100 << 20, records: Int = 1_000_000) -> [ScaleBench.StageRun] {
        [.init(stage: "ingest", seconds: ingest, peakRSSBytes: rss / 2, rowsIn: records, rowsOut: records),
         .init(stage: "silver", seconds: silver, peakRSSBytes: rss, rowsIn: records, rowsOut: records - 100),
         .init(stage: "gold", seconds: gold, peakRSSBytes: rss / 4, rowsIn: records - 100, rowsOut: records - 100)]
    }

    static func report(_ results: [ScaleResult]) -> ScaleReport {
        ScaleReport(createdAt: "2026-11-25T00:00:00Z", machine: .init(cores: 2, memoryBytes: 24 << 30, system: "test"),
                    settings: .init(repeats: 3, threads: 2, compression: "lz4", seed: 42), results: results)
    }

    @Test func resultsTakeMediansAndTotals() throws {
        let r = ScaleResult(records: 1_000_000, batchRows: 65_536, memoryLimit: "256MiB", memoryLimitBytes: 256 << 20,
                            runs: [Self.run(0.5, 1.0, 0.4), Self.run(0.7, 1.4, 0.5, rss: 120 << 20), Self.run(0.6, 1.2, 0.3)])
        #expect(r.stages.map(\.stage) == ["ingest", "silver", "gold", "total"])
        let silver = try #require(r.stage("silver"))
        #expect(silver.medianSeconds == 1.2)
        #expect(silver.peakRSSBytes == 120 << 20) // the highest of the repeats
        #expect(abs(silver.rowsPerSecond - 1_000_000 / 1.2) < 1e-6)
        #expect(abs(silver.nanosecondsPerRow - 1200) < 1e-6)
        let total = try #require(r.stage("total"))
        // Each repeat's stages add up (1.9, 2.6, 2.1); the median of those sums.
        #expect(abs(total.medianSeconds - 2.1) < 1e-9)
        #expect(total.peakRSSBytes == 120 << 20)
        #expect(total.rowsIn == 1_000_000 && total.rowsOut == 999_900)
    }

    @Test func comparisonFindsRegressionsBeyondToleranceAndNoise() {
        let base = Self.report([ScaleResult(records: 1_000_000, batchRows: 65_536, memoryLimit: "256MiB", memoryLimitBytes: 256 << 20, runs: [Self.run(0.5, 1.0, 0.4)]),
                                ScaleResult(records: 10_000, batchRows: 65_536, memoryLimit: "256MiB", memoryLimitBytes: 256 << 20, runs: [Self.run(0.01, 0.02, 0.01, rss: 40 << 20)])])
        // Within 10%: nothing.
        let same = Self.report([ScaleResult(records: 1_000_000, batchRows: 65_536, memoryLimit: "256MiB", memoryLimitBytes: 256 << 20, runs: [Self.run(0.52, 1.05, 0.41)])])
        let c1 = ScaleBench.compare(same, baseline: base, tolerance: 0.1)
        #expect(c1.regressions.isEmpty, "\(c1.regressions)")
        #expect(c1.notes.contains { $0.contains("10K records") && $0.contains("not measured now") })
        // Silver 30% slower and 50% larger: two regressions (and the total's time and memory).
        let worse = Self.report([ScaleResult(records: 1_000_000, batchRows: 65_536, memoryLimit: "0.25GiB", memoryLimitBytes: 256 << 20, runs: [Self.run(0.5, 1.3, 0.4, rss: 150 << 20)])])
        let c2 = ScaleBench.compare(worse, baseline: base, tolerance: 0.1)
        #expect(c2.regressions.contains { $0.contains("silver got slower") })
        #expect(c2.regressions.contains { $0.contains("silver used more memory") })
        #expect(!c2.regressions.contains { $0.contains("gold got slower") })
        #expect(ScaleBench.compare(worse, baseline: base, tolerance: 0.6).regressions.isEmpty)
        // Doubling a 10 ms stage is noise (under 50 ms), not a regression; faster is never one.
        let tiny = Self.report([ScaleResult(records: 10_000, batchRows: 65_536, memoryLimit: "256MiB", memoryLimitBytes: 256 << 20, runs: [Self.run(0.02, 0.04, 0.02, rss: 41 << 20)])])
        #expect(ScaleBench.compare(tiny, baseline: base, tolerance: 0.1).regressions.isEmpty)
        let faster = Self.report([ScaleResult(records: 1_000_000, batchRows: 65_536, memoryLimit: "256MiB", memoryLimitBytes: 256 << 20, runs: [Self.run(0.2, 0.5, 0.2, rss: 50 << 20)])])
        #expect(ScaleBench.compare(faster, baseline: base, tolerance: 0.1).regressions.isEmpty)
        // Other settings are not compared with each other.
        let other = Self.report([ScaleResult(records: 1_000_000, batchRows: 1000, memoryLimit: "256MiB", memoryLimitBytes: 256 << 20, runs: [Self.run(5, 10, 4)])])
        let c3 = ScaleBench.compare(other, baseline: base, tolerance: 0.1)
        #expect(c3.regressions.isEmpty && c3.notes.contains { $0.contains("no measurement in the baseline") })
    }

    @Test func reportRoundTripsAndBadFilesAreNamed() throws {
        let r = Self.report([ScaleResult(records: 100_000, batchRows: 1000, memoryLimit: "64MiB", memoryLimitBytes: 64 << 20, runs: [Self.run(0.1, 0.2, 0.1), Self.run(0.2, 0.3, 0.1)])])
        let back = try ScaleReport.decode(r.encoded(), path: "r.json")
        #expect(back.results.count == 1 && back.results[0].stages.count == 4)
        #expect(back.results[0].stage("silver")?.seconds == [0.2, 0.3])
        #expect(back.settings.repeats == 3 && back.machine.cores == 2)
        let text = String(decoding: r.encoded(), as: UTF8.self)
        #expect(text.contains("\"median_seconds\"") && text.contains("\"peak_rss_bytes\"") && text.contains("\"ns_per_row\""))
        #expect(throws: BatchError.self) { try ScaleReport.decode(Data("{\"x\": 1}".utf8), path: "bad.json") }
        do {
            _ = try ScaleReport.decode(Data("not json".utf8), path: "bad.json")
            Issue.record("a bad file was read")
        } catch let e as BatchError {
            #expect("\(e)".contains("bad.json") && "\(e)".contains("--baseline"))
        }
    }

    final class ChartCheck: NSObject, XMLParserDelegate {
        var circles = 0, polylines = 0, titles: [String] = []
        var inTitle = false
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            if name == "circle" { circles += 1 }
            if name == "polyline" { polylines += 1 }
            if name == "title" { inTitle = true; titles.append("") }
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { if inTitle { titles[titles.count - 1] += string } }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) { if name == "title" { inTitle = false } }
    }

    @Test func chartIsWellFormedWithAPointPerMeasurement() throws {
        let sizes = [10_000, 100_000, 1_000_000]
        // One setting: 4 time series (3 stages and the total) and 3 memory series, 3 sizes each.
        let one = Self.report(sizes.map { ScaleResult(records: $0, batchRows: 65_536, memoryLimit: "256MiB", memoryLimitBytes: 256 << 20, runs: [Self.run(0.5, 1.0, 0.4, records: $0)]) })
        let check = ChartCheck()
        let parser = XMLParser(data: Data(ScaleChart.svg(one).utf8))
        parser.delegate = check
        #expect(parser.parse(), "\(String(describing: parser.parserError))")
        #expect(check.polylines == 7 && check.circles == 21)
        #expect(check.titles.contains("1M records, silver: 1.000 s median"))
        // A sweep: one line per setting in each panel.
        let sweep = Self.report(sizes.flatMap { n in ["64MiB", "256MiB"].map { ScaleResult(records: n, batchRows: 65_536, memoryLimit: $0, memoryLimitBytes: ByteSizeFor.mib($0), runs: [Self.run(0.5, 1.0, 0.4, records: n)]) } })
        let check2 = ChartCheck()
        let parser2 = XMLParser(data: Data(ScaleChart.svg(sweep).utf8))
        parser2.delegate = check2
        #expect(parser2.parse())
        #expect(check2.polylines == 4 && check2.circles == 12)
        // One size only, and no results at all, still make a valid chart.
        let single = Self.report([ScaleResult(records: 5000, batchRows: 100, memoryLimit: "16MiB", memoryLimitBytes: 16 << 20, runs: [Self.run(0.1, 0.1, 0.1, records: 5000)])])
        #expect(XMLParser(data: Data(ScaleChart.svg(single).utf8)).parse())
        #expect(XMLParser(data: Data(ScaleChart.svg(Self.report([])).utf8)).parse())
    }
}

enum ByteSizeFor {
    static func mib(_ s: String) -> Int { (Int(s.dropLast(3)) ?? 0) << 20 }
}
