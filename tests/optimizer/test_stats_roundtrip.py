"""A local run records rows, bytes and seconds per node; the next compile estimates from them."""
from __future__ import annotations

import pandas as pd

from pipec.backends.local.runner import run_plan
from pipec.compiler.check import check_source
from pipec.compiler.cost import estimate
from pipec.compiler.explain import explain_text
from pipec.compiler.passes import optimize
from pipec.compiler.stats import Statistics

SOURCE = """
schema Row { id: int, group: str, amount: float }
pipeline spend() {
  rows = read_csv("rows.csv", schema=Row)
  big = rows | filter(amount > 50.0) | derive(double = amount * 2.0)
  big | write_csv("out/big.csv")
  big | aggregate(by=[group], total=sum(double)) | write_csv("out/by_group.csv")
}
"""


def write_rows(workdir) -> pd.DataFrame:
    frame = pd.DataFrame({"id": range(200), "group": [f"g{i % 7}" for i in range(200)],
                          "amount": [(i * 37) % 100 + 0.5 for i in range(200)]})
    frame.to_csv(workdir / "rows.csv", index=False)
    return frame


def compile_plan(workdir):
    (ir,) = check_source(SOURCE, str(workdir / "spend.pipe")).pipelines.values()
    return optimize(ir, workdir=workdir)


def test_second_compile_uses_the_rows_the_first_run_measured(tmp_path):
    rows = write_rows(tmp_path)
    big = rows[rows.amount > 50.0]
    first = compile_plan(tmp_path)
    assert first.statistics == "guessed"
    result = run_plan(first, {}, tmp_path)
    assert Statistics.path("spend", tmp_path).exists()

    second = compile_plan(tmp_path)
    assert second.statistics == "recorded"
    assert "recorded by earlier runs" in explain_text(second)
    estimates = estimate(second.ir, stats=Statistics.load("spend", tmp_path), workdir=tmp_path)
    by_binding = {n.binding: n.id for n in second.ir.nodes() if n.binding}
    assert estimates[by_binding["rows"]].rows == len(rows)
    assert estimates[by_binding["big"]].rows == len(big)
    sinks = {n.args.path: n.id for n in second.ir.sinks()}
    assert estimates[sinks["out/big.csv"]].rows == len(big)
    assert estimates[sinks["out/by_group.csv"]].rows == big.group.nunique()
    assert all(estimates[n].recorded for n in result.node_stats)


def test_every_node_gets_measured_seconds_that_add_up_to_the_run(tmp_path):
    write_rows(tmp_path)
    plan = compile_plan(tmp_path)
    result = run_plan(plan, {}, tmp_path)
    stats = Statistics.load("spend", tmp_path)
    from pipec.compiler.passes.fingerprint import structural_hashes

    hashes = structural_hashes(plan.ir)
    seconds = [stats.nodes[hashes[n.id]].seconds for n in plan.ir.nodes()]
    assert all(s is not None and s >= 0 for s in seconds)
    assert sum(seconds) <= sum(result.stage_seconds.values()) + 1e-6


def test_statistics_of_a_later_run_replace_the_earlier_ones(tmp_path):
    write_rows(tmp_path)
    run_plan(compile_plan(tmp_path), {}, tmp_path)
    fewer = write_rows(tmp_path).head(50)
    fewer.to_csv(tmp_path / "rows.csv", index=False)
    plan = compile_plan(tmp_path)
    run_plan(plan, {}, tmp_path)
    estimates = estimate(plan.ir, stats=Statistics.load("spend", tmp_path), workdir=tmp_path)
    source = next(n.id for n in plan.ir.nodes() if n.binding == "rows")
    assert estimates[source].rows == 50
