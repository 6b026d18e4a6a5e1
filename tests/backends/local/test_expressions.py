"""Every expression function of LANGUAGE.md §6 on the local backend, against plain-Python
expectations that implement docs/semantics.md independently (nulls included)."""
from __future__ import annotations

import datetime as dt
import math

import pytest

from local_irkit import Pipeline, binary, c, call, cast, lit, named, param, read_back, schema
from pipec.compiler.ast import InList, IsNull, Unary
from pipec.compiler.ir import DeriveArgs
from pipec.compiler.span import UNKNOWN_SPAN
from pipec.compiler.types import col

CSV = """a,b,x,s,n,flag,ts,d
7,2,2.5,Hello,42,true,2013-01-07T10:30:00Z,2013-01-07
-7,2,-2.5, pad ,abc,false,2013-01-06 23:00:00,2013-01-06
5,0,0.0,,  7 ,,2013-12-31T00:00:00Z,2013-12-31
,3,,a.b,,true,2020-02-29 12:00:00.250000,2020-02-29
0,-3,4.0,abc,1.5,false,2013-01-01 00:00:00,2013-01-01
"""
SCHEMA = schema(a="int?", b="int?", x="float?", s="str?", n="str?", flag="bool?", ts="timestamp", d="date")
UTC = dt.timezone.utc
ROWS = {
    "a": [7, -7, 5, None, 0], "b": [2, 2, 0, 3, -3], "x": [2.5, -2.5, 0.0, None, 4.0],
    "s": ["Hello", " pad ", None, "a.b", "abc"], "n": ["42", "abc", "  7 ", None, "1.5"],
    "flag": [True, False, None, True, False],
    "ts": [dt.datetime(2013, 1, 7, 10, 30, tzinfo=UTC), dt.datetime(2013, 1, 6, 23, 0, tzinfo=UTC),
           dt.datetime(2013, 12, 31, tzinfo=UTC), dt.datetime(2020, 2, 29, 12, 0, 0, 250000, tzinfo=UTC),
           dt.datetime(2013, 1, 1, tzinfo=UTC)],
    "d": [dt.date(2013, 1, 7), dt.date(2013, 1, 6), dt.date(2013, 12, 31), dt.date(2020, 2, 29),
          dt.date(2013, 1, 1)],
}
A, B, X, Sx, N = c("a", "int?"), c("b", "int?"), c("x", "float?"), c("s", "str?"), c("n", "str?")
FLAG, TS, D = c("flag", "bool?"), c("ts", "timestamp"), c("d", "date")


def each(fn, *columns):
    """Apply `fn` row by row, null in -> null out (SQL propagation)."""
    return [None if any(v is None for v in values) else fn(*values)
            for values in zip(*(ROWS[k] for k in columns))]


def kleene_and(p, q):
    if p is False or q is False:
        return False
    return None if p is None or q is None else True


def kleene_or(p, q):
    if p is True or q is True:
        return True
    return None if p is None or q is None else False


def half_away(v, digits=0):
    scaled = abs(v) * 10 ** digits
    return math.copysign(math.floor(scaled + 0.5) / 10 ** digits, v)


def ieee_divide(a, b):
    """IEEE 754 division, as docs/semantics.md specifies for `/`."""
    if b == 0:
        return math.copysign(math.inf, a) if a else math.nan
    return a / b


def ieee_log(log, x):
    return log(x) if x > 0 else (-math.inf if x == 0 else math.nan)


A_GT_0 = binary(">", A, lit(0), "bool?")
CASES = {
    "add": (binary("+", A, B, "int?"), each(lambda a, b: a + b, "a", "b")),
    "mul_float": (binary("*", A, X, "float?"), each(lambda a, x: a * x, "a", "x")),
    "divide": (binary("/", A, B, "float?"), each(ieee_divide, "a", "b")),
    "floor_div": (binary("//", A, B, "int?"), each(lambda a, b: None if b == 0 else a // b, "a", "b")),
    "modulo": (binary("%", A, B, "int?"), each(lambda a, b: None if b == 0 else a % b, "a", "b")),
    "neg": (Unary(span=UNKNOWN_SPAN, op="-", operand=A, type=col("int", True)), each(lambda a: -a, "a")),
    "and": (binary("and", FLAG, A_GT_0, "bool?"),
            [kleene_and(f, None if a is None else a > 0) for f, a in zip(ROWS["flag"], ROWS["a"])]),
    "or": (binary("or", FLAG, A_GT_0, "bool?"),
           [kleene_or(f, None if a is None else a > 0) for f, a in zip(ROWS["flag"], ROWS["a"])]),
    "not": (Unary(span=UNKNOWN_SPAN, op="not", operand=FLAG, type=col("bool", True)), each(lambda f: not f, "flag")),
    "compare_param": (binary(">=", A, param("threshold", "int"), "bool?"), each(lambda a: a >= 5, "a")),
    "is_null": (IsNull(span=UNKNOWN_SPAN, operand=A, type=col("bool")), [a is None for a in ROWS["a"]]),
    "in_list": (InList(span=UNKNOWN_SPAN, operand=A, items=[lit(7), lit(5)], type=col("bool", True)),
                each(lambda a: a in (7, 5), "a")),
    "abs": (call("abs", A, spec="int?"), each(abs, "a")),
    "round": (call("round", X, lit(0), spec="float?"), each(half_away, "x")),
    "round_int": (call("round", A, spec="int?"), ROWS["a"]),
    "floor": (call("floor", X, spec="float?"), each(lambda x: float(math.floor(x)), "x")),
    "ceil_int": (call("ceil", A, spec="int?"), ROWS["a"]),
    "sqrt": (call("sqrt", X, spec="float?"), each(lambda x: math.sqrt(x) if x >= 0 else math.nan, "x")),
    "log": (call("log", X, spec="float?"), each(lambda x: ieee_log(math.log, x), "x")),
    "log10": (call("log10", A, spec="float?"), each(lambda a: ieee_log(math.log10, a), "a")),
    "exp": (call("exp", X, spec="float?"), each(math.exp, "x")),
    "pow": (call("pow", A, lit(2), spec="float?"), each(lambda a: float(a) ** 2, "a")),
    "lower": (call("lower", Sx, spec="str?"), each(str.lower, "s")),
    "upper": (call("upper", Sx, spec="str?"), each(str.upper, "s")),
    "trim": (call("trim", Sx, spec="str?"), each(str.strip, "s")),
    "length": (call("length", Sx, spec="int?"), each(len, "s")),
    "contains_literal": (call("contains", Sx, lit("."), spec="bool?"), each(lambda s: "." in s, "s")),
    "starts_with": (call("starts_with", Sx, lit("a"), spec="bool?"), each(lambda s: s.startswith("a"), "s")),
    "ends_with": (call("ends_with", Sx, lit("c"), spec="bool?"), each(lambda s: s.endswith("c"), "s")),
    "substr": (call("substr", Sx, lit(2), lit(3), spec="str?"), each(lambda s: s[1:4], "s")),
    "concat": (call("concat", Sx, lit("!"), N, spec="str?"), each(lambda s, n: s + "!" + n, "s", "n")),
    "replace_literal": (call("replace", Sx, lit("."), lit("-"), spec="str?"), each(lambda s: s.replace(".", "-"), "s")),
    "coalesce": (call("coalesce", A, B, spec="int?"), [a if a is not None else b for a, b in zip(ROWS["a"], ROWS["b"])]),
    "if_null_cond": (call("if", FLAG, A, B, spec="int?"),
                     [a if f is True else b for f, a, b in zip(ROWS["flag"], ROWS["a"], ROWS["b"])]),
    "cast_str_int": (cast(N, "int"), [42, None, 7, None, None]),
    "cast_str_float": (cast(N, "float"), [42.0, None, 7.0, None, 1.5]),
    "cast_float_int": (cast(X, "int"), each(lambda x: int(x), "x")),
    "cast_bool_int": (cast(FLAG, "int"), each(int, "flag")),
    "cast_float_str": (cast(X, "str"), each(repr, "x")),
    "cast_int_float": (cast(A, "float"), each(float, "a")),
    "cast_date_str": (cast(D, "str"), [d.isoformat() for d in ROWS["d"]]),
    "year": (call("year", TS, spec="int"), [v.year for v in ROWS["ts"]]),
    "month": (call("month", D, spec="int"), [v.month for v in ROWS["d"]]),
    "day": (call("day", TS, spec="int"), [v.day for v in ROWS["ts"]]),
    "hour": (call("hour", TS, spec="int"), [v.hour for v in ROWS["ts"]]),
    "hour_of_date": (call("hour", D, spec="int"), [0] * 5),
    "weekday": (call("weekday", TS, spec="int"), [v.isoweekday() for v in ROWS["ts"]]),
    "weekday_date": (call("weekday", D, spec="int"), [v.isoweekday() for v in ROWS["d"]]),
    "date": (call("date", TS, spec="date"), [v.date() for v in ROWS["ts"]]),
    "str_literal": (lit("x${threshold}y"), ["x5y"] * 5),
}


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    """One run deriving every case as its own column."""
    work = tmp_path_factory.mktemp("expr")
    (work / "in.csv").write_text(CSV)
    p = Pipeline(params={"threshold": ("int", 5)})
    src = p.read_csv("in.csv", SCHEMA)
    out = p.add("derive", DeriveArgs(columns=[named(k, e) for k, (e, _) in CASES.items()]), [src], output=SCHEMA)
    p.sink("write_parquet", out, "out/derived.parquet")
    p.run(work)
    return read_back(work / "out" / "derived.parquet")


def test_source_columns_parse_as_declared(derived):
    for name, values in ROWS.items():
        assert derived[name].to_list() == values, name


@pytest.mark.parametrize("case", list(CASES))
def test_expression(derived, case):
    expected = CASES[case][1]
    got = derived[case].to_list()
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        if isinstance(e, float) and g is not None:
            assert g == pytest.approx(e, nan_ok=True), (case, got, expected)
        else:
            assert g == e, (case, got, expected)


def test_result_types_follow_the_checker(derived):
    import polars as pl

    assert derived.schema["add"] == pl.Int64
    assert derived.schema["divide"] == pl.Float64
    assert derived.schema["length"] == pl.Int64
    assert derived.schema["weekday"] == pl.Int64
    assert derived.schema["ts"] == pl.Datetime("us", "UTC")
