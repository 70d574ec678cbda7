#!/usr/bin/env python3
"""The price of a cluster: the PySpark job `batchrun spark` writes, in local[2], next to
batchrun on the same landing zone, for each pipeline of pipelines/.

    spark_bench.py --batchrun PATH [--records N] [--runs K] [--work DIR] [--only NAME]

For each pipeline, `generate --pipeline FILE --records N --order random` (default 1M)
makes one landing zone; then batchrun's `run` and the job alternate K times (default 3),
each into a fresh output folder. Reported: the median wall time and the median peak
memory (with their ranges) of the whole process tree (the sum of the resident sets of the command and every process
it started: for Spark, the driver JVM and its Python workers), sampled every 100 ms.
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from spark_check import spark_env  # noqa: E402


def tree_rss(pid):
    """Resident bytes of `pid` and all its descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except OSError:
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            continue
    return total


def measured(cmd, env=None):
    """(seconds, peak bytes of the process tree) of a command that must succeed."""
    started = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peak = 0
    while p.poll() is None:
        peak = max(peak, tree_rss(p.pid))
        time.sleep(0.1)
    err = p.stderr.read().decode("utf-8", "replace")
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{err[-3000:]}")
    return time.time() - started, peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batchrun", required=True)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work")
    ap.add_argument("--only", help="one pipeline's name (transactions, sensors)")
    args = ap.parse_args()
    batchrun = os.path.abspath(args.batchrun)
    work = args.work or tempfile.mkdtemp(prefix="batchrun-spark-bench-")
    env = spark_env()
    rows = []
    try:
        for file in sorted(os.listdir(os.path.join(ROOT, "pipelines"))):
            pipeline = os.path.join(ROOT, "pipelines", file)
            name = file[:-len(".yaml")]
            if args.only and name != args.only:
                continue
            raw, job = os.path.join(work, name, "raw"), os.path.join(work, name, "job")
            subprocess.run([batchrun, "generate", "--pipeline", pipeline, "--records", str(args.records), "--order", "random",
                            "--out", raw, "-q"], check=True)
            subprocess.run([batchrun, "spark", pipeline, "--out", job, "-q"], check=True)
            times = {"batchrun": [], "spark": []}
            peaks = {"batchrun": [], "spark": []}
            for k in range(args.runs):
                out = os.path.join(work, name, "out")
                shutil.rmtree(out, ignore_errors=True)
                s, m = measured([batchrun, "run", "--pipeline", pipeline, "--raw", raw, "--lake", out, "-q"])
                times["batchrun"].append(s)
                peaks["batchrun"].append(m)
                shutil.rmtree(out, ignore_errors=True)
                s, m = measured(["spark-submit", "--master", "local[2]", "--driver-memory", "2g", os.path.join(job, name + "_job.py"),
                                 "--raw", raw, "--out", out], env=env)
                times["spark"].append(s)
                peaks["spark"].append(m)
                print(f"{name} run {k + 1}: batchrun {times['batchrun'][-1]:.1f} s {peaks['batchrun'][-1] / 2**20:.0f} MiB, "
                      f"spark {times['spark'][-1]:.1f} s {peaks['spark'][-1] / 2**20:.0f} MiB", flush=True)
            for who in ("batchrun", "spark"):
                rows.append((name, who, times[who], peaks[who]))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.records:,} records, median of {args.runs}; peak memory of the whole process tree")
    print(f"{'pipeline':<14}{'engine':<22}{'time (range)':>24}{'peak memory (range)':>30}")
    for name, who, s, m in rows:
        label = "batchrun run" if who == "batchrun" else "Spark job, local[2]"
        mib = [x / 2**20 for x in m]
        print(f"{name:<14}{label:<22}{statistics.median(s):>9.1f} s ({min(s):.1f}-{max(s):.1f})"
              f"{statistics.median(mib):>12.0f} MiB ({min(mib):.0f}-{max(mib):.0f})")


if __name__ == "__main__":
    main()
