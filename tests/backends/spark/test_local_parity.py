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
    "aggregate_groups_in_order_of_first_appearance": """
  a = e | aggregate(by=[k, g], rows = count(), total = sum(x), avg = mean(x), sd = std(x), v = var(x),
                    s = sum(n), b = mean(flag), c = sum(flag), m = median(flag))
  a | write_csv("out/a.csv")
  a | write_json("out/a.json")""",
    "distinct_keeps_first_occurrences": """
  e | distinct(k, g) | write_csv("out/d.csv")
  e | select(k, flag) | distinct() | write_json("out/d.json")""",
    "joins_in_the_defined_orders": """
  l = read_csv("labels.csv", schema=Label)
  e | join(l, on=[k == key], how="inner") | write_csv("out/inner.csv")
  e | join(l, on=[k == key], how="left") | write_csv("out/left.csv")
  e | join(l, on=[k == key], how="right") | write_csv("out/right.csv")
  e | join(l, on=[k == key], how="full") | write_csv("out/full.csv")
  e | join(l, on=[k == key], how="semi") | write_csv("out/semi.csv")
  e | join(l, on=[k == key], how="anti") | write_json("out/anti.json")""",
    "union_limit_and_stable_sort": """
  u = e | filter(n > 0) | union(e | filter(n < 0))
  u | limit(17) | write_csv("out/limit.csv")
  e | sort(k, desc(g)) | write_csv("out/sort.csv")
  u | sort(flag) | limit(9) | write_json("out/sort_limit.json")""",
    "special_values_written_alike": """
  e | derive(q = x / 0.0, z = -0.0 * cast(n, float), r = round(x, 1), w = weekday(t), ts = cast(t, str),
             i = cast(x, int), f = cast(n, str), nz = round(-0.4, 0))
    | write_csv("out/special.csv")
  e | derive(q = x / 0.0, z = -0.0 * cast(n, float)) | write_json("out/special.json")""",
}


@pytest.mark.parametrize("name", PIPELINES)
def test_spark_writes_the_local_bytes(spark, small_partitions, workdir, name):
    local, on_spark = outputs_of_both_backends(spark, workdir, PIPELINES[name])
    assert list(on_spark) == list(local)
    for file in local:
        assert on_spark[file].decode() == local[file].decode(), file


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
    ("derive(big = n * 922337203685477580)", "derive"),
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
    assert message is not None and message.startswith("integer overflow in aggregate at test.pipe:4:"), message


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
    if not math.isfinite(y):
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
