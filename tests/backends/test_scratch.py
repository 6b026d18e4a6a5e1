"""Scratch folders of runs (pipec.backends.scratch): a killed run's folder is removed by the next
run, a live run's folder and folders pipec did not make are left alone."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from pipec.backends.scratch import LOCK_NAME, remove_stale_scratch, scratch_folder

# A run that makes a scratch folder, starts a child that works in it (holding its lock), says
# where the folder is and waits to be killed.
HOLDER = """
import subprocess, sys, time
from pipec.backends.scratch import scratch_folder
with scratch_folder("airflow") as scratch:
    (scratch.path / "metadata.db").write_text("x")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                             pass_fds=[scratch.lock_fd], start_new_session=True)
    print(scratch.path, child.pid, flush=True)
    time.sleep(120)
"""


def start_holder(temp_dir: Path) -> tuple[subprocess.Popen, Path, int]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, TMPDIR=str(temp_dir)))
    folder, child = holder.stdout.readline().split()
    return holder, Path(folder), int(child)


def test_the_next_run_removes_the_scratch_of_a_killed_run(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)   # read TMPDIR again
    holder, folder, child = start_holder(tmp_path)
    try:
        holder.kill()
        holder.wait()
        # The killed run's child still works in the folder: it stays.
        assert remove_stale_scratch() == [] and (folder / "metadata.db").exists()
    finally:
        os.kill(child, signal.SIGKILL)
    _wait_gone(child)
    with scratch_folder("spark") as scratch:
        assert not folder.exists()
        assert [p.name for p in scratch.path.iterdir()] == [LOCK_NAME]
    assert list(tmp_path.iterdir()) == []


def test_live_runs_and_other_folders_are_left_alone(tmp_path):
    mine = tmp_path / "pipec-airflow-mine"      # no lock file: not a scratch folder pipec made
    mine.mkdir()
    (mine / "keep.txt").write_text("keep")
    holder, folder, child = start_holder(tmp_path)
    try:
        assert remove_stale_scratch(tmp_path) == []
        assert (folder / "metadata.db").exists() and (mine / "keep.txt").exists()
    finally:
        holder.kill()
        os.kill(child, signal.SIGKILL)
        holder.wait()
    _wait_gone(child)
    assert remove_stale_scratch(tmp_path) == [folder]
    assert (mine / "keep.txt").exists()


def test_a_run_removes_its_scratch_on_error(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    try:
        with scratch_folder("spark") as scratch:
            raise RuntimeError("job failed")
    except RuntimeError:
        pass
    assert not scratch.path.exists()


def _wait_gone(pid: int) -> None:
    """Wait until the killed grandchild is reaped (it was re-parented, so poll /proc)."""
    import time

    for _ in range(200):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z":
            return
        time.sleep(0.05)
