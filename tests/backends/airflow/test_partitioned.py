"""Partitioned datasets on Airflow: a `dag.test()` run for a logical date reads that date's
partitions and writes the same partition folders and bytes as `pipec run --run-date`, and a
later run replaces only the partitions it produced."""
from __future__ import annotations

import shutil

from partitioned_case import PIPELINE, outputs, write_dataset

from pipec import plan
from pipec.backends.airflow.run import run_dag_file
from pipec.backends.local.runner import run_plan
from pipec.compiler.check import check_source
from pipec.runtime_contract import run_context


def test_a_dag_run_writes_the_partitions_the_local_run_writes(compile_pipe, airflow_home, tmp_path):
    work = tmp_path / "work"
    write_dataset(work)
    program = check_source(PIPELINE, str(work / "daily.pipe"))
    local = {}
    for day in ("2013-01-01", "2013-01-02"):
        run_plan(plan(program.pipelines["daily_partitions"], backend="local", workdir=work), run_context(day), work)
        local[day] = outputs(work)
    shutil.rmtree(work / "out")

    (dag_file,) = compile_pipe(PIPELINE).values()
    for day in ("2013-01-01", "2013-01-02"):
        result = run_dag_file(dag_file, airflow_home=airflow_home, logical_date=day)
        assert result.ok, result.error
        assert outputs(work) == local[day]
    assert {name.split("/")[2] for name in local["2013-01-02"] if name.startswith("by_size/")} == {"n=9", "n=10"}
