import Segments

/// Checks that bronze rows come in ingestion order, (_ingest_seq, _source_file,
/// _source_line) strictly ascending, as ingest writes them: silver orders tied versions
/// by row number, which is only right in that order.
final class IngestionOrder {
    private var seq = Int64.min
    private var line = Int64.min
    private let file = ByteBuffer(capacity: 64)

    func check(_ v: [ColumnVector], rows n: Int, table: String) throws {
        for r in 0..<n {
            let s = v[12].isNull(r) ? Int64.min : v[12].int64(r)
            let l = v[11].isNull(r) ? Int64.min : v[11].int64(r)
            let (ok, sameFile) = v[10].withString(r) { f -> (Bool, Bool) in
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
                v[10].withString(r) { file.append($0) }
            }
            seq = s
            line = l
        }
    }
}
