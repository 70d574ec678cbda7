"""The end of `make test`: one line `N passed, N failed` per suite and one for all,
read from the logs the suites wrote (the logs keep every detail; a failing suite's
failures are shown here too)."""
import os
import re
import sys


def swift_testing(path):
    """Tests passed and failed in a Swift Testing log."""
    text = open(path, errors="replace").read()
    run = re.findall(r"Test run with (\d+) tests? in \d+ suites? (passed|failed)", text)
    failed_tests = set(re.findall(r"✘ Test (\S+?\(.*?\)) (?:failed|recorded)", text))
    total = int(run[-1][0]) if run else 0
    shown = [l for l in text.splitlines() if l.startswith("✘") or l.startswith("↳ ") and "Expectation" in l]
    if not run:  # the runner did not finish: count it as one failure
        return 0, 1, text.splitlines()[-20:]
    return total - len(failed_tests), len(failed_tests), shown


def plain(path, pattern):
    text = open(path, errors="replace").read()
    m = re.findall(pattern, text)
    return (int(m[-1][0]), int(m[-1][1])) if m else None


def main(logs):
    rows = []
    details = []
    for name, log in [("unit and CLI tests", "tests.log"), ("forced-spill tests", "force-spill.log")]:
        path = os.path.join(logs, log)
        if not os.path.exists(path):
            rows.append((name, 0, 1))
            continue
        p, f, shown = swift_testing(path)
        rows.append((name, p, f))
        if f:
            details += [f"{name} ({path}):"] + shown[:40]
    oracle = os.path.join(logs, "oracle.log")
    counts = plain(oracle, r"oracle tables: (\d+) passed, (\d+) failed") if os.path.exists(oracle) else None
    rows.append(("oracle tables", *(counts or (0, 1))))
    if not counts or counts[1]:
        details += [f"oracle ({oracle}):"] + open(oracle, errors="replace").read().splitlines()[-30:] if os.path.exists(oracle) else []
    parquet = os.path.join(logs, "parquet.log")
    counts = plain(parquet, r"parquet and delta reads: (\d+) passed, (\d+) failed") if os.path.exists(parquet) else None
    rows.append(("parquet and delta reads", *(counts or (0, 1))))
    if not counts or counts[1]:
        details += [f"parquet ({parquet}):"] + open(parquet, errors="replace").read().splitlines()[-30:] if os.path.exists(parquet) else []
    counts = plain(parquet, r"published lake checks: (\d+) passed, (\d+) failed") if os.path.exists(parquet) else None
    rows.append(("published lake checks", *(counts or (0, 1))))
    smoke = os.path.join(logs, "bench-smoke.log")
    if os.path.exists(smoke):
        text = open(smoke, errors="replace").read()
        failed = len(re.findall(r"failed with", text))
        ran = text.count("╒")
        broken = "error:" in text and ran == 0
        rows.append(("benchmarks at smoke size", ran, failed + (1 if broken else 0)))
        if failed or broken:
            details += [f"benchmarks ({smoke}):"] + [l for l in text.splitlines() if "failed with" in l or "error:" in l][:20]
    else:
        rows.append(("benchmarks at smoke size", 0, 1))
    for line in details:
        print(line)
    print(f"logs: {logs}")
    for name, p, f in rows:
        print(f"{name}: {p} passed, {f} failed")
    passed, failed = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"all: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".build/test-logs"))
