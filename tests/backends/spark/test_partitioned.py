"""Partitioned datasets on Spark: the job reads the partitions of its run date only, in the
defined order, and writes the same partition folders and bytes as the local backend."""
from __future__ import annotations

import shutil

import polars as pl
from partitioned_case import PIPELINE, outputs, write_dataset
from spark_kit import check, run_generated

from pipec import plan
from pipec.backends.local.runner import run_plan
from pipec.backends.spark import runtime
from pipec.backends.spark.runtime import job_run_values
from pipec.runtime_contract import run_context


def test_a_spark_job_writes_the_local_partitions_and_bytes(spark, tmp_path, monkeypatch):
    write_dataset(tmp_path)
    monkeypatch.chdir(tmp_path)
    run = run_context("2013-01-02")
    run_plan(plan(check(PIPELINE), backend="local", workdir=tmp_path), run, tmp_path)
    local = outputs(tmp_path)
    shutil.rmtree(tmp_path / "out")

    run_generated(spark, PIPELINE, params=job_run_values(run),
                  plan=plan(check(PIPELINE), backend="spark", workdir=tmp_path))
    got = outputs(tmp_path)
    assert sorted(got) == sorted(local)
    for name in local:
        if name.endswith(".parquet"):
            assert pl.read_parquet(got[name]).equals(pl.read_parquet(local[name])), name
        else:
            assert got[name] == local[name], name
    assert "by_size/big=true/n=9/part-0.parquet" in got


def test_the_reader_opens_only_the_kept_partitions_in_value_order(spark, tmp_path, monkeypatch):
    write_dataset(tmp_path)
    opened = []
    read_table = runtime.read_table

    def counting(spark, source_id, fmt, path, *args, **kwargs):
        opened.append(path.split("/events/")[1])
        return read_table(spark, source_id, fmt, path, *args, **kwargs)

    monkeypatch.setattr(runtime, "read_table", counting)
    schema = [("day", "date", False), ("n", "int", False), ("id", "int", False), ("amount", "float", True)]
    frame = runtime.read_partitioned(spark, "events", "csv", str(tmp_path / "data/events"), schema, ["day", "n"],
                                     keep=lambda partitions: partitions.filter(runtime.F.col("n") == 9))
    assert opened == [f"day={day}/n=9/{f}" for day in ("2013-01-01", "2013-01-02", "2013-01-03") for f in "ab"
                      for f in (f + ".csv",)]
    rows = runtime.in_order(frame).select("id").collect()
    assert [r.id for r in rows] == [159, 160, 109, 110, 259, 260, 209, 210, 59, 60, 9, 10]
