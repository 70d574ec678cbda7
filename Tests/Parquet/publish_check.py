#!/usr/bin/env python3
"""The published lake (`run --publish DIR`), read by deltalake.

    publish_check.py --batchrun PATH [--work DIR] [--kills N]

1. A sensors landing zone arrives file by file (time order, so a new file touches only
   the latest days). After each run, every published table equals the lake's CSV
   export, cell by cell, and silver's later versions keep the files of the partitions
   whose rows did not change.
2. Crashes: runs that publish are killed with SIGKILL at random moments, many times,
   each with one more file to take in. After each kill every published table opens in
   deltalake at a committed version whose rows are exactly those its log's `add`
   actions count, every file of it readable; a final run then publishes the lake whole.
Exit 1 on any difference.
"""
import argparse, json, os, random, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_exports import csv_rows, text, compare  # noqa: E402
from deltalake import DeltaTable  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SENSORS = os.path.join(ROOT, "pipelines", "sensors.yaml")
TABLES = ["silver", "quarantine", "dim_site", "dim_day", "readings_by_month", "site_daily"]
COUNTS = {"passed": 0, "failed": 0}


def ok(flag, what):
    COUNTS["passed" if flag else "failed"] += 1
    if not flag:
        print("FAILED: " + what)
    return flag


def published_equals_lake(batchrun, lake, pub, work):
    for t in TABLES:
        out = os.path.join(work, "csv")
        subprocess.run([batchrun, "export", lake, t, "--format", "csv", "--out", out, "-q"], check=True)
        header, expected = csv_rows(os.path.join(out, t + ".csv"))
        rows = DeltaTable(os.path.join(pub, t)).to_pyarrow_table().to_pylist()
        ok(compare(f"published {t}", header, expected, [[text(r[h]) for h in header] for r in rows], ordered=False)
           and len(rows) == len(expected), f"published {t} equals the lake's")


def log_rows(folder, version):
    """Rows of `version` by its log: numRecords of the live adds."""
    live = {}
    for v in range(version + 1):
        with open(os.path.join(folder, "_delta_log", f"{v:020d}.json")) as f:
            for line in f:
                a = json.loads(line)
                if "add" in a:
                    live[a["add"]["path"]] = json.loads(a["add"]["stats"])["numRecords"]
                elif "remove" in a:
                    live.pop(a["remove"]["path"], None)
    return sum(live.values())


def run(batchrun, raw, lake, pub, **kw):
    return subprocess.Popen([batchrun, "run", "--pipeline", SENSORS, "--raw", raw, "--lake", lake, "--publish", pub,
                             "--progress", "never", "-q"], **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batchrun", required=True)
    ap.add_argument("--work")
    ap.add_argument("--kills", type=int, default=12)
    args = ap.parse_args()
    batchrun = os.path.abspath(args.batchrun)
    work = args.work or tempfile.mkdtemp(prefix="batchrun-publish-")
    files = 4 + args.kills
    try:
        zone = os.path.join(work, "zone")
        subprocess.run([batchrun, "generate", "--pipeline", SENSORS, "--records", str(1500 * files), "--files", str(files),
                        "--order", "time", "--seed", "9", "--out", zone, "-q"], check=True)
        raw, lake, pub = os.path.join(work, "raw"), os.path.join(work, "lake"), os.path.join(work, "pub")
        os.makedirs(os.path.join(raw, "readings"))
        for ref in ("devices.csv", "sites.csv"):
            shutil.copy(os.path.join(zone, ref), raw)
        parts = sorted(os.listdir(os.path.join(zone, "readings")))

        def arrive(k):
            shutil.copy(os.path.join(zone, "readings", parts[k]), os.path.join(raw, "readings", parts[k]))

        # 1. File by file; silver's partitions (by received_date) before and after the last.
        def silver_days():
            out = os.path.join(work, "days")
            subprocess.run([batchrun, "export", lake, "silver", "--format", "csv", "--out", out, "-q"], check=True)
            header, rows = csv_rows(os.path.join(out, "silver.csv"))
            days = {}
            for r in rows:
                days.setdefault(r[header.index("received_date")], []).append(r)
            return days

        before = {}
        for k in range(3):
            if k == 2:
                before = silver_days()
            arrive(k)
            ok(run(batchrun, raw, lake, pub).wait() == 0, f"run {k} publishes")
            published_equals_lake(batchrun, lake, pub, work)
        after = silver_days()
        silver = DeltaTable(os.path.join(pub, "silver"))
        with open(os.path.join(pub, "silver", "_delta_log", f"{silver.version():020d}.json")) as f:
            actions = [json.loads(line) for line in f]
        added = {a["add"]["partitionValues"]["received_date"] for a in actions if "add" in a}
        removed = {a["remove"]["path"].split("/")[0].split("=")[1] for a in actions if "remove" in a}
        changed = {d for d in after if before.get(d) != after[d]}
        ok(silver.version() == 2 and added == changed and removed == {d for d in changed if d in before} and len(added) < len(after),
           f"silver v{silver.version()} rewrote exactly the partitions whose rows changed: {sorted(added)} for {sorted(changed)}, removed {sorted(removed)}")

        # 2. Killed runs, each with one more file.
        rng = random.Random(7)
        for k in range(3, files - 1):
            arrive(k)
            p = run(batchrun, raw, lake, pub, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.05, 2.5))
            p.send_signal(signal.SIGKILL)
            p.wait()
            for t in TABLES:
                folder = os.path.join(pub, t)
                if not os.path.isdir(os.path.join(folder, "_delta_log")):
                    continue
                table = DeltaTable(folder)
                rows = table.to_pyarrow_table().num_rows
                ok(rows == log_rows(folder, table.version()), f"after kill {k}: {t} v{table.version()} has the rows its log counts ({rows})")
        arrive(files - 1)
        ok(run(batchrun, raw, lake, pub).wait() == 0, "a final run publishes")
        published_equals_lake(batchrun, lake, pub, work)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print(f"published lake checks: {COUNTS['passed']} passed, {COUNTS['failed']} failed")
    if COUNTS["failed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
