"""The worker side of a generated DAG, driven without Airflow: stage values in storage, retries
that rewrite their own outputs, and writes that never leave a partial file."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from airflow_pipelines import SALES, sales_frame, write_sales_data
from pipec import plan
from pipec.backends.airflow.dagfile import SUPPORT_DIR, stage_tasks
from pipec.compiler.check import check_source

SUPPORT_MODULES = ("pipec_task_io", "pipec_local_runtime", "sales_stages")


@pytest.fixture
def support(compile_pipe, tmp_path, monkeypatch):
    """The compiled support folder on sys.path, imported as a worker imports it."""
    dag_file = compile_pipe(SALES)["sales"]
    monkeypatch.syspath_prepend(str(dag_file.parent / SUPPORT_DIR))
    yield __import__("pipec_task_io")
    for name in SUPPORT_MODULES:
        sys.modules.pop(name, None)


def context(tmp_path: Path, run_id: str = "manual__2024-01-01T00:00:00+00:00") -> dict:
    """The parts of an Airflow task context that the stage runner reads."""
    params = {"data_dir": "data", "out_dir": "out", "min_amount": 0.0, "seed": 1, "day": "2024-01-01",
              "window": "2h", "regions_wanted": ["north"], "verbose": False,
              "base_dir": str(tmp_path / "work"), "storage_root": str(tmp_path / "storage")}
    return {"params": params, "dag": SimpleNamespace(dag_id="sales"), "run_id": run_id}


def run_all(task_io, tmp_path: Path, run_id: str) -> dict[str, dict]:
    """Run every task in dependency order, as the scheduler would; returns each task's XCom."""
    ir = check_source(SALES).pipelines["sales"]
    xcoms: dict[str, dict] = {}
    for task in stage_tasks(plan(ir, backend="airflow"), str(tmp_path / "work")):
        xcoms[task.task_id] = task_io.run_stage(
            stages_module="sales_stages", stage_id=task.stage.id, reads=task.reads, writes=task.writes,
            upstream=[xcoms[u.task_id] for u in task.upstream], context=context(tmp_path, run_id),
            duration_params=("window",))
    return xcoms


def test_runs_are_separate_and_a_retry_rewrites_its_own_outputs(support, tmp_path):
    write_sales_data(tmp_path / "work" / "data", sales_frame(rows=60))
    first = run_all(support, tmp_path, "manual__1")
    second = run_all(support, tmp_path, "manual__2")
    paths = [record["path"] for run in (first, second) for xcom in run.values() for record in xcom.values()]
    assert len(set(paths)) == len(paths)
    assert {Path(p).parent.name for p in paths} == {"manual__1", "manual__2"}

    retried = run_all(support, tmp_path, "manual__1")
    assert retried == first
    assert [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")] == []
    by_region = pd.read_csv(tmp_path / "work" / "out" / "by_region.csv")
    assert by_region["n"].sum() == sales_frame(rows=60)["amount"].notna().sum()


def test_a_failing_write_leaves_no_file(support, tmp_path):
    class BrokenFrame:
        height = 3

        def write_parquet(self, handle):
            handle.write(b"PAR1 half a file")
            raise OSError("disk full")

    target = tmp_path / "storage" / "n1.parquet"
    with pytest.raises(OSError, match="disk full"):
        support.save_value(BrokenFrame(), str(target), "table")
    assert list(target.parent.iterdir()) == []


def test_durations_from_a_run_conf(support):
    assert support.duration_seconds(90) == 90
    assert support.duration_seconds("5m") == 300
    assert support.duration_seconds("1.5h") == 5400
    with pytest.raises(support.StageFailed, match="neither seconds nor"):
        support.duration_seconds("soon")


def test_run_folders_are_safe_path_segments(support):
    folder = support.run_folder("s3://bucket/root/", "sales", "manual__2024-01-01T00:00:00+00:00")
    assert folder == "s3://bucket/root/sales/manual__2024-01-01T00_00_00_00_00"
