#!/usr/bin/env python3
"""Runs the PySpark job `batchrun spark` writes for each pipeline of pipelines/ and checks
every table it writes against batchrun's lake, cell by cell.

    spark_check.py --batchrun PATH [--records N] [--work DIR] [--only NAME]

Pipelines: each file of pipelines/, and Tests/Spark/forms.yaml, which uses every form of
the expression language, every type and every kind of gold table.

Landing zones: for each pipeline file, N records (default 200,000) that `batchrun
generate --pipeline` makes from it, with the rows it breaks for every quarantine reason,
re-sent duplicates and late versions (for transactions, the generator's dirty rows of
every rule and its benign noise); and the hand-written edge zones of both shipped
pipelines (Tests/Oracle/zones/edge, Tests/Pipelines/sensors). For each zone, `batchrun
run` builds a lake and the job runs on the same files with spark-submit in local[2].

Each table of the lake (bronze, the references, silver, quarantine, every gold table)
is then compared with the job's OUT/<table>:
- its rows, in batchrun's text forms, as a multiset, against `batchrun export --format
  csv` (every column but `_ingested_at`, the moment of each run);
- its order: an unpartitioned table's files, in name order, hold exactly the CSV's rows
  in order; each partition folder's rows come in the CSV's order;
- its partition folders, against those of `batchrun export --format parquet`;
- its Parquet column types, against the same export's.
Exit 1 on any difference, showing the first differing rows.
"""
import argparse, csv, json, os, shutil, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "Oracle"))
from compare import show_differences, text  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

COUNTS = {"passed": 0, "failed": 0}
IGNORED = {"_ingested_at"}


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        print(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        sys.exit(1)
    return r


def parquet_files(folder):
    """(relative folder, file) of each Parquet file under `folder`, sorted."""
    out = []
    for root, _, names in os.walk(folder):
        for n in names:
            if n.endswith(".parquet") and not n.startswith("."):
                out.append((os.path.relpath(root, folder), n))
    return sorted(out)


def folder_values(relative):
    """Partition column -> value from a folder path like `event_date=2025-03-01`."""
    if relative == ".":
        return {}
    return dict(part.split("=", 1) for part in relative.split("/"))


def spark_rows(folder, header):
    """Rows of each partition folder of the job's table, in file name order, as text."""
    by_folder = {}
    types = {}
    for relative, name in parquet_files(folder):
        t = pq.read_table(os.path.join(folder, relative, name))
        cols = {n: t.column(n).to_pylist() for n in t.column_names}
        for n in t.column_names:
            types[n] = str(t.schema.field(n).type)
        values = folder_values(relative)
        rows = by_folder.setdefault(relative, [])
        for i in range(t.num_rows):
            rows.append([text(cols[h][i]) if h in cols else values.get(h, "") for h in header])
    return by_folder, types


def batchrun_layout(folder):
    """Partition folders and column types of batchrun's Parquet export of a table."""
    folders, types = set(), {}
    for relative, name in parquet_files(folder):
        folders.add(relative)
        schema = pq.read_schema(os.path.join(folder, relative, name))
        for f in schema:
            types[f.name] = str(f.type)
    return folders, types


def positions_of(rows):
    """Each row's places in `rows`."""
    positions = {}
    for i, r in enumerate(rows):
        positions.setdefault(tuple(r), []).append(i)
    return positions


def in_order(positions, got):
    """True when `got` is a subsequence of the rows `positions` indexes."""
    last = -1
    for r in got:
        candidates = [i for i in positions.get(tuple(r), []) if i > last]
        if not candidates:
            return False
        last = candidates[0]
    return True


def check_table(label, batchrun, lake, table, spark_out, work):
    """The job's OUT/<table> against the lake's table; the number of problems."""
    name = table.split("/")[-1]
    csv_dir, pq_dir = os.path.join(work, "csv", table), os.path.join(work, "parquet", table)
    run([batchrun, "export", lake, table, "--format", "csv", "--out", csv_dir, "-q"])
    run([batchrun, "export", lake, table, "--format", "parquet", "--out", pq_dir, "-q"])
    with open(os.path.join(csv_dir, name + ".csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header = [h for h in rows[0] if h not in IGNORED]
    keep = [i for i, h in enumerate(rows[0]) if h not in IGNORED]
    expected = [[r[i] for i in keep] for r in rows[1:]]
    folder = os.path.join(spark_out, table[len("gold/"):] if table.startswith("gold/") else table)
    if not os.path.isdir(folder):
        print(f"{label} {table}: the job wrote no {folder}")
        return 1
    by_folder, spark_types = spark_rows(folder, header)
    got = [r for k in sorted(by_folder) for r in by_folder[k]]
    problems = []
    if sorted(expected) != sorted(got):
        print(f"{label} {table}: rows DIFFER ({len(got)} rows from Spark, {len(expected)} from batchrun)")
        show_differences(sorted(expected), sorted(got), ("batchrun", "spark"), 5)
        problems.append("rows")
    partitioned = any(k != "." for k in by_folder)
    if not partitioned and got != expected and "rows" not in problems:
        print(f"{label} {table}: the rows are batchrun's but in another order")
        show_differences(expected, got, ("batchrun", "spark"), 3)
        problems.append("order")
    if partitioned:
        positions = positions_of(expected)
        for k, part in sorted(by_folder.items()):
            if not in_order(positions, part):
                print(f"{label} {table}: the rows of {k} are not in batchrun's order")
                problems.append("order")
                break
    folders, types = batchrun_layout(os.path.join(pq_dir, name))
    if set(by_folder) != folders and not (not folders and set(by_folder) == {"."}):
        print(f"{label} {table}: partition folders differ: spark {sorted(by_folder)[:4]}..., batchrun {sorted(folders)[:4]}...")
        problems.append("folders")
    for c in header:
        if c in spark_types and c in types and spark_types[c] != types[c]:
            print(f"{label} {table}: column {c} is {spark_types[c]} in Spark's files, {types[c]} in batchrun's")
            problems.append("types")
    if problems:
        COUNTS["failed"] += 1
    else:
        COUNTS["passed"] += 1
        print(f"{label} {table}: {len(got):,} rows equal, in order, {len(by_folder)} folder(s)")
    return 1 if problems else 0


def check_zone(label, batchrun, pipeline, raw, work, spark_env):
    """batchrun and the job on one landing zone; every table compared."""
    lake, job_dir, out = os.path.join(work, "lake"), os.path.join(work, "job"), os.path.join(work, "spark")
    args = ["--pipeline", pipeline] if pipeline else []
    started = time.time()
    run([batchrun, "run", *args, "--raw", raw, "--lake", lake, "-q"])
    batchrun_seconds = time.time() - started
    r = run([batchrun, "spark", *([pipeline] if pipeline else []), "--out", job_dir, "--json"])
    job = json.loads(r.stdout)["job"]
    started = time.time()
    run(["spark-submit", "--master", "local[2]", "--driver-memory", "2g", job, "--raw", raw, "--out", out], env=spark_env)
    spark_seconds = time.time() - started
    print(f"{label}: batchrun {batchrun_seconds:.1f} s, the Spark job {spark_seconds:.1f} s")
    check = json.loads(run([batchrun, "check", *([pipeline] if pipeline else []), "--json"]).stdout)
    failures = 0
    for t in check["tables"]:
        failures += check_table(label, batchrun, lake, t["table"], out, os.path.join(work, "exports"))
    return failures


def spark_env():
    """The environment spark-submit runs in: this Python's folder first on PATH (its
    pyspark's spark-submit) and this Python for the job's workers."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYSPARK_PYTHON"] = sys.executable
    return env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batchrun", required=True)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--work")
    ap.add_argument("--only", help="one pipeline's name (transactions, sensors)")
    args = ap.parse_args()
    batchrun = os.path.abspath(args.batchrun)
    work = args.work or tempfile.mkdtemp(prefix="batchrun-spark-")
    env = spark_env()
    failures = 0
    edges = {"transactions": os.path.join(ROOT, "Tests", "Oracle", "zones", "edge"),
             "sensors": os.path.join(ROOT, "Tests", "Pipelines", "sensors")}
    try:
        files = [os.path.join(ROOT, "pipelines", f) for f in sorted(os.listdir(os.path.join(ROOT, "pipelines")))]
        files += [os.path.join(HERE, f) for f in sorted(os.listdir(HERE))]
        for pipeline in files:
            if not pipeline.endswith(".yaml"):
                continue
            name = os.path.basename(pipeline)[:-len(".yaml")]
            if args.only and name != args.only:
                continue
            raw = os.path.join(work, name, "raw")
            run([batchrun, "generate", "--pipeline", pipeline, "--records", str(args.records), "--files", "4", "--zst-files", "1",
                 "--order", "random", "--out", raw, "-q"])
            failures += check_zone(f"{name} {args.records:,}", batchrun, pipeline, raw, os.path.join(work, name, "generated"), env)
            if name in edges:
                failures += check_zone(f"{name} edge", batchrun, pipeline, edges[name], os.path.join(work, name, "edge"), env)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print(f"spark tables: {COUNTS['passed']} equal, {COUNTS['failed']} different")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
