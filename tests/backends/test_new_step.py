"""A step added in one module (tests/optimizer/toy_step.py: its spec and its two emitters) runs
through `pipec check`, the optimizer and both backends, for real, without a change to pipec."""
from __future__ import annotations

from pathlib import Path

import pytest
from optimizer_helpers import shape
from spark_kit import check, run_generated
from toy_step import registered

from pipec.cli import main
from pipec.compiler.passes import optimize

SOURCE = """pipeline toy() {
  t = read_csv("in.csv", schema={a: int, b: float, c: str})
  r = t | double(a, b) | filter(a > 2 and c == "k") | select(a, b, c)
  r | write_csv("out/toy.csv")
}
"""
ROWS = "a,b,c\n1,0.5,k\n2,1.5,x\n3,2.0,k\n0,4.0,k\n5,1.25,k\n"
DOUBLED = "a,b,c\n6,4.0,k\n10,2.5,k\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text(ROWS)
    (tmp_path / "toy.pipe").write_text(SOURCE)
    with registered():
        yield tmp_path


def _optimized():
    plan = optimize(check(SOURCE), level=2)
    # the conjunct on `c` moves below `double`, the one on `a` (which it computes) stays above
    assert shape(plan.ir) == [
        "t = read_csv()", 'r__1_filter_1 = filter(t) [c == "k"]', "r__0_double = double(r__1_filter_1)",
        "r__1_filter = filter(r__0_double) [a > 2]", "r = select(r__1_filter)", "sink1_write_csv = write_csv(r)"]
    return plan


def test_checked_optimized_and_run_locally(project, capsys):
    assert main(["check", "toy.pipe"]) == 0
    _optimized()
    assert main(["run", "toy.pipe", "--target", "local"]) == 0
    assert "wrote out/toy.csv (2 rows)" in capsys.readouterr().out
    assert (project / "out" / "toy.csv").read_text() == DOUBLED


def test_compiled_and_run_on_spark(project, spark):
    assert main(["compile", "toy.pipe", "--target", "spark", "-o", "job"]) == 0
    assert ".withColumns({'a': F.col('a') * 2, 'b': F.col('b') * 2})" in (project / "job" / "toy.py").read_text()
    run_generated(spark, SOURCE, plan=_optimized())
    assert (project / "out" / "toy.csv").read_text() == DOUBLED
