"""One pipeline, one answer: the Spark job writes the same CSV and JSON bytes as the local backend,
also for unsorted tables (docs/semantics.md defines every step's row order) and when Spark reads
a file in many partitions and shuffles it."""
from __future__ import annotations

import datetime as dt
import math
import random

import pytest
from spark_kit import check, run_generated

from pipec import plan
from pipec.backends.local.runner import run_plan
from pipec.backends.spark.runtime import job_error_message

SCHEMAS = """
schema Event { id: int, k: str?, g: int?, x: float?, n: int, flag: bool?, t: timestamp?, d: date? }
schema Label { key: str, label: str, rank: int }
"""


def events_csv(rows: int = 80) -> str:
    """Rows with repeated and null keys, and floats whose sum depends on the order of addition."""
    rng = random.Random(7)
    lines = ["id,k,g,x,n,flag,t,d"]
    for i in range(rows):
        k = rng.choice(["a", "b", "c", "d", ""])
        g = rng.choice(["1", "2", "3", ""])
        x = rng.choice(["1e16", "-1e16", "0.1", "0.2", "-0.3", "3.0", "", "2.5", "1e-9"])
        flag = rng.choice(["true", "false", ""])
        t = rng.choice(["2013-01-01T10:00:00Z", "2013-06-30T23:59:59.250000Z", ""])
        d = rng.choice(["2013-01-07", "2020-02-29", ""])
        lines.append(f"{i},{k},{g},{x},{rng.randint(-5, 5)},{flag},{t},{d}")
    return "\n".join(lines) + "\n"


LABELS = "key,label,rank\na,alpha,1\nb,beta,2\nb,bravo,3\nz,zulu,4\nc,gamma,5\n"

# Edge values for the function table below: empty and unicode strings, -0.0, tiny and huge floats.
EDGES = """s,x,i,t
,0.1,0,2013-01-07T00:00:00Z
 pad	,-0.0,-1,2020-02-29T23:59:59.999999Z
héllo wörld,1e20,4611686018427387904,1970-01-01T00:00:00Z
ǅungla İ ß,1e-07,7,
12,123456789012.5,-7,2013-06-30T12:30:00Z
 1.5 ,-2.5,3,2013-12-29T00:00:00Z
true,,,2000-01-01T00:00:00.5Z
,2.675,-9223372036854775807,1999-12-31T23:00:00Z
"""


@pytest.fixture
def small_partitions(spark):
    """Spark splits even a small file into many partitions and shuffles into several."""
    names = ("spark.sql.files.maxPartitionBytes", "spark.sql.files.openCostInBytes", "spark.sql.shuffle.partitions")
    before = {name: spark.conf.get(name) for name in names}
    spark.conf.set("spark.sql.files.maxPartitionBytes", "256")
    spark.conf.set("spark.sql.files.openCostInBytes", "0")
    spark.conf.set("spark.sql.shuffle.partitions", "5")
    yield
    for name, value in before.items():
        spark.conf.set(name, value)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "events.csv").write_text(events_csv())
    (tmp_path / "labels.csv").write_text(LABELS)
    (tmp_path / "edges.csv").write_text(EDGES, encoding="utf-8")
    (tmp_path / "one.csv").write_text('v\na\n\n"b,""c"""\n""\nd\n\n')   # empty lines: null rows
    (tmp_path / "quoted.csv").write_text('v,n\n"",1\n,2\n" ",3\n')      # "" is not null
    monkeypatch.chdir(tmp_path)
    return tmp_path


def outputs_of_both_backends(spark, workdir, body: str) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Run `body` (which writes out/*.csv and out/*.json) locally, then on Spark; both outputs."""
    source = SCHEMAS + "pipeline p() {\n  e = read_csv(\"events.csv\", schema=Event)\n" + body + "\n}"
    run_plan(plan(check(source), backend="local", workdir=workdir), {}, workdir)
    local = {f.name: f.read_bytes() for f in sorted((workdir / "out").iterdir())}
    for f in (workdir / "out").iterdir():
        f.unlink()
    run_generated(spark, source, plan=plan(check(source), backend="spark", workdir=workdir))
    return local, {f.name: f.read_bytes() for f in sorted((workdir / "out").iterdir())}


PIPELINES = {
    "rows_in_file_order": """
  e | filter(n != 0) | derive(y = x * 2.0) | write_csv("out/r.csv")
  e | drop(t) | write_json("out/r.json")""",
    "special_values_written_alike": """
  e | derive(q = x / 0.0, z = -0.0 * cast(n, float), w = weekday(t), ts = cast(t, str),
             i = cast(x, int), f = cast(n, str), nz = round(-0.4, 0))
    | write_csv("out/special.csv")
  e | filter(n > -100) | derive(q = x / 0.0, z = -0.0 * cast(n, float)) | write_json("out/special.json")""",
    "functions_on_edge_values": """
  v = read_csv("edges.csv", schema={s: str?, x: float?, i: int?, t: timestamp?})
  v | derive(xs = cast(x, str), is = cast(i, str), si = cast(s, int), sf = cast(s, float), sb = cast(s, bool),
             ib = cast(i, bool), xi = cast(x, int), up = upper(s), lo = lower(s), n = length(s), tr = trim(s),
             sub = substr(s, 2, 3), neg = substr(s, -2, 5), zero = substr(s, 0, 2), rep = replace(s, "l", "L"),
             has = contains(s, ""), st = starts_with(s, " "), en = ends_with(s, "t"), cc = concat(s, "!"))
    | write_csv("out/strings.csv")
  v | filter(x is null or x == x) | derive(wd = weekday(t), y = year(t), mo = month(t), dd = day(t), h = hour(t), de = date(t),
             ts = cast(t, str), ds = cast(date(t), str), back = cast(cast(t, str), timestamp),
             fl = floor(x), ce = ceil(x), sq = sqrt(x), ln = log(x), ex = exp(x), pw = pow(x, 2),
             ab = abs(i), fd = i // 3, md = i % -3, xd = x // 2.0, xm = x % 2.0, dv = i / 0,
             neg = -x, iff = if(x > 1.0, x, -x), co = coalesce(x, -1.0))
    | write_json("out/numbers.json")""",
    "empty_lines_and_quoted_empty_strings": """
  one = read_csv("one.csv", schema={v: str?})
  one | write_csv("out/one.csv")
  one | derive(n = length(v)) | write_json("out/one.json")
  read_csv("quoted.csv", schema={v: str?, n: int}) | derive(l = length(v)) | write_json("out/quoted.json")""",
}


@pytest.mark.parametrize("name", PIPELINES)
def test_spark_writes_the_local_bytes(spark, small_partitions, workdir, name):
    local, on_spark = outputs_of_both_backends(spark, workdir, PIPELINES[name])
    assert list(on_spark) == list(local)
    for file in local:
        assert on_spark[file].decode() == local[file].decode(), file


# python() on both backends: an identity and a function deriving from every type, nulls included.
PYTHON_TYPES = '''
import pandas as pd

def same(df):
    return df

def derived(df):
    return pd.DataFrame({
        "id": df["id"], "next_day": (df["d"] + pd.Timedelta(days=1)).dt.date, "year": df["d"].dt.year,
        "day_text": df["d"].dt.strftime("%d/%m/%Y"), "later": df["t"] + pd.Timedelta(hours=1),
        "pm": df["t"].dt.hour >= 12, "g2": df["g"] * 2, "half": df["n"] / 2, "not_flag": ~df["flag"],
        "upper": df["k"].str.upper(), "x_nan": df["nan"].isna(),
    })
'''


def test_python_steps_write_the_local_bytes(spark, small_partitions, workdir):
    (workdir / "python_types.py").write_text(PYTHON_TYPES)
    local, on_spark = outputs_of_both_backends(spark, workdir, """
  typed = e | derive(nan = x - x + (x - x) / 0.0)
  typed | write_csv("out/direct.csv")
  typed | python("python_types:same", schema={id: int, k: str?, g: int?, x: float?, n: int, flag: bool?,
                                              t: timestamp?, d: date?, nan: float?})
        | write_csv("out/same.csv")
  typed | python("python_types:derived", schema={id: int, next_day: date?, year: int?, day_text: str?,
                                                 later: timestamp?, pm: bool?, g2: int?, half: float,
                                                 not_flag: bool?, upper: str?, x_nan: bool})
        | write_json("out/derived.json")""")
    assert local["same.csv"] == local["direct.csv"]
    assert on_spark == local


def events() -> list[dict]:
    """The events file as plain Python rows (an empty field is null)."""
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(events_csv())))
    return [{k: (v if v != "" else None) for k, v in row.items()} for row in rows]


def labels() -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(LABELS)))


def written(path) -> list[tuple]:
    """The rows of a written CSV file as tuples of text, an empty field as None."""
    import csv

    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return [tuple(v if v != "" else None for v in row) for row in rows[1:]]


def first_appearances(keys: list[tuple]) -> list[tuple]:
    return list(dict.fromkeys(keys))


def reference_orders() -> dict[str, list[tuple]]:
    """docs/semantics.md's row order of each output below, computed in plain Python."""
    e, lab = events(), labels()
    matches = {row["id"]: [r for r in lab if r["key"] == row["k"]] for row in e}
    left = [(row["id"], r["label"]) for row in e for r in matches[row["id"]] or [{"label": None}]]
    right = [(row["id"], r["label"]) for r in lab
             for row in [row for row in e if row["k"] == r["key"]] or [{"id": None}]]
    right_only = [(None, r["label"]) for r in lab if not any(row["k"] == r["key"] for row in e)]
    positive = [row["id"] for row in e if int(row["n"]) > 0] + [row["id"] for row in e if int(row["n"]) < 0]
    by_key = sorted(e, key=lambda row: (row["k"] is None, row["k"] or "",
                                        row["g"] is None, -int(row["g"] or 0)))
    return {
        "aggregate.csv": first_appearances([(row["k"], row["g"]) for row in e]),
        "distinct.csv": first_appearances([(row["k"], row["g"]) for row in e]),
        "inner.csv": [pair for pair in left if pair[1] is not None],
        "left.csv": left,
        "right.csv": right,
        "full.csv": left + right_only,
        "semi.csv": [(row["id"],) for row in e if matches[row["id"]]],
        "anti.csv": [(row["id"],) for row in e if not matches[row["id"]]],
        "limit.csv": [(i,) for i in positive[:17]],
        "sort.csv": [(row["id"],) for row in by_key],
    }


def test_unsorted_tables_reach_sinks_in_the_defined_order(spark, small_partitions, workdir):
    """Groups in order of first appearance, joins left-major (right joins right-major, full joins
    then the right-only rows), union in input order, `limit` the first rows, stable `sort`:
    Spark reads the file in many partitions and shuffles into several, and still writes these."""
    run_generated(spark, SCHEMAS + """pipeline p() {
  e = read_csv("events.csv", schema=Event)
  l = read_csv("labels.csv", schema=Label)
  e | aggregate(by=[k, g], rows = count(), total = sum(x)) | select(k, g) | write_csv("out/aggregate.csv")
  e | distinct(k, g) | write_csv("out/distinct.csv")
  e | join(l, on=[k == key], how="inner") | select(id, label) | write_csv("out/inner.csv")
  e | join(l, on=[k == key], how="left") | select(id, label) | write_csv("out/left.csv")
  e | join(l, on=[k == key], how="right") | select(id, label) | write_csv("out/right.csv")
  e | join(l, on=[k == key], how="full") | select(id, label) | write_csv("out/full.csv")
  e | join(l, on=[k == key], how="semi") | select(id) | write_csv("out/semi.csv")
  e | join(l, on=[k == key], how="anti") | select(id) | write_csv("out/anti.csv")
  pos = e | filter(n > 0)
  neg = e | filter(n < 0)
  pos | union(neg) | limit(17) | select(id) | write_csv("out/limit.csv")
  e | sort(k, -g) | select(id) | write_csv("out/sort.csv")
}""")
    for name, expected in reference_orders().items():
        assert written(workdir / "out" / name) == expected, name


def test_float_sums_are_the_sequential_sum_of_the_sorted_values(spark, small_partitions, workdir):
    """docs/semantics.md: the same bits whatever the partitioning."""
    values = [1e16, 1.0, -1e16, 1.0, 0.1, 0.2, 0.3, -0.6, 3e-17]
    (workdir / "v.csv").write_text("x\n" + "\n".join(map(repr, values)) + "\n")
    source = """pipeline p() {
  read_csv("v.csv", schema={x: float}) | aggregate(s = sum(x), m = mean(x), v = var(x)) | write_json("out/s.json")
}"""
    run_generated(spark, source)
    total = -0.0
    for value in sorted(values):
        total += value
    mean = total / len(values)
    squares = -0.0
    for value in sorted(values):
        squares += (value - mean) * (value - mean)
    import json

    written = json.loads((workdir / "out" / "s.json").read_text())
    assert written == {"s": total, "m": mean, "v": squares / (len(values) - 1)}
    assert total != math.fsum(values) or total != sum(values)  # the order of addition matters here


@pytest.mark.parametrize("expression, step", [
    ("derive(big = n * 1844674407370955162)", "derive"),
    ("derive(big = n + 9223372036854775807)", "derive"),
    ("filter(n - 9223372036854775807 - 9 > 0)", "filter"),
    ("derive(big = -(n - 9223372036854775807 - 1))", "derive"),
])
def test_int_overflow_is_a_run_error_naming_the_step(spark, workdir, expression, step):
    source = SCHEMAS + f"""pipeline p() {{
  read_csv("events.csv", schema=Event) | filter(n == -5 or n == 5) | {expression} | write_csv("out/o.csv")
}}"""
    with pytest.raises(Exception) as failure:
        run_generated(spark, source)
    message = job_error_message(failure.value, spark)
    assert message is not None and message.startswith(f"integer overflow in {step} at test.pipe:"), message
    assert not (workdir / "out" / "o.csv").exists()


def test_int_sum_overflow_is_a_run_error(spark, workdir):
    source = SCHEMAS + """pipeline p() {
  read_csv("events.csv", schema=Event) | derive(big = n + 922337203685477580) | aggregate(total = sum(big))
    | write_csv("out/o.csv")
}"""
    with pytest.raises(Exception) as failure:
        run_generated(spark, source)
    message = job_error_message(failure.value, spark)
    assert message is not None and message.startswith("integer overflow in aggregate at test.pipe:5:"), message


def test_paths_with_glob_characters_are_literal(spark, tmp_path, monkeypatch):
    folder = tmp_path / "in {a,b} [1] *?"
    folder.mkdir()
    (folder / "data{1}.csv").write_text("a\n1\n2\n")
    (folder / "data1.csv").write_text("a\n5\n")  # what the glob `data{1}.csv` would match
    monkeypatch.chdir(tmp_path)
    run_generated(spark, """pipeline p() {
  t = read_csv("in {a,b} [1] *?/data{1}.csv", schema={a: int})
  t | write_csv("out {x}/r[1].csv")
  t | write_parquet("out {x}/r*.parquet")
}""")
    assert (tmp_path / "out {x}" / "r[1].csv").read_text() == "a\n1\n2\n"
    assert (tmp_path / "out {x}" / "r*.parquet").is_file()
    assert sorted(p.name for p in (tmp_path / "out {x}").iterdir()) == ["r*.parquet", "r[1].csv"]


def reference_round(x: float, digits: int) -> float:
    """docs/semantics.md: the float64 product x * 10**digits, rounded half away from zero (its
    exact value), divided by 10**digits."""
    from decimal import ROUND_HALF_UP, Decimal

    scale = 10.0 ** digits
    y = x * scale
    if not abs(y) < 2.0 ** 52:  # inf, NaN, or already whole
        return y / scale
    return float(Decimal(y).quantize(Decimal(1), rounding=ROUND_HALF_UP)) / scale


def test_round_is_bit_identical_to_the_documented_rule(spark):
    from pyspark.sql import functions as F

    from pipec.backends.spark.runtime import round_half_away

    rng = random.Random(3)
    values = [38.4, 13.65, 2.5, -2.5, 0.5, -0.5, 0.49999999999999994, -0.4, -0.0, 0.0, 1.005, 2.675,
              1e300, -1e-300, math.inf, -math.inf, math.nan, 4503599627370495.5, 123456789.125]
    values += [rng.uniform(-1000, 1000) for _ in range(300)] + [rng.randint(-10**6, 10**6) / 1000 for _ in range(300)]
    rows = spark.createDataFrame([(v,) for v in values], "x double")
    for digits in (-2, 0, 1, 2, 3):
        got = [r[0] for r in rows.select(round_half_away(F.col("x"), digits)).collect()]
        for x, value in zip(values, got):
            want = reference_round(x, digits)
            assert (math.isnan(want) and math.isnan(value)) or (
                value == want and math.copysign(1, value) == math.copysign(1, want)), (x, digits, value, want)


def test_float_text_is_the_local_backends(spark):
    """`cast(x, str)` of floats of every magnitude: the same text as polars writes. Known limits
    (Java 17's formatting): subnormals such as 5e-324, and about 1 in 1000 values that need 16 or
    17 digits, can end in another last digit that also reads back as the same float."""
    import polars as pl
    from pyspark.sql import functions as F

    from pipec.backends.spark.runtime import float_text

    rng = random.Random(5)
    values = [0.0, -0.0, 1.5, 2.0, -3.25, 0.1 + 0.2, 1e-5, 1e-6, 1.5e-6, 9.99e-6, 1e15, 1e16, 1.5e16,
              9999999999999998.0, 12345678.0, 123456789012.5, 1e20, 1e-7, 1.7976931348623157e308,
              math.inf, -math.inf, math.nan, 100.0, 0.001, -1e-300]
    values += [float(f"{rng.uniform(-10, 10):.{rng.randint(0, 14)}f}e{rng.randint(-12, 22)}") for _ in range(400)]
    values += [rng.randint(-10**6, 10**6) / 1000 for _ in range(200)]
    got = [r[0] for r in spark.createDataFrame([(v,) for v in values], "x double")
           .select(float_text(F.col("x"))).collect()]
    assert got == pl.Series(values).cast(pl.String).to_list()
