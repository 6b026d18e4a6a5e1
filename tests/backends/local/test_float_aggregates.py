"""Float `sum`/`mean`/`var`/`std` are bit for bit the rule of docs/semantics.md (sequential sum of
the ascending-sorted non-null values from 0.0), checked against plain Python on random data with
NaN, infinities, -0.0, nulls, all-null groups and an empty input."""
from __future__ import annotations

import math
import random

import polars as pl
import pytest

from local_irkit import run_csv_chain

AGGREGATES = "s = sum(x), m = mean(x), v = var(x), sd = std(x), n = count(x)"


def ascending(values: list[float]) -> list[float]:
    return sorted(values, key=lambda v: (math.isnan(v), v))


def sequential_sum(values: list[float]) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


def reference(xs: list[float | None]) -> tuple:
    values = ascending([x for x in xs if x is not None])
    n = len(values)
    if n == 0:
        return (None, None, None, None, 0)
    mean = sequential_sum(values) / n
    var = sequential_sum([(v - mean) * (v - mean) for v in values]) / (n - 1) if n > 1 else None
    return (sequential_sum(values), mean, var, None if var is None else math.sqrt(var), n)


def random_value(rng: random.Random) -> float | None:
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.12:
        return rng.choice([math.nan, math.inf, -math.inf, -0.0, 0.0])
    return rng.choice([rng.uniform(-1e6, 1e6), rng.uniform(-1, 1) * 10 ** rng.randint(-20, 20)])


def same_bits(got: tuple, expected: tuple) -> bool:
    return all((g is None and e is None) or (g is not None and e is not None and
                                             (math.isnan(g) and math.isnan(e) or repr(g) == repr(e)))
               for g, e in zip(got, expected))


def run_aggregate(run_pipe, rows: list[tuple[int, float | None]], by: bool) -> pl.DataFrame:
    text = "g,x\n" + "".join(f"{g},{'' if x is None else repr(x).replace('nan', 'NaN')}\n" for g, x in rows)
    step = f"aggregate(by=[g], {AGGREGATES})" if by else f"aggregate({AGGREGATES})"
    return run_csv_chain(run_pipe, "g: int, x: float?", text, step)


@pytest.mark.parametrize("seed", [1, 2])
def test_grouped_float_aggregates_are_the_documented_sequential_sums(run_pipe, seed):
    rng = random.Random(seed)
    rows = [(rng.randint(0, 40), random_value(rng)) for _ in range(20000)]
    rows += [(99, None), (99, None), (98, -0.0), (98, -0.0), (97, 5.0)]  # all-null, only -0.0, one value
    rows += [(96, x) for x in (1e16, 1.0, -1e16, 1.0, 3.0)]  # order changes the sum
    out = run_aggregate(run_pipe, rows, by=True)
    groups = {}
    for g, x in rows:
        groups.setdefault(g, []).append(x)
    assert out["g"].to_list() == list(groups)  # groups in order of first appearance
    for g, *got in out.rows():
        assert same_bits(tuple(got), reference(groups[g])), g


def test_float_aggregates_without_groups_and_over_no_rows(run_pipe):
    rng = random.Random(7)
    rows = [(0, random_value(rng)) for _ in range(5000) if True]
    rows = [r for r in rows if r[1] is None or math.isfinite(r[1])]
    assert same_bits(run_aggregate(run_pipe, rows, by=False).row(0), reference([x for _, x in rows]))
    assert run_aggregate(run_pipe, [], by=False).rows() == [(None, None, None, None, 0)]


def test_expressions_over_grouped_aggregates(run_pipe):
    rows = [(1, 0.1), (2, 5.0), (1, 0.2), (1, None), (2, -1.0), (3, None)]
    text = "g,x\n" + "".join(f"{g},{'' if x is None else x}\n" for g, x in rows)
    source = """
schema T { g: int, x: float? }
pipeline t() {
  t = read_csv("in.csv", schema=T)
  t | aggregate(by=[g], r = round(mean(x) * 10.0, 1), q = sum(x) / count(), k = count() + count(x), s = std(x) > 0.0)
    | write_parquet("out.parquet")
}
"""
    run_pipe(source, files={"in.csv": text})
    out = pl.read_parquet(run_pipe.workdir / "out.parquet")
    assert out.rows() == [(1, 1.5, (0.1 + 0.2) / 3, 5, True), (2, 20.0, 2.0, 4, True), (3, None, None, 1, None)]
