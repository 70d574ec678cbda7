import Segments

/// Checks that bronze rows come in ingestion order, (_ingest_seq, _source_file,
/// _source_line) strictly ascending, as ingest writes them: silver orders tied versions
/// by row number, which is only right in that order.
final class IngestionOrder {
    private var seq = Int64.min
    private var line = Int64.min
    private let file = ByteBuffer(capacity: 64)
    /// Where bronze's lineage columns start (`FeedLayout.lineageFields`): after the feed's.
    private let lineage: Int

    init(lineageColumn: Int) {
        lineage = lineageColumn
    }

    /// Checks rows `0..<n` of `v`, a batch of bronze's columns, after those checked before.
    func check(_ v: [ColumnVector], rows n: Int, table: String) throws {
        let (files, lines, seqs) = (v[lineage], v[lineage + 1], v[lineage + 2])
        for r in 0..<n {
            let s = seqs.isNull(r) ? Int64.min : seqs.int64(r)
            let l = lines.isNull(r) ? Int64.min : lines.int64(r)
            let (ok, sameFile) = files.withString(r) { f -> (Bool, Bool) in
                let c = file.withUnsafeBytes { p in Bytes.compare(p, f) }
                if s != seq { return (s > seq, c == 0) }
                return (c < 0 || (c == 0 && l > line), c == 0)
            }
            guard ok else {
                throw BatchError(.reconciliation, path: table,
                                 "rows are not in ingestion order (_ingest_seq, _source_file, _source_line) at _ingest_seq \(s), line \(l): bronze was not written by batchrun ingest; ingest the landing zone again with --mode overwrite")
            }
            if !sameFile {
                file.removeAll()
                files.withString(r) { file.append($0) }
            }
            seq = s
            line = l
        }
    }
}
