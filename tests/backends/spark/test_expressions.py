"""Every expression function on Spark (Spark 4, ANSI mode on), against plain-Python expectations
that implement docs/semantics.md independently, nulls included."""
from __future__ import annotations

import datetime as dt
import math
import statistics
from decimal import ROUND_HALF_UP, Decimal

import pytest
from spark_kit import aggregate_exprs, derive_exprs, frame, spark_column

from pipec.backends.spark.expressions import column, describe, observed_values, py_literal

SCHEMA_TEXT = ("a: int?, b: int?, x: float?, y: float?, s: str?, u: str?, flag: bool?, g: bool?, "
               "ts: timestamp?, d: date?")
SCHEMA = [("a", "int", True), ("b", "int", True), ("x", "float", True), ("y", "float", True),
          ("s", "str", True), ("u", "str", True), ("flag", "bool", True), ("g", "bool", True),
          ("ts", "timestamp", True), ("d", "date", True)]
UTC = dt.timezone.utc
ROWS = [
    (7, 2, 2.5, 2.0, "Hello", "l", True, None, dt.datetime(2013, 1, 7, 10, 30, tzinfo=UTC), dt.date(2013, 1, 7)),
    (-7, 3, -2.5, 0.0, " \tpad\n", "a.c", False, False, dt.datetime(2013, 1, 6, 23, 0, tzinfo=UTC),
     dt.date(2013, 1, 6)),
    (7, -3, 1.25, -4.0, "abc", "abc", None, True, dt.datetime(2020, 2, 29, 12, 0, 0, 250000, tzinfo=UTC),
     dt.date(2020, 2, 29)),
    (5, 0, 0.0, None, None, "x", True, True, None, None),
    (None, 4, None, 9.0, "héllo", "1.5", None, None, dt.datetime(2013, 12, 31, tzinfo=UTC), dt.date(2013, 12, 31)),
    (-8, -2, -7.5, 2.0, "a.c.a.c", "12", False, True, dt.datetime(2013, 1, 1, tzinfo=UTC), dt.date(2013, 1, 1)),
]
NAMES = [n for n, _, _ in SCHEMA]


def rows_as_dicts() -> list[dict]:
    return [dict(zip(NAMES, r)) for r in ROWS]


def nulls_in(fn):
    """Null in, null out: SQL propagation for the plain-Python reference functions."""
    def wrapped(*args):
        return None if any(a is None for a in args) else fn(*args)
    return wrapped


def half_away(x: float, digits: int = 0) -> float:
    return float(Decimal(repr(x)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def python_mod(a, b):
    return None if b == 0 else a % b


def ieee_divide(a, b):
    """IEEE 754 division, as docs/semantics.md specifies for `/`."""
    if b == 0:
        return math.copysign(math.inf, a) if a else math.nan
    return a / b


def ieee_log(log, x):
    return log(x) if x > 0 else (-math.inf if x == 0 else math.nan)


def python_floordiv(a, b):
    return None if b == 0 else a // b


def kleene_and(p, q):
    if p is False or q is False:
        return False
    return None if p is None or q is None else True


def kleene_or(p, q):
    if p is True or q is True:
        return True
    return None if p is None or q is None else False


def to_int(text):
    try:
        return int(text.strip())
    except ValueError:
        return None


CASES = {
    # name: (expression, reference function of a row dict)
    "div": ("a / b", lambda r: nulls_in(ieee_divide)(r["a"], r["b"])),
    "fdiv": ("x / y", lambda r: nulls_in(ieee_divide)(r["x"], r["y"])),
    "floordiv": ("a // b", lambda r: nulls_in(python_floordiv)(r["a"], r["b"])),
    "floordiv_f": ("x // y", lambda r: nulls_in(python_floordiv)(r["x"], r["y"])),
    "mod": ("a % b", lambda r: nulls_in(python_mod)(r["a"], r["b"])),
    "mod_f": ("x % y", lambda r: nulls_in(python_mod)(r["x"], r["y"])),
    "arith": ("a * 2 - b + 1", lambda r: nulls_in(lambda a, b: a * 2 - b + 1)(r["a"], r["b"])),
    "neg": ("-x", lambda r: nulls_in(lambda x: -x)(r["x"])),
    "mixed": ("a + x", lambda r: nulls_in(lambda a, x: a + x)(r["a"], r["x"])),
    "round0": ("round(x, 0)", lambda r: nulls_in(half_away)(r["x"])),
    "round1": ("round(x, 1)", lambda r: nulls_in(lambda x: half_away(x, 1))(r["x"])),
    "floor": ("floor(x)", lambda r: nulls_in(lambda x: float(math.floor(x)))(r["x"])),
    "ceil": ("ceil(x)", lambda r: nulls_in(lambda x: float(math.ceil(x)))(r["x"])),
    "floor_int": ("floor(a)", lambda r: r["a"]),
    "abs": ("abs(a)", lambda r: nulls_in(abs)(r["a"])),
    "sqrt": ("sqrt(y)", lambda r: nulls_in(lambda y: math.sqrt(y) if y >= 0 else math.nan)(r["y"])),
    "log": ("log(y)", lambda r: nulls_in(lambda y: ieee_log(math.log, y))(r["y"])),
    "log10": ("log10(y)", lambda r: nulls_in(lambda y: ieee_log(math.log10, y))(r["y"])),
    "exp": ("exp(x)", lambda r: nulls_in(math.exp)(r["x"])),
    "pow": ("pow(y, 2)", lambda r: nulls_in(lambda y: float(y ** 2))(r["y"])),
    "lower": ("lower(s)", lambda r: nulls_in(str.lower)(r["s"])),
    "upper": ("upper(s)", lambda r: nulls_in(str.upper)(r["s"])),
    "length": ("length(s)", lambda r: nulls_in(len)(r["s"])),
    "trim": ("trim(s)", lambda r: nulls_in(str.strip)(r["s"])),
    "contains": ("contains(s, u)", lambda r: nulls_in(lambda s, u: u in s)(r["s"], r["u"])),
    "contains_dot": ('contains(s, ".")', lambda r: nulls_in(lambda s: "." in s)(r["s"])),
    "starts": ('starts_with(s, "a.")', lambda r: nulls_in(lambda s: s.startswith("a."))(r["s"])),
    "ends": ('ends_with(s, "c")', lambda r: nulls_in(lambda s: s.endswith("c"))(r["s"])),
    "substr": ("substr(s, 2, 3)", lambda r: nulls_in(lambda s: s[1:4])(r["s"])),
    "concat": ('concat(s, "-", u)', lambda r: nulls_in(lambda s, u: f"{s}-{u}")(r["s"], r["u"])),
    "replace": ('replace(s, "a.", "X")', lambda r: nulls_in(lambda s: s.replace("a.", "X"))(r["s"])),
    "coalesce": ("coalesce(a, b, 0)", lambda r: next(v for v in (r["a"], r["b"], 0) if v is not None)),
    "if": ("if(flag, 1, 2)", lambda r: 1 if r["flag"] is True else 2),
    "and": ("flag and g", lambda r: kleene_and(r["flag"], r["g"])),
    "or": ("flag or g", lambda r: kleene_or(r["flag"], r["g"])),
    "not": ("not flag", lambda r: nulls_in(lambda f: not f)(r["flag"])),
    "cmp": ("a > 2 and x <= 2.5", lambda r: kleene_and(nulls_in(lambda a: a > 2)(r["a"]),
                                                        nulls_in(lambda x: x <= 2.5)(r["x"]))),
    "eq_str": ('s == "abc"', lambda r: nulls_in(lambda s: s == "abc")(r["s"])),
    "in": ("a in [5, 7]", lambda r: nulls_in(lambda a: a in (5, 7))(r["a"])),
    "is_null": ("x is null", lambda r: r["x"] is None),
    "is_not_null": ("s is not null", lambda r: r["s"] is not None),
    "cast_str_int": ("cast(u, int)", lambda r: nulls_in(to_int)(r["u"])),
    "cast_str_float": ("cast(u, float)", lambda r: nulls_in(lambda u: float(u) if u.replace(".", "").isdigit()
                                                                else None)(r["u"])),
    "cast_bool_int": ("cast(flag, int)", lambda r: nulls_in(int)(r["flag"])),
    "cast_float_int": ("cast(x, int)", lambda r: nulls_in(lambda x: int(x))(r["x"])),
    "cast_float_str": ("cast(y, str)", lambda r: nulls_in(repr)(r["y"])),
    "cast_int_float": ("cast(a, float)", lambda r: nulls_in(float)(r["a"])),
    "year": ("year(ts)", lambda r: nulls_in(lambda t: t.year)(r["ts"])),
    "month": ("month(d)", lambda r: nulls_in(lambda t: t.month)(r["d"])),
    "day": ("day(ts)", lambda r: nulls_in(lambda t: t.day)(r["ts"])),
    "hour": ("hour(ts)", lambda r: nulls_in(lambda t: t.hour)(r["ts"])),
    "hour_of_date": ("hour(d)", lambda r: nulls_in(lambda d: 0)(r["d"])),
    "weekday": ("weekday(ts)", lambda r: nulls_in(lambda t: t.isoweekday())(r["ts"])),
    "weekday_date": ("weekday(d)", lambda r: nulls_in(lambda d: d.isoweekday())(r["d"])),
    "date": ("date(ts)", lambda r: nulls_in(lambda t: t.date())(r["ts"])),
}


@pytest.fixture(scope="module")
def computed(spark):
    exprs = derive_exprs(SCHEMA_TEXT, {name: text for name, (text, _) in CASES.items()})
    df = frame(spark, ROWS, SCHEMA)
    return df.select(*[spark_column(e).alias(n) for n, e in exprs.items()]).collect()


def same(actual, expected) -> bool:
    if isinstance(expected, float) and actual is not None:
        if math.isnan(expected):
            return math.isnan(actual)
        return actual == expected or math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(expected, dt.datetime) and actual is not None:
        return actual.replace(tzinfo=None) == expected.astimezone(UTC).replace(tzinfo=None)
    return actual == expected and type(actual) is type(expected) if expected is not None else actual is None


@pytest.mark.parametrize("name", list(CASES))
def test_expression_matches_semantics(computed, name):
    _, reference = CASES[name]
    actual = [row[name] for row in computed]
    expected = [reference(r) for r in rows_as_dicts()]
    assert all(same(a, e) for a, e in zip(actual, expected)), (name, actual, expected)


def test_params_reach_expressions(spark):
    exprs = derive_exprs("a: int?", {"z": "a + $k", "w": "$day"}, params='param k: int = 1\n  param day: date = "2013-01-01"')
    df = frame(spark, [(1,), (None,)], [("a", "int", True)])
    params = {"k": 10, "day": dt.date(2020, 5, 17)}
    rows = df.select(spark_column(exprs["z"], params), spark_column(exprs["w"], params)).collect()
    assert [tuple(r) for r in rows] == [(11, dt.date(2020, 5, 17)), (None, dt.date(2020, 5, 17))]


def test_no_python_udfs_and_ansi_safe_operators():
    exprs = derive_exprs(SCHEMA_TEXT, {"q": "a / b", "m": "a % b", "c": "cast(u, int)"})
    texts = [column(e) for e in exprs.values()]
    assert texts[0] == 'ieee_divide(F.col("a"), F.col("b"))'
    assert "udf" not in "".join(texts)
    assert "try_cast" in texts[2]


AGG_ROWS = [(1, 2.0, "a"), (None, 4.0, "b"), (3, None, "a"), (3, 7.0, None), (10, 1.0, "c")]
AGG_SCHEMA = [("a", "int", True), ("x", "float", True), ("s", "str", True)]


def test_aggregates_follow_null_rules(spark):
    aggs = aggregate_exprs("a: int?, x: float?, s: str?, nothing: int?", {
        "rows": "count()", "count_a": "count(a)", "distinct_s": "count_distinct(s)", "sum_a": "sum(a)",
        "mean_x": "mean(x)", "min_s": "min(s)", "max_a": "max(a)", "std_x": "std(x)", "var_a": "var(a)",
        "median_a": "median(a)", "median_x": "median(x)", "sum_none": "sum(nothing)", "std_none": "std(nothing)",
    })
    df = frame(spark, [r + (None,) for r in AGG_ROWS], AGG_SCHEMA + [("nothing", "int", True)])
    got = df.agg(*[spark_column(e).alias(n) for n, e in aggs.items()]).first().asDict()
    a = [r[0] for r in AGG_ROWS if r[0] is not None]
    x = [r[1] for r in AGG_ROWS if r[1] is not None]
    s = [r[2] for r in AGG_ROWS if r[2] is not None]
    expected = {
        "rows": 5, "count_a": 4, "distinct_s": len(set(s)), "sum_a": sum(a), "mean_x": statistics.mean(x),
        "min_s": min(s), "max_a": max(a), "std_x": statistics.stdev(x), "var_a": statistics.variance(a),
        "median_a": statistics.median(a), "median_x": statistics.median(x), "sum_none": None, "std_none": None,
    }
    for name, value in expected.items():
        assert same(got[name], float(value) if isinstance(got[name], float) else value), (name, got[name], value)


def test_std_of_one_value_is_null(spark):
    aggs = aggregate_exprs("x: float", {"s": "std(x)", "v": "var(x)"})
    got = frame(spark, [(1.0,)], [("x", "float", False)]).agg(*[spark_column(e) for e in aggs.values()]).first()
    assert tuple(got) == (None, None)


def test_describe_and_observed_values_for_expect_messages():
    exprs = aggregate_exprs("a: int?", {"c": "count() > 3 and (sum(a) - 1) * 2 >= max(a)"})
    (condition,) = exprs.values()
    assert describe(condition) == "count() > 3 and (sum(a) - 1) * 2 >= max(a)"
    assert [describe(o) for o in observed_values(condition)] == ["count()", "sum(a)", "max(a)"]


def test_py_literal_is_safe_for_hostile_strings():
    hostile = 'x"); import os; os.system("echo pwned")  # \n\\ \u2028'
    assert eval(py_literal(hostile)) == hostile  # noqa: S307
    assert eval(py_literal([hostile, 1, 2.5, None, True])) == [hostile, 1, 2.5, None, True]  # noqa: S307
