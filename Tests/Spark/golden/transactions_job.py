# The pipeline 'transactions', from pipelines/transactions.yaml
# ---------------------------------------------------------------------------------------
FACTS = Feed("transactions", "transactions/**/*.csv", [
    Column("transaction_id", "string"),
    Column("customer_id", "int64"),
    Column("product_id", "int64"),
    Column("quantity", "int64"),
    Column("unit_price", "decimal(17,2)"),
    Column("currency", "string", case="upper"),
    Column("status", "string", case="lower"),
    Column("channel", "string", case="lower"),
    Column("event_time", "timestamp"),
    Column("updated_at", "timestamp"),
])
REFERENCES = [
    Feed("customers", "customers.csv", [
        Column("customer_id", "int64"),
        Column("name", "string"),
        Column("country", "string"),
        Column("segment", "string"),
        Column("signup_date", "date"),
    ], key="customer_id"),
    Feed("products", "products.csv", [
        Column("product_id", "int64"),
        Column("name", "string"),
        Column("category", "string"),
        Column("list_price", "decimal(17,2)"),
    ], key="product_id"),
    Feed("fx_rates", "fx_rates.csv", [
        Column("currency", "string", case="upper"),
        Column("usd_per_unit", "decimal(18,6)", signed=False),
    ], key="currency"),
]


def silver(bronze, refs):
    """Bronze's rows routed: the first expectation a row fails sends it to quarantine with
    its name; the others are deduplicated into silver, which keeps their lineage columns
    for the order of ties. Returns (silver, quarantine, rows routed)."""
    rows = bronze
    rows = lookup(rows, refs["fx_rates"], "currency", "`currency`", "__fx_rates__", ["currency", "usd_per_unit"])
    rows = member(rows, refs["customers"], "customer_id", "`customer_id`", "__in0")
    rows = member(rows, refs["products"], "product_id", "`product_id`", "__in1")
    rows = rows.withColumn("__transaction_id", F.expr("`transaction_id`"))
    rows = rows.withColumn("__customer_id", F.expr("`customer_id`"))
    rows = rows.withColumn("__product_id", F.expr("`product_id`"))
    rows = rows.withColumn("__quantity", F.expr("`quantity`"))
    rows = rows.withColumn("__unit_price", F.expr("`unit_price`"))
    rows = rows.withColumn("__currency", F.expr("`currency`"))
    rows = rows.withColumn("__amount", F.expr("try_cast((try_cast(`__quantity` AS DECIMAL(18,0)) * CAST(`__unit_price` AS DECIMAL(18,2))) AS DECIMAL(18,2))"))
    rows = rows.withColumn("__amount_usd", F.expr("try_cast(round(`__amount` * `__fx_rates__usd_per_unit`, 2) AS DECIMAL(18,2))"))
    rows = rows.withColumn("__status", F.expr("`status`"))
    rows = rows.withColumn("__channel", F.expr("`channel`"))
    rows = rows.withColumn("__event_time", F.expr("`event_time`"))
    rows = rows.withColumn("__updated_at", F.expr("`updated_at`"))
    rows = rows.withColumn("__event_date", F.expr("to_date(`__event_time`)"))
    # a silver value that does not fit its type: quarantined as bad_price
    rows = rows.withColumn("__overflow", F.expr("(`__quantity` IS NOT NULL AND try_cast(`__quantity` AS DECIMAL(18,0)) IS NULL) OR ((try_cast(`__quantity` AS DECIMAL(18,0)) * CAST(`__unit_price` AS DECIMAL(18,2))) IS NOT NULL AND try_cast((try_cast(`__quantity` AS DECIMAL(18,0)) * CAST(`__unit_price` AS DECIMAL(18,2))) AS DECIMAL(18,2)) IS NULL) OR (round(`__amount` * `__fx_rates__usd_per_unit`, 2) IS NOT NULL AND try_cast(round(`__amount` * `__fx_rates__usd_per_unit`, 2) AS DECIMAL(18,2)) IS NULL)"))
    rows = route(rows, FACTS, [
        ("missing_id", "(`transaction_id` IS NOT NULL)"),
        ("bad_number", "((((`customer_id` IS NOT NULL) AND (`product_id` IS NOT NULL)) AND (`quantity` IS NOT NULL)) AND (`unit_price` IS NOT NULL))"),
        ("bad_timestamp", "((`event_time` IS NOT NULL) AND (`updated_at` IS NOT NULL))"),
        ("bad_quantity", "((`quantity` >= 1L) AND (`quantity` <= 1000L))"),
        ("bad_price", "(CAST(`unit_price` AS DECIMAL(18,2)) >= CAST(0L AS DECIMAL(18,2)))"),
        ("bad_status", "(`status` IN ('completed', 'pending', 'cancelled', 'refunded'))"),
        ("bad_channel", "(`channel` IN ('web', 'mobile', 'store'))"),
        ("unknown_currency", "(`__fx_rates__usd_per_unit` IS NOT NULL)"),
        ("unknown_customer", "`__in0`"),
        ("unknown_product", "`__in1`"),
    ], overflow="bad_price")
    rows = rows.persist(StorageLevel.DISK_ONLY)
    valid = rows.where("reason IS NULL")
    valid = keep_one(valid, ["__transaction_id"], ["__updated_at"], "greatest")
    silver = valid.select(*[F.col(q("__" + c)).alias(c) for c in ["transaction_id", "customer_id", "product_id", "quantity", "unit_price", "currency", "amount", "amount_usd", "status", "channel", "event_time", "updated_at", "event_date"]], *INGESTED)
    quarantine = rows.where("reason IS NOT NULL").select(*[q(c) for c in ["transaction_id", "customer_id", "product_id", "quantity", "unit_price", "currency", "status", "channel", "event_time", "updated_at", "_source_file", "_source_line", "_ingest_seq", "_ingested_at", "_rescued", "reason"]])
    return silver, quarantine, rows


def gold_dim_date(tables, refs):
    """dim_date: one row per date from the least to the greatest silver.event_date."""
    rows = calendar(tables["silver"], "event_date")
    rows = rows.withColumn("__date_key", F.expr("(year(`date`) * 10000 + month(`date`) * 100 + dayofmonth(`date`))"))
    rows = rows.withColumn("__date", F.expr("`date`"))
    rows = rows.withColumn("__year", F.expr("year(`__date`)"))
    rows = rows.withColumn("__quarter", F.expr("quarter(`__date`)"))
    rows = rows.withColumn("__month", F.expr("month(`__date`)"))
    rows = rows.withColumn("__day", F.expr("dayofmonth(`__date`)"))
    rows = rows.withColumn("__day_of_week", F.expr("((dayofweek(`__date`) + 5) % 7 + 1)"))
    rows = rows.withColumn("__iso_week", F.expr("weekofyear(`__date`)"))
    rows = rows.withColumn("__is_weekend", F.expr("(CAST(((dayofweek(`__date`) + 5) % 7 + 1) AS BIGINT) >= 6L)"))
    return rows.select(*[F.expr("CAST(`__date_key` AS INT)").alias("date_key"), F.expr("CAST(`__date` AS DATE)").alias("date"), F.expr("CAST(`__year` AS INT)").alias("year"), F.expr("CAST(`__quarter` AS INT)").alias("quarter"), F.expr("CAST(`__month` AS INT)").alias("month"), F.expr("CAST(`__day` AS INT)").alias("day"), F.expr("CAST(`__day_of_week` AS INT)").alias("day_of_week"), F.expr("CAST(`__iso_week` AS INT)").alias("iso_week"), F.expr("CAST(`__is_weekend` AS BOOLEAN)").alias("is_weekend")], F.col("date").alias("__tie0"))


def gold_dim_customer(tables, refs):
    """dim_customer: a copy of the reference customers, in key order."""
    return refs["customers"]


def gold_dim_product(tables, refs):
    """dim_product: a copy of the reference products, in key order."""
    return refs["products"]


def gold_fact_transactions(tables, refs):
    """fact_transactions: a projection of silver."""
    rows = tables["silver"]
    rows = rows.withColumn("__transaction_id", F.expr("`transaction_id`"))
    rows = rows.withColumn("__date_key", F.expr("(year(`event_date`) * 10000 + month(`event_date`) * 100 + dayofmonth(`event_date`))"))
    rows = rows.withColumn("__customer_id", F.expr("`customer_id`"))
    rows = rows.withColumn("__product_id", F.expr("`product_id`"))
    rows = rows.withColumn("__quantity", F.expr("`quantity`"))
    rows = rows.withColumn("__unit_price", F.expr("`unit_price`"))
    rows = rows.withColumn("__amount", F.expr("`amount`"))
    rows = rows.withColumn("__currency", F.expr("`currency`"))
    rows = rows.withColumn("__amount_usd", F.expr("`amount_usd`"))
    rows = rows.withColumn("__status", F.expr("`status`"))
    rows = rows.withColumn("__channel", F.expr("`channel`"))
    rows = rows.withColumn("__event_time", F.expr("`event_time`"))
    return rows.select(*[F.expr("CAST(`__transaction_id` AS STRING)").alias("transaction_id"), F.expr("CAST(`__date_key` AS INT)").alias("date_key"), F.expr("CAST(`__customer_id` AS BIGINT)").alias("customer_id"), F.expr("CAST(`__product_id` AS BIGINT)").alias("product_id"), F.expr("CAST(`__quantity` AS BIGINT)").alias("quantity"), F.expr("CAST(`__unit_price` AS DECIMAL(17,2))").alias("unit_price"), F.expr("CAST(`__amount` AS DECIMAL(18,2))").alias("amount"), F.expr("CAST(`__currency` AS STRING)").alias("currency"), F.expr("CAST(`__amount_usd` AS DECIMAL(18,2))").alias("amount_usd"), F.expr("CAST(`__status` AS STRING)").alias("status"), F.expr("CAST(`__channel` AS STRING)").alias("channel"), F.expr("CAST(`__event_time` AS TIMESTAMP)").alias("event_time")], F.col("`event_date`").alias("__tie0"), F.col("`event_time`").alias("__tie1"), F.col("`transaction_id`").alias("__tie2"), F.col("`_ingest_seq`").alias("__tie3"), F.col("`_source_file`").alias("__tie4"), F.col("`_source_line`").alias("__tie5"), F.col("`event_date`").alias("__month"), F.expr("trunc(`event_date`, 'MM')").alias("__part"))


def gold_daily_sales(tables, refs):
    """daily_sales: an aggregate of silver."""
    rows = tables["silver"]
    rows = lookup(rows, refs["products"], "product_id", "`product_id`", "__products__", ["product_id", "name", "category", "list_price"])
    rows = rows.where("coalesce((`status` IN ('completed', 'refunded')), false)")
    rows = rows.withColumn("__g0", F.expr("(year(`event_date`) * 10000 + month(`event_date`) * 100 + dayofmonth(`event_date`))"))
    rows = rows.withColumn("__g1", F.expr("`__products__category`"))
    rows = rows.withColumn("__g2", F.expr("`channel`"))
    rows = rows.groupBy("__g0", "__g1", "__g2").agg(
        F.expr("count(*) FILTER (WHERE (`status` = 'completed'))").alias("__m0"),
        F.expr("coalesce(sum(`quantity`) FILTER (WHERE (`status` = 'completed')), 0L)").alias("__m1"),
        F.expr("coalesce(CAST(sum(`amount_usd`) FILTER (WHERE (`status` = 'completed')) AS DECIMAL(18,2)), CAST(0L AS DECIMAL(18,2)))").alias("__m2"),
        F.expr("count(*) FILTER (WHERE (`status` = 'refunded'))").alias("__m3"),
        F.expr("coalesce(CAST(sum(`amount_usd`) FILTER (WHERE (`status` = 'refunded')) AS DECIMAL(18,2)), CAST(0L AS DECIMAL(18,2)))").alias("__m4"),
    )
    return rows.select(
        F.expr("CAST(`__g0` AS INT)").alias("date_key"),
        F.expr("CAST(`__g1` AS STRING)").alias("category"),
        F.expr("CAST(`__g2` AS STRING)").alias("channel"),
        F.expr("CAST(`__m0` AS BIGINT)").alias("orders"),
        F.expr("CAST(`__m1` AS BIGINT)").alias("units"),
        F.expr("CAST(`__m2` AS DECIMAL(18,2))").alias("revenue_usd"),
        F.expr("CAST(`__m3` AS BIGINT)").alias("refunds"),
        F.expr("CAST(`__m4` AS DECIMAL(18,2))").alias("refunded_usd"),
    )


def gold_customer_monthly(tables, refs):
    """customer_monthly: an aggregate of silver."""
    rows = tables["silver"]
    rows = rows.where("coalesce((`status` = 'completed'), false)")
    rows = rows.withColumn("__g0", F.expr("`customer_id`"))
    rows = rows.withColumn("__g1", F.expr("year(`event_date`)"))
    rows = rows.withColumn("__g2", F.expr("month(`event_date`)"))
    rows = rows.groupBy("__g0", "__g1", "__g2").agg(
        F.expr("count(*)").alias("__m0"),
        F.expr("CAST(sum(`amount_usd`) AS DECIMAL(18,2))").alias("__m1"),
        F.expr("min(`event_time`)").alias("__m2"),
        F.expr("max(`event_time`)").alias("__m3"),
    )
    return rows.select(
        F.expr("CAST(`__g0` AS BIGINT)").alias("customer_id"),
        F.expr("CAST(`__g1` AS INT)").alias("year"),
        F.expr("CAST(`__g2` AS INT)").alias("month"),
        F.expr("CAST(`__m0` AS BIGINT)").alias("orders"),
        F.expr("CAST(`__m1` AS DECIMAL(18,2))").alias("revenue_usd"),
        F.expr("CAST(`__m2` AS TIMESTAMP)").alias("first_purchase_at"),
        F.expr("CAST(`__m3` AS TIMESTAMP)").alias("last_purchase_at"),
    )


def main():
    args = arguments(__doc__)
    spark = session("batchrun transactions")
    register_casts(spark, [])
    run = Run(spark, args)
    bronze = run.write(read_bronze(spark, args.raw, FACTS, 1, run.started), "bronze", ["transaction_id", "customer_id", "product_id", "quantity", "unit_price", "currency", "status", "channel", "event_time", "updated_at", "_source_file", "_source_line", "_ingest_seq", "_ingested_at", "_rescued"], INGESTED)
    refs = {}
    for feed in REFERENCES:
        refs[feed.name] = run.write(read_reference(spark, args.raw, feed), "reference/" + feed.name, [c.name for c in feed.columns], [feed.key])
    rows, quarantine, routed = silver(bronze, refs)
    run.write(quarantine, "quarantine", ["transaction_id", "customer_id", "product_id", "quantity", "unit_price", "currency", "status", "channel", "event_time", "updated_at", "_source_file", "_source_line", "_ingest_seq", "_ingested_at", "_rescued", "reason"], INGESTED)
    tables = {"silver": run.write(rows, "silver", ["transaction_id", "customer_id", "product_id", "quantity", "unit_price", "currency", "amount", "amount_usd", "status", "channel", "event_time", "updated_at", "event_date"], ["event_date", "event_time", "transaction_id", "_ingest_seq", "_source_file", "_source_line"], partition="event_date", keep=INGESTED)}
    tables["dim_date"] = run.write(gold_dim_date(tables, refs), "dim_date", ["date_key", "date", "year", "quarter", "month", "day", "day_of_week", "iso_week", "is_weekend"], ["date_key", "__tie0"], keep=["__tie0"])
    tables["dim_customer"] = run.write(gold_dim_customer(tables, refs), "dim_customer", ["customer_id", "name", "country", "segment", "signup_date"], ["customer_id"])
    tables["dim_product"] = run.write(gold_dim_product(tables, refs), "dim_product", ["product_id", "name", "category", "list_price"], ["product_id"])
    tables["fact_transactions"] = run.write(gold_fact_transactions(tables, refs), "fact_transactions", ["transaction_id", "date_key", "customer_id", "product_id", "quantity", "unit_price", "amount", "currency", "amount_usd", "status", "channel", "event_time"], ["__part", "event_time", "transaction_id", "__tie0", "__tie1", "__tie2", "__tie3", "__tie4", "__tie5"], month="__month", keep=["__part", "__tie0", "__tie1", "__tie2", "__tie3", "__tie4", "__tie5"])
    tables["daily_sales"] = run.write(gold_daily_sales(tables, refs), "daily_sales", ["date_key", "category", "channel", "orders", "units", "revenue_usd", "refunds", "refunded_usd"], ["date_key", "category", "channel"])
    tables["customer_monthly"] = run.write(gold_customer_monthly(tables, refs), "customer_monthly", ["customer_id", "year", "month", "orders", "revenue_usd", "first_purchase_at", "last_purchase_at"], ["customer_id", "year", "month"])
    run.reconcile(routed)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        refused = refusal(e)
        if refused is None:
            raise
        print(f"transactions_job.py: error: {refused}", file=sys.stderr)
        sys.exit(65)
