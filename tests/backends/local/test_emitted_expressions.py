"""Regressions in the polars text the expression emitter writes: operator precedence (`not`)
and `round`'s exact rule, each checked through a real run against plain Python."""
from __future__ import annotations

import math
import random

import polars as pl
import pytest

FLAGS = "k,b,x\n1,true,1.5\n2,true,38.35\n3,false,13.65\n4,,-2.5\n"


def run_rows(run_pipe, body: str, params=None) -> pl.DataFrame:
    source = f"""
schema T {{ k: int, b: bool?, x: float }}
pipeline t() {{
  param d: int = 1
  t = read_csv("in.csv", schema=T)
  t | {body} | write_parquet("out.parquet")
}}
"""
    run_pipe(source, params=params, files={"in.csv": FLAGS})
    return pl.read_parquet(run_pipe.workdir / "out.parquet")


def test_not_is_a_bool_inside_aggregates_and_is_null(run_pipe):
    out = run_rows(run_pipe, "aggregate(n = sum(not b), m = mean(not b), nulls = sum(cast((not b) is null, int)))")
    assert out.rows() == [(1, 1 / 3, 1)]


def test_not_of_a_comparison_and_of_not(run_pipe):
    out = run_rows(run_pipe, "derive(p = not (k > 2), q = not not b, r = not b and k > 1) | select(k, p, q, r)")
    assert out.rows() == [(1, True, True, False), (2, True, True, False), (3, False, False, True),
                          (4, False, None, None)]


def half_away_then_divide(x: float, digits: int) -> float:
    """docs/semantics.md's rule in plain Python: the float64 product, rounded half away from zero
    (exactly: the fraction of |p| is exact in float64), divided (not multiplied by 0.1)."""
    scale = 10.0 ** digits
    p = x * scale
    if math.isinf(p) or math.isnan(p):
        return p / scale
    whole = math.floor(abs(p))
    rounded = math.copysign(whole + (1.0 if abs(p) - whole >= 0.5 else 0.0), p)
    return rounded / scale


@pytest.mark.parametrize("digits", [0, 1, 2, 3, -1])
def test_round_is_the_documented_product_rounding_then_division(run_pipe, digits):
    rng = random.Random(digits)
    xs = [rng.uniform(-1000, 1000) for _ in range(3000)] + [rng.randint(-10000, 10000) / 100 + 0.005
                                                            for _ in range(3000)]
    xs += [38.35, 13.65, 2.5, -2.5, 0.5, -0.0, 1e300, -1e-300, math.inf, -math.inf, math.nan]
    text = "k,x\n" + "".join(f"{i},{x!r}\n" for i, x in enumerate(xs))
    source = """
schema T { k: int, x: float }
pipeline t() {
  param d: int = 0
  t = read_csv("in.csv", schema=T)
  t | derive(r = round(x, $d)) | write_parquet("out.parquet")
}
"""
    run_pipe(source, params={"d": digits}, files={"in.csv": text.replace("nan", "NaN")})
    got = pl.read_parquet(run_pipe.workdir / "out.parquet")["r"].to_list()
    expected = [half_away_then_divide(x, digits) for x in xs]
    assert [g.hex() for g in got] == [e.hex() for e in expected]


def test_round_with_literal_digits_writes_the_short_decimal(run_pipe):
    out = run_rows(run_pipe, "derive(r = round(x, 1), t = round(x, -1)) | select(r, t)")
    assert out.rows() == [(1.5, 0.0), (38.4, 40.0), (13.7, 10.0), (-2.5, -0.0)]


def test_division_by_a_constant_divides_in_every_row(run_pipe):
    """polars multiplies by the reciprocal of a one-value divisor: 384 * 0.1 is 38.400000000000006."""
    out = run_rows(run_pipe, "derive(y = x * 0.0 + 384.0) | derive(q = y / 10.0, f = y // 10.0, r = round(y / 100.0, 1)) "
                             "| select(q, f, r)")
    assert out.rows() == [(38.4, 38.0, 3.8)] * 4
