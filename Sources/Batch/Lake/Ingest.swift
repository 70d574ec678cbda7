import Dispatch
import Foundation
import Segments
import Spill

/// raw -> bronze (docs/PIPELINES.md, landing): every record of the fact files becomes one bronze
/// row, exactly once, in one atomic commit.
///
/// How a run goes:
/// ```
///   1 list the fact files (RAW/GLOB and its .csv.zst twins), bytewise order of relative paths
///   2 fingerprint: each file's checksum (16 MiB blocks hashed in parallel) and the LF
///     count of each range; append mode skips files whose checksum bronze already holds
///   3 check every header first: a file without a required column stops the run here
///   4 parse ranges in parallel, each range -> its own segment(s):
///        file  |---- range 0 ----|---- range 1 ----|-- range 2 --|
///                                ^ nominal start; range 1 starts after the first LF
///                                  at or after it (a guess: that LF may be quoted)
///      range i stops at the first record starting at or after its nominal end, R.
///   5 verify: range i+1 must have started exactly at R; if it did not (a quoted LF
///     fooled the guess), it is parsed again from R. Results are those of one thread.
///   6 commit all segments, in file and range order, with the checksums, in one entry
/// ```
public struct Ingest: Sendable {
    public enum Mode: String, Sendable { case append, overwrite }

    public struct Options: Sendable {
        public var raw: String
        public var lake: String
        public var mode: Mode = .append
        /// Workers (`threads`), batch rows and codec.
        public var limits = Limits()
        /// Read size of each CSV reader.
        public var chunkBytes = Limits.readChunkBytes
        /// Bytes of a plain file parsed as one range (a multiple of checksumBlockBytes in
        /// production; tests use tiny values to exercise the split).
        public var rangeBytes = 4 * RawFiles.checksumBlockBytes
        /// Block size of the file checksum; only tests change it.
        public var checksumBlockBytes = RawFiles.checksumBlockBytes
        /// A segment is closed at this many rows (a huge .zst file makes several).
        public var segmentRowsMax = 4 << 20
        /// Timestamp of this ingestion (`_ingested_at`); default: now.
        public var ingestedAt: Int64?
        /// The landing zone's feeds: which files, their columns and grammars.
        public var landing: Landing = .builtin

        public init(raw: String, lake: String) {
            self.raw = raw
            self.lake = lake
        }
    }

    public struct FileReport: Sendable {
        public var path: String
        public var checksum: String
        public var bytes: Int
        /// nil when ingested; otherwise why the file was skipped.
        public var skipped: String?
        public var rows = 0
        public var rescued = 0
        public var malformed = 0
        /// The line of a quote that never closes: the file's last record runs from there
        /// to its end (and is most likely malformed).
        public var unclosedQuoteLine: Int?
    }

    public struct Report: Sendable {
        public var files: [FileReport] = []
        public var rowsAdded = 0
        public var bronzeRows = 0
        /// nil when nothing was committed (every file already ingested).
        public var version: Int?
        public var ingestSeq: Int?
        public var segmentsWritten = 0
        public var bytesRead = 0
        public var bytesWritten = 0
        public var rangesReparsed = 0
        public var peakReservedBytes = 0
        /// The reference tables replaced (empty when RAW has no reference files).
        public var reference: [Reference.Report] = []
        /// Where a damaged bronze went before an overwrite rebuilt it.
        public var setAside: [String] = []
    }

    public static func bronzePath(lake: String) -> String { lake + "/bronze" }

    public let options: Options
    public let budget: MemoryBudget
    public let spill: SpillManager

    public init(options: Options, budget: MemoryBudget, spill: SpillManager) {
        precondition(options.rangeBytes >= options.checksumBlockBytes && options.rangeBytes % options.checksumBlockBytes == 0,
                     "rangeBytes must be a multiple of checksumBlockBytes")
        self.options = options
        self.budget = budget
        self.spill = spill
    }

    /// The copy of the landing zone's `_expected.json` a lake keeps while its bronze holds
    /// exactly that landing zone (see `Ingest.run`).
    public static func expectedPath(lake: String) -> String { lake + "/_expected.json" }

    /// Replaces the reference tables from RAW when its reference files are there: all
    /// of them, or none (a landing zone of fact files only).
    func ingestReference() throws -> [Reference.Report] {
        let references = options.landing.references
        let present = references.filter { SystemIO.exists(options.raw + "/" + $0.feed.files) }
        if present.isEmpty { return [] }
        if present.count < references.count {
            let missing = references.filter { f in !present.contains { $0.name == f.name } }.map(\.feed.files)
            throw BatchError(.missingInput, path: options.raw, "has some reference files but not \(missing.joined(separator: ", ")); a landing zone has all \(references.count) or none")
        }
        return try Reference.ingest(references, raw: options.raw, lake: options.lake, budget: budget, spill: spill,
                                    limits: options.limits)
    }

    // MARK: the run

    public func run() throws -> Report {
        let facts = options.landing.facts
        let files = try RawFiles.list(raw: options.raw, pattern: facts.feed.files)
        guard !files.isEmpty else {
            throw BatchError(.missingInput, path: options.raw + "/" + RawFiles.fixedPrefix(facts.feed.files),
                             "holds no file matching \(facts.feed.files) (or its .csv.zst); nothing to ingest")
        }
        try Lake.requireFolder(options.lake)
        try Lake.keep(options.landing.file, lake: options.lake)
        let table = Self.bronzePath(lake: options.lake)
        var report = Report()
        let writer = try openBronze(table, report: &report)
        defer { writer.close() }
        let prints = try fingerprint(files)

        // Which checksums bronze already holds (since its last overwrite).
        var known: [String: String] = [:]
        var lastSeq = 0
        if let base = writer.base, options.mode == .append, !writer.schemaChanged {
            for info in base.commitInfos {
                if info["mode"] == Mode.overwrite.rawValue { known = [:] }
                for f in try Self.decodeFiles(info["raw_files"], table: table) { known[f.checksum] = f.path }
                if let s = info["ingest_seq"].flatMap(Int.init) { lastSeq = s }
            }
        }
        var chosen: [(file: RawFile, print: Fingerprint, report: Int)] = []
        for (file, p) in zip(files, prints) {
            var fr = FileReport(path: file.relativePath, checksum: p.checksum, bytes: file.sizeBytes)
            if let earlier = known[p.checksum] {
                fr.skipped = earlier == file.relativePath ? "already ingested" : "same content as \(earlier), already ingested"
            } else {
                known[p.checksum] = file.relativePath
                chosen.append((file, p, report.files.count))
            }
            report.files.append(fr)
        }
        if options.mode == .append && chosen.isEmpty {
            report.reference = try ingestReference()
            report.bronzeRows = writer.base?.rowCount ?? 0
            report.peakReservedBytes = budget.peakBytes
            return report
        }

        let headers = try chosen.map { try readHeader($0.file) }
        let seq = lastSeq + 1
        let ingestedAt = options.ingestedAt ?? Int64(Date().timeIntervalSince1970 * 1_000_000)

        // Ranges: plain files split at rangeBytes; a .zst file is one sequential range.
        var tasks: [RangeTask] = []
        for (k, c) in chosen.enumerated() {
            let count = c.file.isCompressed ? 1 : max(1, (c.file.sizeBytes + options.rangeBytes - 1) / options.rangeBytes)
            for r in 0..<count {
                let blocksPerRange = options.rangeBytes / options.checksumBlockBytes
                let lfBefore = c.print.blockLineFeeds.prefix(r * blocksPerRange).reduce(0, +)
                tasks.append(RangeTask(chosen: k, file: c.file, header: headers[k], index: r,
                                       nominalStart: r * options.rangeBytes, nominalEnd: r == count - 1 ? Int.max : (r + 1) * options.rangeBytes,
                                       lineFeedsBefore: lfBefore, seq: seq, ingestedAt: ingestedAt))
            }
        }
        var results = try parseInParallel(tasks, writer: writer)

        // Verify the guessed starts; parse again from the true boundary where one was wrong.
        var written: [SegmentSummary] = []
        do {
            for i in tasks.indices {
                if tasks[i].index > 0, let prev = results[i - 1], results[i]?.start != prev.end {
                    results[i]?.discard()
                    var redo = tasks[i]
                    redo.exactStart = (prev.end, prev.endLine)
                    results[i] = try parse(redo, writer: writer, budget: budget)
                    report.rangesReparsed += 1
                }
            }
        } catch {
            for r in results { r?.discard() }
            throw error
        }
        var addedRows = 0
        for (i, task) in tasks.enumerated() {
            guard let r = results[i] else { continue }
            let at = chosen[task.chosen].report
            report.files[at].rows += r.rows
            report.files[at].rescued += r.rescued
            report.files[at].malformed += r.malformed
            if let q = r.unclosedQuoteLine { report.files[at].unclosedQuoteLine = q }
            addedRows += r.rows
            report.bytesRead += r.bytesRead
            for s in r.segments { writer.stage(s); written.append(s) }
        }
        let info: [String: String] = [
            "pipeline": options.landing.pipeline,
            "mode": options.mode.rawValue,
            "ingest_seq": String(seq),
            "ingested_at": String(ingestedAt),
            "raw_files": try Self.encodeFiles(chosen.map { c in
                LoggedFile(path: c.file.relativePath, checksum: c.print.checksum, bytes: c.file.sizeBytes, rows: report.files[c.report].rows)
            }),
        ]
        let version: Int
        do {
            report.reference = try ingestReference()
            version = try writer.commit(operation: "ingest", replaceAll: options.mode == .overwrite, info: info)
        } catch {
            for s in written { try? SystemIO.unlink(s.path) } // not committed: the next writer would remove them too
            throw error
        }
        // The landing zone's expected counts hold for bronze only while bronze is exactly
        // that landing zone: after a first ingestion or an overwrite. A later append of
        // other files makes them meaningless, so the copy goes.
        let expected = Self.expectedPath(lake: options.lake)
        if version == 1 || options.mode == .overwrite, SystemIO.exists(options.raw + "/_expected.json") {
            try SystemIO.writeFileAtomically(expected, try SystemIO.readFile(options.raw + "/_expected.json"))
        } else if SystemIO.exists(expected) {
            try SystemIO.unlink(expected)
        }
        report.version = version
        report.ingestSeq = seq
        report.rowsAdded = addedRows
        report.segmentsWritten = written.count
        report.bytesWritten = written.reduce(0) { $0 + $1.fileBytes }
        report.bronzeRows = writer.base?.rowCount ?? addedRows
        report.peakReservedBytes = budget.peakBytes
        return report
    }

    /// The bronze writer. Bronze is never rebuilt silently (its raw files may be gone): a
    /// damaged bronze (a log that does not replay, a committed file missing or cut short)
    /// stops an append with what to do; an overwrite sets a damaged log aside and starts
    /// the table anew from RAW.
    func openBronze(_ table: String, report: inout Report) throws -> TableWriter {
        Lake.removeNeverCommitted(lake: options.lake)
        let remedy = "bronze cannot be rebuilt without its raw files: run again with --mode overwrite to rebuild it from the landing zone (the damaged table is set aside), or restore the lake from a copy"
        let writer: TableWriter
        do {
            writer = try TableWriter(path: table, schema: options.landing.facts.schema)
        } catch {
            let code = error.code
            guard code == .badLog || code == .corrupt else { throw error }
            guard options.mode == .overwrite else {
                throw BatchError(.damagedTable, path: table, "bronze is damaged (\(error)); " + remedy)
            }
            report.setAside.append(try Lake.moveAside(lake: options.lake, path: table))
            return try TableWriter(path: table, schema: options.landing.facts.schema)
        }
        if options.mode == .append, let problem = writer.base?.firstMissingOrShortFile() {
            writer.close()
            throw BatchError(.damagedTable, path: table, "bronze is damaged: \(problem); " + remedy)
        }
        return writer
    }

    // MARK: fingerprints

    struct Fingerprint {
        var checksum: String
        var blockLineFeeds: [Int]
    }

    /// Bytes read at a time while checksumming: the checksum of a 16 MiB block is
    /// streamed through this buffer, so the budget a run needs does not depend on the
    /// block size (which is fixed: it defines the checksums bronze records).
    static let checksumReadBytes = 1 << 20

    /// Checksums every file and counts the LFs of each block, blocks in parallel.
    func fingerprint(_ files: [RawFile]) throws -> [Fingerprint] {
        let blockBytes = options.checksumBlockBytes
        let readBytes = min(blockBytes, Self.checksumReadBytes)
        let jobs: [(file: Int, block: Int)] = files.enumerated().flatMap { f, file in
            (0..<max(1, (file.sizeBytes + blockBytes - 1) / blockBytes)).map { (f, $0) }
        }
        let hashes = SharedSlots<(UInt64, Int)>(count: jobs.count)
        let workers = min(options.limits.threads, jobs.count, max(1, budget.availableBytes / readBytes))
        try Parallel.run(workers: workers) { _, next in
            let reservation = try budget.reserve(readBytes, for: "file checksums",
                                                 remedy: MemoryBudget.fixedSizeRemedy("a raw file is checksummed through a buffer of \(ByteSize.format(readBytes))"))
            defer { reservation.end() }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: readBytes, alignment: 16)
            defer { buffer.deallocate() }
            while let j = next(jobs.count) {
                let file = files[jobs[j].file]
                let source = try RawSource(path: file.fullPath, displayPath: file.relativePath, offset: 0)
                let start = jobs[j].block * blockBytes
                var stream = Checksum.Stream()
                var lineFeeds = 0
                var at = start
                while at < start + blockBytes {
                    let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(readBytes, start + blockBytes - at)])
                    let n = try source.readFileBytes(at: at, into: piece)
                    let bytes = UnsafeRawBufferPointer(rebasing: piece[0..<n])
                    stream.update(bytes)
                    if !file.isCompressed { lineFeeds += RawFiles.countLineFeeds(bytes) }
                    at += n
                    if n < piece.count { break }
                }
                hashes.set(j, (stream.digest(), lineFeeds))
            }
        }
        var out: [Fingerprint] = []
        var j = 0
        for (f, file) in files.enumerated() {
            var blockHashes: [UInt64] = []
            var lineFeeds: [Int] = []
            while j < jobs.count && jobs[j].file == f {
                guard let (h, l) = hashes.get(j) else { preconditionFailure("block \(j) of the fingerprints was not hashed") }
                blockHashes.append(h)
                lineFeeds.append(l)
                j += 1
            }
            out.append(Fingerprint(checksum: RawFiles.fileChecksum(size: file.sizeBytes, blockHashes: blockHashes), blockLineFeeds: lineFeeds))
        }
        return out
    }

    func readHeader(_ file: RawFile) throws -> FeedHeader {
        let source = try RawSource(path: file.fullPath, displayPath: file.relativePath)
        let scanner = try CSVScanner(source: source, chunkBytes: 64 << 10, budget: budget)
        return try FeedHeader.parse(scanner, feed: options.landing.facts.feed, path: file.relativePath,
                                    advice: "nothing was ingested, fix the file and run again")
    }

    // MARK: ranges

    struct RangeTask: Sendable {
        var chosen: Int
        var file: RawFile
        var header: FeedHeader
        var index: Int
        var nominalStart: Int
        var nominalEnd: Int
        var lineFeedsBefore: Int
        var seq: Int
        var ingestedAt: Int64
        /// Set when the start is known (a range parsed again after a wrong guess).
        var exactStart: (offset: Int, line: Int)?
    }

    struct RangeResult: Sendable {
        var start: Int
        var end: Int
        var endLine: Int
        var rows: Int
        var rescued: Int
        var malformed: Int
        var bytesRead: Int
        var segments: [SegmentSummary]
        var unclosedQuoteLine: Int?

        func discard() {
            for s in segments { try? SystemIO.unlink(s.path) } // never committed
        }
    }

    func parseInParallel(_ tasks: [RangeTask], writer: TableWriter) throws -> [RangeResult?] {
        let results = SharedSlots<RangeResult>(count: tasks.count)
        // A worker holds a read buffer, a batch and a segment writer's row group; start
        // no more workers than the budget holds.
        let perWorker = options.chunkBytes + (options.limits.batchRows + SegmentFormat.rowGroupRowsDefault) * options.landing.facts.rowBytesEstimate
        let workers = min(options.limits.threads, tasks.count, max(1, budget.availableBytes / perWorker))
        // Only newSegment(), which is thread-safe, is called on the shared writer.
        nonisolated(unsafe) let shared = writer
        do {
            try Parallel.run(workers: workers) { _, next in
                while let t = next(tasks.count) {
                    results.set(t, try parse(tasks[t], writer: shared, budget: budget))
                }
            }
        } catch {
            for i in tasks.indices { results.get(i)?.discard() }
            throw error
        }
        return tasks.indices.map { results.get($0) }
    }

    /// Parses one range into segment files (finished, not yet committed).
    func parse(_ task: RangeTask, writer: TableWriter, budget: MemoryBudget) throws -> RangeResult {
        let file = task.file
        let scanner: CSVScanner
        var start: Int
        if let exact = task.exactStart {
            let source = try RawSource(path: file.fullPath, displayPath: file.relativePath, offset: exact.offset)
            scanner = try CSVScanner(source: source, chunkBytes: options.chunkBytes, startLine: exact.line, startOffset: exact.offset, budget: budget)
            start = exact.offset
        } else if task.index == 0 {
            let source = try RawSource(path: file.fullPath, displayPath: file.relativePath)
            scanner = try CSVScanner(source: source, chunkBytes: options.chunkBytes, budget: budget)
            _ = try FeedHeader.parse(scanner, feed: options.landing.facts.feed, path: file.relativePath,
                                     advice: "nothing was ingested, fix the file and run again")
            start = scanner.nextRecordOffset
        } else {
            // Guess: the range starts just after the first LF at or after its nominal start.
            let from = task.nominalStart - 1
            let source = try RawSource(path: file.fullPath, displayPath: file.relativePath, offset: from)
            let lineGuess = 1 + task.lineFeedsBefore
            scanner = try CSVScanner(source: source, chunkBytes: options.chunkBytes, startLine: lineGuess, startOffset: from, budget: budget)
            guard let skipped = try scanner.skipPastNextLineFeed() else {
                return RangeResult(start: file.sizeBytes, end: file.sizeBytes, endLine: lineGuess, rows: 0, rescued: 0, malformed: 0,
                                   bytesRead: source.fileBytesRead, segments: [], unclosedQuoteLine: nil)
            }
            start = from + skipped
            scanner.setLine(1 + task.lineFeedsBefore + (skipped >= 2 ? 1 : 0))
        }
        let builderReservation = try budget.reserve(options.limits.batchRows * options.landing.facts.rowBytesEstimate, for: "bronze batch")
        defer { builderReservation.end() }
        let builder = BronzeBuilder(capacity: options.limits.batchRows, layout: options.landing.facts, header: task.header, sourceFile: file.relativePath,
                                    ingestSeq: task.seq, ingestedAt: task.ingestedAt)
        var segmentOptions = SegmentWriterOptions(compression: options.limits.compression, rowGroupRows: Lake.rowGroupRows)
        segmentOptions.metadata = ["source_file": file.relativePath]
        var segments: [SegmentSummary] = []
        var current: SegmentWriter?
        var rows = 0
        do {
            func flush() throws {
                guard builder.count > 0 else { return }
                if current == nil {
                    current = try writer.newSegment(options: segmentOptions)
                }
                try current?.append(builder.columns)
                builder.reset()
                if let c = current, c.rowsWritten >= options.segmentRowsMax {
                    segments.append(try c.finish())
                    current = nil
                }
            }
            while try scanner.next(before: task.nominalEnd) {
                builder.append(scanner)
                rows += 1
                if builder.isFull { try flush() }
            }
            try flush()
            if let c = current { segments.append(try c.finish()) }
        } catch {
            current?.abandon()
            for s in segments { try? SystemIO.unlink(s.path) }
            throw error
        }
        return RangeResult(start: start, end: scanner.nextRecordOffset, endLine: scanner.nextLine, rows: rows,
                           rescued: builder.rescuedRows, malformed: builder.malformedRows,
                           bytesRead: scanner.source.fileBytesRead, segments: segments, unclosedQuoteLine: scanner.unclosedQuote?.line)
    }

    // MARK: the files list in the commit log

    struct LoggedFile: Codable {
        var path: String
        var checksum: String
        var bytes: Int
        var rows: Int
    }

    static func encodeFiles(_ files: [LoggedFile]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(files), as: UTF8.self)
    }

    /// The files an ingestion commit lists; a commit without the list is not an ingestion.
    static func decodeFiles(_ text: String?, table: String) throws -> [LoggedFile] {
        guard let text else { return [] }
        do {
            return try JSONDecoder().decode([LoggedFile].self, from: Data(text.utf8))
        } catch {
            throw BatchError(.invalidArgument, path: table + "/_log",
                             "a commit's list of ingested files is damaged (\(error)); exactly-once ingestion cannot be checked, restore the table")
        }
    }
}
