import ArgumentParser
import Batch
import Foundation
import Segments
import Spill

struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Ingest a landing zone into LAKE/bronze and LAKE/reference: every record once, in one atomic commit.",
        usage: "batchrun ingest --raw RAW --lake LAKE [options]",
        discussion: """
        Append mode (the default) skips a raw file whose bytes were already ingested into \
        this bronze table (by checksum) and says so; running the same ingestion twice changes \
        nothing. Overwrite mode replaces bronze with exactly the given files.
        """
    )

    @Option(help: "The landing zone: the folder holding transactions/.")
    var raw: String

    @Option(help: "The lake folder; bronze is LAKE/bronze.")
    var lake: String

    @Option(help: "append (skip files already ingested) or overwrite (replace bronze).")
    var mode: String = "append"

    @Option(help: ArgumentHelp("Timestamp recorded as _ingested_at (YYYY-MM-DDTHH:MM:SSZ), for reproducible tables; default: now.", visibility: .hidden))
    var ingestedAt: String?

    @Option(help: "Worker threads that parse ranges of the raw files side by side (default: the cores available).")
    var threads: Int?

    @OptionGroup var pipelineFile: PipelineFileOption
    @OptionGroup var engine: EngineOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be 1...256, not \(threads)") }
        guard Ingest.Mode(rawValue: mode) != nil else { throw ValidationError("--mode must be append or overwrite, not '\(mode)'") }
        if let t = ingestedAt, parsedTimestamp(t) == nil {
            throw ValidationError("--ingested-at must be a timestamp like 2025-01-31T12:00:00Z, not '\(t)'")
        }
    }

    func parsedTimestamp(_ text: String) -> Int64? {
        var t = text
        return t.withUTF8 { FieldParsers.timestamp(UnsafeRawBufferPointer($0)) }
    }

    func run() throws {
        try reportingErrors {
            var options = Ingest.Options(raw: raw, lake: lake)
            options.landing = Landing(try pipelineFile.resolve(lake: lake).file)
            options.mode = Ingest.Mode(rawValue: mode) ?? .append
            options.limits = engine.limits(threads: threads)
            options.ingestedAt = ingestedAt.flatMap(parsedTimestamp)
            let clock = ContinuousClock()
            let start = clock.now
            let spill = try engine.makeSpill()
            defer { spill.close() }
            let report = try Ingest(options: options, budget: engine.makeBudget(), spill: spill).run()
            let seconds = (clock.now - start).seconds
            if output.json {
                print(IngestReporting.json(report, seconds: seconds).rendered())
            } else if !output.quiet {
                printErr(IngestReporting.text(report, seconds: seconds))
            }
        }
    }
}

enum IngestReporting {
    static func json(_ r: Ingest.Report, seconds: Double) -> JSON {
        .object([
            ("stage", .string("ingest")),
            ("version", r.version.map { .int($0) } ?? .null),
            ("ingest_seq", r.ingestSeq.map { .int($0) } ?? .null),
            ("rows_added", .int(r.rowsAdded)),
            ("bronze_rows", .int(r.bronzeRows)),
            ("files", .array(r.files.map { f in
                .object([
                    ("path", .string(f.path)), ("checksum", .string(f.checksum)), ("bytes", .int(f.bytes)),
                    ("status", .string(f.skipped == nil ? "ingested" : "skipped")),
                    ("skip_reason", f.skipped.map { .string($0) } ?? .null),
                    ("rows", .int(f.rows)), ("rescued", .int(f.rescued)), ("malformed", .int(f.malformed)),
                    ("unclosed_quote_line", f.unclosedQuoteLine.map { .int($0) } ?? .null),
                ])
            })),
            ("reference", .array(r.reference.map { .object([("table", .string($0.name)), ("rows_read", .int($0.rowsRead)), ("rows", .int($0.rows)),
                                                         ("status", .string($0.unchanged ? "unchanged" : "replaced"))]) })),
            ("set_aside", .array(r.setAside.map { .string($0) })),
            ("bytes_read", .int(r.bytesRead)),
            ("bytes_written", .int(r.bytesWritten)),
            ("segments_written", .int(r.segmentsWritten)),
            ("ranges_reparsed", .int(r.rangesReparsed)),
            ("seconds", .double(seconds)),
            ("peak_rss_bytes", .int(ResourceUsage.peakRSSBytes())),
        ])
    }

    /// What a user must hear about the files ingested: a quote that never closes (the
    /// rest of the file became one record), a damaged table set aside.
    static func warnings(_ r: Ingest.Report) -> [String] {
        r.files.compactMap { f in
            f.unclosedQuoteLine.map { "warning: \(f.path), line \($0): a quote opens there and never closes, so the rest of the file became one record (see _rescued of that row); close the quote and ingest the fixed file" }
        } + r.setAside.map { "bronze was damaged; it was set aside (not deleted) and rebuilt from the landing zone: \($0)" }
    }

    static func text(_ r: Ingest.Report, seconds: Double) -> String {
        var lines: [String] = []
        let width = max(4, r.files.map(\.path.count).max() ?? 4)
        lines.append("file".rightPadded(width) + "  " + "rows".leftPadded(11) + "  " + "rescued".leftPadded(9) + "  status")
        for f in r.files {
            let status = f.skipped.map { "skipped: \($0)" } ?? "ingested"
            lines.append(f.path.rightPadded(width) + "  " + (f.skipped == nil ? String(f.rows) : "-").leftPadded(11) + "  "
                         + (f.skipped == nil ? String(f.rescued) : "-").leftPadded(9) + "  " + status)
        }
        lines += warnings(r)
        for ref in r.reference {
            lines.append(ref.unchanged ? "reference \(ref.name): \(ref.rows) rows, unchanged (same file as last time)"
                                       : "reference \(ref.name): \(ref.rows) rows (\(ref.rowsRead) read; a repeated key keeps its later row)")
        }
        let skipped = r.files.filter { $0.skipped != nil }.count
        if let v = r.version {
            lines.append(String(format: "ingest %d: %d rows added from %d file(s)%@; bronze now %d rows (version %d); %@ read, %@ written, %.2f s, %.0f rows/s",
                                r.ingestSeq ?? 0, r.rowsAdded, r.files.count - skipped,
                                skipped > 0 ? ", \(skipped) skipped" : "", r.bronzeRows, v,
                                ByteSize.format(r.bytesRead), ByteSize.format(r.bytesWritten), seconds,
                                seconds > 0 ? Double(r.rowsAdded) / seconds : 0))
        } else {
            lines.append("nothing new: all \(r.files.count) file(s) were already ingested; bronze unchanged at \(r.bronzeRows) rows")
        }
        return lines.joined(separator: "\n")
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

enum ResourceUsage {
    /// The process's peak resident set size so far (getrusage ru_maxrss, KiB on Linux).
    static func peakRSSBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }
}
