"""Incremental reruns on the local backend (docs/runs.md): an unchanged rerun reuses every stage,
a change reruns exactly what depends on it and says why, a missing cache object or output is
recomputed or restored, and reuse never changes a byte of the outputs."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipec.cli import main

PIPELINE = '''schema Obs { id: int, station: str, x: float, late: bool }
schema Weather { station: str, temp: float }
pipeline delays() {
  param min_x: float = -10.0
  param min_count: int = 1
  obs = read_csv("obs.csv", schema=Obs)
  weather = read_csv("weather.csv", schema=Weather)
  features = obs
    | filter(x >= $min_x)
    | join(weather, on=[station], how="left")
    | fill_null(temp=10.0)
  scaled = features | python("feats:scaled", schema={id: int, station: str, x: float, late: bool, temp: float, xs: float})
  train, test = scaled | split(fraction=0.7, seed=3, by=id)
  model = train | fit(logistic_regression(max_iter=200), features=[x, temp, xs], label=late)
  scored = test | predict(model)
  report = scored | evaluate(label=late, metrics=["accuracy"])
  by_station = scored
    | aggregate(by=[station], flights=count())
    | filter(flights >= $min_count)
  report | write_json("out/metrics.json")
  by_station | write_csv("out/by_station.csv")
  scored | write_parquet("out/scored.parquet")
  model | save_model("out/model")
}
'''
FEATS = "from helpers import factor\n\n\ndef scaled(df):\n    return df.assign(xs=df['x'] * factor())\n"
HELPERS = "def factor():\n    return 2.0\n"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def write_project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stations = ["a", "b", "c", "d"]
    rows = ["id,station,x,late"] + [
        f"{i},{stations[i % 4]},{(i * 37 % 101) / 10 - 5:.1f},{'true' if (i * 37 % 101) / 10 - 5 + i % 7 - 3 > 0.5 else 'false'}"
        for i in range(300)]
    (folder / "obs.csv").write_text("\n".join(rows) + "\n")
    (folder / "weather.csv").write_text("station,temp\na,10.5\nb,3.0\nc,-1.5\n")
    (folder / "delays.pipe").write_text(PIPELINE)
    (folder / "feats.py").write_text(FEATS)
    (folder / "helpers.py").write_text(HELPERS)
    return folder


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.delenv("PIPEC_RUNS_DB", raising=False)
    folder = write_project(tmp_path / "project")
    monkeypatch.chdir(folder)
    return folder


def pipec_run(capsys, *argv: str) -> dict:
    """Run the pipeline and return the run's record (`pipec runs show last --format json`)."""
    code, _, err = run(capsys, "run", "delays.pipe", *argv)
    assert code == 0, err
    code, out, err = run(capsys, "runs", "show", "last", "--format", "json")
    assert code == 0, err
    return json.loads(out)


def outcomes(record: dict) -> dict[str, str]:
    return {n["binding"] or n["node"]: n["outcome"] for n in record["nodes"]}


def reasons(record: dict, name: str) -> list[str]:
    return next(n["reasons"] for n in record["nodes"] if (n["binding"] or n["node"]) == name)


def outputs(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted((folder / "out").rglob("*")) if p.is_file()}


def status(capsys) -> dict:
    code, out, err = run(capsys, "status", "delays.pipe", "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_an_unchanged_rerun_reuses_every_node_and_rewrites_nothing(capsys, project, tmp_path, monkeypatch):
    first = pipec_run(capsys)
    assert set(outcomes(first).values()) == {"ran"}
    cold = outputs(project)
    written = {p: (project / p).stat().st_mtime_ns for p in cold}
    again = pipec_run(capsys)
    assert set(outcomes(again).values()) == {"reused"}
    assert again["metrics"] == first["metrics"]
    assert outputs(project) == cold
    assert {p: (project / p).stat().st_mtime_ns for p in cold} == written  # not rewritten
    elsewhere = write_project(tmp_path / "cold")
    monkeypatch.chdir(elsewhere)
    pipec_run(capsys, "--no-cache")
    assert outputs(elsewhere) == cold


def test_a_param_only_the_report_reads_reruns_only_the_report(capsys, project):
    pipec_run(capsys)
    record = pipec_run(capsys, "-p", "min_count=2")
    ran = {name for name, outcome in outcomes(record).items() if outcome == "ran"}
    assert {"by_station"} <= ran and not ran & {"features", "model", "scored", "report", "train"}
    assert "param min_count changed 1 -> 2" in reasons(record, "by_station")
    assert outcomes(record)["model"] == "reused"


def test_a_changed_row_in_a_source_reruns_its_downstream_and_retrains_the_model(capsys, project):
    pipec_run(capsys)
    model_before = (project / "out/model/model.joblib").read_bytes()
    (project / "weather.csv").write_text("station,temp\na,10.5\nb,3.0\nc,-1.5\nd,22.0\n")
    assert "input weather.csv changed" in status(capsys)["nodes"][0]["reasons"]
    record = pipec_run(capsys)
    assert {outcomes(record)[n] for n in ("features", "model", "scored", "report", "by_station")} == {"ran"}
    assert "input weather.csv changed" in reasons(record, "features")
    assert (project / "out/model/model.joblib").read_bytes() != model_before


def test_editing_a_helper_module_of_a_python_step_reruns_it_with_the_new_code(capsys, project):
    pipec_run(capsys)
    # same size, same second: a .pyc checked by mtime and size would run the old code
    (project / "helpers.py").write_text(HELPERS.replace("2.0", "3.0"))
    step = next(n for n in status(capsys)["nodes"] if n["binding"] == "scaled")
    assert step["outcome"] == "rerun" and "python module helpers.py changed" in step["reasons"]
    record = pipec_run(capsys)
    assert outcomes(record)["scaled"] == "ran"
    import polars as pl

    scored = pl.read_parquet(project / "out/scored.parquet")
    assert (scored["xs"] == scored["x"] * 3.0).all()


def test_a_deleted_cache_object_is_recomputed_and_a_deleted_output_restored(capsys, project):
    pipec_run(capsys)
    cold = outputs(project)
    shutil.rmtree(project / "out/model")
    (project / "out/by_station.csv").unlink()
    record = pipec_run(capsys)
    assert set(outcomes(record).values()) == {"reused"}
    assert any("restored" in r for r in reasons(record, "by_station"))
    assert outputs(project) == cold
    for obj in (project / ".pipec/cache/objects").glob("*/*"):
        obj.chmod(0o755) if obj.is_dir() else None
        shutil.rmtree(obj) if obj.is_dir() else obj.unlink()
    assert {tuple(n["reasons"]) for n in status(capsys)["nodes"]} == {("cached output missing",)}
    record = pipec_run(capsys)
    assert set(outcomes(record).values()) == {"ran"}
    assert outputs(project) == cold


def test_status_says_never_run_before_the_first_run_and_changes_nothing(capsys, project):
    report = status(capsys)
    assert {n["outcome"] for n in report["nodes"]} == {"rerun"}
    assert {tuple(n["reasons"]) for n in report["nodes"]} == {("never run",)}
    code, out, _ = run(capsys, "status", "delays.pipe", "-p", "min_x=0")
    assert code == 0 and "nodes would rerun" in out
    assert not (project / "out").exists()


def test_rerun_forces_a_node_and_what_depends_on_it(capsys, project):
    pipec_run(capsys)
    record = pipec_run(capsys, "--rerun", "model")
    assert outcomes(record)["features"] == "reused"
    assert {outcomes(record)[n] for n in ("model", "scored", "report", "by_station")} == {"ran"}
    assert reasons(record, "model") == ["asked to rerun model"]
    code, _, err = run(capsys, "run", "delays.pipe", "--rerun", "nosuch")
    assert code == 2 and "no node nosuch" in err


def test_optimised_and_unoptimised_keys_do_not_mix(capsys, project):
    pipec_run(capsys)
    cold = outputs(project)
    record = pipec_run(capsys, "-O0")
    assert set(outcomes(record).values()) == {"ran"}  # other stages, other keys
    assert outputs(project) == cold
    assert set(outcomes(pipec_run(capsys)).values()) == {"reused"}
    assert set(outcomes(pipec_run(capsys, "-O0")).values()) == {"reused"}
    assert outputs(project) == cold


def test_two_runs_at_once_leave_a_cache_the_next_run_reuses_intact(capsys, project):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root))
    runs = [subprocess.Popen([sys.executable, "-m", "pipec.cli", "run", "delays.pipe", *extra], cwd=project, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for extra in ([], ["-p", "min_count=2"])]
    for process in runs:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
    code, out, err = run(capsys, "cache", "verify")
    assert code == 0, out + err
    record = pipec_run(capsys)
    assert outcomes(record)["model"] == "reused"
    cold = outputs(project)
    elsewhere = write_project(project.parent / "cold")
    os.chdir(elsewhere)
    pipec_run(capsys, "--no-cache")
    assert outputs(elsewhere) == cold


def test_a_python_step_with_cache_false_and_its_downstream_run_every_time(capsys, project):
    (project / "delays.pipe").write_text(PIPELINE.replace('xs: float})', 'xs: float}, cache=false)'))
    pipec_run(capsys)
    record = pipec_run(capsys)
    ran = {name for name, outcome in outcomes(record).items() if outcome == "ran"}
    assert {"scaled", "train", "model", "scored", "report", "by_station"} <= ran
    assert "scaled is never reused (cache=false)" in reasons(record, "scaled")
    assert "input scaled is computed again on every run" in reasons(record, "model")
    step = next(n for n in status(capsys)["nodes"] if n["binding"] == "scaled")
    assert step["outcome"] == "rerun" and step["reasons"] == ["scaled is never reused (cache=false)"]


def test_a_cache_on_s3_serves_another_working_directory(capsys, project, tmp_path, monkeypatch, s3_bucket):
    """`--cache-dir` at an fsspec URL: a run in another folder with the same files reuses every
    node, its model folder and outputs downloaded from S3 (checked against their digests)."""
    cache = f"s3://{s3_bucket}/cache"
    first = pipec_run(capsys, "--cache-dir", cache)
    assert set(outcomes(first).values()) == {"ran"}
    elsewhere = write_project(tmp_path / "elsewhere")
    monkeypatch.chdir(elsewhere)
    again = pipec_run(capsys, "--cache-dir", cache)
    assert set(outcomes(again).values()) == {"reused"}, [n for n in again["nodes"] if n["outcome"] != "reused"]
    assert outputs(elsewhere) == outputs(project) and again["metrics"] == first["metrics"]

    local = sorted(p for p in (elsewhere / ".pipec/cache/objects").glob("*/*") if p.is_file())
    local[0].chmod(0o644)
    local[0].write_bytes(b"damaged")  # the local copy is replaced by the good one at the URL
    assert set(outcomes(pipec_run(capsys, "--cache-dir", cache)).values()) == {"reused"}
