"""Object stores on Airflow: a DAG whose storage root, sources and sinks are all in S3 (the
tests' own S3-compatible server), run with `dag.test()`, writes the objects the local backend
writes for the same run date, including a partitioned sink."""
from __future__ import annotations

import fsspec
from partitioned_case import write_dataset

from pipec import plan
from pipec.backends.airflow import AirflowBackend
from pipec.backends.airflow.run import run_dag_file
from pipec.backends.local.runner import run_plan
from pipec.compiler.check import check_source
from pipec.runtime_contract import run_context

PIPELINE = """
schema Event { day: date, n: int, id: int, amount: float? }
pipeline in_store(schedule="@daily", start="2013-01-01") {
  param root: str = "data"
  param out: str = "out"
  events = read_csv("${root}/events", schema=Event, partition_by=[day, n]) | filter(day == run.date)
  events | write_csv("${out}/today.csv")
  events | aggregate(by=[n], total = sum(amount)) | write_json("${out}/by_n", partition_by=[n])
}
"""


def objects(url: str) -> dict[str, bytes]:
    fs = fsspec.filesystem("s3")
    fs.invalidate_cache()
    root = url.removeprefix("s3://")
    return {key[len(root) + 1:]: fs.cat_file(key) for key in sorted(fs.find(root))
            if not key.rsplit("/", 1)[-1].startswith(".")}


def test_a_dag_with_its_storage_sources_and_sinks_in_s3_writes_the_local_objects(
        s3_bucket, airflow_home, tmp_path):
    work = tmp_path / "work"
    write_dataset(work)
    fsspec.filesystem("s3").put(str(work / "data"), f"{s3_bucket}/data", recursive=True)
    remote = {"root": f"s3://{s3_bucket}/data", "out": f"s3://{s3_bucket}/local"}
    program = check_source(PIPELINE, str(work / "store.pipe"))
    run_plan(plan(program.pipelines["in_store"], backend="local", workdir=work),
             {**run_context("2013-01-02"), **remote}, work)
    local = objects(remote["out"])
    assert sorted(local) == ["by_n/n=10/part-0.json", "by_n/n=9/part-0.json", "today.csv"]

    source = PIPELINE.replace('"data"', f'"s3://{s3_bucket}/data"').replace('"out"', f'"s3://{s3_bucket}/out"')
    program = check_source(source, str(work / "store.pipe"))
    backend = AirflowBackend(base_dir=work, storage_root=f"s3://{s3_bucket}/storage")
    (dag_file,) = backend.compile(plan(program.pipelines["in_store"], backend="airflow"), tmp_path / "dags")[:1]
    result = run_dag_file(dag_file, airflow_home=airflow_home, logical_date="2013-01-02")
    assert result.ok, result.error
    assert objects(f"s3://{s3_bucket}/out") == local
    assert not [k for k in fsspec.filesystem("s3").find(s3_bucket) if k.endswith(".tmp") or "/storage/" in k]
    assert "pipec-test-secret" not in dag_file.read_text()
