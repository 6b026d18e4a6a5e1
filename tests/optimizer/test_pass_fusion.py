"""fusion: which nodes share a stage on each backend, and why each stage ends."""
from __future__ import annotations

from optimizer_helpers import checked

from pipec.backends.capabilities import Capabilities
from pipec.compiler.passes import fusion
from pipec.compiler.passes.invariants import check_stages

JOIN_THEN_PYTHON = """
  t = read_csv("t.csv", schema=T)
  u = read_csv("u.csv", schema=U)
  j = t | filter(a > 1) | join(u, on=[a == k])
  p = j | python("m:f", schema={a: int})
  p | write_csv("o.csv")
"""


def stages(body: str, **kwargs) -> list[list[str]]:
    ir = checked(body)
    result = fusion(ir, **kwargs)
    check_stages("fusion", ir, result)
    return [s.nodes for s in result]


def test_local_fuses_a_join_into_one_query():
    assert stages(JOIN_THEN_PYTHON, backend="local") == [
        ["t", "j__0_filter", "u", "j", "p", "sink1_write_csv"]]


def test_spark_cuts_at_the_shuffle_and_around_python():
    assert stages(JOIN_THEN_PYTHON, backend="spark") == [
        ["t", "j__0_filter"], ["u"], ["j"], ["p", "sink1_write_csv"]]


def test_airflow_runs_a_join_inside_one_task():
    assert stages(JOIN_THEN_PYTHON, backend="airflow") == [
        ["t", "j__0_filter", "u", "j", "p", "sink1_write_csv"]]


def test_airflow_fine_tasks_cut_at_the_shuffle():
    from pipec.backends.airflow import CAPABILITIES

    assert stages(JOIN_THEN_PYTHON, backend=CAPABILITIES.for_tasks("fine")) == [
        ["t", "j__0_filter"], ["u"], ["j", "p", "sink1_write_csv"]]


GATED_BRANCHES = """
  t = read_csv("t.csv", schema={a: float, y: bool})
  g = t | expect(row_count() > 0)
  g | aggregate(by=[y], n=count()) | write_csv("n.csv")
  g | sort(a) | write_csv("s.csv")
"""


def test_airflow_ends_a_task_at_a_gate_and_keeps_the_branches_after_it_apart():
    from pipec.backends.airflow import CAPABILITIES

    ir = checked(GATED_BRANCHES)
    result = fusion(ir, backend=CAPABILITIES)
    check_stages("fusion", ir, result)
    assert [s.nodes for s in result] == [
        ["t", "g"], ["sink1__0_aggregate", "sink1_write_csv"], ["sink2__0_sort", "sink2_write_csv"]]
    assert result[0].boundary == "`g` (expect g, line 8) is a quality gate, retried on its own on airflow"
    # coarse tasks: the gate runs in the one task; the local backend never cuts at a gate
    assert len(fusion(ir, backend=CAPABILITIES.for_tasks("coarse"))) == 1
    assert len(fusion(ir, backend="local")) == 1


def test_tasks_option_leaves_a_backend_without_granularities_alone():
    from pipec.backends.spark import CAPABILITIES

    assert CAPABILITIES.for_tasks("coarse") is CAPABILITIES
    assert CAPABILITIES.for_tasks(None) is CAPABILITIES


def test_a_predict_reading_the_fits_stage_still_starts_a_stage():
    # predict's first input (`t`) is in the stage that fits its model: merging through it must
    # not fuse across the model boundary of its second input
    assert stages("""
      t = read_csv("t.csv", schema={a: float, y: bool})
      m = t | fit(logistic_regression(), features=[a], label=y)
      t | predict(m) | write_csv("s.csv")
    """, backend="local") == [["t", "m"], ["sink1__0_predict", "sink1_write_csv"]]


def test_a_cached_node_and_a_fit_end_their_stage_and_say_why():
    ir = checked("""
      t = read_csv("t.csv", schema={a: float, y: bool})
      train, test = t | split(fraction=0.5, seed=1)
      m = train | fit(logistic_regression(), features=[a], label=y)
      s = test | predict(m)
      s | write_csv("s.csv")
      m | save_model("m")
    """)
    result = fusion(ir, backend="local", cached={"t"})
    check_stages("fusion", ir, result)
    assert [s.nodes for s in result] == [
        ["t"], ["train", "m", "sink2_save_model"], ["test", "s", "sink1_write_csv"]]
    assert result[0].boundary == "`t` (read_csv t, line 7) is cached"
    assert result[1].boundary == "`m` (fit m, line 9) trains a model, which later steps use; it writes m"
    assert result[2].boundary == "it writes s.csv"


def test_an_uncached_table_read_twice_stays_with_both_readers():
    assert stages("""
      t = read_csv("t.csv", schema=T)
      t | filter(a > 1) | write_csv("a.csv")
      t | filter(a < 1) | write_csv("b.csv")
    """) == [["t", "sink1__0_filter", "sink1_write_csv", "sink2__0_filter", "sink2_write_csv"]]


def test_a_backend_plans_from_its_capabilities_alone():
    # a backend the optimizer has never heard of: its record decides the boundaries and names them
    toy = Capabilities(name="toy", shuffle_ends_stage=True, user_code_runs_apart="runs in a sandbox")
    ir = checked(JOIN_THEN_PYTHON)
    result = fusion(ir, backend=toy)
    check_stages("fusion", ir, result)
    assert [s.nodes for s in result] == [["t", "j__0_filter"], ["u"], ["j"], ["p", "sink1_write_csv"]]
    assert result[0].boundary == "`j` (join j, line 9) needs a shuffle on toy"
    assert result[2].boundary == "`p` (python p, line 10) runs in a sandbox on toy"


def test_airflow_running_the_spark_job_plans_with_the_spark_rules():
    from pipec.backends.airflow import AirflowBackend

    ir = checked(JOIN_THEN_PYTHON)
    on_spark = fusion(ir, backend=AirflowBackend(engine="spark").capabilities)
    assert on_spark == fusion(ir, backend="spark")
    assert "needs a shuffle on spark" in on_spark[0].boundary
    assert fusion(ir, backend=AirflowBackend().capabilities) == fusion(ir, backend="airflow")
