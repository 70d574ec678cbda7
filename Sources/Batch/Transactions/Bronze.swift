import Segments

/// The bronze table of PIPELINE.md section 2: the ten transaction columns, typed, plus
/// lineage.
///
/// `_rescued` (docs/PIPELINE-NOTES.md) is null when every non-empty field parsed.
/// Otherwise it is one of:
/// - for a ragged record: the record's raw text as it is in the file, without its line end;
/// - for a record that is not valid UTF-8: the raw text with each byte that is not part of
///   a valid UTF-8 sequence written `\xHH` and each backslash written `\\`;
/// - otherwise a JSON object from column name to the field's text (unquoted and trimmed)
///   for each field that did not parse, in schema order: `{"quantity":"ten"}`.
/// A ragged or invalid record has all ten transaction columns null.
public enum Bronze {
    public static let transactionColumns = [
        "transaction_id", "customer_id", "product_id", "quantity", "unit_price",
        "currency", "status", "channel", "event_time", "updated_at",
    ]

    public static let schema = Schema(SampleTable.schema.fields + [
        Field("_source_file", .string, nullable: false),
        Field("_source_line", .int64, nullable: false),
        Field("_ingest_seq", .int64, nullable: false),
        Field("_ingested_at", .timestamp, nullable: false),
        Field("_rescued", .string),
    ])

    enum Column: Int {
        case transactionID = 0, customerID, productID, quantity, unitPrice, currency, status, channel, eventTime, updatedAt
        case sourceFile, sourceLine, ingestSeq, ingestedAt, rescued
    }

    /// Bytes of one bronze row held in a batch, for sizing reservations: fixed-width
    /// values, string offsets and typical string lengths (a lower bound; strings grow
    /// their heaps as they need).
    public static let rowBytesEstimate = 160
}

/// Where each of the ten transaction columns is in a file's records, from its header.
public struct TransactionsHeader: Sendable {
    /// Field index of each transaction column, in `Bronze.transactionColumns` order.
    public var positions: [Int]
    /// Fields in the header record; a record with another count is ragged.
    public var fieldCount: Int
    /// Stream offset just after the header record.
    public var dataOffset: Int
    /// Line number of the line after the header.
    public var dataLine: Int

    /// Matches header names ASCII case-insensitively after trimming; the first of
    /// repeated names wins, extra columns are ignored. Throws `missingColumn` naming the
    /// first required column that is absent.
    public static func parse(_ scanner: CSVScanner, path: String) throws -> TransactionsHeader {
        let positions = try scanner.readHeader(requiring: Bronze.transactionColumns, path: path,
                                               advice: "nothing was ingested, fix the file and run again")
        return TransactionsHeader(positions: positions, fieldCount: scanner.fieldCount,
                                  dataOffset: scanner.nextRecordOffset, dataLine: scanner.nextLine)
    }
}

extension CSVScanner {
    /// Reads the header record and returns the field index of each `required` name.
    /// Names match ASCII case-insensitively after trimming; the first of repeated names
    /// wins; extra columns are ignored. Throws `noHeader` for an empty or blank file and
    /// `missingColumn` naming the first absent column, followed by `advice`.
    func readHeader(requiring required: [String], path: String, advice: String) throws -> [Int] {
        guard try next() else {
            throw BatchError(.noHeader, path: path, line: 1,
                             "has no header record (the file is empty or blank); the first line must name the columns")
        }
        let scratch = ByteScratch()
        let names = (0..<fieldCount).map { withField($0, scratch: scratch) { String(decoding: $0, as: UTF8.self) }.lowercased() }
        return try required.map { column in
            guard let at = names.firstIndex(of: column) else {
                throw BatchError(.missingColumn, path: path, line: recordLine, column: column,
                                 "the header lacks the required column '\(column)' (it has: \(names.joined(separator: ", "))); \(advice)")
            }
            return at
        }
    }
}
