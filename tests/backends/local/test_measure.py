"""How a run's timings become per-node seconds (see `measure.py`), on hand-made timings."""
from __future__ import annotations

import pytest

from local_irkit import plan_for
from pipec.backends.local.measure import StageTiming, node_observations
from pipec.compiler.cost import NodeEstimate
from pipec.compiler.plan import Stage

SOURCE = """
schema Row { id: int, amount: float }
pipeline p() {
  rows = read_csv("rows.csv", schema=Row)
  big = rows | filter(amount > 1.0) | derive(double = amount * 2.0)
  big | write_csv("a.csv")
  big | write_csv("b.csv")
}
"""


@pytest.fixture
def ir(tmp_path):
    return plan_for(SOURCE, tmp_path, optimized=False).ir


def ids(ir):
    nodes = {n.args.path if n.is_sink else n.binding: n.id for n in ir.nodes()}
    kept = next(n.id for n in ir.nodes() if n.step == "filter")
    return nodes["rows"], kept, nodes["big"], nodes["a.csv"], nodes["b.csv"]


def even(ir) -> dict[str, NodeEstimate]:
    return {n.id: NodeEstimate(rows=1, bytes=1, seconds=1.0) for n in ir.nodes()}


def test_a_cached_table_and_its_fused_steps_share_their_segment(ir):
    rows, filtered, big, a, b = ids(ir)
    stages = [Stage(id="s1", nodes=[rows, filtered, big]), Stage(id="s2", nodes=[a]), Stage(id="s3", nodes=[b])]
    timings = {"s1": StageTiming(started=0.0, marks=[(rows, 1.0), (big, 4.0)], ended=4.0),
               "s2": StageTiming(started=4.0, marks=[(a, 4.5)], ended=4.5),
               "s3": StageTiming(started=4.5, marks=[(b, 4.75)], ended=4.75)}
    measured = {n: {"rows": 10, "bytes": 80} for n in (rows, big, a, b)}
    observed = node_observations(ir, stages, timings, measured, even(ir))
    assert {n: o["seconds"] for n, o in observed.items()} == {
        rows: 1.0, filtered: 1.5, big: 1.5, a: 0.5, b: 0.25}
    assert observed[filtered]["rows"] is None and observed[big]["rows"] == 10


def test_an_uncached_table_read_twice_gets_the_mean_of_its_two_computations(ir):
    rows, filtered, big, a, b = ids(ir)
    stages = [Stage(id=f"s{k}", nodes=[n]) for k, n in enumerate([rows, filtered, big, a, b])]
    timings = {"s0": StageTiming(started=0.0, marks=[(rows, 1.0)], ended=1.0),
               "s1": StageTiming(started=1.0, ended=1.0), "s2": StageTiming(started=1.0, ended=1.0),
               "s3": StageTiming(started=2.0, marks=[(a, 5.0)], ended=5.0),   # a, big, filter: 1 s each
               "s4": StageTiming(started=5.0, marks=[(b, 11.0)], ended=11.0)}  # b, big, filter: 2 s each
    measured = {n: {"rows": 10, "bytes": 80} for n in (rows, a, b)}
    observed = node_observations(ir, stages, timings, measured, even(ir))
    assert {n: o["seconds"] for n, o in observed.items()} == {
        rows: 1.0, filtered: 1.5, big: 1.5, a: 1.0, b: 2.0}


def test_a_segment_is_split_in_proportion_to_the_guesses(ir):
    rows, filtered, big, a, b = ids(ir)
    stages = [Stage(id="s1", nodes=[rows, filtered, big, a, b])]
    timings = {"s1": StageTiming(started=0.0, marks=[(rows, 1.0), (a, 5.0), (b, 6.0)], ended=6.0)}
    guesses = even(ir) | {filtered: NodeEstimate(rows=1, bytes=1, seconds=3.0)}
    measured = {n: {"rows": 10, "bytes": 80} for n in (rows, a, b)}
    observed = node_observations(ir, stages, timings, measured, guesses)
    # a's segment computes a, big and filter (weights 1, 1, 3); b's recomputes them (1 s in all)
    assert observed[filtered]["seconds"] == pytest.approx((2.4 + 0.6) / 2)
    assert observed[a]["seconds"] == pytest.approx(0.8)
    assert observed[b]["seconds"] == pytest.approx(0.2)
