import Segments

/// The bronze table of docs/TRANSACTIONS.md section 2: the ten transaction columns, typed, plus
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

}
