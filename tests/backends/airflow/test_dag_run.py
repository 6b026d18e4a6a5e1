"""`dag.test()` runs of compiled DAGs (10 s or more each, so only four): one that succeeds with
params overridden through the run conf and is checked against pandas and scikit-learn, one that
meets bad data and must fail clearly, leaving nothing half-written, one whose quality gate fails
and which must publish nothing, and one with the Spark engine."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from airflow_pipelines import REGIONS, SALES, SALES_REPORT, SCHEMAS, sales_frame, write_sales_data
from pipec.backends.airflow.run import run_dag_file

P = 1_000_003


def leftovers(*folders: Path) -> list[Path]:
    """Temporary files an interrupted write would leave behind."""
    return [p for folder in folders if folder.exists() for p in folder.rglob("*")
            if p.name.endswith(".tmp") or ".pipec-" in p.name]


def first_split_part(ids: pd.Series, fraction: float, seed: int) -> pd.Series:
    """docs/semantics.md: a row goes to the first output when u < fraction."""
    u = ((ids % P) * 7919 + (seed % P) * 104729 + 1) % P / P
    return u < fraction


CONF = {"min_amount": 20.0, "out_dir": "results", "seed": 5}


def kept_rows(sales: pd.DataFrame) -> pd.DataFrame:
    """`kept` of the SALES pipeline with the params of CONF, computed with pandas."""
    kept = sales[sales["amount"].notna()].astype({"amount": float})
    return kept[kept["amount"] >= CONF["min_amount"]].merge(REGIONS, on="region", how="left")


def assert_by_region_matches(csv: Path, sales: pd.DataFrame) -> None:
    expected = (kept_rows(sales).groupby(["region", "manager"], dropna=False)
                .agg(n=("id", "size"), total=("amount", "sum")).reset_index().sort_values("region"))
    pd.testing.assert_frame_equal(pd.read_csv(csv), expected.reset_index(drop=True), check_dtype=False)


def test_run_matches_pandas_and_sklearn(compile_pipe, airflow_home, tmp_path):
    sales = sales_frame()
    work = tmp_path / "work"
    write_sales_data(work / "data", sales)
    dag_file = compile_pipe(SALES)["sales"]

    result = run_dag_file(dag_file, CONF, airflow_home=airflow_home)
    assert result.ok, result.error
    assert set(result.task_states.values()) == {"success"}

    assert_by_region_matches(work / "results" / "by_region.csv", sales)
    kept = kept_rows(sales)

    in_train = first_split_part(kept["id"], 0.7, seed=CONF["seed"])
    train, test = kept[in_train], kept[~in_train]
    model = LogisticRegression(C=np.inf, max_iter=200).fit(train[["amount", "units"]], train["returned"])
    accuracy = float((model.predict(test[["amount", "units"]]) == test["returned"]).mean())
    metrics = json.loads((work / "results" / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(accuracy, abs=1e-9)
    scored = pd.read_parquet(work / "results" / "scored.parquet")
    assert sorted(scored["id"]) == sorted(test["id"])
    assert (work / "results" / "model" / "model.json").exists()

    assert result.task_states["clean_up"] == "success"
    intermediates = [p for p in (tmp_path / "storage").rglob("*.parquet") if "cache" not in p.parts]
    assert intermediates == []  # the run's intermediates are gone (the cache under storage/cache stays)
    assert leftovers(work, tmp_path / "storage") == []


def test_bad_data_fails_the_run_clearly_and_writes_nothing(compile_pipe, airflow_home, tmp_path):
    work = tmp_path / "work"
    sales = sales_frame(rows=20).astype({"units": object})
    sales.loc[4, "units"] = "lots"
    write_sales_data(work / "data", sales)
    dag_file = compile_pipe(SALES)["sales"]

    result = run_dag_file(dag_file, airflow_home=airflow_home)

    assert not result.ok
    (failed,) = result.failed_tasks
    assert failed == "s1_model"  # the task that reads sales.csv (and fits the model, in one task)
    assert "sales.csv" in result.error and "`units`" in result.error and "row 5" in result.error
    assert "lots" in result.error
    assert "Traceback" not in result.error
    assert not (work / "out").exists()
    assert leftovers(work, tmp_path / "storage") == []
    stored = [p.name for p in (tmp_path / "storage").rglob("*") if p.is_file()]
    assert not any(name.startswith("sales") for name in stored)


@pytest.mark.parametrize("conf, words", [
    ({"window": "two hours"}, "param window: `two hours` is not a duration such as 5m"),
    ({"seed": "abc"}, "ParamValidationError: Invalid input for param seed: 'abc' is not of type 'integer'"),
])
def test_a_bad_run_conf_value_fails_the_run_clearly_and_writes_nothing(compile_pipe, airflow_home, tmp_path,
                                                                        conf, words):
    work = tmp_path / "work"
    write_sales_data(work / "data", sales_frame(rows=20))
    dag_file = compile_pipe(SALES)["sales"]

    result = run_dag_file(dag_file, conf, airflow_home=airflow_home)

    assert not result.ok
    assert words in result.error and "Traceback" not in result.error
    assert not (work / "out").exists()
    assert leftovers(work, tmp_path / "storage") == []


BOUNDED = SCHEMAS + """
pipeline bounded() {
  param n: int = 5
  param f: float = 0.5
  sales = read_csv("data/sales.csv", schema=Sale)
  sales | sample($f, seed=1) | limit($n) | write_csv("out/first.csv")
}
"""


@pytest.mark.parametrize("conf, words", [
    ({"n": -1}, "Invalid input for param n: -1 is less than the minimum of 0"),
    ({"f": 1.5}, "Invalid input for param f: 1.5 is greater than the maximum of 1"),
])
def test_an_out_of_range_run_conf_value_fails_before_any_task(compile_pipe, airflow_home, tmp_path, conf, words):
    """The generated polars code would take `limit(-1)` or `sample(1.5)` as given; the DAG's
    params carry the runtime contract's ranges, so Airflow rejects the conf before a task runs."""
    work = tmp_path / "work"
    write_sales_data(work / "data", sales_frame(rows=20))
    dag_file = compile_pipe(BOUNDED)["bounded"]

    result = run_dag_file(dag_file, conf, airflow_home=airflow_home)

    assert not result.ok
    assert words in result.error and "Traceback" not in result.error
    assert "success" not in result.task_states.values()
    assert not (work / "out").exists()


def test_spark_engine_runs_the_compiled_spark_job(compile_pipe, airflow_home, tmp_path):
    sales = sales_frame()
    work = tmp_path / "work"
    write_sales_data(work / "data", sales)
    dag_file = compile_pipe(SALES_REPORT, engine="spark")["sales"]

    result = run_dag_file(dag_file, {"min_amount": CONF["min_amount"], "out_dir": CONF["out_dir"]},
                          airflow_home=airflow_home)

    assert result.ok, result.error
    assert result.task_states == {"spark_job": "success"}
    assert_by_region_matches(work / "results" / "by_region.csv", sales)


GATED = SCHEMAS + """
pipeline gated() {
  sales = read_csv("data/sales.csv", schema=Sale)
  sales | write_csv("out/all.csv")
  sales | expect(row_count() > 1000000) | write_csv("out/checked.csv")
}
"""


def test_a_failing_gate_publishes_nothing_and_keeps_the_run_for_a_retry(airflow_home, tmp_path, monkeypatch):
    """Unoptimised, so that `all.csv` is computed by a task of its own that succeeds. Run as
    `pipec run --target airflow` does, whose scratch folders must not outlive it."""
    from pipec import plan
    from pipec.backends.airflow import AirflowBackend, run_dag
    from pipec.compiler.check import check_source

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    work = tmp_path / "work"
    write_sales_data(work / "data", sales_frame(rows=20))
    ir = check_source(GATED).pipelines["gated"]
    backend = AirflowBackend(base_dir=work, storage_root=str(tmp_path / "storage"))

    assert run_dag(plan(ir, level=0, backend="airflow"), {}, work, backend) == 1

    assert not (work / "out" / "all.csv").exists() and not (work / "out" / "checked.csv").exists()
    assert leftovers(work) == []
    assert list((tmp_path / "storage").rglob("*.parquet")), "a failed run keeps its intermediates"
    assert list(scratch.iterdir()) == []


def test_a_dag_folder_moved_to_another_path_runs_unchanged(airflow_home, tmp_path):
    """Compiled in one folder (no --base-dir), copied elsewhere, run there with no run conf: the
    sources are read and the sinks land relative to the new place, equal to a local run, and the
    run's intermediates (under the DAG folder's .pipec/airflow by default) are removed."""
    import shutil

    import pipec
    from pipec.backends.airflow import AirflowBackend
    from pipec.compiler.check import check_source

    compiled = tmp_path / "ci" / "dags"
    AirflowBackend().compile(pipec.plan(check_source(SALES).pipelines["sales"], backend="airflow"), compiled)
    deployed = tmp_path / "worker" / "dags"
    shutil.copytree(compiled, deployed)
    shutil.rmtree(tmp_path / "ci")
    write_sales_data(deployed / "data", sales_frame(rows=80))

    result = run_dag_file(deployed / "sales.py", airflow_home=airflow_home)
    assert result.ok, result.error

    local = tmp_path / "local"
    write_sales_data(local / "data", sales_frame(rows=80))
    (local / "sales.pipe").write_text(SALES)
    pipec.run(local / "sales.pipe", workdir=local)
    for name in ("by_region.csv", "metrics.json"):
        assert (deployed / "out" / name).read_bytes() == (local / "out" / name).read_bytes(), name
    pd.testing.assert_frame_equal(pd.read_parquet(deployed / "out" / "scored.parquet"),
                                  pd.read_parquet(local / "out" / "scored.parquet"))
    assert not (tmp_path / "ci").exists()
    left = [p for p in (deployed / ".pipec" / "airflow").rglob("*.p*") if "cache" not in p.parts]
    assert left == []  # no parquet, no pickle left (but in the stage cache)


@pytest.mark.parametrize("tasks", ["fine", "coarse"])
def test_finer_or_coarser_tasks_write_what_the_local_backend_writes(compile_pipe, airflow_home, tmp_path, tasks):
    import pipec
    from pipec.compiler.check import check_source

    source = SALES.replace("pipeline sales(", f'pipeline sales(tasks="{tasks}", ')
    counts = {option: len(pipec.plan(check_source(SALES.replace("pipeline sales(", "pipeline sales(" + option)).pipelines["sales"],
                                     backend="airflow").stages)
              for option in ('tasks="fine", ', "", 'tasks="coarse", ')}
    assert list(counts.values()) == sorted(counts.values(), reverse=True) and len(set(counts.values())) == 3
    work = tmp_path / "work"
    write_sales_data(work / "data", sales_frame(rows=80))
    result = run_dag_file(compile_pipe(source)["sales"], airflow_home=airflow_home)
    assert result.ok, result.error
    assert len(result.task_states) == counts[f'tasks="{tasks}", '] + 2  # and commit_outputs, clean_up

    local = tmp_path / "local"
    write_sales_data(local / "data", sales_frame(rows=80))
    (local / "sales.pipe").write_text(source)
    pipec.run(local / "sales.pipe", workdir=local)
    for name in ("by_region.csv", "metrics.json"):
        assert (work / "out" / name).read_bytes() == (local / "out" / name).read_bytes(), name
    pd.testing.assert_frame_equal(pd.read_parquet(work / "out" / "scored.parquet"),
                                  pd.read_parquet(local / "out" / "scored.parquet"))
