"""Sources and sinks in an object store (`s3://`, through fsspec) on the local backend, against
the tests' own S3-compatible server: the same bytes as local files, partition pruning by files
opened, all-or-nothing sinks, errors that name the URL, and no credential in anything pipec
writes or prints."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import fsspec
import pytest
from partitioned_case import write_dataset

from local_irkit import plan_for
from object_store import CREDENTIALS
from pipec.backends.local.runner import run_plan
from pipec.backends.local.runtime import PipelineRunError
from pipec.runtime_contract import run_context

PIPELINE = """
schema Event { day: date, n: int, id: int, amount: float? }
pipeline store(schedule="@daily", start="2013-01-01") {
  param root: str = "data"
  param out: str = "out"
  events = read_csv("${root}/events", schema=Event, partition_by=[day, n]) | filter(day == run.date)
  events | write_csv("${out}/today.csv")
  events | write_parquet("${out}/by_n", partition_by=[n])
  json = read_json("${root}/events_json/day=2013-01-01/n=9/a.json", schema={id: int, amount: float?})
  json | write_json("${out}/one.json")
}
"""


def run(tmp_path: Path, **params):
    plan = plan_for(PIPELINE, tmp_path, optimized=True)
    return run_plan(plan, {**run_context("2013-01-02"), **params}, tmp_path, use_cache=False)


def files_opened(result) -> int:
    return sum(stats.get("files", 0) for stats in result.node_stats.values())


def store_files(url: str) -> dict[str, bytes]:
    fs = fsspec.filesystem("s3")
    fs.invalidate_cache()
    root = url.removeprefix("s3://")
    return {key[len(root) + 1:]: fs.cat_file(key) for key in sorted(fs.find(root))
            if not key.rsplit("/", 1)[-1].startswith(".")}


def local_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def test_a_pipeline_on_s3_writes_what_it_writes_on_local_files(tmp_path, s3_bucket):
    write_dataset(tmp_path)
    local = run(tmp_path)
    fsspec.filesystem("s3").put(str(tmp_path / "data"), f"{s3_bucket}/data", recursive=True)
    remote = run(tmp_path, root=f"s3://{s3_bucket}/data", out=f"s3://{s3_bucket}/out")
    assert store_files(f"s3://{s3_bucket}/out") == local_files(tmp_path / "out")
    assert files_opened(remote) == files_opened(local) == 4  # 2 of 6 partitions, 2 files each
    assert fsspec.filesystem("s3").exists(f"{s3_bucket}/out/by_n/n=9/.pipec-output")
    assert not [k for k in fsspec.filesystem("s3").find(s3_bucket) if ".pipec-" in k and k.endswith(".tmp")]


def test_a_failed_run_leaves_the_objects_in_the_store_as_they_were(tmp_path, s3_bucket):
    write_dataset(tmp_path)
    out = f"s3://{s3_bucket}/out"
    run(tmp_path, out=out)
    before = store_files(out)
    with pytest.raises(PipelineRunError, match="no such (folder|file)"):  # whichever source reads first
        run(tmp_path, out=out, root=str(tmp_path / "missing"))
    write_dataset(tmp_path / "other")
    (tmp_path / "other/data/events_json/day=2013-01-01/n=9/a.json").write_text("not json\n")
    with pytest.raises(PipelineRunError, match="not valid JSON"):
        run(tmp_path, out=out, root=str(tmp_path / "other/data"))
    assert store_files(out) == before


def test_a_missing_bucket_or_object_is_an_error_naming_the_url(tmp_path, s3_bucket):
    write_dataset(tmp_path)
    with pytest.raises(PipelineRunError, match=r"^s3://no-such-bucket-pipec/data/events\S*: "
                                               r"(no such folder|cannot read: not found)"):
        run(tmp_path, root="s3://no-such-bucket-pipec/data")
    fsspec.filesystem("s3").put(str(tmp_path / "data/events"), f"{s3_bucket}/data/events", recursive=True)
    with pytest.raises(PipelineRunError, match=rf"s3://{s3_bucket}/data/events_json/day=2013-01-01/n=9/a.json: "
                                               "cannot read: not found"):
        run(tmp_path, root=f"s3://{s3_bucket}/data")
    with pytest.raises(PipelineRunError, match=r"cannot write s3://no-such-bucket-pipec/out/\S+: not found"):
        run(tmp_path, out="s3://no-such-bucket-pipec/out")


def test_a_bad_value_in_an_object_names_the_url_and_row(tmp_path, s3_bucket):
    write_dataset(tmp_path)
    (tmp_path / "data/events/day=2013-01-02/n=9/b.csv").write_text("id,amount\n1,lots\n")
    fsspec.filesystem("s3").put(str(tmp_path / "data"), f"{s3_bucket}/data", recursive=True)
    with pytest.raises(PipelineRunError) as failure:
        run(tmp_path, root=f"s3://{s3_bucket}/data")
    assert str(failure.value) == (f"s3://{s3_bucket}/data/events/day=2013-01-02/n=9/b.csv: column `amount`, "
                                  "row 1: value 'lots' is not a valid float")
    assert failure.value.file == f"s3://{s3_bucket}/data/events/day=2013-01-02/n=9/b.csv"


def test_an_unreachable_store_and_no_credential_in_what_pipec_writes_or_prints(tmp_path, s3_bucket, monkeypatch):
    """Through the command line: exit 1, one line naming the URL, no traceback; then no file
    under the working directory, and nothing printed, holds a credential."""
    write_dataset(tmp_path)
    (tmp_path / "store.pipe").write_text(PIPELINE)
    command = [sys.executable, "-m", "pipec.cli", "run", "store.pipe", "--run-date", "2013-01-02",
               "-p", f"out=s3://{s3_bucket}/out"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    ok = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    down = subprocess.run(command, cwd=tmp_path, env={**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
                          capture_output=True, text=True, timeout=300)
    assert down.returncode == 1
    assert "Traceback" not in down.stderr
    assert re.search(rf"^error: cannot write s3://{s3_bucket}/out/\S+: the store cannot be reached", down.stderr, re.M)
    secrets = [CREDENTIALS["AWS_ACCESS_KEY_ID"], CREDENTIALS["AWS_SECRET_ACCESS_KEY"]]
    printed = ok.stdout + ok.stderr + down.stdout + down.stderr
    assert not [s for s in secrets if s in printed]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and any(s.encode() in p.read_bytes() for s in secrets)]
    assert not written


def test_a_rewritten_object_changes_the_stage_key_and_an_unchanged_store_is_reused(tmp_path, s3_bucket):
    from pipec.backends.local.stage_keys import input_digests

    write_dataset(tmp_path)
    fs = fsspec.filesystem("s3")
    fs.put(str(tmp_path / "data"), f"{s3_bucket}/data", recursive=True)
    plan = plan_for(PIPELINE, tmp_path, optimized=True)
    params = {"root": f"s3://{s3_bucket}/data", "out": "out"}

    def digests():
        return input_digests(list(plan.ir.nodes()), params, tmp_path, None)

    first = digests()
    assert sorted(first) == [f"s3://{s3_bucket}/data/events",
                             f"s3://{s3_bucket}/data/events_json/day=2013-01-01/n=9/a.json"]
    assert None not in first.values() and digests() == first
    fs.pipe(f"{s3_bucket}/data/events/day=2013-01-03/n=10/b.csv", b"id,amount\n1,2.0\n")
    second = digests()
    assert second[f"s3://{s3_bucket}/data/events"] != first[f"s3://{s3_bucket}/data/events"]
    assert second[f"s3://{s3_bucket}/data/events_json/day=2013-01-01/n=9/a.json"] == \
        first[f"s3://{s3_bucket}/data/events_json/day=2013-01-01/n=9/a.json"]

    run_plan(plan, {**run_context("2013-01-02"), **params}, tmp_path)
    again = run_plan(plan, {**run_context("2013-01-02"), **params}, tmp_path)
    assert [s.path for s in again.kept] == [str(tmp_path / "out/one.json")]
