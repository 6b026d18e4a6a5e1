"""The worker side of a generated DAG, driven without Airflow: stage values in storage, retries
that rewrite their own outputs, and writes that never leave a partial file."""
from __future__ import annotations

import pickle
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from airflow_pipelines import SALES, sales_frame, write_sales_data
from pipec import plan
from pipec.backends.airflow.dagfile import SUPPORT_DIR, stage_tasks
from pipec.compiler.check import check_source

SUPPORT_MODULES = ("pipec_task_io", "pipec_local_runtime", "pipec_commit", "pipec_contract", "sales_stages")


@pytest.fixture
def support(compile_pipe, tmp_path, monkeypatch):
    """The compiled support folder on sys.path, imported as a worker imports it."""
    dag_file = compile_pipe(SALES)["sales"]
    monkeypatch.syspath_prepend(str(dag_file.parent / SUPPORT_DIR))
    yield __import__("pipec_task_io")
    for name in SUPPORT_MODULES:
        sys.modules.pop(name, None)


def context(tmp_path: Path, run_id: str = "manual__2024-01-01T00:00:00+00:00",
            storage_root: str | None = None) -> dict:
    """The parts of an Airflow task context that the stage runner reads."""
    params = {"data_dir": "data", "out_dir": "out", "min_amount": 0.0, "seed": 1, "day": "2024-01-01",
              "window": "2h", "regions_wanted": ["north"], "verbose": False,
              "base_dir": str(tmp_path / "work"), "storage_root": storage_root or str(tmp_path / "storage")}
    return {"params": params, "dag": SimpleNamespace(dag_id="sales"), "run_id": run_id}


def run_all(task_io, tmp_path: Path, run_id: str, commit: bool = True,
            storage_root: str | None = None) -> dict[str, dict]:
    """Run every task in dependency order, as the scheduler would, then (with `commit`) the
    commit task; returns each stage task's XCom."""
    ir = check_source(SALES).pipelines["sales"]
    xcoms: dict[str, dict] = {}
    for task in stage_tasks(plan(ir, backend="airflow")):
        xcoms[task.task_id] = task_io.run_stage(
            stages_module="sales_stages", stage_id=task.stage.id, reads=task.reads, writes=task.writes,
            upstream=[xcoms[u.task_id] for u in task.upstream], context=context(tmp_path, run_id, storage_root),
            duration_params=("window",))
    if commit:
        task_io.commit_outputs(list(xcoms.values()), context(tmp_path, run_id, storage_root))
    return xcoms


SINKS = ["by_region.csv", "metrics.json", "model", "scored.parquet"]


def test_runs_are_separate_and_a_retry_rewrites_its_own_outputs(support, tmp_path):
    write_sales_data(tmp_path / "work" / "data", sales_frame(rows=60))
    first = run_all(support, tmp_path, "manual__1")
    second = run_all(support, tmp_path, "manual__2")
    paths = [record["path"] for run in (first, second) for xcom in run.values() for record in xcom.values()]
    assert len(set(paths)) == len(paths)
    folders = {support.run_folder(str(tmp_path / "storage"), "sales", run) for run in ("manual__1", "manual__2")}
    assert {p.split("/sinks/")[0] if "/sinks/" in p else p.rsplit("/", 1)[0] for p in paths} == folders

    retried = run_all(support, tmp_path, "manual__1")
    assert retried == first
    assert [p for p in tmp_path.rglob("*") if ".pipec-" in p.name] == []
    by_region = pd.read_csv(tmp_path / "work" / "out" / "by_region.csv")
    assert by_region["n"].sum() == sales_frame(rows=60)["amount"].notna().sum()
    assert sorted(p.name for p in (tmp_path / "work" / "out").iterdir()) == SINKS


def test_stage_tasks_publish_nothing_the_commit_task_publishes_all(support, tmp_path):
    write_sales_data(tmp_path / "work" / "data", sales_frame(rows=60))
    xcoms = run_all(support, tmp_path, "manual__1", commit=False)
    assert list((tmp_path / "work" / "out").iterdir()) == []  # parked under the run's folder instead
    sinks = [r for xcom in xcoms.values() for r in xcom.values() if r["kind"] == "sink"]
    assert sorted(Path(r["target"]).name for r in sinks) == SINKS
    (tmp_path / "work" / "out" / "model").mkdir(parents=True)  # a user's folder where the model goes
    with pytest.raises(Exception, match="it is a folder pipec did not write"):
        support.commit_outputs(list(xcoms.values()), context(tmp_path, "manual__1"))
    assert sorted(p.name for p in (tmp_path / "work" / "out").iterdir()) == ["model"]
    (tmp_path / "work" / "out" / "model").rmdir()
    support.commit_outputs(list(xcoms.values()), context(tmp_path, "manual__1"))  # clearing it resumes
    assert sorted(p.name for p in (tmp_path / "work" / "out").iterdir()) == SINKS


def test_clean_up_removes_the_run_folder_unless_asked_to_keep_it(support, tmp_path):
    write_sales_data(tmp_path / "work" / "data", sales_frame(rows=60))
    run_all(support, tmp_path, "manual__1")
    folder = Path(support.run_folder(str(tmp_path / "storage"), "sales", "manual__1"))
    keep = context(tmp_path, "manual__1")
    keep["params"]["keep_intermediates"] = True
    support.clean_up(keep)
    assert folder.is_dir()
    support.clean_up(context(tmp_path, "manual__1"))
    assert not folder.exists()


def test_clean_up_removes_other_runs_left_longer_than_the_retention(support, tmp_path):
    """A failed run's folder stays for a retry, until a later successful run finds it untouched
    for longer than `failed_run_retention`; a recent one (a run in progress) stays."""
    import os
    import time

    write_sales_data(tmp_path / "work" / "data", sales_frame(rows=60))
    run_all(support, tmp_path, "failed__old", commit=False)
    run_all(support, tmp_path, "failed__recent", commit=False)
    run_all(support, tmp_path, "manual__ok")
    old, recent = (Path(support.run_folder(str(tmp_path / "storage"), "sales", r)) for r in ("failed__old", "failed__recent"))
    two_days_ago = time.time() - 2 * 86400
    for path in old.rglob("*"):
        os.utime(path, (two_days_ago, two_days_ago))
    done = context(tmp_path, "manual__ok")
    done["params"]["failed_run_retention"] = "1d"
    support.clean_up(done)
    assert not old.exists() and recent.is_dir()
    assert not Path(support.run_folder(str(tmp_path / "storage"), "sales", "manual__ok")).exists()


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


def test_a_model_changed_in_storage_is_not_unpickled(support, tmp_path):
    """A model crosses task boundaries as a pickle; its sha256 travels in the XCom record and is
    checked before loading, so a file swapped in storage fails the task instead of running."""
    record = support.save_value({"weights": [1.0, 2.0]}, str(tmp_path / "m.pkl"), "model")
    assert support.load_value(record) == {"weights": [1.0, 2.0]}
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(Exploding()))
    with pytest.raises(support.StageFailed, match="its sha256 differs"):
        support.load_value(record)
    with pytest.raises(support.StageFailed, match="its sha256 differs"):  # a record without digest
        support.load_value({k: v for k, v in record.items() if k != "sha256"})


class Exploding:
    """Unpickling it would run code: the test fails if it is ever loaded."""

    def __reduce__(self):
        return (pytest.fail, ("a tampered model was unpickled",))


def test_durations_from_a_run_conf_are_read_as_pipec_run_reads_them(support):
    assert support.duration_seconds("window", 90) == 90
    assert support.duration_seconds("window", "5m") == 300
    assert support.duration_seconds("window", "300") == 300
    for bad in ("soon", "1.5h", 1.5):  # -p rejects these too: a duration is whole seconds
        with pytest.raises(support.contract.ParamError, match=r"param window: .* is not a duration such as 5m"):
            support.duration_seconds("window", bad)


def test_a_bad_run_conf_value_fails_the_first_stage_before_anything_is_written(support, tmp_path, caplog):
    write_sales_data(tmp_path / "work" / "data", sales_frame(rows=60))
    before = sorted(p for p in tmp_path.rglob("*"))
    bad = context(tmp_path)
    bad["params"]["window"] = "two hours"
    ir = check_source(SALES).pipelines["sales"]
    first = stage_tasks(plan(ir, backend="airflow"))[0]
    with pytest.raises(support.contract.ParamError, match="param window: `two hours` is not a duration"):
        support.run_stage(stages_module="sales_stages", stage_id=first.stage.id, reads=first.reads,
                          writes=first.writes, upstream=[], context=bad, duration_params=("window",))
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert "[pipec] stage s1 failed: param window: `two hours` is not a duration" in caplog.text


def test_run_folders_are_safe_path_segments_one_per_run_id(support):
    folder = support.run_folder("s3://bucket/root/", "sales", "manual__2024-01-01T00:00:00+00:00")
    assert folder.startswith("s3://bucket/root/sales-")
    assert folder.rsplit("/", 1)[1].startswith("manual__2024-01-01T00_00_00_00_00-")
    ids = ["x:1", "x_1", "..", ".", "a/b", "a_b", "x" * 300, "x" * 301]
    folders = [support.run_folder("/root", "sales", run_id) for run_id in ids]
    assert len(set(folders)) == len(ids)
    for folder in folders:
        parent, name = folder.rsplit("/", 1)
        assert parent.startswith("/root/sales-") and name not in (".", "..") and "/" not in name


CONFINED = '''
pipeline confined(confine_outputs=true) {
  param dest: str = "out"
  read_csv("in.csv", schema={a: int}) | write_csv("${dest}/a.csv")
}
'''


@pytest.mark.parametrize("dest", ["../elsewhere", "/tmp", "~/x"])
def test_a_run_conf_cannot_move_a_confined_sink_out_of_base_dir(compile_pipe, tmp_path, monkeypatch, dest):
    """`confine_outputs=true` is checked again for a path a run conf value makes (E0142 at run time)."""
    dag_file = compile_pipe(CONFINED)["confined"]
    assert "confine_outputs=True" in dag_file.read_text()
    monkeypatch.syspath_prepend(str(dag_file.parent / SUPPORT_DIR))
    task_io = __import__("pipec_task_io")
    try:
        (tmp_path / "work" / "in.csv").write_text("a\n1\n")
        before = sorted(tmp_path.rglob("*"))
        (task,) = stage_tasks(plan(check_source(CONFINED).pipelines["confined"], backend="airflow"))
        context = {"params": {"dest": dest, "base_dir": str(tmp_path / "work"), "keep_intermediates": False,
                              "storage_root": str(tmp_path / "storage")},
                   "dag": SimpleNamespace(dag_id="confined"), "run_id": "manual__1"}
        with pytest.raises(task_io.contract.ParamError, match="a.csv` is outside the base directory: "
                                                              "`[./]*/.*a.csv` climbs out of it with `..`"):
            task_io.run_stage(stages_module="confined_stages", stage_id=task.stage.id, reads=task.reads,
                              writes=task.writes, upstream=[], context=context, confine_outputs=True)
        assert sorted(tmp_path.rglob("*")) == before and not (tmp_path / "elsewhere").exists()
    finally:
        for name in ("pipec_task_io", "pipec_local_runtime", "pipec_commit", "pipec_contract", "confined_stages"):
            sys.modules.pop(name, None)


@pytest.mark.parametrize("module", ["pipec.backends.airflow.task_io", "pipec.runtime_contract"])
def test_the_task_support_and_the_contract_never_name_the_orchestrator(module):
    """Its DAG processor parses every file that names it and `dag` as a possible DAG file; the
    copies beside a DAG are listed in .airflowignore, but must not depend on it."""
    import importlib

    text = Path(importlib.import_module(module).__file__).read_text()
    assert "airflow" not in text.lower()


def test_a_changed_source_changes_the_keys_of_every_stage_downstream(support, tmp_path, caplog):
    """The keys a stage hands downstream are its own key's: a stage that parks sinks used to give
    its values keys made of its last sink's name, so the next stage was reused with stale outputs."""
    import logging

    caplog.set_level(logging.INFO, logger="pipec.task")
    write_sales_data(tmp_path / "work" / "data", sales_frame(rows=60))
    first = run_all(support, tmp_path, "manual__1")
    write_sales_data(tmp_path / "work" / "data", sales_frame(rows=80))
    caplog.clear()
    second = run_all(support, tmp_path, "manual__2")
    assert "reused" not in caplog.text
    keys = [{record["key"] for record in xcom.values()} for xcom in (*first.values(), *second.values())]
    assert len(set().union(*keys)) == sum(map(len, keys))
    by_region = pd.read_csv(tmp_path / "work" / "out" / "by_region.csv")
    assert by_region["n"].sum() == sales_frame(rows=80)["amount"].notna().sum()
    scored = pd.read_parquet(tmp_path / "work" / "out" / "scored.parquet")
    old_ids, new_ids = set(sales_frame(rows=60)["id"]), set(sales_frame(rows=80)["id"])
    assert set(scored["id"]) <= new_ids and not set(scored["id"]) <= old_ids


def test_clean_up_removes_the_cache_entries_this_dag_left_unused_longer_than_the_retention(support, tmp_path):
    """`cache_retention` (default 30 days) counts from an entry's last use by any run; an entry
    another DAG used last is left to that DAG's own clean_up."""
    import time

    write_sales_data(tmp_path / "work" / "data", sales_frame(rows=60))
    run_all(support, tmp_path, "manual__1")
    cache = tmp_path / "storage" / "cache"
    keys = sorted(p.name for p in cache.iterdir() if p.is_dir())
    assert len(keys) > 1
    support.mark_used(str(cache / keys[0]), "other_pipeline", "manual__7", "s1")
    month_and_a_half_later = time.time() + 45 * 86400
    kept = context(tmp_path, "manual__1")
    kept["params"]["cache_retention"] = "60d"
    support.clean_up(kept, now=month_and_a_half_later)
    assert sorted(p.name for p in cache.iterdir() if p.is_dir()) == keys
    support.clean_up(context(tmp_path, "manual__1"), now=time.time() + 86400)
    assert sorted(p.name for p in cache.iterdir() if p.is_dir()) == keys
    support.clean_up(context(tmp_path, "manual__1"), now=month_and_a_half_later)
    markers = sorted(p.name for p in cache.glob(f"{keys[0]}.*.used"))
    assert sorted(p.name for p in cache.iterdir()) == [keys[0], *markers] and len(markers) == 2


def test_a_bad_cache_retention_fails_clean_up_before_it_removes_anything(support, tmp_path):
    write_sales_data(tmp_path / "work" / "data", sales_frame(rows=60))
    run_all(support, tmp_path, "manual__1")
    before = sorted(tmp_path.rglob("*"))
    bad = context(tmp_path, "manual__1")
    bad["params"]["cache_retention"] = "a month"
    with pytest.raises(support.contract.ParamError, match="param cache_retention: `a month` is not a duration"):
        support.clean_up(bad)
    assert sorted(tmp_path.rglob("*")) == before
