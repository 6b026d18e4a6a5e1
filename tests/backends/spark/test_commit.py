"""A generated Spark job commits like the local backend (pipec/backends/commit.py through the
Hadoop FileSystem API): it never replaces a folder it did not write, and a kill during the commit
loses nothing, because the next run in that working directory (on any backend) finishes it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from spark_kit import check

from pipec.backends.commit import PAUSE_VARIABLE
from pipec.backends.local.runner import run_plan
from pipec.backends.spark import BACKEND
from pipec.compiler.plan import unoptimized_plan

SOURCE = """
schema Row { x: float, y: bool }
pipeline job() {
  rows = read_csv("in.csv", schema=Row)
  rows | write_csv("out/a.csv")
  rows | fit(logistic_regression(), features=[x], label=y) | save_model("out/model")
}
"""
DATA = "x,y\n0.1,false\n0.2,false\n0.9,true\n0.8,true\n"


def start_job(tmp_path: Path, pause: float = 0.0) -> subprocess.Popen:
    (tmp_path / "in.csv").write_text(DATA)
    (job,) = BACKEND.compile(unoptimized_plan(check(SOURCE)), tmp_path / "compiled")
    env = {**os.environ, PAUSE_VARIABLE: str(pause)}
    return subprocess.Popen([sys.executable, str(job)], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def old_outputs(tmp_path: Path) -> None:
    """An earlier run's outputs: a CSV file and a model folder with pipec's Spark sidecar."""
    (tmp_path / "out" / "model").mkdir(parents=True)
    (tmp_path / "out" / "a.csv").write_text("old\n")
    (tmp_path / "out" / "model" / "pipec-model.json").write_text(
        json.dumps({"kind": "classifier", "estimator": "old", "features": []}))


def test_a_sink_onto_a_user_folder_fails_with_exit_1_and_deletes_nothing(tmp_path):
    old_outputs(tmp_path)
    (tmp_path / "out" / "model" / "pipec-model.json").unlink()
    (tmp_path / "out" / "model" / "thesis.tex").write_text("user data")
    job = start_job(tmp_path)
    _, stderr = job.communicate(timeout=300)
    assert job.returncode == 1, stderr[-3000:]
    assert f"job: error: cannot write {tmp_path / 'out' / 'model'}: it is a folder pipec did not write" in stderr
    assert "Traceback" not in stderr
    assert os.listdir(tmp_path / "out" / "model") == ["thesis.tex"]
    assert (tmp_path / "out" / "a.csv").read_text() == "old\n"  # checked before anything was replaced
    assert sorted(os.listdir(tmp_path / "out")) == ["a.csv", "model"]


def test_a_kill_mid_commit_keeps_the_model_and_the_next_run_finishes_the_commit(tmp_path):
    old_outputs(tmp_path)
    job = start_job(tmp_path, pause=1.0)
    deadline = time.monotonic() + 900  # a loaded machine needs minutes to start Spark
    while not list((tmp_path / ".pipec" / "commits").glob("*.json")):
        assert job.poll() is None and time.monotonic() < deadline, job.communicate()
        time.sleep(0.01)
    time.sleep(2.5)  # a.csv replaced, the old model moved aside, the new one not yet in place
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert not (tmp_path / "out" / "model").exists()
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".model.pipec-")]

    other = """
schema Row { x: float, y: bool }
pipeline other() { read_csv("in.csv", schema=Row) | write_csv("other.csv") }
"""
    result = run_plan(unoptimized_plan(check(other)), {}, tmp_path)
    assert len([w for w in result.warnings if w.startswith("recovered an interrupted commit")]) == 1
    assert any(w.endswith("rolled forward: all 2 outputs are the new ones") for w in result.warnings)
    sidecar = json.loads((tmp_path / "out" / "model" / "pipec-model.json").read_text())
    assert sidecar["estimator"] == "logistic_regression"
    assert (tmp_path / "out" / "a.csv").read_text().startswith("x,y\n")
    assert sorted(os.listdir(tmp_path / "out")) == ["a.csv", "model"]


def test_the_next_run_removes_what_a_killed_run_staged_even_when_it_fails(tmp_path):
    job = start_job(tmp_path)
    deadline = time.monotonic() + 900
    out = tmp_path / "out"
    while not (out.exists() and [p for p in out.iterdir() if p.name.startswith(".a.csv.pipec-")]):
        assert job.poll() is None and time.monotonic() < deadline, job.communicate()
        time.sleep(0.01)
    job.send_signal(signal.SIGKILL)   # a.csv staged, the model not yet fitted: nothing committed
    job.wait()
    assert [p.name for p in (tmp_path / ".pipec" / "runs").iterdir() if p.suffix == ".temps"]

    (tmp_path / "in.csv").write_text("x,y\n0.1,false\nabc,true\n")   # the next run fails on row 3
    (job,) = BACKEND.compile(unoptimized_plan(check(SOURCE)), tmp_path / "compiled")
    failed = subprocess.run([sys.executable, str(job)], cwd=tmp_path, text=True, capture_output=True,
                            timeout=900)
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert "in.csv" in failed.stderr and "Traceback" not in failed.stderr
    assert list(out.iterdir()) == []   # neither its own staged files nor the killed run's
    assert [p.name for p in (tmp_path / ".pipec" / "runs").iterdir()] == []
