"""Incremental DAG runs (docs/runs.md, "Airflow"): every task completes its stage's cache key at
start; a second `dag.test()` of an unchanged pipeline on unchanged data reuses every stage (no
stage code runs, no source is read), still ends every task as success and publishes the same
outputs; a changed input reruns what depends on it."""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from airflow_pipelines import SALES, SALES_REPORT, sales_frame, write_sales_data
from pipec.backends.airflow.run import run_dag_file

CONF = {"min_amount": 20.0, "out_dir": "results", "seed": 5}


def outputs(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def reused_stages(log: str) -> set[str]:
    return set(re.findall(r"stage (\S+) reused: its outputs are unchanged", log))


def test_a_second_dag_run_of_an_unchanged_pipeline_reuses_every_stage(compile_pipe, airflow_home, tmp_path):
    work = tmp_path / "work"
    write_sales_data(work / "data", sales_frame())
    dag_file = compile_pipe(SALES)["sales"]

    first = run_dag_file(dag_file, CONF, airflow_home=airflow_home)
    assert first.ok, first.error
    assert reused_stages(first.log) == set()
    written = outputs(work / "results")

    second = run_dag_file(dag_file, CONF, airflow_home=airflow_home)
    assert second.ok, second.error
    assert set(second.task_states.values()) == {"success"}
    stage_tasks = [t for t in second.task_states if t not in ("commit_outputs", "clean_up")]
    assert len(reused_stages(second.log)) == len(stage_tasks) > 1, second.log[-3000:]
    assert not re.search(r"stage \S+ stored ", second.log)  # no stage code ran
    assert outputs(work / "results") == written

    (work / "data" / "regions.csv").write_text((work / "data" / "regions.csv").read_text() + "east,Erin\n")
    third = run_dag_file(dag_file, CONF, airflow_home=airflow_home)
    assert third.ok, third.error
    assert len(reused_stages(third.log)) < len(stage_tasks)


def test_pipec_cache_lists_a_dag_runs_entries_and_a_run_after_gc_computes_them_again(
        compile_pipe, airflow_home, tmp_path, capsys):
    """The entries a real DAG run stored (its clean_up prunes nothing recent) are what `pipec cache
    ls --storage-root` lists; after `pipec cache gc --keep-last 0` the next DAG run reuses nothing,
    succeeds, writes the same outputs and stores every entry again."""
    import json

    from pipec.cli import main

    def cache(*argv: str) -> tuple[int, object]:
        code = main(["cache", *argv, "--storage-root", str(tmp_path / "storage"), "--format", "json"])
        return code, json.loads(capsys.readouterr().out)

    work = tmp_path / "work"
    write_sales_data(work / "data", sales_frame())
    dag_file = compile_pipe(SALES)["sales"]
    first = run_dag_file(dag_file, CONF, airflow_home=airflow_home)
    assert first.ok, first.error
    written = outputs(work / "results")
    code, entries = cache("ls")
    stage_tasks = [t for t in first.task_states if t not in ("commit_outputs", "clean_up")]
    assert code == 0 and len(entries) == len(stage_tasks) and {e["dag"] for e in entries} == {"sales"}
    assert cache("verify") == (0, [])

    code, removed = cache("gc", "--keep-last", "0")
    assert code == 0 and removed["entries"] == len(entries)
    second = run_dag_file(dag_file, CONF, airflow_home=airflow_home)
    assert second.ok, second.error
    assert set(second.task_states.values()) == {"success"} and reused_stages(second.log) == set()
    assert outputs(work / "results") == written
    assert sorted(e["key"] for e in cache("ls")[1]) == sorted(e["key"] for e in entries)

def spark_job_reused(log: str) -> bool:
    return re.search(r"spark job \S+ reused: every output is up to date, Spark was not started", log) is not None


SPARK_STARTED = "log4j"  # every start of Spark's JVM logs its log4j profile


def test_a_spark_engine_dag_reuses_an_unchanged_job_without_starting_spark(compile_pipe, airflow_home, tmp_path):
    """The one task of a `--engine spark` DAG completes the job's stage keys at start: an unchanged
    rerun publishes the stored sinks (a deleted output comes back) without starting Spark and,
    having no clean_up task, prunes the entries it left unused for `cache_retention`; a deleted
    cache object or a changed input runs the job again."""
    work = tmp_path / "work"
    write_sales_data(work / "data", sales_frame())
    dag_file = compile_pipe(SALES_REPORT, engine="spark")["sales"]
    conf = {"min_amount": CONF["min_amount"], "out_dir": CONF["out_dir"]}

    first = run_dag_file(dag_file, conf, airflow_home=airflow_home)
    assert first.ok, first.error
    assert not spark_job_reused(first.log) and SPARK_STARTED in first.log
    written = outputs(work / "results")
    (work / "results" / "by_region.csv").unlink()
    cache = tmp_path / "storage" / "cache"
    entries = sorted(p.name for p in cache.iterdir() if p.is_dir())
    markers = sorted(p.name for p in cache.glob("*.used"))  # KEY.DAG.used: this DAG's mark on each
    assert [m[:64] for m in markers] == entries and len({m[64:] for m in markers}) == 1
    stale = cache / ("ab" * 32)  # an entry this DAG last used 45 days ago: past cache_retention (30d)
    shutil.copytree(cache / entries[0], stale)
    stale_marker = cache / (stale.name + markers[0][64:])
    stale_marker.write_text("{}")
    long_ago = time.time() - 45 * 86400
    for path in [stale, *stale.rglob("*"), stale_marker]:
        os.utime(path, (long_ago, long_ago))

    second = run_dag_file(dag_file, conf, airflow_home=airflow_home)
    assert second.ok, second.error
    assert second.task_states == {"spark_job": "success"}
    assert spark_job_reused(second.log) and SPARK_STARTED not in second.log, second.log[-3000:]
    assert outputs(work / "results") == written
    assert sorted(p.name for p in cache.iterdir() if p.is_dir()) == entries, "the task pruned the stale entry"

    (cached,) = (tmp_path / "storage" / "cache").glob("*/sinks/*")
    cached.unlink()
    third = run_dag_file(dag_file, conf, airflow_home=airflow_home)
    assert third.ok, third.error
    assert not spark_job_reused(third.log) and SPARK_STARTED in third.log
    assert cached.exists(), "the job's sinks are stored again"
    assert outputs(work / "results") == written

    (work / "data" / "regions.csv").write_text((work / "data" / "regions.csv").read_text() + "east,Erin\n")
    fourth = run_dag_file(dag_file, conf, airflow_home=airflow_home)
    assert fourth.ok, fourth.error
    assert not spark_job_reused(fourth.log) and SPARK_STARTED in fourth.log
    assert "Erin" in (work / "results" / "by_region.csv").read_text()


DAILY = '''
pipeline daily() {
  events = read_csv("data/events.csv", schema={id: int})
  events | write_csv("out/events_${run.date}.csv")
}
'''


def test_a_sink_path_holding_the_run_date_is_part_of_the_key(compile_pipe, airflow_home, tmp_path):
    """The stage's code does not change with the date, only where its sink goes: a run for the
    next day must write that day's file, not republish the stored one at the first day's path."""
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "events.csv").write_text("id\n1\n2\n")
    dag_file = compile_pipe(DAILY)["daily"]

    for day in ("2013-01-01", "2013-01-02"):
        result = run_dag_file(dag_file, airflow_home=airflow_home, logical_date=day)
        assert result.ok, result.error
    assert sorted(p.name for p in (work / "out").iterdir()) == ["events_2013-01-01.csv", "events_2013-01-02.csv"]


def test_run_options_that_steer_reuse_are_refused_for_airflow(tmp_path, capsys):
    """A DAG's tasks decide reuse themselves: `pipec run --target airflow --no-cache` (or --rerun,
    --cache-dir) would be silently ignored, so it is a usage error before anything runs."""
    from pipec.cli import main

    pipe = tmp_path / "sales.pipe"
    pipe.write_text(SALES)
    for option in (["--no-cache"], ["--rerun", "regions"], ["--cache-dir", str(tmp_path / "cache")]):
        with pytest.raises(SystemExit) as exited:
            main(["run", str(pipe), "--target", "airflow", "--workdir", str(tmp_path), *option])
        assert exited.value.code == 2 and "do not apply to --target airflow" in capsys.readouterr().err
    assert not (tmp_path / ".pipec" / "airflow").exists()
