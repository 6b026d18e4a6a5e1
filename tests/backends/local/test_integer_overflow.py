"""Integer `+ - *`, negation and `sum` that leave int64 stop the run with an error naming the step,
the place and the expression (docs/semantics.md), at every -O level, instead of writing a wrapped
value; results at the edge of int64 are exact."""
from __future__ import annotations

import polars as pl
import pytest

from local_irkit import run_csv_chain

from pipec.backends.local.runner import run_plan
from pipec.backends.local.runtime import PipelineRunError
from pipec.compiler.check import check_source
from pipec.compiler.passes import optimize

MAX, MIN = 2 ** 63 - 1, -(2 ** 63)
DATA = f"k,a\n1,{MAX}\n2,{MIN}\n3,\n4,3037000499\n5,-4611686018427387904\n"


def run(run_pipe, body: str) -> pl.DataFrame:
    return run_csv_chain(run_pipe, "k: int, a: int?", DATA, body)


@pytest.mark.parametrize("body, step, expression", [
    ("derive(big = k * 922337203685477580) | aggregate(total = sum(big))", "aggregate", "sum(big)"),
    ("filter(k == 1) | derive(b = a + k)", "derive", "a + k"),
    ("filter(k == 2) | derive(b = a - k)", "derive", "a - k"),
    ("filter(k == 2) | derive(b = -a)", "derive", "-a"),
    ("filter(k == 4) | select(b = a * a * 2)", "select", "a * a * 2"),
    ("filter(k == 5) | derive(b = a * (-3))", "derive", "a * -3"),
    ("filter(k > 3) | filter(a * 4 > 0)", "filter", "a * 4"),
    ("filter(a > 0) | aggregate(by=[k], s = sum(a + a))", "aggregate", "a + a"),
])
def test_overflow_is_an_error_naming_step_place_and_expression(run_pipe, body, step, expression):
    with pytest.raises(PipelineRunError) as caught:
        run(run_pipe, body)
    message = caught.value.message
    assert message.startswith(f"integer overflow in {step} at "), message
    assert f".pipe:5:" in message and f": {expression} (" in message, message
    assert "This error occurred" not in message


def test_nulls_and_fitting_values_pass(run_pipe):
    out = run(run_pipe, "filter(k > 2) | derive(p = a * 2, s = a + 1) | select(k, p, s)")
    assert out.rows() == [(3, None, None), (4, 6074000998, 3037000500), (5, MIN, -4611686018427387903)]
    square = run(run_pipe, "filter(k == 4) | select(sq = a * a, d = a * a - a * a * 1)")
    assert square.rows() == [(3037000499 ** 2, 0)]  # the largest square that fits
    total = run(run_pipe, "filter(k == 1 or k == 2) | aggregate(s = sum(a))")
    assert total.rows() == [(-1,)]  # the exact sum fits, whatever a running sum would do


@pytest.mark.parametrize("after", ["filter(k == 3)", "limit(1)", "select(k)", "aggregate(by=[k], n = count()) | filter(k == 3)"])
def test_a_later_step_in_the_same_polars_query_does_not_hide_the_overflow(tmp_path, after):
    """Fused into one lazy query (pipec's own pushdown passes off, as they would not move these
    steps either), polars must not push the filter/limit below the derive or prune its column."""
    (tmp_path / "in.csv").write_text(DATA)
    source = f"""
schema T {{ k: int, a: int? }}
pipeline t() {{
  t = read_csv("in.csv", schema=T)
  t | derive(big = a * 2) | {after} | write_parquet("out.parquet")
}}
"""
    (ir,) = check_source(source, str(tmp_path / "t.pipe")).pipelines.values()
    plan = optimize(ir, disable={"predicate_pushdown", "projection_pushdown"}, workdir=tmp_path)
    assert len(plan.stages) == 1
    with pytest.raises(PipelineRunError, match=r"integer overflow in derive at .*t\.pipe:5:20: a \* 2"):
        run_plan(plan, {}, tmp_path)
