import Batch
import Foundation
import Segments
import Spill

/// The reports of gold, run and demo: what a new user reads at a glance.
enum PipelineReporting {
    /// 1234567 -> "1,234,567".
    static func count(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return (n < 0 ? "-" : "") + out
    }

    static func rate(_ rows: Int, _ seconds: Double) -> String {
        seconds > 0 ? count(Int(Double(rows) / seconds)) + " rows/s" : "-"
    }

    /// What gold did, as JSON fields: for `gold --json` and for run's report.
    static func goldFields(_ r: Gold.Report) -> [(String, JSON)] {
        [
            ("silver_rows", .int(r.silverRows)),
            ("tables", .object(r.tables.map { ($0, .int(r.rows[$0] ?? 0)) })),
            ("partitions", .int(r.partitions)),
            ("sorted_projections", .array(r.sorted.map { .string($0) })),
            ("bytes_written", .int(r.bytesWritten)),
            ("set_aside", .array(r.setAside.map { .string($0) })),
            ("spill", .object([("aggregate_spills", .int(r.aggregates.spills)), ("aggregate_spill_bytes", .int(r.aggregates.spillBytesWritten))])),
            ("phase_seconds", .object(r.phases.phases.map { ($0.name, .double($0.seconds)) })),
        ]
    }

    static func goldJSON(_ r: Gold.Report, seconds: Double) -> JSON {
        .object([("stage", .string("gold"))] + goldFields(r)
                + [("seconds", .double(seconds)), ("peak_rss_bytes", .int(ResourceUsage.peakRSSBytes()))])
    }

    static func goldText(_ r: Gold.Report, seconds: Double) -> String {
        var lines = [String(format: "gold: %@ silver rows -> %d tables, %d partition(s), %@ written (%.2f s)",
                            count(r.silverRows), r.tables.count, r.partitions, ByteSize.format(r.bytesWritten), seconds)]
        for name in r.tables { lines.append("  " + name.rightPadded(18) + count(r.rows[name] ?? 0).leftPadded(13) + " rows") }
        for name in r.sorted { lines.append("  \(name) was sorted: its source did not come in its order") }
        for place in r.setAside { lines.append("  a damaged table was set aside (not deleted) and rebuilt: \(place)") }
        return lines.joined(separator: "\n")
    }

    /// One line per finished stage (the progress display's record of it).
    static func stageLine(_ stage: Pipeline.Stage, _ r: Pipeline.Report) -> String {
        let s = r.seconds[stage] ?? 0
        switch stage {
        case .ingest:
            let i = r.ingest
            return i.version == nil
                ? String(format: "ingest  nothing new: %d file(s) already in bronze (%.2f s)", i.files.count, s)
                : String(format: "ingest  %@ rows from %d file(s), %@ read (%.2f s, %@)", count(i.rowsAdded),
                         i.files.filter { $0.skipped == nil }.count, ByteSize.format(i.bytesRead), s, rate(i.rowsAdded, s))
        case .silver:
            guard let v = r.silver else { return String(format: "silver  up to date: bronze and reference unchanged (%.2f s)", s) }
            return String(format: "silver  %@ -> %@ rows, %@ quarantined, %@ duplicates removed (%.2f s, %@)", count(v.bronzeRows),
                          count(v.silverRows), count(v.quarantinedTotal), count(v.duplicatesRemoved), s, rate(v.bronzeRows, s))
        case .gold:
            guard let g = r.gold else { return String(format: "gold    up to date: silver and reference unchanged (%.2f s)", s) }
            return String(format: "gold    %@ silver rows -> %d tables, %d partition(s) (%.2f s, %@)", count(g.silverRows), g.tables.count, g.partitions, s, rate(g.silverRows, s))
        }
    }

    /// Why the operators of a run wrote spill files, one phrase each.
    static func spillReasons(_ r: Pipeline.Report) -> [String] {
        var out: [String] = []
        if let s = r.silver {
            if s.sort.buckets > 0 {
                out.append("silver's sort cut its rows into \(s.sort.buckets) time ranges on disk, to sort range after range (two side by side with 2 threads) rather than all at once")
            }
            if s.sort.spills > 0 { out.append("silver's sort wrote \(s.sort.spills) sorted run(s): its rows did not fit its share of the memory limit") }
            if s.dedup.spills > 0 { out.append("silver's dedup overflowed its share of the memory limit \(s.dedup.spills) time(s)") }
        }
        if let g = r.gold {
            if g.aggregates.spills > 0 {
                out.append("gold's aggregations overflowed their share of the memory limit \(g.aggregates.spills) time(s)")
            }
        }
        return out
    }

    /// The whole run's report, text or JSON.
    struct Summary {
        var report: Pipeline.Report
        var spill: SpillManager
        var memoryLimit: Int
        /// Data generation (demo): records, bytes, seconds.
        var generated: (records: Int, bytes: Int, seconds: Double)?

        var bytesWritten: Int {
            report.ingest.bytesWritten + (report.silver?.bytesWritten ?? 0) + (report.gold?.bytesWritten ?? 0)
        }
        /// Raw CSV bytes per stored bronze byte (bronze as it stands: all ingestions).
        var compressionRatio: Double? {
            let raw = rawBytes
            return raw > 0 && report.bronze.bytes > 0 ? Double(raw) / Double(report.bronze.bytes) : nil
        }
        /// Bytes of the raw files bronze holds (this run's and earlier ones).
        var rawBytes: Int { report.ingest.files.reduce(0) { $0 + $1.bytes } }

        var json: JSON {
            let r = report
            var stages: [(String, JSON)] = [
                ("ingest", .object([
                    ("ran", .bool(r.ingest.version != nil)), ("files", .int(r.ingest.files.count)),
                    ("files_skipped", .int(r.ingest.files.filter { $0.skipped != nil }.count)),
                    ("rows_added", .int(r.ingest.rowsAdded)), ("bronze_rows", .int(r.ingest.bronzeRows)),
                    ("bytes_read", .int(r.ingest.bytesRead)), ("bytes_written", .int(r.ingest.bytesWritten)),
                    ("seconds", .double(r.seconds[.ingest] ?? 0)),
                ])),
            ]
            // A stage that was up to date did not run and has only its check's time.
            func stage(_ stage: Pipeline.Stage, _ fields: [(String, JSON)]?) -> (String, JSON) {
                (stage.rawValue, .object([("ran", .bool(fields != nil)), ("reason", r.reasons[stage].map { .string($0) } ?? .null)]
                                         + (fields ?? []) + [("seconds", .double(r.seconds[stage] ?? 0))]))
            }
            stages.append(stage(.silver, r.silver.map(SilverReporting.fields)))
            stages.append(stage(.gold, r.gold.map(PipelineReporting.goldFields)))
            var tables: [(String, JSON)] = [("bronze", size(r.bronze)), ("silver", size(r.silverTable)), ("quarantine", size(r.quarantine))]
            for name in r.goldOrder { tables.append(("gold/" + name, size(r.goldTables[name] ?? .init()))) }
            var fields: [(String, JSON)] = []
            if let g = generated {
                fields.append(("generated", .object([("records", .int(g.records)), ("bytes", .int(g.bytes)), ("seconds", .double(g.seconds))])))
            }
            fields += [
                ("stages", .object(stages)), ("tables", .object(tables)),
                ("bytes_read", .int(r.ingest.bytesRead)), ("bytes_written", .int(bytesWritten)),
                ("compression_ratio", compressionRatio.map { .double($0) } ?? .null),
                ("spill", .object([("bytes_written", .int(spill.bytesWritten)), ("peak_bytes_on_disk", .int(spill.peakBytesOnDisk))])),
                ("published", .array(r.published.map { p in
                    .object([("table", .string(p.name)), ("version", .int(p.version)), ("committed", .bool(p.committed)),
                             ("files_written", .int(p.written)), ("files_kept", .int(p.kept))])
                })),
                ("seconds", .double(r.totalSeconds)), ("peak_rss_bytes", .int(ResourceUsage.peakRSSBytes())),
                ("memory_limit_bytes", .int(memoryLimit)),
            ]
            return .object(fields)
        }

        func size(_ t: Pipeline.TableSize) -> JSON { .object([("rows", .int(t.rows)), ("bytes", .int(t.bytes))]) }

        var text: String {
            let r = report
            var lines: [String] = []
            if let g = generated {
                lines.append(String(format: "generated %@ records, %@ of CSV (%.2f s, not counted below)", count(g.records), ByteSize.format(g.bytes), g.seconds))
                lines.append("")
            }
            lines.append(String(format: "pipeline: raw -> bronze -> silver -> gold in %.2f s, peak RSS %@ (memory limit %@)",
                                r.totalSeconds, ByteSize.format(ResourceUsage.peakRSSBytes()), ByteSize.format(memoryLimit)))
            lines.append("")
            lines.append("stage   " + "rows in".leftPadded(13) + "rows out".leftPadded(13) + "time".leftPadded(9) + "rows/s".leftPadded(14) + "  notes")
            func row(_ name: String, _ rowsIn: Int?, _ rowsOut: Int?, _ stage: Pipeline.Stage, _ note: String) {
                let s = r.seconds[stage] ?? 0
                lines.append(name.rightPadded(8) + (rowsIn.map(count) ?? "-").leftPadded(13) + (rowsOut.map(count) ?? "-").leftPadded(13)
                             + String(format: "%.2f s", s).leftPadded(9) + (rowsIn.map { count(s > 0 ? Int(Double($0) / s) : 0) } ?? "-").leftPadded(14)
                             + "  " + note)
            }
            let i = r.ingest
            let skipped = i.files.filter { $0.skipped != nil }.count
            row("ingest", i.rowsAdded, i.rowsAdded, .ingest,
                i.version == nil ? "nothing new: all \(i.files.count) file(s) already in bronze"
                                 : "\(i.files.count - skipped) file(s) ingested" + (skipped > 0 ? ", \(skipped) skipped (already in bronze)" : ""))
            if let s = r.silver {
                row("silver", s.bronzeRows, s.silverRows, .silver,
                    "\(count(s.quarantinedTotal)) quarantined, \(count(s.duplicatesRemoved)) duplicates removed, \(s.partitions) date partitions")
            } else {
                row("silver", nil, nil, .silver, "up to date (bronze and reference unchanged)")
            }
            if let g = r.gold {
                row("gold", g.silverRows, g.rows.values.reduce(0, +), .gold, "\(g.tables.count) tables, \(g.partitions) partition(s)")
            } else {
                row("gold", nil, nil, .gold, "up to date (silver and reference unchanged)")
            }
            for w in IngestReporting.warnings(r.ingest) { lines.append("  " + w) }
            for stage in [Pipeline.Stage.silver, .gold] {
                if let why = r.reasons[stage] { lines.append("  \(stage.rawValue) ran: \(why)") }
            }
            for place in r.setAside where !r.ingest.setAside.contains(place) {
                lines.append("  a damaged table was set aside (not deleted) and rebuilt: \(place)")
            }
            if let s = r.silver, s.quarantinedTotal > 0 {
                lines.append("")
                lines.append("quarantined by reason")
                for name in s.reasons where (s.quarantined[name] ?? 0) > 0 {
                    lines.append("  " + name.rightPadded(18) + count(s.quarantined[name] ?? 0).leftPadded(11))
                }
            }
            lines.append("")
            lines.append("table".rightPadded(26) + "rows".leftPadded(13) + "stored".leftPadded(11))
            func table(_ name: String, _ t: Pipeline.TableSize) {
                lines.append(name.rightPadded(26) + count(t.rows).leftPadded(13) + ByteSize.format(t.bytes).leftPadded(11))
            }
            table("bronze", r.bronze)
            table("silver", r.silverTable)
            table("quarantine", r.quarantine)
            for name in r.goldOrder { table("gold/" + name, r.goldTables[name] ?? .init()) }
            lines.append("")
            var io = "read \(ByteSize.format(i.bytesRead)) of raw files, wrote \(ByteSize.format(bytesWritten))"
            if let c = compressionRatio { io += String(format: "; raw CSV %@ -> bronze %@ (%.1fx smaller)", ByteSize.format(rawBytes), ByteSize.format(r.bronze.bytes), c) }
            lines.append(io)
            if spill.bytesWritten > 0 {
                let why = PipelineReporting.spillReasons(r)
                lines.append("spilled \(ByteSize.format(spill.bytesWritten)) to disk (at most \(ByteSize.format(spill.peakBytesOnDisk)) at once): "
                             + (why.isEmpty ? "rows the operators held on disk" : why.joined(separator: "; ")))
            } else {
                lines.append("no spill: everything fit in the memory limit")
            }
            if !r.published.isEmpty {
                lines.append(String(format: "published as Delta tables (%.2f s): ", r.publishSeconds) + r.published.map { p in
                    "\(p.name) v\(p.version)" + (p.committed ? " (\(p.written) file(s) written, \(p.kept) kept)" : " (unchanged)")
                }.joined(separator: ", "))
            }
            if let s = r.silver {
                lines.append("counts reconcile: bronze \(count(s.bronzeRows)) = quarantined \(count(s.quarantinedTotal)) + silver \(count(s.silverRows)) + duplicates removed \(count(s.duplicatesRemoved))"
                             + (s.expected != nil ? ", as _expected.json says" : ""))
            }
            return lines.joined(separator: "\n")
        }
    }
}

extension ResourceUsage {
    /// The process's resident set size now (/proc/self/statm), for the progress line.
    static func currentRSSBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 } // no procfs: show 0
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
