# The pipeline 'forms', from Tests/Spark/forms.yaml
# ---------------------------------------------------------------------------------------
FACTS = Feed("orders", "orders/**/*.csv", [
    Column("order_id", "string"),
    Column("customer", "string", case="lower"),
    Column("qty", "int32"),
    Column("price", "decimal(10,3)"),
    Column("weight", "float64"),
    Column("discount", "decimal(4,2)", required=False),
    Column("placed_at", "timestamp"),
    Column("ship_date", "date", required=False),
    Column("note", "string"),
    Column("gift", "bool"),
])
REFERENCES = [
    Feed("customers", "customers.csv", [
        Column("customer", "string", case="lower"),
        Column("tier", "string"),
        Column("credit", "decimal(12,2)"),
    ], key="customer"),
    Feed("tiers", "tiers.csv", [
        Column("tier", "string"),
        Column("rate", "decimal(6,4)"),
    ], key="tier"),
    Feed("returns", "returns.csv", [
        Column("order_id", "string"),
        Column("returned_on", "date"),
    ], key="order_id"),
]


def silver(bronze, refs):
    """Bronze's rows routed: the first expectation a row fails sends it to quarantine with
    its name; the others are deduplicated into silver, which keeps their lineage columns
    for the order of ties. Returns (silver, quarantine, rows routed)."""
    rows = bronze
    rows = lookup(rows, refs["customers"], "customer", "`customer`", "__customers__", ["customer", "tier", "credit"])
    rows = lookup(rows, refs["tiers"], "tier", "`__customers__tier`", "__t__", ["tier", "rate"])
    rows = member(rows, refs["customers"], "customer", "`customer`", "__in0")
    rows = member(rows, refs["returns"], "order_id", "`order_id`", "__in1")
    rows = rows.withColumn("__order_id", F.expr("`order_id`"))
    rows = rows.withColumn("__customer", F.expr("`customer`"))
    rows = rows.withColumn("__qty", F.expr("`qty`"))
    rows = rows.withColumn("__price", F.expr("`price`"))
    rows = rows.withColumn("__placed_at", F.expr("`placed_at`"))
    rows = rows.withColumn("__weight", F.expr("`weight`"))
    rows = rows.withColumn("__discount", F.expr("`discount`"))
    rows = rows.withColumn("__total", F.expr("try_cast((CAST(`__qty` AS DECIMAL(18,0)) * CAST(`__price` AS DECIMAL(18,3))) AS DECIMAL(18,3))"))
    rows = rows.withColumn("__discounted", F.expr("try_cast(round(`__total` * try_cast((CAST(1L AS DECIMAL(18,2)) - coalesce(CAST(`__discount` AS DECIMAL(18,2)), CAST(0L AS DECIMAL(18,2)))) AS DECIMAL(18,2)), 2) AS DECIMAL(18,2))"))
    rows = rows.withColumn("__per_unit", F.expr("try_cast(CASE WHEN CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0)) = 0 THEN NULL ELSE (CAST(((CAST(`__total` * 1000000BD AS DECIMAL(38,0)) div CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0))) + CASE WHEN abs(CAST(`__total` * 1000000BD AS DECIMAL(38,0)) - (CAST(`__total` * 1000000BD AS DECIMAL(38,0)) div CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0))) * CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0))) * 2 >= abs(CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0))) THEN CASE WHEN (CAST(`__total` * 1000000BD AS DECIMAL(38,0)) < 0) = (CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0)) < 0) THEN 1 ELSE -1 END ELSE 0 END) AS DECIMAL(38,0)) * 0.000001BD) END AS DECIMAL(18,6))"))
    rows = rows.withColumn("__share", F.expr("try_cast(CASE WHEN CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0)) = 0 THEN NULL ELSE (CAST(((CAST(CAST(`__price` AS DECIMAL(18,3)) * 10000000BD AS DECIMAL(38,0)) div CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0))) + CASE WHEN abs(CAST(CAST(`__price` AS DECIMAL(18,3)) * 10000000BD AS DECIMAL(38,0)) - (CAST(CAST(`__price` AS DECIMAL(18,3)) * 10000000BD AS DECIMAL(38,0)) div CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0))) * CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0))) * 2 >= abs(CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0))) THEN CASE WHEN (CAST(CAST(`__price` AS DECIMAL(18,3)) * 10000000BD AS DECIMAL(38,0)) < 0) = (CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0)) < 0) THEN 1 ELSE -1 END ELSE 0 END) AS DECIMAL(38,0)) * 0.000001BD) END AS DECIMAL(18,6))"))
    rows = rows.withColumn("__weight_kg", F.expr("(round(CASE WHEN CAST(1000L AS DOUBLE) = 0 THEN NULL ELSE `__weight` / CAST(1000L AS DOUBLE) END * 1.0E3D, 0) / 1.0E3D)"))
    rows = rows.withColumn("__heavy", F.expr("CASE WHEN (`__weight` > CAST(5000L AS DOUBLE)) THEN 'heavy' WHEN (`__weight` IS NULL) THEN CAST(NULL AS STRING) ELSE 'light' END"))
    rows = rows.withColumn("__rate_pct", F.expr("try_cast(round(try_cast((CAST(`__t__rate` AS DECIMAL(18,4)) * CAST(100L AS DECIMAL(18,0))) AS DECIMAL(18,4)), 0) AS BIGINT)"))
    rows = rows.withColumn("__credit_left", F.expr("try_cast((CAST(`__customers__credit` AS DECIMAL(18,3)) - `__total`) AS DECIMAL(18,3))"))
    rows = rows.withColumn("__label", F.expr("translate(regexp_replace(`note`, '^[ \\\\t]+|[ \\\\t]+$', ''), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')"))
    rows = rows.withColumn("__lower_note", F.expr("translate(`note`, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"))
    rows = rows.withColumn("__quoted", F.expr("((`note` = 'it\\'s') OR (`note` IN ('x', 'Ünïcode')))"))
    rows = rows.withColumn("__price_text", F.expr("CAST(`__price` AS STRING)"))
    rows = rows.withColumn("__placed_text", F.expr("concat(date_format(`__placed_at`, \"yyyy-MM-dd'T'HH:mm:ss\"), CASE WHEN unix_micros(`__placed_at`) % 1000000 = 0 THEN '' ELSE concat('.', lpad(CAST(pmod(unix_micros(`__placed_at`), 1000000) AS STRING), 6, '0')) END, 'Z')"))
    rows = rows.withColumn("__weight_text", F.expr("batchrun_text_float64(`__weight`)"))
    rows = rows.withColumn("__qty_text", F.expr("CAST(`__qty` AS STRING)"))
    rows = rows.withColumn("__gift_text", F.expr("CAST(`gift` AS STRING)"))
    rows = rows.withColumn("__note_int", F.expr("batchrun_cast_int64(`note`)"))
    rows = rows.withColumn("__note_dec", F.expr("batchrun_cast_decimal_8_2(`note`)"))
    rows = rows.withColumn("__note_float", F.expr("batchrun_cast_float64(`note`)"))
    rows = rows.withColumn("__note_bool", F.expr("batchrun_cast_bool(`note`)"))
    rows = rows.withColumn("__note_date", F.expr("date_from_unix_date(batchrun_cast_date(`note`))"))
    rows = rows.withColumn("__as_float", F.expr("(CAST(CAST(`__price` * 1000BD AS BIGINT) AS DOUBLE) / 1.0E3D)"))
    rows = rows.withColumn("__from_float", F.expr("try_cast((try_cast(round(`__weight` * 1.0E2D, 0) AS DECIMAL(38,0)) * 0.01BD) AS DECIMAL(12,2))"))
    rows = rows.withColumn("__float_int", F.expr("try_cast(try_cast(round(`__weight` * 1.0E0D, 0) AS DECIMAL(38,0)) AS INT)"))
    rows = rows.withColumn("__whole_price", F.expr("try_cast(round(`__price`, 0) AS BIGINT)"))
    rows = rows.withColumn("__ship_ts", F.expr("CAST(`ship_date` AS TIMESTAMP)"))
    rows = rows.withColumn("__placed_day", F.expr("to_date(`__placed_at`)"))
    rows = rows.withColumn("__neg", F.expr("try_cast((- CAST(CAST(`__qty` AS BIGINT) AS DECIMAL(19,0))) AS BIGINT)"))
    rows = rows.withColumn("__neg_price", F.expr("(- `__price`)"))
    rows = rows.withColumn("__month_code", F.expr("try_cast((CAST(try_cast((CAST(CAST(year(`__placed_at`) AS BIGINT) AS DECIMAL(19,0)) * CAST(100L AS DECIMAL(19,0))) AS BIGINT) AS DECIMAL(19,0)) + CAST(CAST(month(`__placed_at`) AS BIGINT) AS DECIMAL(19,0))) AS BIGINT)"))
    rows = rows.withColumn("__week", F.expr("weekofyear(`__placed_day`)"))
    rows = rows.withColumn("__dow", F.expr("((dayofweek(`__placed_day`) + 5) % 7 + 1)"))
    rows = rows.withColumn("__q", F.expr("quarter(`__placed_day`)"))
    rows = rows.withColumn("__dk", F.expr("(year(`__placed_day`) * 10000 + month(`__placed_day`) * 100 + dayofmonth(`__placed_day`))"))
    rows = rows.withColumn("__dd", F.expr("dayofmonth(`__placed_at`)"))
    rows = rows.withColumn("__gift", F.expr("`gift`"))
    rows = rows.withColumn("__not_gift", F.expr("(NOT `__gift`)"))
    rows = rows.withColumn("__either", F.expr("(`__gift` OR (CAST(`__qty` AS BIGINT) > 200L))"))
    rows = rows.withColumn("__both", F.expr("(`__gift` AND (CAST(`__qty` AS BIGINT) > 200L))"))
    rows = rows.withColumn("__vip", F.expr("((`__customers__tier` IN ('gold')) AND (`__t__rate` IS NOT NULL))"))
    rows = rows.withColumn("__late", F.expr("((`ship_date` > to_date(`__placed_at`)) OR (`ship_date` <> DATE '2025-03-01'))"))
    rows = rows.withColumn("__tiny", F.expr("(CAST('0.001' AS DOUBLE) * `__weight`)"))
    rows = rows.withColumn("__scaled", F.expr("try_cast((CAST(`__qty` AS DECIMAL(18,0)) * CAST(2600000000000000L AS DECIMAL(18,0))) AS DECIMAL(18,0))"))
    rows = rows.withColumn("__day_ts", F.expr("(CAST(`__placed_day` AS TIMESTAMP) = `__placed_at`)"))
    # a silver value that does not fit its type: quarantined as too_big
    rows = rows.withColumn("__overflow", F.expr("((CAST(`__qty` AS DECIMAL(18,0)) * CAST(`__price` AS DECIMAL(18,3))) IS NOT NULL AND try_cast((CAST(`__qty` AS DECIMAL(18,0)) * CAST(`__price` AS DECIMAL(18,3))) AS DECIMAL(18,3)) IS NULL) OR ((CAST(1L AS DECIMAL(18,2)) - coalesce(CAST(`__discount` AS DECIMAL(18,2)), CAST(0L AS DECIMAL(18,2)))) IS NOT NULL AND try_cast((CAST(1L AS DECIMAL(18,2)) - coalesce(CAST(`__discount` AS DECIMAL(18,2)), CAST(0L AS DECIMAL(18,2)))) AS DECIMAL(18,2)) IS NULL) OR (round(`__total` * try_cast((CAST(1L AS DECIMAL(18,2)) - coalesce(CAST(`__discount` AS DECIMAL(18,2)), CAST(0L AS DECIMAL(18,2)))) AS DECIMAL(18,2)), 2) IS NOT NULL AND try_cast(round(`__total` * try_cast((CAST(1L AS DECIMAL(18,2)) - coalesce(CAST(`__discount` AS DECIMAL(18,2)), CAST(0L AS DECIMAL(18,2)))) AS DECIMAL(18,2)), 2) AS DECIMAL(18,2)) IS NULL) OR (CASE WHEN CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0)) = 0 THEN NULL ELSE (CAST(((CAST(`__total` * 1000000BD AS DECIMAL(38,0)) div CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0))) + CASE WHEN abs(CAST(`__total` * 1000000BD AS DECIMAL(38,0)) - (CAST(`__total` * 1000000BD AS DECIMAL(38,0)) div CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0))) * CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0))) * 2 >= abs(CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0))) THEN CASE WHEN (CAST(`__total` * 1000000BD AS DECIMAL(38,0)) < 0) = (CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0)) < 0) THEN 1 ELSE -1 END ELSE 0 END) AS DECIMAL(38,0)) * 0.000001BD) END IS NOT NULL AND try_cast(CASE WHEN CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0)) = 0 THEN NULL ELSE (CAST(((CAST(`__total` * 1000000BD AS DECIMAL(38,0)) div CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0))) + CASE WHEN abs(CAST(`__total` * 1000000BD AS DECIMAL(38,0)) - (CAST(`__total` * 1000000BD AS DECIMAL(38,0)) div CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0))) * CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0))) * 2 >= abs(CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0))) THEN CASE WHEN (CAST(`__total` * 1000000BD AS DECIMAL(38,0)) < 0) = (CAST(CAST(`__qty` AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0)) < 0) THEN 1 ELSE -1 END ELSE 0 END) AS DECIMAL(38,0)) * 0.000001BD) END AS DECIMAL(18,6)) IS NULL) OR (`__qty` IS NOT NULL AND try_cast(`__qty` AS DECIMAL(10,1)) IS NULL) OR (CASE WHEN CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0)) = 0 THEN NULL ELSE (CAST(((CAST(CAST(`__price` AS DECIMAL(18,3)) * 10000000BD AS DECIMAL(38,0)) div CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0))) + CASE WHEN abs(CAST(CAST(`__price` AS DECIMAL(18,3)) * 10000000BD AS DECIMAL(38,0)) - (CAST(CAST(`__price` AS DECIMAL(18,3)) * 10000000BD AS DECIMAL(38,0)) div CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0))) * CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0))) * 2 >= abs(CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0))) THEN CASE WHEN (CAST(CAST(`__price` AS DECIMAL(18,3)) * 10000000BD AS DECIMAL(38,0)) < 0) = (CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0)) < 0) THEN 1 ELSE -1 END ELSE 0 END) AS DECIMAL(38,0)) * 0.000001BD) END IS NOT NULL AND try_cast(CASE WHEN CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0)) = 0 THEN NULL ELSE (CAST(((CAST(CAST(`__price` AS DECIMAL(18,3)) * 10000000BD AS DECIMAL(38,0)) div CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0))) + CASE WHEN abs(CAST(CAST(`__price` AS DECIMAL(18,3)) * 10000000BD AS DECIMAL(38,0)) - (CAST(CAST(`__price` AS DECIMAL(18,3)) * 10000000BD AS DECIMAL(38,0)) div CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0))) * CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0))) * 2 >= abs(CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0))) THEN CASE WHEN (CAST(CAST(`__price` AS DECIMAL(18,3)) * 10000000BD AS DECIMAL(38,0)) < 0) = (CAST(CAST(try_cast(`__qty` AS DECIMAL(10,1)) AS DECIMAL(18,1)) * 10BD AS DECIMAL(38,0)) < 0) THEN 1 ELSE -1 END ELSE 0 END) AS DECIMAL(38,0)) * 0.000001BD) END AS DECIMAL(18,6)) IS NULL) OR ((CAST(`__t__rate` AS DECIMAL(18,4)) * CAST(100L AS DECIMAL(18,0))) IS NOT NULL AND try_cast((CAST(`__t__rate` AS DECIMAL(18,4)) * CAST(100L AS DECIMAL(18,0))) AS DECIMAL(18,4)) IS NULL) OR (round(try_cast((CAST(`__t__rate` AS DECIMAL(18,4)) * CAST(100L AS DECIMAL(18,0))) AS DECIMAL(18,4)), 0) IS NOT NULL AND try_cast(round(try_cast((CAST(`__t__rate` AS DECIMAL(18,4)) * CAST(100L AS DECIMAL(18,0))) AS DECIMAL(18,4)), 0) AS BIGINT) IS NULL) OR ((CAST(`__customers__credit` AS DECIMAL(18,3)) - `__total`) IS NOT NULL AND try_cast((CAST(`__customers__credit` AS DECIMAL(18,3)) - `__total`) AS DECIMAL(18,3)) IS NULL) OR ((try_cast(round(`__weight` * 1.0E2D, 0) AS DECIMAL(38,0)) * 0.01BD) IS NOT NULL AND try_cast((try_cast(round(`__weight` * 1.0E2D, 0) AS DECIMAL(38,0)) * 0.01BD) AS DECIMAL(12,2)) IS NULL) OR (try_cast(round(`__weight` * 1.0E0D, 0) AS DECIMAL(38,0)) IS NOT NULL AND try_cast(try_cast(round(`__weight` * 1.0E0D, 0) AS DECIMAL(38,0)) AS INT) IS NULL) OR (round(`__price`, 0) IS NOT NULL AND try_cast(round(`__price`, 0) AS BIGINT) IS NULL) OR ((- CAST(CAST(`__qty` AS BIGINT) AS DECIMAL(19,0))) IS NOT NULL AND try_cast((- CAST(CAST(`__qty` AS BIGINT) AS DECIMAL(19,0))) AS BIGINT) IS NULL) OR ((CAST(CAST(year(`__placed_at`) AS BIGINT) AS DECIMAL(19,0)) * CAST(100L AS DECIMAL(19,0))) IS NOT NULL AND try_cast((CAST(CAST(year(`__placed_at`) AS BIGINT) AS DECIMAL(19,0)) * CAST(100L AS DECIMAL(19,0))) AS BIGINT) IS NULL) OR ((CAST(try_cast((CAST(CAST(year(`__placed_at`) AS BIGINT) AS DECIMAL(19,0)) * CAST(100L AS DECIMAL(19,0))) AS BIGINT) AS DECIMAL(19,0)) + CAST(CAST(month(`__placed_at`) AS BIGINT) AS DECIMAL(19,0))) IS NOT NULL AND try_cast((CAST(try_cast((CAST(CAST(year(`__placed_at`) AS BIGINT) AS DECIMAL(19,0)) * CAST(100L AS DECIMAL(19,0))) AS BIGINT) AS DECIMAL(19,0)) + CAST(CAST(month(`__placed_at`) AS BIGINT) AS DECIMAL(19,0))) AS BIGINT) IS NULL) OR ((CAST(`__qty` AS DECIMAL(18,0)) * CAST(2600000000000000L AS DECIMAL(18,0))) IS NOT NULL AND try_cast((CAST(`__qty` AS DECIMAL(18,0)) * CAST(2600000000000000L AS DECIMAL(18,0))) AS DECIMAL(18,0)) IS NULL)"))
    rows = route(rows, FACTS, [
        ("has_id", "((`order_id` IS NOT NULL) AND (`customer` IS NOT NULL))"),
        ("good_qty", "((((CAST(`qty` AS BIGINT) >= 1L) AND (CAST(`qty` AS BIGINT) <= 400L)) AND (NOT (CAST(`price` AS DECIMAL(18,3)) < CAST(0L AS DECIMAL(18,3))))) AND (`price` IS NOT NULL))"),
        ("known", "(`__in0` AND (NOT `__in1`))"),
        ("dated", "((`placed_at` IS NOT NULL) AND ((`ship_date` IS NULL) OR (CAST(`ship_date` AS TIMESTAMP) >= timestamp_micros(946684800000000L))))"),
        ("light", "(((`weight` IS NULL) OR (`weight` < CAST('1000000.0' AS DOUBLE))) OR (`weight` = (CAST(CAST(-1.5BD * 10BD AS BIGINT) AS DOUBLE) / 1.0E1D)))"),
    ], overflow="too_big")
    rows = rows.persist(StorageLevel.DISK_ONLY)
    valid = rows.where("reason IS NULL")
    valid = keep_one(valid, ["__order_id"], ["__placed_at", "__qty"], "greatest")
    silver = valid.select(*[F.col(q("__" + c)).alias(c) for c in ["order_id", "customer", "qty", "price", "placed_at", "weight", "discount", "total", "discounted", "per_unit", "share", "weight_kg", "heavy", "rate_pct", "credit_left", "label", "lower_note", "quoted", "price_text", "placed_text", "weight_text", "qty_text", "gift_text", "note_int", "note_dec", "note_float", "note_bool", "note_date", "as_float", "from_float", "float_int", "whole_price", "ship_ts", "placed_day", "neg", "neg_price", "month_code", "week", "dow", "q", "dk", "dd", "gift", "not_gift", "either", "both", "vip", "late", "tiny", "scaled", "day_ts"]], *INGESTED)
    quarantine = rows.where("reason IS NOT NULL").select(*[q(c) for c in ["order_id", "customer", "qty", "price", "weight", "discount", "placed_at", "ship_date", "note", "gift", "_source_file", "_source_line", "_ingest_seq", "_ingested_at", "_rescued", "reason"]])
    return silver, quarantine, rows


def gold_dim_customer(tables, refs):
    """dim_customer: a copy of the reference customers, in key order."""
    return refs["customers"]


def gold_days(tables, refs):
    """days: one row per date from the least to the greatest silver.placed_day."""
    rows = calendar(tables["silver"], "placed_day")
    rows = rows.withColumn("__date", F.expr("`date`"))
    rows = rows.withColumn("__key", F.expr("(year(`__date`) * 10000 + month(`__date`) * 100 + dayofmonth(`__date`))"))
    rows = rows.withColumn("__weekend", F.expr("(CAST(((dayofweek(`__date`) + 5) % 7 + 1) AS BIGINT) >= 6L)"))
    rows = rows.withColumn("__next", F.expr("CAST(`__date` AS TIMESTAMP)"))
    return rows.select(*[F.expr("CAST(`__date` AS DATE)").alias("date"), F.expr("CAST(`__key` AS INT)").alias("key"), F.expr("CAST(`__weekend` AS BOOLEAN)").alias("weekend"), F.expr("CAST(`__next` AS TIMESTAMP)").alias("next")], F.col("date").alias("__tie0"))


def gold_orders_by_day(tables, refs):
    """orders_by_day: a projection of silver."""
    rows = tables["silver"]
    rows = lookup(rows, refs["customers"], "customer", "`customer`", "__c__", ["customer", "tier", "credit"])
    rows = rows.withColumn("__order_id", F.expr("`order_id`"))
    rows = rows.withColumn("__placed_day", F.expr("`placed_day`"))
    rows = rows.withColumn("__tier", F.expr("coalesce(`__c__tier`, 'none')"))
    rows = rows.withColumn("__total", F.expr("`total`"))
    rows = rows.withColumn("__weight", F.expr("`weight`"))
    return rows.select(*[F.expr("CAST(`__order_id` AS STRING)").alias("order_id"), F.expr("CAST(`__placed_day` AS DATE)").alias("placed_day"), F.expr("CAST(`__tier` AS STRING)").alias("tier"), F.expr("CAST(`__total` AS DECIMAL(18,3))").alias("total"), F.expr("CAST(`__weight` AS DOUBLE)").alias("weight")], F.col("`placed_day`").alias("__tie0"), F.col("`placed_at`").alias("__tie1"), F.col("`order_id`").alias("__tie2"), F.col("`_ingest_seq`").alias("__tie3"), F.col("`_source_file`").alias("__tie4"), F.col("`_source_line`").alias("__tie5"), F.col("`placed_day`").alias("__part"))


def gold_big_orders(tables, refs):
    """big_orders: a projection of orders_by_day."""
    rows = tables["orders_by_day"]
    rows = rows.withColumn("__order_id", F.expr("`order_id`"))
    rows = rows.withColumn("__tier", F.expr("`tier`"))
    rows = rows.withColumn("__doubled", F.expr("CAST((`total` * CAST(2L AS DECIMAL(18,0))) AS DECIMAL(18,3))"))
    return rows.select(*[F.expr("CAST(`__order_id` AS STRING)").alias("order_id"), F.expr("CAST(`__tier` AS STRING)").alias("tier"), F.expr("CAST(`__doubled` AS DECIMAL(18,3))").alias("doubled")], F.col("`__part`").alias("__tie0"), F.col("`tier`").alias("__tie1"), F.col("`total`").alias("__tie2"), F.col("`__tie0`").alias("__tie3"), F.col("`__tie1`").alias("__tie4"), F.col("`__tie2`").alias("__tie5"), F.col("`__tie3`").alias("__tie6"), F.col("`__tie4`").alias("__tie7"), F.col("`__tie5`").alias("__tie8"))


def gold_by_tier(tables, refs):
    """by_tier: an aggregate of silver."""
    rows = tables["silver"]
    rows = lookup(rows, refs["customers"], "customer", "`customer`", "__customers__", ["customer", "tier", "credit"])
    rows = rows.where("coalesce(((CAST(`qty` AS BIGINT) > 1L) OR `gift`), false)")
    rows = rows.withColumn("__g0", F.expr("`__customers__tier`"))
    rows = rows.withColumn("__g1", F.expr("month(`placed_day`)"))
    rows = rows.groupBy("__g0", "__g1").agg(
        F.expr("count(*)").alias("__m0"),
        F.expr("count(`discounted`)").alias("__m1"),
        F.expr("sum(CAST(`qty` AS BIGINT))").alias("__m2"),
        F.expr("CAST(sum(`total`) AS DECIMAL(18,3))").alias("__m3"),
        F.expr("count(*) FILTER (WHERE `gift`)").alias("__m4"),
        F.expr("coalesce(CAST(sum(`total`) FILTER (WHERE `gift`) AS DECIMAL(18,3)), CAST(0L AS DECIMAL(18,3)))").alias("__m5"),
        F.expr("min(`price`)").alias("__m6"),
        F.expr("max(`price`)").alias("__m7"),
        F.expr("min(`weight`)").alias("__m8"),
        F.expr("max(`weight`)").alias("__m9"),
        F.expr("min(`placed_at`)").alias("__m10"),
        F.expr("max(`placed_day`)").alias("__m11"),
        F.expr("CAST((CAST(((CAST(sum(CAST(`qty` AS BIGINT)) * 1000000BD AS DECIMAL(38,0)) div count(CAST(`qty` AS BIGINT))) + CASE WHEN abs(CAST(sum(CAST(`qty` AS BIGINT)) * 1000000BD AS DECIMAL(38,0)) - (CAST(sum(CAST(`qty` AS BIGINT)) * 1000000BD AS DECIMAL(38,0)) div count(CAST(`qty` AS BIGINT))) * count(CAST(`qty` AS BIGINT))) * 2 >= abs(count(CAST(`qty` AS BIGINT))) THEN CASE WHEN (CAST(sum(CAST(`qty` AS BIGINT)) * 1000000BD AS DECIMAL(38,0)) < 0) = (count(CAST(`qty` AS BIGINT)) < 0) THEN 1 ELSE -1 END ELSE 0 END) AS DECIMAL(38,0)) * 0.000001BD) AS DECIMAL(18,6))").alias("__m12"),
        F.expr("CAST((CAST(((CAST(sum(`total`) * 1000000BD AS DECIMAL(38,0)) div count(`total`)) + CASE WHEN abs(CAST(sum(`total`) * 1000000BD AS DECIMAL(38,0)) - (CAST(sum(`total`) * 1000000BD AS DECIMAL(38,0)) div count(`total`)) * count(`total`)) * 2 >= abs(count(`total`)) THEN CASE WHEN (CAST(sum(`total`) * 1000000BD AS DECIMAL(38,0)) < 0) = (count(`total`) < 0) THEN 1 ELSE -1 END ELSE 0 END) AS DECIMAL(38,0)) * 0.000001BD) AS DECIMAL(18,6))").alias("__m13"),
        F.expr("CAST(CASE WHEN CAST(CAST(count(*) AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0)) = 0 THEN NULL ELSE (CAST(((CAST(CAST(sum(`total`) AS DECIMAL(18,3)) * 1000000BD AS DECIMAL(38,0)) div CAST(CAST(count(*) AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0))) + CASE WHEN abs(CAST(CAST(sum(`total`) AS DECIMAL(18,3)) * 1000000BD AS DECIMAL(38,0)) - (CAST(CAST(sum(`total`) AS DECIMAL(18,3)) * 1000000BD AS DECIMAL(38,0)) div CAST(CAST(count(*) AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0))) * CAST(CAST(count(*) AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0))) * 2 >= abs(CAST(CAST(count(*) AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0))) THEN CASE WHEN (CAST(CAST(sum(`total`) AS DECIMAL(18,3)) * 1000000BD AS DECIMAL(38,0)) < 0) = (CAST(CAST(count(*) AS DECIMAL(18,0)) * 1BD AS DECIMAL(38,0)) < 0) THEN 1 ELSE -1 END ELSE 0 END) AS DECIMAL(38,0)) * 0.000001BD) END AS DECIMAL(18,6))").alias("__m14"),
        F.expr("CAST((CAST(CAST(max(`qty`) AS BIGINT) AS DECIMAL(19,0)) - CAST(CAST(min(`qty`) AS BIGINT) AS DECIMAL(19,0))) AS BIGINT)").alias("__m15"),
    )
    return rows.select(
        F.expr("CAST(`__g0` AS STRING)").alias("tier"),
        F.expr("CAST(`__g1` AS INT)").alias("month"),
        F.expr("CAST(`__m0` AS BIGINT)").alias("orders"),
        F.expr("CAST(`__m1` AS BIGINT)").alias("with_discount"),
        F.expr("CAST(`__m2` AS BIGINT)").alias("units"),
        F.expr("CAST(`__m3` AS DECIMAL(18,3))").alias("revenue"),
        F.expr("CAST(`__m4` AS BIGINT)").alias("gifts"),
        F.expr("CAST(`__m5` AS DECIMAL(18,3))").alias("gift_revenue"),
        F.expr("CAST(`__m6` AS DECIMAL(10,3))").alias("cheapest"),
        F.expr("CAST(`__m7` AS DECIMAL(10,3))").alias("dearest"),
        F.expr("CAST(`__m8` AS DOUBLE)").alias("lightest"),
        F.expr("CAST(`__m9` AS DOUBLE)").alias("heaviest"),
        F.expr("CAST(`__m10` AS TIMESTAMP)").alias("first_at"),
        F.expr("CAST(`__m11` AS DATE)").alias("last_day"),
        F.expr("CAST(`__m12` AS DECIMAL(18,6))").alias("avg_qty"),
        F.expr("CAST(`__m13` AS DECIMAL(18,6))").alias("avg_total"),
        F.expr("CAST(`__m14` AS DECIMAL(18,6))").alias("per_order"),
        F.expr("CAST(`__m15` AS BIGINT)").alias("spread"),
    )


def main():
    args = arguments(__doc__)
    spark = session("batchrun forms")
    register_casts(spark, ["float64", "int64", "decimal(8,2)", "bool", "date"])
    run = Run(spark, args)
    bronze = run.write(read_bronze(spark, args.raw, FACTS, 1, run.started), "bronze", ["order_id", "customer", "qty", "price", "weight", "discount", "placed_at", "ship_date", "note", "gift", "_source_file", "_source_line", "_ingest_seq", "_ingested_at", "_rescued"], INGESTED)
    refs = {}
    for feed in REFERENCES:
        refs[feed.name] = run.write(read_reference(spark, args.raw, feed), "reference/" + feed.name, [c.name for c in feed.columns], [feed.key])
    rows, quarantine, routed = silver(bronze, refs)
    run.write(quarantine, "quarantine", ["order_id", "customer", "qty", "price", "weight", "discount", "placed_at", "ship_date", "note", "gift", "_source_file", "_source_line", "_ingest_seq", "_ingested_at", "_rescued", "reason"], INGESTED)
    tables = {"silver": run.write(rows, "silver", ["order_id", "customer", "qty", "price", "placed_at", "weight", "discount", "total", "discounted", "per_unit", "share", "weight_kg", "heavy", "rate_pct", "credit_left", "label", "lower_note", "quoted", "price_text", "placed_text", "weight_text", "qty_text", "gift_text", "note_int", "note_dec", "note_float", "note_bool", "note_date", "as_float", "from_float", "float_int", "whole_price", "ship_ts", "placed_day", "neg", "neg_price", "month_code", "week", "dow", "q", "dk", "dd", "gift", "not_gift", "either", "both", "vip", "late", "tiny", "scaled", "day_ts"], ["placed_day", "placed_at", "order_id", "_ingest_seq", "_source_file", "_source_line"], partition="placed_day", keep=INGESTED)}
    tables["dim_customer"] = run.write(gold_dim_customer(tables, refs), "dim_customer", ["customer", "tier", "credit"], ["customer"])
    tables["days"] = run.write(gold_days(tables, refs), "days", ["date", "key", "weekend", "next"], ["key", "__tie0"], keep=["__tie0"])
    tables["orders_by_day"] = run.write(gold_orders_by_day(tables, refs), "orders_by_day", ["order_id", "placed_day", "tier", "total", "weight"], ["__part", "tier", "total", "__tie0", "__tie1", "__tie2", "__tie3", "__tie4", "__tie5"], partition="placed_day", keep=["__part", "__tie0", "__tie1", "__tie2", "__tie3", "__tie4", "__tie5"])
    tables["big_orders"] = run.write(gold_big_orders(tables, refs), "big_orders", ["order_id", "tier", "doubled"], ["tier", "__tie0", "__tie1", "__tie2", "__tie3", "__tie4", "__tie5", "__tie6", "__tie7", "__tie8"], keep=["__tie0", "__tie1", "__tie2", "__tie3", "__tie4", "__tie5", "__tie6", "__tie7", "__tie8"])
    tables["by_tier"] = run.write(gold_by_tier(tables, refs), "by_tier", ["tier", "month", "orders", "with_discount", "units", "revenue", "gifts", "gift_revenue", "cheapest", "dearest", "lightest", "heaviest", "first_at", "last_day", "avg_qty", "avg_total", "per_order", "spread"], ["tier", "month"])
    run.reconcile(routed)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        refused = refusal(e)
        if refused is None:
            raise
        print(f"forms_job.py: error: {refused}", file=sys.stderr)
        sys.exit(65)
