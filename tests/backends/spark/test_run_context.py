"""The run context on Spark: the job run for a run date reads the same partition, keeps the same
interval and writes the same bytes as the local backend for that date."""
from __future__ import annotations

import shutil

import pytest
from run_context_case import EXPECTED_IDS, PIPELINE, outputs, write_partitions
from spark_kit import check, run_generated

from pipec import plan
from pipec.backends.local.runner import run_plan
from pipec.backends.spark.runtime import job_run_values
from pipec.runtime_contract import run_context


@pytest.mark.parametrize("day", ["2013-01-01", "2013-01-02"])
def test_a_spark_job_for_a_run_date_writes_the_local_bytes(spark, tmp_path, monkeypatch, day):
    write_partitions(tmp_path)
    monkeypatch.chdir(tmp_path)
    run = run_context(day)
    run_plan(plan(check(PIPELINE), backend="local", workdir=tmp_path), run, tmp_path)
    local = outputs(tmp_path)
    shutil.rmtree(tmp_path / "out")

    run_generated(spark, PIPELINE, params=job_run_values(run))
    assert outputs(tmp_path) == local
    assert local[f"events_{day}.csv"].decode().count("\n") == len(EXPECTED_IDS[day]) + 1
