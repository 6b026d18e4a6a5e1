"""Incremental reruns on Spark (docs/runs.md): the stage keys are computed before the job starts,
a job whose outputs are all up to date is not started and its run is recorded as reused (an output
deleted or edited is restored from the cache), and anything stale (an input, a param, --no-cache,
--rerun) runs the whole job. The job is replaced by a stand-in that counts its runs; the last test
runs the real one."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pipec.cli import main

PIPELINE = '''pipeline job() {
  param min_x: float = 0.0
  rows = read_csv("in.csv", schema={x: float, y: bool})
  kept = rows | filter(x >= $min_x)
  kept | write_csv("out/kept.csv")
  counts = kept | aggregate(by=[y], n = count())
  counts | sort(y) | write_csv("out/counts.csv")
}
'''
DATA = "x,y\n0.1,false\n0.2,false\n0.9,true\n0.8,true\n"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.delenv("PIPEC_RUNS_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.pipe").write_text(PIPELINE)
    (tmp_path / "in.csv").write_text(DATA)
    return tmp_path


@pytest.fixture
def jobs(project, monkeypatch) -> list[dict]:
    """The Spark job's stand-in: writes the outputs from the input, and records its params."""
    import pipec.backends.spark.backend as spark

    started = []

    def job(path, params, workdir, capture=False, **options):
        started.append(dict(params))
        rows = [line.split(",") for line in (workdir / "in.csv").read_text().splitlines()[1:]]
        kept = [r for r in rows if float(r[0]) >= float(params["min_x"])]
        (workdir / "out").mkdir(exist_ok=True)
        (workdir / "out/kept.csv").write_text("x,y\n" + "".join(f"{x},{y}\n" for x, y in kept))
        counts = {y: sum(1 for r in kept if r[1] == y) for y in sorted({r[1] for r in kept})}
        (workdir / "out/counts.csv").write_text("y,n\n" + "".join(f"{y},{n}\n" for y, n in counts.items()))
        return subprocess.CompletedProcess([], 0)

    monkeypatch.setattr(spark, "run_job", job)
    return started


def spark_run(capsys, *argv: str) -> tuple[dict, str]:
    code, _, err = run(capsys, "run", "job.pipe", "--target", "spark", *argv)
    assert code == 0, err
    code, out, _ = run(capsys, "runs", "show", "last", "--format", "json")
    return json.loads(out), err


def outcomes(record: dict) -> set[str]:
    return {n["outcome"] for n in record["nodes"]}


def reasons(record: dict) -> set[str]:
    return {r for n in record["nodes"] for r in n["reasons"]}


def test_an_unchanged_rerun_does_not_start_the_job_and_is_recorded_as_reused(capsys, project, jobs):
    first, _ = spark_run(capsys)
    assert outcomes(first) == {"ran"} and len(jobs) == 1
    written = {p: p.stat().st_mtime_ns for p in (project / "out").iterdir()}
    again, err = spark_run(capsys)
    assert len(jobs) == 1, "the job was started again"
    assert "every output is up to date; the Spark job was not started" in err
    assert outcomes(again) == {"reused"} and reasons(again) == {"unchanged: outputs reused"}
    assert {p: p.stat().st_mtime_ns for p in (project / "out").iterdir()} == written


def test_a_changed_input_or_param_runs_the_whole_job_and_a_deleted_output_is_restored(capsys, project, jobs):
    spark_run(capsys)
    (project / "in.csv").write_text(DATA + "0.5,true\n")
    record, _ = spark_run(capsys)
    assert len(jobs) == 2 and outcomes(record) == {"ran"} and "input in.csv changed" in reasons(record)
    record, _ = spark_run(capsys, "-p", "min_x=0.5")
    assert len(jobs) == 3 and "param min_x changed 0 -> 0.5" in reasons(record)
    (project / "out/counts.csv").unlink()
    record, err = spark_run(capsys, "-p", "min_x=0.5")
    assert len(jobs) == 3 and "output out/counts.csv differs from the stored one: restored" in reasons(record)
    assert "restored" in err and outcomes(record) == {"reused"}
    assert (project / "out/counts.csv").read_text() == "y,n\ntrue,3\n"
    spark_run(capsys, "-p", "min_x=0.5")
    assert len(jobs) == 3


def test_no_cache_and_rerun_start_the_job(capsys, project, jobs):
    spark_run(capsys)
    record, _ = spark_run(capsys, "--no-cache")
    assert len(jobs) == 2 and reasons(record) == {"--no-cache: nothing is reused"}
    record, _ = spark_run(capsys, "--rerun", "counts")
    assert len(jobs) == 3 and "asked to rerun counts" in reasons(record)
    assert "ran with the rest of the Spark job" in reasons(record)  # the stages before it


def test_the_real_job_is_skipped_when_its_outputs_are_up_to_date(capsys, project):
    spark_run(capsys)
    written = {p.name: p.read_bytes() for p in (project / "out").iterdir()}
    record, err = spark_run(capsys)
    assert "the Spark job was not started" in err and outcomes(record) == {"reused"}
    assert {p.name: p.read_bytes() for p in (project / "out").iterdir()} == written
    (project / "out/kept.csv").write_text("edited by hand\n")
    record, err = spark_run(capsys)
    assert "the Spark job was not started" in err and "restored" in err
    assert {p.name: p.read_bytes() for p in (project / "out").iterdir()} == written


def project_in(folder: Path) -> Path:
    folder.mkdir()
    (folder / "job.pipe").write_text(PIPELINE)
    (folder / "in.csv").write_text(DATA)
    return folder


def spark_run_in(capsys, folder: Path, *argv: str) -> str:
    code, _, err = run(capsys, "run", str(folder / "job.pipe"), "--workdir", str(folder), "--target", "spark", *argv)
    assert code == 0, err
    return err


def test_a_cache_on_s3_serves_another_working_directory_without_starting_spark(capsys, project, s3_bucket):
    """The real job runs once in one working directory; in another, with the same data and the
    same --cache-dir on S3, its outputs come from the cache and Spark is not started."""
    cache = f"s3://{s3_bucket}/pipec-cache"
    first = project_in(project / "a")
    err = spark_run_in(capsys, first, "--cache-dir", cache)
    assert "running job as a local Spark job" in err
    written = {p.name: p.read_bytes() for p in (first / "out").iterdir()}
    import fsspec

    assert fsspec.filesystem("s3").find(f"{s3_bucket}/pipec-cache/entries")  # stored on S3

    second = project_in(project / "b")
    err = spark_run_in(capsys, second, "--cache-dir", cache)
    assert "the Spark job was not started" in err and "running job" not in err
    assert {p.name: p.read_bytes() for p in (second / "out").iterdir()} == written


def test_a_missing_or_damaged_object_in_the_s3_cache_is_never_used(capsys, project, jobs, s3_bucket, monkeypatch):
    import fsspec

    monkeypatch.setenv("PIPEC_CACHE_DIR", f"s3://{s3_bucket}/cache")
    spark_run_in(capsys, project_in(project / "a"))
    assert len(jobs) == 1
    s3 = fsspec.filesystem("s3")
    objects = sorted(s3.find(f"{s3_bucket}/cache/objects"))
    s3.pipe_file(objects[0], b"damaged")  # same key, other content
    spark_run_in(capsys, project_in(project / "b"))
    assert len(jobs) == 2, "a damaged object was trusted"
    spark_run_in(capsys, project_in(project / "c"))
    assert len(jobs) == 2, "the second run stored its outputs again"
    assert (project / "c" / "out" / "counts.csv").read_bytes() == (project / "a" / "out" / "counts.csv").read_bytes()


def test_a_cache_dir_fsspec_does_not_know_is_a_usage_error(capsys, project):
    code, _, err = run(capsys, "run", "job.pipe", "--target", "spark", "--cache-dir", "nosuchfs://x/cache")
    assert code == 2 and "--cache-dir nosuchfs://x/cache" in err
