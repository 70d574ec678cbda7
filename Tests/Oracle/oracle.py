#!/usr/bin/env python3
"""An independent, plain reading of docs/TRANSACTIONS.md: RAW -> CSV exports of every table.

Usage: oracle.py RAW OUTDIR
Written from the contract (and docs/PIPELINE-NOTES.md where the contract is silent),
without looking at batchrun's code. Small inputs only: everything is in memory.
"""
import os, re, sys, subprocess, json

REQUIRED = ["transaction_id", "customer_id", "product_id", "quantity", "unit_price",
            "currency", "status", "channel", "event_time", "updated_at"]
WS = b" \t"


def read_bytes(path):
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    with open(path, "rb") as f:
        return f.read()


def parse_csv(data):
    """Yields (line_number, raw_bytes, fields) where fields are bytes, unquoted, untrimmed-by-caller."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    n = len(data)
    i = 0
    line = 1
    while i < n:
        start = i
        start_line = line
        fields = []
        # parse one record
        while True:
            # field
            j = i
            while j < n and data[j:j+1] in (b" ", b"\t"):
                j += 1
            if j < n and data[j:j+1] == b'"':
                # quoted
                k = j + 1
                buf = bytearray()
                while True:
                    if k >= n:
                        break
                    c = data[k:k+1]
                    if c == b'"':
                        if k + 1 < n and data[k+1:k+2] == b'"':
                            buf += b'"'
                            k += 2
                            continue
                        k += 1
                        break
                    if c == b"\n":
                        line += 1
                    buf += c
                    k += 1
                # text after closing quote up to separator / line end kept
                while k < n and data[k:k+1] not in (b",", b"\n"):
                    buf += data[k:k+1]
                    k += 1
                val = bytes(buf)
                i = k
            else:
                k = i
                while k < n and data[k:k+1] not in (b",", b"\n"):
                    k += 1
                val = data[i:k]
                i = k
            if i < n and data[i:i+1] == b",":
                fields.append(val)
                i += 1
                continue
            # end of record: LF or EOF
            if val.endswith(b"\r"):  # a CR just before the line end (or the file's end) belongs to it
                val = val[:-1]
            fields.append(val)
            end = i
            if i < n:
                i += 1
                line += 1
            break
        raw = data[start:end]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if raw.strip(b" \t\r") == b"":
            continue
        yield start_line, raw, fields


def trim(b):
    return b.strip(WS)


def days_from_civil(y, m, d):
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return (y + (m <= 2), m, d)


def leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def dim(y, m):
    return [31, 29 if leap(y) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]


TS = re.compile(rb"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?([Zz]|[+-]\d{2}:\d{2})?$")
DATE = re.compile(rb"^(\d{4})-(\d{2})-(\d{2})$")
INT = re.compile(rb"^[+-]?[0-9]+$")
DEC = re.compile(rb"^([+-]?)([0-9]{1,15})(?:\.([0-9]{1,2}))?$")
FX = re.compile(rb"^([0-9]+)(?:\.([0-9]{1,6}))?$")
I64MIN, I64MAX = -(1 << 63), (1 << 63) - 1


def p_int(b):
    if not INT.match(b):
        return None
    v = int(b)
    return v if I64MIN <= v <= I64MAX else None


def p_dec(b):
    m = DEC.match(b)
    if not m:
        return None
    frac = (m.group(3) or b"").ljust(2, b"0")
    v = int(m.group(2)) * 100 + int(frac)
    return -v if m.group(1) == b"-" else v


def p_ts(b):
    m = TS.match(b)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
    if not (1 <= mo <= 12 and 1 <= d <= dim(y, mo) and h <= 23 and mi <= 59 and s <= 59):
        return None
    frac = m.group(7)
    us = int(frac.ljust(6, b"0")) if frac else 0
    off = 0
    z = m.group(8)
    if z and z not in (b"Z", b"z"):
        oh, om = int(z[1:3]), int(z[4:6])
        if om > 59 or oh * 60 + om > 18 * 60:
            return None
        off = (oh * 60 + om) * 60
        if z[0:1] == b"-":
            off = -off
    secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off
    return secs * 1_000_000 + us


def p_date(b):
    m = DATE.match(b)
    if not m:
        return None
    y, mo, d = (int(x) for x in m.groups())
    if not (1 <= mo <= 12 and 1 <= d <= dim(y, mo)):
        return None
    return days_from_civil(y, mo, d)


def f_dec(c):
    sign = "-" if c < 0 else ""
    c = abs(c)
    return f"{sign}{c // 100}.{c % 100:02d}"


def f_date(days):
    y, m, d = civil_from_days(days)
    return f"{y:04d}-{m:02d}-{d:02d}"


def f_ts(us):
    days, rem = divmod(us, 86400 * 1_000_000)
    secs, micro = divmod(rem, 1_000_000)
    h, r = divmod(secs, 3600)
    mi, s = divmod(r, 60)
    base = f"{f_date(days)}T{h:02d}:{mi:02d}:{s:02d}"
    return base + (f".{micro:06d}Z" if micro else "Z")


def csv_field(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, bytes):
        v = v.decode("utf-8", errors="surrogateescape")
    v = str(v)
    if any(c in v for c in ',"\r\n'):
        return '"' + v.replace('"', '""') + '"'
    return v


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(csv_field(x) for x in r) + "\n")


def fact_records(raw, folder, required):
    """The records of the fact files under RAW/folder (.csv and .csv.zst), files in bytewise
    order of their paths: (path, line, header index by lower-cased name, fields), fields
    None for a ragged or non-UTF-8 record. A file without a header or lacking a required
    column stops the oracle."""
    files = []
    for root, _, names in os.walk(os.path.join(raw, folder)):
        for nm in names:
            if nm.endswith(".csv") or nm.endswith(".csv.zst"):
                files.append(os.path.relpath(os.path.join(root, nm), raw))
    files.sort(key=lambda p: p.encode())
    for rel in files:
        it = parse_csv(read_bytes(os.path.join(raw, rel)))
        try:
            _, _, header = next(it)
        except StopIteration:
            raise SystemExit(f"{rel}: no header")
        idx = {}
        for i, h in enumerate(header):
            idx.setdefault(trim(h).lower().decode("utf-8", "replace"), i)
        for c in required:
            if c not in idx:
                raise SystemExit(f"{rel}: lacks {c}")
        for line, rawrec, fields in it:
            try:
                rawrec.decode("utf-8")
                utf8 = True
            except UnicodeDecodeError:
                utf8 = False
            yield rel, line, idx, (fields if len(fields) == len(header) and utf8 else None)


def read_reference(raw, name, cols):
    data = read_bytes(os.path.join(raw, name))
    it = parse_csv(data)
    _, _, header = next(it)
    idx = {}
    for i, h in enumerate(header):
        k = trim(h).lower()
        if k not in idx:
            idx[k] = i
    out = []
    for line, rawrec, fields in it:
        if len(fields) != len(header):
            raise SystemExit(f"{name}:{line}: ragged reference row")
        out.append((line, [trim(fields[idx[c.encode()]]) for c in cols]))
    return out


def main():
    raw, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    # reference
    customers = {}
    for line, (cid, name, country, seg, signup) in read_reference(raw, "customers.csv", ["customer_id", "name", "country", "segment", "signup_date"]):
        k = p_int(cid)
        assert k is not None, (line, cid)
        sd = p_date(signup) if signup else None
        customers[k] = (k, name or None, country or None, seg or None, None if sd is None else f_date(sd))
    products = {}
    for line, (pid, name, cat, lp) in read_reference(raw, "products.csv", ["product_id", "name", "category", "list_price"]):
        k = p_int(pid)
        assert k is not None
        products[k] = (k, name or None, cat or None, None if not lp else f_dec(p_dec(lp)))
    fx = {}
    for line, (cur, rate) in read_reference(raw, "fx_rates.csv", ["currency", "usd_per_unit"]):
        m = FX.match(rate)
        assert m, (line, rate)
        fx[bytes(cur.upper())] = int(m.group(1)) * 1_000_000 + int((m.group(2) or b"").ljust(6, b"0"))

    # bronze
    bronze = []  # dicts
    for rel, line, idx, fields in fact_records(raw, "transactions", REQUIRED):
        row = {"_source_file": rel, "_source_line": line, "malformed": False, "rescued": False}
        if fields is None:
            for c in REQUIRED:
                row[c] = None
            row["malformed"] = True
            row["rescued"] = True
            bronze.append(row)
            continue
        v = {c: trim(fields[idx[c]]) for c in REQUIRED}
        bad = False

        def typed(c, fn):
            nonlocal bad
            if v[c] == b"":
                return None
            r = fn(v[c])
            if r is None:
                bad = True
            return r
        row["transaction_id"] = v["transaction_id"] or None
        row["customer_id"] = typed("customer_id", p_int)
        row["product_id"] = typed("product_id", p_int)
        row["quantity"] = typed("quantity", p_int)
        row["unit_price"] = typed("unit_price", p_dec)
        row["currency"] = v["currency"].upper() or None
        row["status"] = v["status"].lower() or None
        row["channel"] = v["channel"].lower() or None
        row["event_time"] = typed("event_time", p_ts)
        row["updated_at"] = typed("updated_at", p_ts)
        row["rescued"] = bad
        bronze.append(row)
    for i, r in enumerate(bronze):
        r["order"] = i  # (seq=1, file, line) order
    write_csv(os.path.join(outdir, "bronze.csv"),
              REQUIRED + ["_source_file", "_source_line", "_rescued_is_null"],
              [[r["transaction_id"], r["customer_id"], r["product_id"], r["quantity"],
                None if r["unit_price"] is None else f_dec(r["unit_price"]), r["currency"], r["status"], r["channel"],
                None if r["event_time"] is None else f_ts(r["event_time"]),
                None if r["updated_at"] is None else f_ts(r["updated_at"]),
                r["_source_file"], r["_source_line"], not r["rescued"]] for r in bronze])

    # silver rules
    quarantine = []
    passed = []
    D18 = 10 ** 18 - 1
    for r in bronze:
        reason = None
        if r["malformed"]:
            reason = "malformed_row"
        elif r["transaction_id"] is None:
            reason = "missing_id"
        elif any(r[c] is None for c in ("customer_id", "product_id", "quantity", "unit_price")):
            reason = "bad_number"
        elif r["event_time"] is None or r["updated_at"] is None:
            reason = "bad_timestamp"
        elif r["quantity"] < 1 or r["quantity"] > 1000:
            reason = "bad_quantity"
        elif r["unit_price"] < 0:
            reason = "bad_price"
        elif r["status"] not in (b"completed", b"pending", b"cancelled", b"refunded"):
            reason = "bad_status"
        elif r["channel"] not in (b"web", b"mobile", b"store"):
            reason = "bad_channel"
        elif r["currency"] not in fx:
            reason = "unknown_currency"
        elif r["customer_id"] not in customers:
            reason = "unknown_customer"
        elif r["product_id"] not in products:
            reason = "unknown_product"
        if reason is None:
            amount = r["quantity"] * r["unit_price"]
            usd = (amount * fx[r["currency"]] + 500_000) // 1_000_000
            if amount > D18 or usd > D18:
                reason = "bad_price"
            else:
                r["amount"], r["amount_usd"] = amount, usd
        if reason:
            quarantine.append((r, reason))
        else:
            passed.append(r)
    write_csv(os.path.join(outdir, "quarantine.csv"),
              ["transaction_id", "_source_file", "_source_line", "reason"],
              [[r["transaction_id"], r["_source_file"], r["_source_line"], reason] for r, reason in quarantine])
    best = {}
    for r in passed:
        k = r["transaction_id"]
        b = best.get(k)
        if b is None or (r["updated_at"], r["order"]) > (b["updated_at"], b["order"]):
            best[k] = r
    silver = sorted(best.values(), key=lambda r: (r["event_time"] // 86_400_000_000, r["event_time"], r["transaction_id"]))
    counts = {"bronze": len(bronze), "quarantined": len(quarantine), "duplicates_removed": len(passed) - len(silver), "silver": len(silver)}
    reasons = {}
    for _, reason in quarantine:
        reasons[reason] = reasons.get(reason, 0) + 1
    counts["reasons"] = reasons
    with open(os.path.join(outdir, "counts.json"), "w") as f:
        json.dump(counts, f, sort_keys=True)

    def silver_row(r):
        return [r["transaction_id"], r["customer_id"], r["product_id"], r["quantity"], f_dec(r["unit_price"]), r["currency"],
                f_dec(r["amount"]), f_dec(r["amount_usd"]), r["status"], r["channel"], f_ts(r["event_time"]), f_ts(r["updated_at"]),
                f_date(r["event_time"] // 86_400_000_000)]
    write_csv(os.path.join(outdir, "silver.csv"),
              ["transaction_id", "customer_id", "product_id", "quantity", "unit_price", "currency", "amount", "amount_usd",
               "status", "channel", "event_time", "updated_at", "event_date"], [silver_row(r) for r in silver])

    # gold
    days = [r["event_time"] // 86_400_000_000 for r in silver]
    dd = []
    if days:
        for z in range(min(days), max(days) + 1):
            y, m, d = civil_from_days(z)
            dow = (z + 3) % 7 + 1  # 1970-01-01 was a Thursday
            # ISO week: the Thursday of this week decides the year
            thu = z - dow + 4
            ty, _, _ = civil_from_days(thu)
            week = (thu - days_from_civil(ty, 1, 1)) // 7 + 1
            dd.append([y * 10000 + m * 100 + d, f_date(z), y, (m - 1) // 3 + 1, m, d, dow, week, dow >= 6])
    write_csv(os.path.join(outdir, "dim_date.csv"),
              ["date_key", "date", "year", "quarter", "month", "day", "day_of_week", "iso_week", "is_weekend"], dd)
    write_csv(os.path.join(outdir, "dim_customer.csv"), ["customer_id", "name", "country", "segment", "signup_date"],
              [list(customers[k]) for k in sorted(customers)])
    write_csv(os.path.join(outdir, "dim_product.csv"), ["product_id", "name", "category", "list_price"],
              [list(products[k]) for k in sorted(products)])

    def date_key(r):
        y, m, d = civil_from_days(r["event_time"] // 86_400_000_000)
        return y * 10000 + m * 100 + d
    fact = sorted(silver, key=lambda r: (r["event_time"], r["transaction_id"]))
    write_csv(os.path.join(outdir, "fact_transactions.csv"),
              ["transaction_id", "date_key", "customer_id", "product_id", "quantity", "unit_price", "amount", "currency",
               "amount_usd", "status", "channel", "event_time"],
              [[r["transaction_id"], date_key(r), r["customer_id"], r["product_id"], r["quantity"], f_dec(r["unit_price"]),
                f_dec(r["amount"]), r["currency"], f_dec(r["amount_usd"]), r["status"], r["channel"], f_ts(r["event_time"])] for r in fact])
    ds = {}
    for r in silver:
        if r["status"] not in (b"completed", b"refunded"):
            continue
        cat = products[r["product_id"]][2]
        k = (date_key(r), cat, r["channel"])
        g = ds.setdefault(k, [0, 0, 0, 0, 0])
        if r["status"] == b"completed":
            g[0] += 1; g[1] += r["quantity"]; g[2] += r["amount_usd"]
        else:
            g[3] += 1; g[4] += r["amount_usd"]
    keys = sorted(ds, key=lambda k: (k[0], (0, b"") if k[1] is None else (1, k[1]), k[2]))
    write_csv(os.path.join(outdir, "daily_sales.csv"),
              ["date_key", "category", "channel", "orders", "units", "revenue_usd", "refunds", "refunded_usd"],
              [[k[0], k[1], k[2], ds[k][0], ds[k][1], f_dec(ds[k][2]), ds[k][3], f_dec(ds[k][4])] for k in keys])
    cm = {}
    for r in silver:
        if r["status"] != b"completed":
            continue
        y, m, _ = civil_from_days(r["event_time"] // 86_400_000_000)
        k = (r["customer_id"], y, m)
        g = cm.get(k)
        if g is None:
            cm[k] = [1, r["amount_usd"], r["event_time"], r["event_time"]]
        else:
            g[0] += 1; g[1] += r["amount_usd"]; g[2] = min(g[2], r["event_time"]); g[3] = max(g[3], r["event_time"])
    write_csv(os.path.join(outdir, "customer_monthly.csv"),
              ["customer_id", "year", "month", "orders", "revenue_usd", "first_purchase_at", "last_purchase_at"],
              [[k[0], k[1], k[2], g[0], f_dec(g[1]), f_ts(g[2]), f_ts(g[3])] for k, g in sorted(cm.items())])


if __name__ == "__main__":
    main()
