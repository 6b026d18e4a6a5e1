"""Incremental DAG runs (docs/runs.md, "Airflow"): every task completes its stage's cache key at
start; a second `dag.test()` of an unchanged pipeline on unchanged data reuses every stage (no
stage code runs, no source is read), still ends every task as success and publishes the same
outputs; a changed input reruns what depends on it."""
from __future__ import annotations

import re
from pathlib import Path

from airflow_pipelines import SALES, sales_frame, write_sales_data
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
