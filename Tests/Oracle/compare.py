#!/usr/bin/env python3
"""Cell-by-cell check of batchrun against oracle.py, an independent reading of docs/TRANSACTIONS.md,
and against sensors_oracle.py, one of pipelines/sensors.yaml.

    compare.py --batchrun PATH [--work DIR]

Landing zones:
- zones/edge: written by hand, not by batchrun's generator: a BOM, CRLF and lone CRs,
  reordered, repeated, padded and extra header columns, quoted fields with commas,
  quotes and line ends, text after a closing quote, blank and blank-looking lines, a
  record without a line end, ragged records both ways, a record that is not UTF-8,
  timestamps with every zone form and every calendar edge (leap days, 24:00, +18:00
  against +18:01, seven fraction digits), numbers at the int64 and decimal(18,2)
  edges, each quarantine reason, versions with equal updated_at in three files whose
  order is bytewise (A/ before b.csv before sub/), a .csv.zst file, an empty file, and
  reference files with repeated keys, padded fields and names holding commas,
  quotes, newlines and non-ASCII text.
- a generated zone of 20,000 records (3 files, one zstd-compressed).
- for pipelines/sensors.yaml: its hand-written zone (Tests/Pipelines/sensors) and two
  zones of 20,000 records that `generate --pipeline` makes from the file, in time and
  in random order.

Each zone runs under several settings (roomy; 16MiB with 1,000-row batches on one
thread; 16MiB, the least documented, with 7-row batches on two), and every table is compared with the oracle's:
silver and the gold tables byte for byte, bronze and quarantine on the columns the
oracle computes (all but _ingested_at, and _rescued only as null or not: its text is a
documented choice of batchrun's, docs/PIPELINE-NOTES.md). Exit 1 on any difference,
showing the first differing rows.
"""
import argparse, csv, datetime, decimal, os, shutil, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TABLES = ["bronze", "silver", "quarantine", "dim_date", "dim_customer", "dim_product",
          "fact_transactions", "daily_sales", "customer_monthly"]
SETTINGS = [[], ["--memory-limit", "16MiB", "--batch-rows", "1000", "--threads", "1"],
            ["--memory-limit", "16MiB", "--batch-rows", "7", "--threads", "2"]]


def rows(path):
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        return list(csv.reader(f))


def project(t, mine, ref):
    """The columns of batchrun's bronze or quarantine export that the oracle computes."""
    h = mine[0]
    if t == "bronze":
        cols = ref[0][:-1]
        out = [ref[0]] + [[r[h.index(c)] for c in cols] + ["true" if r[h.index("_rescued")] == "" else "false"] for r in mine[1:]]
        return out
    return [[r[h.index(c)] for c in ref[0]] for r in mine]


# The second pipeline: its file, its oracle and the tables compared.
SENSORS = {"pipeline": os.path.join(HERE, "..", "..", "pipelines", "sensors.yaml"), "oracle": "sensors_oracle.py",
           "tables": ["silver", "quarantine", "dim_site", "dim_day", "readings_by_month", "site_daily"]}


def compare_zone(batchrun, raw, work, settings, pipeline=None):
    oracle_out = os.path.join(work, "oracle")
    subprocess.run([sys.executable, os.path.join(HERE, pipeline["oracle"] if pipeline else "oracle.py"), raw, oracle_out], check=True)
    tables = pipeline["tables"] if pipeline else TABLES
    pipeline_flags = ["--pipeline", pipeline["pipeline"]] if pipeline else []
    failures = 0
    for flags in settings:
        lake = os.path.join(work, "lake")
        out = os.path.join(work, "export")
        shutil.rmtree(lake, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        label = f"{os.path.basename(raw.rstrip('/'))} {' '.join(flags) or '(default flags)'}"
        r = subprocess.run([batchrun, "run", "--raw", raw, "--lake", lake, "--progress", "never"] + pipeline_flags + flags,
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{label}: batchrun run exited {r.returncode}\n{r.stderr[-3000:]}")
            failures += 1
            continue
        same = []
        for t in tables:
            e = subprocess.run([batchrun, "export", lake, t, "--format", "csv", "--out", out], capture_output=True, text=True)
            if e.returncode != 0:
                print(f"{label}: export {t} exited {e.returncode}: {e.stderr}")
                failures += 1
                continue
            mine_path, ref_path = os.path.join(out, t + ".csv"), os.path.join(oracle_out, t + ".csv")
            mine, ref = rows(mine_path), rows(ref_path)
            if t in ("bronze", "quarantine"):
                mine = project(t, mine, ref)
            elif open(mine_path, "rb").read() != open(ref_path, "rb").read():
                if mine == ref:
                    print(f"{label}: {t}: the same cells in different bytes")
                    failures += 1
                    continue
            if mine == ref:
                same.append(f"{t} {len(ref) - 1}")
                continue
            failures += 1
            print(f"{label}: {t}: DIFFERENT ({len(mine) - 1} rows, oracle {len(ref) - 1})")
            show_differences(mine, ref, ("batchrun", "oracle"), 5)
        print(f"{label}: same as the oracle: {', '.join(same)}")
        COUNTS["passed"] += len(same)
    COUNTS["failed"] += failures
    return failures


def text(v):
    """A value in batchrun's CSV text form (docs/PIPELINE-NOTES.md)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        base = v.strftime("%Y-%m-%dT%H:%M:%S")
        return base + (f".{v.microsecond:06d}Z" if v.microsecond else "Z")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, decimal.Decimal):
        return str(v)
    return str(v)


def show_differences(a, b, names, most):
    """Prints the first `most` rows where the lists of rows `a` and `b` differ."""
    shown = 0
    width = max(len(n) for n in names)
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        if x != y:
            print(f"  row {i}\n    {names[0].ljust(width)} {x}\n    {names[1].ljust(width)} {y}")
            shown += 1
            if shown == most:
                break


# Tables compared equal and differences, over every zone and setting.
COUNTS = {"passed": 0, "failed": 0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batchrun", required=True)
    ap.add_argument("--work")
    args = ap.parse_args()
    batchrun = os.path.abspath(args.batchrun)
    work = args.work or tempfile.mkdtemp(prefix="batchrun-oracle-")
    failures = 0
    try:
        failures += compare_zone(batchrun, os.path.join(HERE, "zones", "edge"), os.path.join(work, "edge"), SETTINGS)
        generated = os.path.join(work, "generated")
        subprocess.run([batchrun, "generate", "--records", "20000", "--files", "3", "--zst-files", "1", "--seed", "11",
                        "--out", generated], check=True, capture_output=True)
        failures += compare_zone(batchrun, generated, os.path.join(work, "generated-run"), SETTINGS[:2])
        # The same kind of zone with ids and event times scattered over the files.
        scattered = os.path.join(work, "generated-random")
        subprocess.run([batchrun, "generate", "--records", "20000", "--files", "3", "--seed", "12", "--order", "random",
                        "--out", scattered], check=True, capture_output=True)
        failures += compare_zone(batchrun, scattered, os.path.join(work, "generated-random-run"), SETTINGS[1:2])
        # pipelines/sensors.yaml: its hand-written zone, and zones the generator makes from the file.
        failures += compare_zone(batchrun, os.path.join(HERE, "..", "Pipelines", "sensors"), os.path.join(work, "sensors-edge"),
                                 SETTINGS, SENSORS)
        for order, seed in (("time", "21"), ("random", "22")):
            zone = os.path.join(work, "sensors-" + order)
            subprocess.run([batchrun, "generate", "--pipeline", SENSORS["pipeline"], "--records", "20000", "--files", "3",
                            "--zst-files", "1", "--seed", seed, "--order", order, "--out", zone], check=True, capture_output=True)
            failures += compare_zone(batchrun, zone, zone + "-run", SETTINGS[:2], SENSORS)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"oracle: {failures} difference(s)", file=sys.stderr)
    else:
        print("oracle: every table of every zone and setting is the same as the oracle's")
    print(f"oracle tables: {COUNTS['passed']} passed, {COUNTS['failed']} failed")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
