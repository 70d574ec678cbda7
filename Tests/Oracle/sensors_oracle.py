#!/usr/bin/env python3
"""An independent, plain reading of pipelines/sensors.yaml's rules: RAW -> CSV exports of
silver, quarantine and the gold tables.

Usage: sensors_oracle.py RAW OUTDIR
Written from the pipeline file and docs/PIPELINES.md (the CSV dialect, the types'
grammars, nulls, dedup ties), without looking at batchrun's code; the CSV reading and
the calendar math are oracle.py's. Small inputs only: everything is in memory.
"""
import os, re, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle import (fact_records, trim, p_int, p_ts, p_date, f_date, f_ts, civil_from_days,  # noqa: E402
                    write_csv, read_reference)

COLUMNS = ["device_id", "sequence", "recorded_at", "received_at", "temperature", "humidity", "battery"]
REQUIRED = COLUMNS[:-1]
DAY = 86_400_000_000
FLOAT = re.compile(rb"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
DEC42 = re.compile(rb"^([+-]?)([0-9]{1,2})(?:\.([0-9]{1,2}))?$")


def p_float(b):
    return float(b) if FLOAT.match(b) else None


def p_int32(b):
    v = p_int(b)
    return v if v is not None and -(1 << 31) <= v < (1 << 31) else None


def p_battery(b):
    """decimal(4,2) as hundredths."""
    m = DEC42.match(b)
    if not m:
        return None
    v = int(m.group(2)) * 100 + int((m.group(3) or b"").ljust(2, b"0"))
    return -v if m.group(1) == b"-" else v


def f_float(x):
    return repr(x)


def f_cents(c):
    sign = "-" if c < 0 else ""
    return f"{sign}{abs(c) // 100}.{abs(c) % 100:02d}"


def avg6(total, n, scale=2):
    """total/n, total in units of 10^-scale, as a decimal of 6 places, half away from zero."""
    num = abs(total) * 10 ** (6 - scale)
    q, r = divmod(num, n)
    if 2 * r >= n:
        q += 1
    sign = "-" if total < 0 and q else ""
    return f"{sign}{q // 1_000_000}.{q % 1_000_000:06d}"


def main():
    raw, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    devices = {}
    for line, (did, site, model, installed) in read_reference(raw, "devices.csv", ["device_id", "site_id", "model", "installed_on"]):
        key = did.upper()
        assert key, (line, did)
        devices[key] = (p_int(site) if site else None, model or None, p_date(installed) if installed else None)
    sites = {}
    for line, (sid, name, region) in read_reference(raw, "sites.csv", ["site_id", "site_name", "region"]):
        k = p_int(sid)
        assert k is not None, (line, sid)
        sites[k] = (name or None, region.lower() or None)

    bronze = []
    for rel, line, idx, fields in fact_records(raw, "readings", REQUIRED):
        row = {"_source_file": rel, "_source_line": line, "malformed": fields is None}
        if fields is None:
            row.update({c: None for c in COLUMNS})
            bronze.append(row)
            continue
        v = {c: (trim(fields[idx[c]]) if c in idx else b"") for c in COLUMNS}

        def typed(c, fn):
            return fn(v[c]) if v[c] else None
        row["device_id"] = v["device_id"].upper() or None
        row["sequence"] = typed("sequence", p_int)
        row["recorded_at"] = typed("recorded_at", p_ts)
        row["received_at"] = typed("received_at", p_ts)
        row["temperature"] = typed("temperature", p_float)
        row["humidity"] = typed("humidity", p_int32)
        row["battery"] = typed("battery", p_battery)
        bronze.append(row)
    for i, r in enumerate(bronze):
        r["order"] = i

    def between(x, lo, hi):
        return None if x is None else lo <= x <= hi

    quarantine, passed = [], []
    for r in bronze:
        reason = None
        if r["malformed"]:
            reason = "malformed_row"
        elif r["device_id"] is None or r["sequence"] is None:
            reason = "missing_key"
        elif r["recorded_at"] is None or r["received_at"] is None or not r["received_at"] >= r["recorded_at"]:
            reason = "bad_time"
        elif not (between(r["temperature"], -60, 80) and between(r["humidity"], 0, 100)):
            reason = "bad_reading"
        elif not (r["battery"] is None or between(r["battery"], 0, 500)):
            reason = "bad_battery"
        elif r["device_id"] not in devices:
            reason = "unknown_device"
        (quarantine.append((r, reason)) if reason else passed.append(r))
    write_csv(os.path.join(outdir, "quarantine.csv"), ["device_id", "_source_file", "_source_line", "reason"],
              [[r["device_id"], r["_source_file"], r["_source_line"], reason] for r, reason in quarantine])

    # One row per (device_id, sequence): the least received_at, ties to the row ingested last.
    best = {}
    for r in passed:
        k = (r["device_id"], r["sequence"])
        b = best.get(k)
        if b is None or (r["received_at"], -r["order"]) < (b["received_at"], -b["order"]):
            best[k] = r
    silver = sorted(best.values(), key=lambda r: (r["received_at"] // DAY, r["received_at"], r["device_id"], r["sequence"]))
    for r in silver:
        site = devices[r["device_id"]][0]
        r["site_id"] = site
        region = sites[site][1] if site in sites else None
        r["region"] = region if region is not None else b"unknown"
        r["received_date"] = r["received_at"] // DAY
    write_csv(os.path.join(outdir, "silver.csv"),
              ["device_id", "sequence", "recorded_at", "received_at", "temperature", "humidity", "battery", "site_id", "region",
               "received_date"],
              [[r["device_id"], r["sequence"], f_ts(r["recorded_at"]), f_ts(r["received_at"]), f_float(r["temperature"]),
                r["humidity"], None if r["battery"] is None else f_cents(r["battery"]), r["site_id"], r["region"],
                f_date(r["received_date"])] for r in silver])

    write_csv(os.path.join(outdir, "dim_site.csv"), ["site_id", "site_name", "region"],
              [[k, sites[k][0], sites[k][1]] for k in sorted(sites)])
    days = [r["received_date"] for r in silver]
    rows = []
    if days:
        for z in range(min(days), max(days) + 1):
            y, m, d = civil_from_days(z)
            rows.append([y * 10000 + m * 100 + d, f_date(z), (z + 3) % 7 + 1])
    write_csv(os.path.join(outdir, "dim_day.csv"), ["day_key", "date", "weekday"], rows)
    by_month = sorted(silver, key=lambda r: (civil_from_days(r["received_date"])[:2], r["received_at"], r["device_id"], r["sequence"]))
    write_csv(os.path.join(outdir, "readings_by_month.csv"),
              ["device_id", "sequence", "received_at", "temperature", "humidity", "region"],
              [[r["device_id"], r["sequence"], f_ts(r["received_at"]), f_float(r["temperature"]), r["humidity"], r["region"]]
               for r in by_month])

    groups = {}
    for r in silver:
        k = (r["site_id"], r["received_date"])
        g = groups.setdefault(k, {"n": 0, "hmin": None, "hmax": None, "bsum": 0, "bn": 0, "low": 0, "late": 0, "tmax": None})
        g["hsum"] = g.get("hsum", 0) + r["humidity"]
        t = r["temperature"]
        g["tmax"] = t if g["tmax"] is None else max(g["tmax"], t)
        g["n"] += 1
        h = r["humidity"]
        g["hmin"] = h if g["hmin"] is None else min(g["hmin"], h)
        g["hmax"] = h if g["hmax"] is None else max(g["hmax"], h)
        if r["battery"] is not None:
            g["bsum"] += r["battery"]
            g["bn"] += 1
            if r["battery"] < 330:
                g["low"] += 1
        if r["received_date"] > r["recorded_at"] // DAY:
            g["late"] += 1
    keys = sorted(groups, key=lambda k: ((0, 0) if k[0] is None else (1, k[0]), k[1]))
    write_csv(os.path.join(outdir, "site_daily.csv"),
              ["site_id", "site_name", "day", "readings", "min_humidity", "max_humidity", "avg_battery", "low_battery",
               "received_next_day", "max_temperature", "avg_humidity"],
              [[k[0], sites[k[0]][0] if k[0] in sites else None, f_date(k[1]), g["n"], g["hmin"], g["hmax"],
                avg6(g["bsum"], g["bn"]) if g["bn"] else None, g["low"], g["late"], f_float(g["tmax"]), avg6(g["hsum"], g["n"], 0)]
               for k, g in ((k, groups[k]) for k in keys)])


if __name__ == "__main__":
    main()
