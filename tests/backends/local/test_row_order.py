"""Row order is the documented one for every step (docs/semantics.md "Row order"), with duplicate
keys, misses and null keys; big enough inputs that polars would use several threads."""
from __future__ import annotations

import random

import polars as pl
import pytest

SCHEMAS = """
schema L { k: int?, l: int }
schema R { k: int?, r: int }
"""


def run(run_pipe, body: str, left: list, right: list, extra: str = "") -> list[tuple]:
    def csv(name, rows):
        return f"k,{name}\n" + "".join(f"{'' if k is None else k},{v}\n" for k, v in rows)
    source = SCHEMAS + f"""
pipeline t() {{
  left = read_csv("l.csv", schema=L)
  right = read_csv("r.csv", schema=R)
  {extra}
  out = {body}
  out | write_parquet("out.parquet")
}}
"""
    run_pipe(source, files={"l.csv": csv("l", left), "r.csv": csv("r", right)})
    return pl.read_parquet(run_pipe.workdir / "out.parquet").rows()


def tables(n: int = 3000, seed: int = 0):
    rng = random.Random(seed)
    key = lambda: None if rng.random() < 0.05 else rng.randint(0, n // 4)  # noqa: E731
    return [(key(), i) for i in range(n)], [(key(), i) for i in range(n)]


def expected_join(left, right, how):
    matches = lambda k, rows: [r for r in rows if k is not None and r[0] == k]  # noqa: E731
    if how == "right":
        return [(k, m[1], r) for k, r in right for m in (matches(k, left) or [(None, None)])]
    out = []
    for k, v in left:
        found = matches(k, right)
        if how == "semi":
            out += [(k, v)] * bool(found)
        elif how == "anti":
            out += [(k, v)] * (not found)
        else:
            out += [(k, v, r) for _, r in found] or ([(k, v, None)] if how in ("left", "full") else [])
    if how == "full":
        out += [(k, None, r) for k, r in right if not matches(k, left)]
    return out


@pytest.mark.parametrize("how", ["inner", "left", "right", "full", "semi", "anti"])
def test_join_row_order(run_pipe, how):
    left, right = tables()
    got = run(run_pipe, f'left | join(right, on=[k], how="{how}")', left, right)
    assert got == expected_join(left, right, how)


def test_aggregate_distinct_sort_union_and_limit_order(run_pipe):
    left, right = tables(seed=1)
    groups = run(run_pipe, "left | aggregate(by=[k], n = count())", left, right)
    firsts = list(dict.fromkeys(k for k, _ in left))
    assert [k for k, _ in groups] == firsts  # first appearance, the null key included
    assert run(run_pipe, "left | distinct(k)", left, right) == [(k,) for k in firsts]
    assert run(run_pipe, "left | sort(k) | limit(500)", left, right) == \
        sorted(left, key=lambda r: (r[0] is None, r[0] or 0))[:500]  # stable, nulls last
    assert run(run_pipe, "left | sort(-k)", left, right) == \
        sorted([r for r in left if r[0] is not None], key=lambda r: -r[0]) + [r for r in left if r[0] is None]
    assert run(run_pipe, "left | union(renamed)", left, right, extra="renamed = right | rename(l = r)") == \
        left + right
