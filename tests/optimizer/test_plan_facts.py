"""The facts every backend reads from a plan (compiler/plan.py): the order of the stages, what
each stage reads and hands on, and the columns each table really carries after projection
pushdown."""
from __future__ import annotations

from optimizer_helpers import checked

from pipec.compiler.passes import optimize
from pipec.compiler.plan import Plan, Stage

MODEL = """
  t = read_csv("t.csv", schema={a: float, y: bool})
  train, test = t | split(fraction=0.5, seed=1)
  m = train | fit(logistic_regression(), features=[a], label=y)
  scores = test | predict(m) | evaluate(label=y, metrics=["accuracy"])
  scores | write_json("m.json")
  m | save_model("m")
"""


def test_stages_run_after_the_stages_they_read_and_otherwise_in_plan_order():
    ir = checked(MODEL)
    by_node = {n: Stage(id=f"s_{n}", nodes=[n]) for n in ir.order()}
    # listed backwards: every stage before the stages it reads
    plan = Plan(ir=ir, stages=list(reversed(by_node.values())))
    order = [s.nodes[0] for s in plan.ordered_stages]
    assert sorted(order) == sorted(ir.order())
    for stage in plan.ordered_stages:
        assert all(order.index(i) < order.index(stage.nodes[0]) for i in plan.stage_inputs(stage))
    # independent stages keep the plan's order: the two sinks are listed save_model first
    assert order.index("sink2_save_model") < order.index("sink1_write_json")


def test_stage_inputs_and_outputs_and_metrics_are_always_handed_on():
    ir = checked(MODEL)
    plan = optimize(ir, backend="airflow")
    scoring = plan.stage_of("scores")
    assert scoring.nodes == ["scores__0_predict", "scores", "sink1_write_json"]
    assert plan.stage_inputs(scoring) == ["test", "m"]  # in first-use order
    assert "scores" in plan.stage_outputs(scoring)  # read by no other stage, but it is metrics
    training = plan.stage_of("m")
    assert plan.stage_outputs(training) == ["test", "m"]


def test_physical_columns_follow_what_the_sources_read_and_the_steps_compute():
    ir = checked("""
      t = read_csv("t.csv", schema=T)
      d = t | derive(b = 1, z = a + 1)
      d | select(a, b, z) | write_csv("o.csv")
    """)
    plan = optimize(ir, backend="spark")
    source = next(n for n in plan.ir.nodes() if n.is_source)
    assert source.args.columns == ["a", "b"]  # c and x are never needed
    assert plan.physical_columns(source.id) == ["a", "b"]
    assert plan.ir.node("d").schema_.names == ["a", "b", "c", "x", "z"]
    assert plan.physical_columns("d") == ["a", "b", "z"]
