/// The runtime every job `batchrun spark` writes begins with: the landing zone's CSV
/// dialect, field grammars, `_rescued` and lineage as batchrun reads them
/// (docs/PIPELINE-NOTES.md), and the operators the pipeline's part calls (lookup, x in R,
/// route, dedup, calendar, write). Python, held here so the binary carries it.
enum SparkRuntime {
    static let text = #"""
# ---------------------------------------------------------------------------------------
# The runtime: the same in every job batchrun writes. It reads the landing zone as
# batchrun does (its CSV dialect, field grammars, `_rescued` and lineage: batchrun's
# docs/PIPELINE-NOTES.md and docs/PIPELINES.md) and writes tables as its lake holds them.
# ---------------------------------------------------------------------------------------
import argparse
import datetime
import io
import re
import sys
import time
from decimal import Decimal

from pyspark import StorageLevel
from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

# Session settings that change results: UTC dates and times, errors instead of wrapped or
# nulled numbers, exact decimal scales, timestamps written as UTC microseconds, dates
# written in the proleptic Gregorian calendar as batchrun writes them.
SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    "spark.sql.caseSensitive": "true",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    "spark.sql.sources.partitionOverwriteMode": "static",
}

LINEAGE = ["_source_file", "_source_line", "_ingest_seq", "_ingested_at", "_rescued"]
# Bronze's order, and the order ties are broken in: the row ingested last is the greatest.
INGESTED = ["_ingest_seq", "_source_file", "_source_line"]


class PipelineError(Exception):
    """A landing zone that batchrun would refuse too: the message names the file."""


def refusal(error):
    """The message of a PipelineError, raised here or in an executor (where Spark wraps it
    in an error of its own); None for any other error."""
    if isinstance(error, PipelineError):
        return str(error)
    text = str(error)
    if "PipelineError: " not in text:
        return None
    return text.split("PipelineError: ", 1)[1].splitlines()[0]


class Column:
    def __init__(self, name, type, case="as-is", required=True, signed=True):
        self.name, self.type, self.case, self.required, self.signed = name, type, case, required, signed


class Feed:
    def __init__(self, name, files, columns, key=None):
        self.name, self.files, self.columns, self.key = name, files, columns, key


# --- field grammars (docs/PIPELINES.md, "Columns of a feed") ----------------------------

_INT = re.compile(rb"[+-]?[0-9]+")
_FLOAT = re.compile(rb"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_DATE = re.compile(rb"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIMESTAMP = re.compile(rb"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
                        rb"(?:\.([0-9]{1,6}))?([Zz]|[+-][0-9]{2}:[0-9]{2})?")
_DECIMAL = re.compile(rb"([+-]?)([0-9]+)(?:\.([0-9]+))?")


def _days(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _month_days(y, m):
    if m == 2:
        return 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28
    return 30 if m in (4, 6, 9, 11) else 31


def parse_int(b, bits):
    if not _INT.fullmatch(b):
        return None
    v = int(b)
    return v if -(1 << (bits - 1)) <= v < (1 << (bits - 1)) else None


def parse_decimal(b, precision, scale, signed):
    m = _DECIMAL.fullmatch(b)
    if not m or (m.group(1) and not signed):
        return None
    whole, frac = m.group(2), m.group(3)
    if len(whole) > precision - scale or (frac is not None and (scale == 0 or len(frac) > scale)):
        return None
    v = int(whole) * 10 ** scale + (int(frac) * 10 ** (scale - len(frac)) if frac else 0)
    return Decimal(-v if m.group(1) == b"-" else v).scaleb(-scale)


def parse_float(b):
    if len(b) >= 64 or not _FLOAT.fullmatch(b):
        return None
    v = float(b)
    return v if v not in (float("inf"), float("-inf")) else None


def parse_date(b):
    m = _DATE.fullmatch(b)
    if not m:
        return None
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not (1 <= mo <= 12 and 1 <= d <= _month_days(y, mo)):
        return None
    return _days(y, mo, d)


def parse_timestamp(b):
    """Microseconds since 1970-01-01T00:00:00Z."""
    m = _TIMESTAMP.fullmatch(b)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(m.group(k)) for k in range(1, 7))
    if not (1 <= mo <= 12 and 1 <= d <= _month_days(y, mo) and h <= 23 and mi <= 59 and s <= 59):
        return None
    frac, zone = m.group(7), m.group(8)
    offset = 0
    if zone and zone not in (b"Z", b"z"):
        oh, om = int(zone[1:3]), int(zone[4:6])
        if om > 59 or oh * 60 + om > 18 * 60:
            return None
        offset = (oh * 60 + om) * (-60 if zone[:1] == b"-" else 60)
    seconds = _days(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
    return seconds * 1_000_000 + (int(frac.ljust(6, b"0")) if frac else 0)


_UPPER = bytes.maketrans(b"abcdefghijklmnopqrstuvwxyz", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")


def parser(column):
    """The function from a field's trimmed, non-empty bytes to its value (None: does not
    parse). Dates are days and timestamps microseconds, made Spark values in Spark."""
    t = column.type
    if t == "string":
        fold = {"upper": _UPPER, "lower": _LOWER}.get(column.case)
        return (lambda b: b.translate(fold).decode("utf-8")) if fold else (lambda b: b.decode("utf-8"))
    if t == "bool":
        return lambda b: {b"true": True, b"false": False}.get(b.lower())
    if t in ("int32", "int64"):
        bits = 32 if t == "int32" else 64
        return lambda b: parse_int(b, bits)
    if t == "float64":
        return parse_float
    if t == "date":
        return parse_date
    if t == "timestamp":
        return parse_timestamp
    p, s = decimal_type(t)
    return lambda b: parse_decimal(b, p, s, column.signed)


def decimal_type(t):
    m = re.fullmatch(r"decimal\((\d+),(\d+)\)", t)
    return int(m.group(1)), int(m.group(2))


def spark_type(t):
    simple = {"string": T.StringType(), "bool": T.BooleanType(), "int32": T.IntegerType(), "int64": T.LongType(),
              "float64": T.DoubleType(), "date": T.DateType(), "timestamp": T.TimestampType()}
    if t in simple:
        return simple[t]
    return T.DecimalType(*decimal_type(t))


def carried_type(t):
    """The type a parsed value crosses from Python to Spark in: days and microseconds as
    integers (no time zone on the way), the rest as themselves."""
    return {"date": T.IntegerType(), "timestamp": T.LongType()}.get(t) or spark_type(t)


def from_carried(name, t):
    c = F.col(name)
    if t == "date":
        return F.date_from_unix_date(c).alias(name)
    if t == "timestamp":
        return F.timestamp_micros(c).alias(name)
    return c


# --- the CSV dialect (docs/PIPELINE-NOTES.md, "CSV") -------------------------------------

def _utf8_length(b, i):
    """Length of the valid UTF-8 sequence at b[i], 0 when there is none (RFC 3629)."""
    n, b0 = len(b), b[i]
    if b0 < 0x80:
        return 1

    def cont(k):
        return k < n and b[k] & 0xC0 == 0x80
    if 0xC2 <= b0 <= 0xDF:
        return 2 if cont(i + 1) else 0
    if 0xE0 <= b0 <= 0xEF:
        if not (cont(i + 1) and cont(i + 2)) or (b0 == 0xE0 and b[i + 1] < 0xA0) or (b0 == 0xED and b[i + 1] >= 0xA0):
            return 0
        return 3
    if 0xF0 <= b0 <= 0xF4:
        if not (cont(i + 1) and cont(i + 2) and cont(i + 3)) or (b0 == 0xF0 and b[i + 1] < 0x90) or (b0 == 0xF4 and b[i + 1] >= 0x90):
            return 0
        return 4
    return 0


def escaped(b):
    """Bytes that are not valid UTF-8 as `_rescued` holds them: each invalid byte as
    \\xHH, each backslash doubled."""
    out, i = [], 0
    while i < len(b):
        k = _utf8_length(b, i)
        if k == 0:
            out.append("\\x%02X" % b[i])
            i += 1
        else:
            out.append(b[i:i + k].decode("utf-8").replace("\\", "\\\\"))
            i += k
    return "".join(out)


def json_string(b):
    """A JSON string of UTF-8 bytes, escaped as batchrun escapes `_rescued`'s values."""
    out = ['"']
    for ch in b.decode("utf-8"):
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20:
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def records(data):
    """Yields (line, raw record bytes, unquoted fields) of a file's bytes: a byte-order
    mark is skipped, only LF ends a record (a CR before it belongs to the line end),
    quoted fields hold commas, quotes (doubled) and line ends, text after a closing
    quote is kept, blank lines are skipped but counted."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    n, i, line = len(data), 0, 1
    while i < n:
        end = data.find(b"\n", i)
        if end < 0:
            end = n
        raw = data[i:end]
        if b'"' not in raw:
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if raw.strip(b" \t\r"):
                yield line, raw, raw.split(b",")
            i, line = end + 1, line + 1
            continue
        start, start_line = i, line
        fields = []
        while True:
            j = i
            while j < n and data[j] in (0x20, 0x09):
                j += 1
            if j < n and data[j] == 0x22:
                k, buf = j + 1, bytearray()
                while k < n:
                    c = data[k]
                    if c == 0x22:
                        if k + 1 < n and data[k + 1] == 0x22:
                            buf.append(0x22)
                            k += 2
                            continue
                        k += 1
                        break
                    if c == 0x0A:
                        line += 1
                    buf.append(c)
                    k += 1
                stop = k
                while stop < n and data[stop] not in (0x2C, 0x0A):
                    stop += 1
                buf += data[k:stop]
                value, i = bytes(buf), stop
            else:
                k = i
                while k < n and data[k] not in (0x2C, 0x0A):
                    k += 1
                value, i = data[i:k], k
            if i < n and data[i] == 0x2C:
                fields.append(value)
                i += 1
                continue
            if value.endswith(b"\r"):
                value = value[:-1]
            fields.append(value)
            end = i
            if i < n:
                i, line = i + 1, line + 1
            break
        raw = data[start:end]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if raw.strip(b" \t\r"):
            yield start_line, raw, fields


def header_positions(path, fields, feed):
    """Where each of the feed's columns is in a file's header (-1: absent and not
    required); names match trimmed and ASCII case-insensitively, the first of a repeated
    name winning."""
    seen = {}
    for k, f in enumerate(fields):
        seen.setdefault(f.strip(b" \t").translate(_LOWER), k)
    positions = []
    for c in feed.columns:
        k = seen.get(c.name.encode("utf-8").translate(_LOWER), -1)
        if k < 0 and c.required:
            raise PipelineError(f"{path}: the header has no column '{c.name}'; every {feed.name} file needs it "
                                f"(or mark it required: false in the pipeline file)")
        positions.append(k)
    return positions


def read_file(relative, data):
    if relative.endswith(".zst"):
        import zstandard  # only for .csv.zst files
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True) as r:
            data = r.read()
    return data


def bronze_rows(relative, data, feed, ingest_seq, ingested_at):
    """The bronze rows of one fact file: the feed's columns (null when empty or when the
    text does not parse, that text then in `_rescued`), then the lineage columns."""
    parsers = [parser(c) for c in feed.columns]
    names = [json_string(c.name.encode("utf-8")) + ":" for c in feed.columns]
    width = len(feed.columns)
    rows = records(read_file(relative, data))
    header = next(rows, None)
    if header is None:
        raise PipelineError(f"{relative}: the file has no header line")
    count = len(header[2])
    positions = header_positions(relative, header[2], feed)
    for line, raw, fields in rows:
        try:
            raw.decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            valid = False
        if len(fields) != count or not valid:
            rescued = raw.decode("utf-8") if valid else escaped(raw)
            yield (None,) * width + (relative, line, ingest_seq, ingested_at, rescued)
            continue
        values, bad = [], []
        for c, k, parse, name in zip(feed.columns, positions, parsers, names):
            text = fields[k].strip(b" \t") if k >= 0 else b""
            v = parse(text) if text else None
            if v is None and text:
                bad.append(name + json_string(text))
            values.append(v)
        yield tuple(values) + (relative, line, ingest_seq, ingested_at, "{" + ",".join(bad) + "}" if bad else None)


def reference_rows(relative, data, feed):
    """A reference file's rows, the later of a repeated key winning; a field that does
    not parse, or an empty key, stops the job naming the file and line."""
    parsers = [parser(c) for c in feed.columns]
    rows = records(read_file(relative, data))
    header = next(rows, None)
    if header is None:
        raise PipelineError(f"{relative}: the file has no header line")
    positions = header_positions(relative, header[2], feed)
    key = [c.name for c in feed.columns].index(feed.key)
    kept = {}
    for line, raw, fields in rows:
        if len(fields) != len(header[2]):
            raise PipelineError(f"{relative}:{line}: the record has {len(fields)} fields, the header {len(header[2])}")
        values = []
        for c, k, parse in zip(feed.columns, positions, parsers):
            text = fields[k].strip(b" \t") if k >= 0 else b""
            v = parse(text) if text else None
            if v is None and text:
                raise PipelineError(f"{relative}:{line}: {c.name} is '{text.decode('utf-8', 'replace')}', not a {c.type}")
            values.append(v)
        if values[key] is None:
            raise PipelineError(f"{relative}:{line}: the key {feed.key} is empty")
        kept[values[key]] = tuple(values)
    return list(kept.values())


# --- files -------------------------------------------------------------------------------

def _segment_pattern(p):
    return re.compile("".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in p), re.S)


def glob_matches(path, pattern):
    """`*` and `?` within a name, a `**` segment any number of folders."""
    if not pattern:
        return not path
    if pattern[0] == "**":
        return any(glob_matches(path[k:], pattern[1:]) for k in range(len(path) + 1))
    return bool(path) and _segment_pattern(pattern[0]).fullmatch(path[0]) is not None and glob_matches(path[1:], pattern[1:])


def list_files(spark, raw, pattern):
    """The files under RAW that `pattern` matches (a `.csv` pattern takes the `.csv.zst`
    twin too), names starting with `.` skipped, by their relative paths' bytes."""
    jvm = spark.sparkContext._jvm
    root = jvm.org.apache.hadoop.fs.Path(raw)
    fs = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(root):
        raise PipelineError(f"{raw}: the landing zone folder does not exist")
    base = fs.makeQualified(root).toUri().getPath().rstrip("/")
    parts = pattern.split("/")
    found = []
    it = fs.listFiles(root, True)
    while it.hasNext():
        status = it.next()
        path = status.getPath()
        relative = path.toUri().getPath()[len(base) + 1:]
        names = relative.split("/")
        if any(n.startswith(".") for n in names):
            continue
        if glob_matches(names, parts) or (names[-1].endswith(".csv.zst") and glob_matches(names[:-1] + [names[-1][:-4]], parts)):
            found.append((relative, path.toString()))
    found.sort(key=lambda f: f[0].encode("utf-8"))
    return found


def _read_binary(spark, files):
    """(relative path, bytes) of each file, one Spark row per file."""
    frame = spark.read.format("binaryFile").load([uri for _, uri in files])
    jvm = spark.sparkContext._jvm
    qualified = {jvm.org.apache.hadoop.fs.Path(uri).toUri().getPath(): relative for relative, uri in files}

    def relative_of(path):
        from urllib.parse import unquote, urlparse
        return qualified[unquote(urlparse(path).path)]
    return frame.select("path", "content").rdd.map(lambda row: (relative_of(row.path), bytes(row.content)))


def read_bronze(spark, raw, feed, ingest_seq, ingested_at):
    files = list_files(spark, raw, feed.files)
    schema = T.StructType([T.StructField(c.name, carried_type(c.type)) for c in feed.columns] + [
        T.StructField("_source_file", T.StringType(), False), T.StructField("_source_line", T.LongType(), False),
        T.StructField("_ingest_seq", T.LongType(), False), T.StructField("_ingested_at", T.LongType(), False),
        T.StructField("_rescued", T.StringType())])
    if files:
        rows = _read_binary(spark, files).flatMap(lambda f: bronze_rows(f[0], f[1], feed, ingest_seq, ingested_at))
        frame = spark.createDataFrame(rows, schema)
    else:
        frame = spark.createDataFrame([], schema)
    return frame.select(*[from_carried(c.name, c.type) for c in feed.columns], "_source_file", "_source_line", "_ingest_seq",
                        from_carried("_ingested_at", "timestamp"), "_rescued")


def read_reference(spark, raw, feed):
    files = list_files(spark, raw, feed.files)
    if not files:
        raise PipelineError(f"{raw}/{feed.files}: the reference file is missing")
    schema = T.StructType([T.StructField(c.name, carried_type(c.type)) for c in feed.columns])
    rows = _read_binary(spark, files).flatMap(lambda f: reference_rows(f[0], f[1], feed))
    return spark.createDataFrame(rows, schema).select(*[from_carried(c.name, c.type) for c in feed.columns])


# --- operators ---------------------------------------------------------------------------

def q(name):
    """A column name quoted for Spark SQL."""
    return "`" + name.replace("`", "``") + "`"


def sql_string(s):
    """A Spark SQL string literal."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def lookup(rows, reference, key, on, prefix, columns):
    """Left join: the row of `reference` whose `key` equals `on` (SQL over `rows`), its
    columns added as prefix + name (null when there is none)."""
    right = reference.select(*[F.col(q(c)).alias(prefix + c) for c in columns])
    return rows.join(F.broadcast(right), F.expr(on) == F.col(q(prefix + key)), "left")


def member(rows, reference, key, x, name):
    """`name`: true when `x` (SQL over `rows`) is a key of `reference`, null when x is."""
    keys = reference.select(F.col(q(key)).alias(name + "_key"), F.lit(True).alias(name + "_hit"))
    joined = rows.join(F.broadcast(keys), F.expr(x) == F.col(q(name + "_key")), "left")
    return joined.withColumn(name, F.expr(f"CASE WHEN ({x}) IS NULL THEN NULL ELSE {q(name + '_hit')} IS NOT NULL END")) \
        .drop(name + "_key", name + "_hit")


def keep_one(rows, key, by, keep):
    """Dedup: of the rows with equal `key`, the one with the greatest (least) `by`
    values, nulls least; among equal ones, the row ingested last."""
    order = [F.col(q(c)).desc_nulls_last() if keep == "greatest" else F.col(q(c)).asc_nulls_first() for c in by]
    order += [F.col(c).desc() for c in INGESTED]
    w = Window.partitionBy(*[F.col(q(c)) for c in key]).orderBy(*order)
    return rows.withColumn("__version", F.row_number().over(w)).where("__version = 1").drop("__version")


def calendar(source, column):
    """One row per date from the least to the greatest value of `column`."""
    bounds = source.agg(F.min(F.col(q(column))).alias("lo"), F.max(F.col(q(column))).alias("hi"))
    return bounds.where("lo IS NOT NULL").select(F.explode(F.expr("sequence(lo, hi, interval 1 day)")).alias("date"))


def route(rows, feed, expectations, overflow):
    """`reason`: the first quarantine reason a row meets, null for a row that goes on to
    silver. `malformed_row` (every feed column null, `_rescued` set) comes first, then
    each (name, condition) in order, failed when the condition is false or null, then,
    for a row that passed them, `overflow` when a silver value did not fit (True: such a
    row stops the job, naming its file and line)."""
    malformed = " AND ".join(["`_rescued` IS NOT NULL"] + [f"{q(c.name)} IS NULL" for c in feed.columns])
    cases = [f"WHEN {malformed} THEN 'malformed_row'"]
    for name, condition in expectations:
        cases.append(f"WHEN NOT coalesce({condition}, false) THEN {sql_string(name)}")
    if overflow:
        cases.append(f"WHEN `__overflow` THEN {sql_string(overflow if overflow is not True else '__overflow')}")
    rows = rows.withColumn("reason", F.expr("CASE " + " ".join(cases) + " END"))
    if overflow is True:
        bad = rows.where("reason = '__overflow'").select("_source_file", "_source_line").limit(1).collect()
        if bad:
            raise PipelineError(f"{bad[0][0]}:{bad[0][1]}: a silver column of this row does not fit its type; name a "
                                f"quarantine reason for such rows with silver's overflow key, or fix the row")
    return rows


def register_casts(spark, types):
    """SQL functions that read text as a type the way batchrun's cast(x as T) does: trimmed
    of spaces and tabs, null when it does not read."""
    def text(v):
        return None if v is None else v.strip(" \t").encode("utf-8")

    for t in types:
        if t == "float64":
            def read_float(v):
                try:
                    return float(text(v)) if v is not None else None
                except ValueError:
                    return None
            spark.udf.register("batchrun_cast_float64", read_float, T.DoubleType())
            spark.udf.register("batchrun_text_float64", lambda v: None if v is None else repr(v), T.StringType())
        elif t == "bool":
            spark.udf.register("batchrun_cast_bool", lambda v: None if v is None else {b"true": True, b"false": False}.get(text(v).lower()),
                               T.BooleanType())
        elif t in ("int32", "int64"):
            bits = 32 if t == "int32" else 64
            spark.udf.register("batchrun_cast_" + t, lambda v, bits=bits: None if v is None else parse_int(text(v), bits),
                               T.IntegerType() if bits == 32 else T.LongType())
        elif t == "date":
            spark.udf.register("batchrun_cast_date", lambda v: None if v is None else parse_date(text(v)), T.IntegerType())
        elif t == "timestamp":
            spark.udf.register("batchrun_cast_timestamp", lambda v: None if v is None else parse_timestamp(text(v)), T.LongType())
        elif t.startswith("decimal"):
            p, s = decimal_type(t)

            def read_decimal(v, p=p, s=s):
                if v is None:
                    return None
                m = re.fullmatch(rb"([+-]?)([0-9]*)(?:\.([0-9]*))?", text(v))
                if not m or not (m.group(2) or m.group(3)) or len(m.group(3) or b"") > s:
                    return None
                frac = m.group(3) or b""
                units = int((m.group(2) or b"0") + frac) * 10 ** (s - len(frac))
                if units >= 10 ** p:
                    return None
                return Decimal(-units if m.group(1) == b"-" else units).scaleb(-s)
            spark.udf.register(f"batchrun_cast_decimal_{p}_{s}", read_decimal, T.DecimalType(p, s))


def stored(frame, name):
    """A column as batchrun's lake and its Parquet and Delta exports store it: a decimal
    as decimal(18, s), whatever its declared precision."""
    t = frame.schema[name].dataType
    if isinstance(t, T.DecimalType) and t.precision != 18:
        return F.col(q(name)).cast(T.DecimalType(18, t.scale)).alias(name)
    return F.col(q(name))


class Run:
    """Writes the tables and keeps their counts."""

    def __init__(self, spark, args):
        self.spark, self.out, self.format = spark, args.out.rstrip("/"), args.format
        self.started = int(time.time() * 1_000_000)
        self.clock = time.time()
        self.rows = {}
        if self.format == "delta":
            try:
                spark._jvm.java.lang.Class.forName("io.delta.sql.DeltaSparkSessionExtension")
            except Exception:
                raise PipelineError("--format delta needs delta-spark on the cluster: start the job with --packages "
                                    "io.delta:delta-spark_2.13:4.0.0 --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension "
                                    "--conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog, "
                                    "or write Parquet (--format parquet)")

    def write(self, frame, table, columns, order, partition=None, month=None, keep=()):
        """Writes `columns` of `frame` to OUT/<table>, in `order` (ascending, nulls
        first): partitioned by a date column (`column=YYYY-MM-DD` folders) or by the month
        of one (`year=YYYY/month=MM`), each folder's rows in one file, in order; else in
        order across its part files. Returns the table for the stages after it: bronze
        as written, the others with the `keep` columns that order their ties."""
        path = self.out + "/" + table
        wanted = list(dict.fromkeys(list(columns) + list(keep) + [c for c in order if c not in columns]
                                    + ([partition] if partition else []) + ([month] if month else [])))
        frame = frame.select(*[F.col(q(c)) for c in wanted]).persist(StorageLevel.DISK_ONLY)
        sort = [F.col(q(c)).asc_nulls_first() for c in order]
        written, parts = frame, []
        if month:
            # Folders year=YYYY/month=MM as batchrun's Parquet export names them; in Delta,
            # integer columns, as its published Delta tables declare them.
            if self.format == "delta":
                written = written.withColumn("year", F.year(F.col(q(month)))).withColumn("month", F.month(F.col(q(month))))
            else:
                written = written.withColumn("year", F.format_string("%04d", F.year(F.col(q(month))))) \
                    .withColumn("month", F.format_string("%02d", F.month(F.col(q(month)))))
            parts = ["year", "month"]
        elif partition:
            parts = [partition]
        if parts:
            written = written.repartition(*[F.col(q(c)) for c in parts]).sortWithinPartitions(*[F.col(q(c)) for c in parts], *sort)
        else:
            written = written.orderBy(*sort)
        writer = written.select(*[stored(written, c) for c in list(columns) + [c for c in parts if c not in columns]]) \
            .write.mode("overwrite").format(self.format)
        if parts:
            writer = writer.partitionBy(*parts)
        writer.save(path)
        self.rows[table] = self.spark.read.format(self.format).load(path).count()
        print(f"{table:<32} {self.rows[table]:>14,} rows", file=sys.stderr)
        if table == "bronze":
            frame.unpersist()
            return self.spark.read.format(self.format).load(path)
        return frame

    def reconcile(self, routed):
        """bronze = quarantined + silver + duplicates removed, as batchrun checks it."""
        valid = routed.where("reason IS NULL").count()
        bronze, quarantined, silver = self.rows["bronze"], self.rows["quarantine"], self.rows["silver"]
        if bronze != quarantined + valid or silver > valid:
            raise PipelineError(f"counts do not reconcile: bronze {bronze:,}, quarantined {quarantined:,}, "
                                f"silver {silver:,} of {valid:,} valid rows")
        reasons = self.spark.read.format(self.format).load(self.out + "/quarantine").groupBy("reason").count().collect()
        for r in sorted(reasons, key=lambda r: r[0]):
            print(f"  {r[0]:<30} {r[1]:>14,}", file=sys.stderr)
        print(f"counts reconcile: bronze {bronze:,} = quarantined {quarantined:,} + silver {silver:,} + duplicates removed "
              f"{valid - silver:,}; {time.time() - self.clock:.1f} s", file=sys.stderr)


def session(app):
    builder = SparkSession.builder.appName(app)
    for k, v in SETTINGS.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    for k, v in SETTINGS.items():
        spark.conf.set(k, v)
    spark.sparkContext.setLogLevel("WARN")
    return spark


def arguments(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--raw", required=True, help="the landing zone: a folder, hdfs:// or s3a:// path")
    ap.add_argument("--out", required=True, help="where the tables are written, one folder each")
    ap.add_argument("--format", choices=["parquet", "delta"], default="parquet",
                    help="delta needs delta-spark on the cluster")
    return ap.parse_args()
"""#
}
