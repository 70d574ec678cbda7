#!/usr/bin/env python3
"""Reads batchrun's Parquet and Delta exports with independent readers and checks every
cell against batchrun's CSV export of the same table.

    check_exports.py --batchrun PATH [--work DIR]

Lakes: the hand-written edge zone of Tests/Oracle (transactions), a generated
transactions zone of 20,000 records, and the hand-written sensors zone
(pipelines/sensors.yaml). For every table of each lake and each codec (zstd, lz4,
none), `batchrun export --format parquet` is read by pyarrow (a Hive-partitioned
dataset), DuckDB (read_parquet with hive_partitioning), Polars and fastparquet (which
reads decimals as float64: its decimal cells are compared with the CSV's as float64);
each reader's rows,
turned into batchrun's text forms, must equal the CSV export's rows (as multisets:
readers order partition folders their own way; an unpartitioned table also in order).
The files' footers are checked too: created_by, logical and converted types, statistics.
Each table is also exported as a Delta table (twice: the second commits nothing) and
read by deltalake and Polars at version 0; a rebuilt silver then commits version 1.
Exit 1 on any difference, showing the first differing rows.
"""
import argparse, csv, datetime, decimal, os, shutil, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

import duckdb  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "Oracle"))
from compare import show_differences, text  # noqa: E402
from deltalake import DeltaTable  # noqa: E402
import fastparquet  # noqa: E402
import math  # noqa: E402

COUNTS = {"passed": 0, "failed": 0}


def csv_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def compare(label, header, expected, got, ordered):
    """Rows of strings; False (and the first differences shown) when they differ."""
    a, b = (expected, got) if ordered else (sorted(expected), sorted(got))
    if a == b:
        return True
    print(f"{label}: DIFFERENT ({len(got)} rows, CSV {len(expected)})")
    show_differences(a, b, ("csv", "read"), 3)
    print(f"  columns {header}")
    return False


def readers(folder, header):
    """Each reader's rows, columns in the CSV header's order, values as text."""
    files = sorted(os.path.relpath(os.path.join(r, n), folder) for r, _, ns in os.walk(folder) for n in ns if n.endswith(".parquet"))
    partitioned = any("=" in f for f in files)
    out = {}
    t = ds.dataset(folder, format="parquet", partitioning="hive" if partitioned else None).to_table()
    cols = {n: t.column(n).to_pylist() for n in t.column_names}
    out["pyarrow"] = [[text(cols[h][i]) for h in header] for i in range(t.num_rows)]
    con = duckdb.connect()
    rel = con.sql(f"select * from read_parquet('{folder}/**/*.parquet', hive_partitioning={'true' if partitioned else 'false'})")
    names = rel.columns
    out["duckdb"] = [[text(r[names.index(h)]) for h in header] for r in rel.fetchall()]
    frame = pl.read_parquet(f"{folder}/**/*.parquet", hive_partitioning=partitioned)
    out["polars"] = [[text(r[h]) for h in header] for r in frame.iter_rows(named=True)]
    # fastparquet reads DECIMAL as float64, integers with nulls as float64 and naive
    # timestamps: its cells are put in the text forms by the column's Arrow type.
    types = {n: t.schema.field(n).type for n in t.column_names}
    df = fastparquet.ParquetFile([os.path.join(folder, f) for f in files], root=folder).to_pandas()
    out["fastparquet"] = [[fastparquet_text(r[h], types[h]) for h in header] for r in df.to_dict("records")]
    return out, partitioned, files, [types[h] for h in header]


def as_float_decimals(rows, types):
    """The rows with each decimal cell as fastparquet can give it: a float64, to 15
    significant digits (an 18-digit decimal does not fit a float exactly, and
    fastparquet's scaling may land an ulp or two away from the nearest float)."""
    decimal = [str(t).startswith("decimal") for t in types]
    return [[f"{float(c):.15g}" if d and c != "" else c for c, d in zip(r, decimal)] for r in rows]


def fastparquet_text(v, arrow_type):
    kind = str(arrow_type)
    if v is None or (isinstance(v, float) and math.isnan(v)) or str(v) in ("NaT", "<NA>"):
        return ""
    if hasattr(v, "to_pydatetime"):
        v = v.to_pydatetime()
    if kind.startswith("decimal"):
        return f"{v:.15g}"
    if kind.startswith("int") and isinstance(v, float):
        return str(int(v))
    if (kind.startswith("date") or kind == "string") and isinstance(v, datetime.datetime) and v.time() == datetime.time(0):
        return v.date().isoformat()
    if kind.startswith("timestamp") and isinstance(v, datetime.datetime) and v.tzinfo is None:
        v = v.replace(tzinfo=datetime.timezone.utc)
    return text(v)


def check_footer(label, path):
    md = pq.ParquetFile(path).metadata
    ok = md.created_by.startswith("batchrun version ")
    schema = pq.ParquetFile(path).schema
    for i in range(len(schema)):
        c = schema.column(i)
        if c.physical_type == "BYTE_ARRAY" and str(c.logical_type) != "String":
            ok = False
        if c.physical_type == "BYTE_ARRAY" and c.converted_type != "UTF8":
            ok = False
    for g in range(md.num_row_groups):
        for i in range(md.num_columns):
            s = md.row_group(g).column(i).statistics
            if s is None or s.null_count is None:
                ok = False
    if not ok:
        print(f"{label}: the footer of {path} lacks created_by, a string's types or statistics")
    return ok


def check_lake(batchrun, lake, tables, work):
    failures = 0
    for t in tables:
        out = os.path.join(work, "csv")
        subprocess.run([batchrun, "export", lake, t, "--format", "csv", "--out", out, "-q"], check=True)
        name = t.split("/")[-1]
        header, expected = csv_rows(os.path.join(out, name + ".csv"))
        for codec in ("zstd", "lz4", "none"):
            pdir = os.path.join(work, "parquet-" + codec)
            subprocess.run([batchrun, "export", lake, t, "--format", "parquet", "--compression", codec, "--out", pdir, "-q"], check=True)
            folder = os.path.join(pdir, name)
            got, partitioned, files, types = readers(folder, header)
            for reader, rows in got.items():
                label = f"{os.path.basename(lake)} {t} {codec} {reader}"
                want = as_float_decimals(expected, types) if reader == "fastparquet" else expected
                if compare(label, header, want, rows, ordered=not partitioned and reader not in ("duckdb", "fastparquet")):
                    COUNTS["passed"] += 1
                else:
                    COUNTS["failed"] += 1
                    failures += 1
            if not check_footer(f"{t} {codec}", os.path.join(folder, files[0])):
                failures += 1
                COUNTS["failed"] += 1
        failures += check_delta(batchrun, lake, t, name, header, expected, os.path.join(work, "delta"))
    return failures


def delta_export(batchrun, lake, t, out):
    r = subprocess.run([batchrun, "export", lake, t, "--format", "delta", "--out", out, "--json"], check=True, capture_output=True, text=True)
    import json
    return json.loads(r.stdout)


def check_delta(batchrun, lake, t, name, header, expected, out, version=0):
    """The Delta export at `version`, read by deltalake and Polars; a second export of
    the same lake version commits nothing."""
    failures = 0
    first = delta_export(batchrun, lake, t, out)
    again = delta_export(batchrun, lake, t, out)
    folder = os.path.join(out, name)
    table = DeltaTable(folder)
    if first["version"] != version or again["committed"] or again["version"] != version or table.version() != version:
        print(f"{os.path.basename(lake)} {t} delta: versions {first['version']}, then {again}, table at {table.version()}; expected {version} twice")
        failures += 1
    got = {"deltalake": table.to_pyarrow_table(), "polars-delta": pl.read_delta(folder)}
    for reader, data in got.items():
        rows = data.to_pylist() if reader == "deltalake" else list(data.iter_rows(named=True))
        label = f"{os.path.basename(lake)} {t} {reader} v{version}"
        if compare(label, header, expected, [[text(r[h]) for h in header] for r in rows], ordered=False) and len(rows) == len(expected):
            COUNTS["passed"] += 1
        else:
            COUNTS["failed"] += 1
            failures += 1
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batchrun", required=True)
    ap.add_argument("--work")
    args = ap.parse_args()
    batchrun = os.path.abspath(args.batchrun)
    work = args.work or tempfile.mkdtemp(prefix="batchrun-parquet-")
    failures = 0
    transactions = ["bronze", "silver", "quarantine", "dim_date", "dim_customer", "dim_product", "fact_transactions",
                    "daily_sales", "customer_monthly", "reference/fx_rates"]
    sensors = ["bronze", "silver", "quarantine", "dim_site", "dim_day", "readings_by_month", "site_daily"]
    try:
        edge = os.path.join(work, "edge")
        subprocess.run([batchrun, "run", "--raw", os.path.join(ROOT, "Tests", "Oracle", "zones", "edge"), "--lake", edge, "-q"], check=True)
        failures += check_lake(batchrun, edge, transactions, os.path.join(work, "edge-out"))
        raw = os.path.join(work, "raw")
        subprocess.run([batchrun, "generate", "--records", "20000", "--files", "3", "--seed", "5", "--out", raw, "-q"], check=True)
        generated = os.path.join(work, "generated")
        subprocess.run([batchrun, "run", "--raw", raw, "--lake", generated, "-q"], check=True)
        failures += check_lake(batchrun, generated, transactions, os.path.join(work, "generated-out"))
        sensors_lake = os.path.join(work, "sensors")
        subprocess.run([batchrun, "run", "--pipeline", os.path.join(ROOT, "pipelines", "sensors.yaml"),
                        "--raw", os.path.join(ROOT, "Tests", "Pipelines", "sensors"), "--lake", sensors_lake, "-q"], check=True)
        failures += check_lake(batchrun, sensors_lake, sensors, os.path.join(work, "sensors-out"))
        # Silver rebuilt: a new lake version, so the next export commits Delta version 1
        # (the old files removed, the new ones added).
        subprocess.run([batchrun, "silver", "--lake", sensors_lake, "-q"], check=True)
        out = os.path.join(work, "sensors-out")
        subprocess.run([batchrun, "export", sensors_lake, "silver", "--format", "csv", "--out", os.path.join(out, "csv2"), "-q"], check=True)
        header, expected = csv_rows(os.path.join(out, "csv2", "silver.csv"))
        failures += check_delta(batchrun, sensors_lake, "silver", "silver", header, expected, os.path.join(out, "delta"), version=1)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print(f"parquet and delta reads: {COUNTS['passed']} passed, {COUNTS['failed']} failed")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
