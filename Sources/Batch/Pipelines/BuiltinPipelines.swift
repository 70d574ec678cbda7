/// The pipeline files the binary carries, so it works from any folder: the text of
/// pipelines/<name>.yaml (a test checks that the two are the same, byte for byte).
public enum BuiltinPipelines {
    /// Used when --pipeline is not given.
    public static let transactions = #"""
# The transactions pipeline: raw transactions with customers, products and exchange
# rates -> bronze -> silver (validated, deduplicated, by event date) + quarantine -> a
# star schema and two aggregates. docs/PIPELINES.md describes every key, and
# docs/PIPELINE-NOTES.md the choices of this pipeline; `batchrun check` prints the
# tables it makes and their typed columns.
name: transactions

landing:
  facts:
    name: transactions
    files: transactions/**/*.csv          # and transactions/**/*.csv.zst
    columns:
      - {name: transaction_id, type: string}
      - {name: customer_id, type: int64}
      - {name: product_id, type: int64}
      - {name: quantity, type: int64}
      - {name: unit_price, type: 'decimal(17,2)'}         # up to 15 digits before the point
      - {name: currency, type: string, case: upper}
      - {name: status, type: string, case: lower}
      - {name: channel, type: string, case: lower}
      - {name: event_time, type: timestamp}
      - {name: updated_at, type: timestamp}
  references:
    - name: customers
      file: customers.csv
      key: customer_id
      columns:
        - {name: customer_id, type: int64}
        - {name: name, type: string}
        - {name: country, type: string}
        - {name: segment, type: string}
        - {name: signup_date, type: date}
    - name: products
      file: products.csv
      key: product_id
      columns:
        - {name: product_id, type: int64}
        - {name: name, type: string}
        - {name: category, type: string}
        - {name: list_price, type: 'decimal(17,2)'}
    - name: fx_rates
      file: fx_rates.csv
      key: currency
      columns:
        - {name: currency, type: string, case: upper}
        - {name: usd_per_unit, type: 'decimal(18,6)', unsigned: true}

silver:
  # In order; the first that fails sends the row to quarantine with its name as the
  # reason. malformed_row (a ragged or non-UTF-8 record) is built in and comes first.
  expectations:
    - missing_id: transaction_id is not null
    - bad_number: customer_id is not null and product_id is not null and quantity is not null and unit_price is not null
    - bad_timestamp: event_time is not null and updated_at is not null
    - bad_quantity: quantity between 1 and 1000
    - bad_price: unit_price >= 0
    - bad_status: status in ('completed', 'pending', 'cancelled', 'refunded')
    - bad_channel: channel in ('web', 'mobile', 'store')
    - unknown_currency: fx_rates.usd_per_unit is not null    # a currency with a rate
    - unknown_customer: customer_id in customers
    - unknown_product: product_id in products
  lookups:
    - {reference: fx_rates, on: currency}
  # Versions of one transaction: keep the latest update; among equal updated_at, the
  # row ingested last.
  dedup:
    key: [transaction_id]
    keep: greatest
    by: [updated_at]
  columns:
    - transaction_id
    - customer_id
    - product_id
    - quantity
    - unit_price
    - currency
    - amount: quantity * unit_price
    - amount_usd: round(amount * fx_rates.usd_per_unit, 2)
    - status
    - channel
    - event_time
    - updated_at
    - event_date: date(event_time)
  partition: event_date
  order: [event_time, transaction_id]
  # A row whose amount or amount_usd does not fit its decimal is a bad price.
  overflow: bad_price

gold:
  - name: dim_date
    calendar: event_date
    columns:
      - date_key: date_key(date)
      - date
      - year: year(date)
      - quarter: quarter(date)
      - month: month(date)
      - day: day(date)
      - day_of_week: day_of_week(date)
      - iso_week: iso_week(date)
      - is_weekend: day_of_week(date) >= 6
    order: [date_key]

  - name: dim_customer
    reference: customers

  - name: dim_product
    reference: products

  - name: fact_transactions
    from: silver
    columns:
      - transaction_id
      - date_key: date_key(event_date)
      - customer_id
      - product_id
      - quantity
      - unit_price
      - amount
      - currency
      - amount_usd
      - status
      - channel
      - event_time
    partition: month(event_date)
    order: [event_time, transaction_id]

  - name: daily_sales
    from: silver
    lookups:
      - {reference: products, on: product_id}
    where: status in ('completed', 'refunded')
    group_by:
      - date_key: date_key(event_date)
      - category: products.category
      - channel
    measures:
      - orders: count(*) filter (where status = 'completed')
      - units: coalesce(sum(quantity) filter (where status = 'completed'), 0)
      - revenue_usd: coalesce(sum(amount_usd) filter (where status = 'completed'), 0)
      - refunds: count(*) filter (where status = 'refunded')
      - refunded_usd: coalesce(sum(amount_usd) filter (where status = 'refunded'), 0)
    order: [date_key, category, channel]

  - name: customer_monthly
    from: silver
    where: status = 'completed'
    group_by:
      - customer_id
      - year: year(event_date)
      - month: month(event_date)
    measures:
      - orders: count(*)
      - revenue_usd: sum(amount_usd)
      - first_purchase_at: min(event_time)
      - last_purchase_at: max(event_time)
    order: [customer_id, year, month]

"""#

    public static let all: [(name: String, text: String)] = [("transactions", transactions)]

    /// The built-in transactions pipeline, loaded once (a test loads the same text).
    public static let transactionsFile: PipelineFile = {
        do {
            return try PipelineLoader.load(text: transactions, path: "<built-in transactions pipeline>")
        } catch {
            preconditionFailure("the built-in transactions pipeline does not load: \(error)")
        }
    }()
}

extension BuiltinPipelines {
    /// The built-in transactions pipeline, type-checked once.
    public static let transactionsChecked: CheckedPipeline = {
        do {
            return try TypeChecker.check(transactionsFile)
        } catch {
            preconditionFailure("the built-in transactions pipeline does not type-check: \(error)")
        }
    }()
}

extension PipelineLoader {
    /// The pipeline at `path`, or the built-in transactions pipeline when `path` is nil,
    /// loaded and type-checked.
    public static func checked(path: String?) throws -> CheckedPipeline {
        let file = try path.map { try load(path: $0) } ?? BuiltinPipelines.transactionsFile
        return try TypeChecker.check(file)
    }
}
