"""`pipec run --target airflow` and `--target spark` killed with SIGKILL leave their scratch folders
in the temp directory; the next run removes them (one full Airflow run, about 20 s)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PIPELINE = """pipeline t() {
  src = read_csv("in.csv", schema={id: int, x: int})
  src | filter(x > 2) | write_csv("out.csv")
}
"""


def pipec_run(work: Path, temp_dir: Path, target: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipec.cli", "run", "t.pipe", "--target", target],
                            cwd=work, env=dict(os.environ, TMPDIR=str(temp_dir)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def kill_once_scratch_exists(run: subprocess.Popen, temp_dir: Path, prefix: str) -> list[Path]:
    """SIGKILL the run (and what it started in its process group) once its scratch folder is there."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        folders = [p for p in temp_dir.glob(f"{prefix}*") if (p / ".pipec-scratch-lock").exists()]
        if folders:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
            return folders
        assert run.poll() is None, run.stdout.read()
        time.sleep(0.05)
    raise AssertionError(f"no {prefix} folder appeared")


def test_next_run_removes_scratch_of_killed_runs(tmp_path):
    work, temp_dir = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    temp_dir.mkdir()
    (work / "t.pipe").write_text(PIPELINE)
    (work / "in.csv").write_text("id,x\n1,2\n3,4\n")

    spark = kill_once_scratch_exists(pipec_run(work, temp_dir, "spark"), temp_dir, "pipec-spark-")
    assert all(folder.exists() for folder in spark)
    kill_once_scratch_exists(pipec_run(work, temp_dir, "airflow"), temp_dir, "pipec-airflow-")
    assert not any(folder.exists() for folder in spark)   # removed as the Airflow run started
    assert {p.name.split("-")[1] for p in temp_dir.glob("pipec-*")} == {"dags", "airflow"}

    run = pipec_run(work, temp_dir, "airflow")
    output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, output
    assert (work / "out.csv").read_text() == "id,x\n3,4\n"
    assert [p.name for p in temp_dir.iterdir() if p.name.startswith("pipec-")] == []
