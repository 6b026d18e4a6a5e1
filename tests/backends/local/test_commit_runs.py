"""Local runs commit all or nothing: no folder pipec did not write is replaced, a failure leaves
every earlier output, and a run killed at any moment (also mid-commit) leaves outputs that are all
old or all new once the next run has started, with no temporary file left."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipec.backends.commit import PAUSE_VARIABLE
from pipec.backends.local.runtime import PipelineRunError

ROOT = Path(__file__).resolve().parents[3]
SOURCE = """
schema Row { id: int, score: float }
pipeline t() {
  param dest: str = "out"
  rows = read_csv("in.csv", schema=Row)
  rows | write_csv("${dest}/a.csv")
  rows | filter(score > 1.0) | write_json("${dest}/b.json")
  rows | aggregate(n = count()) | write_csv("${dest}/c.csv")
}
"""
OTHER = """
pipeline other() {
  read_csv("missing.csv", schema=Row) | write_csv("elsewhere.csv")
}
"""
OLD = "id,score\n1,0.5\n2,1.5\n"
NEW = "id,score\n1,0.5\n2,1.5\n3,2.5\n"
SINKS = ("a.csv", "b.json", "c.csv")


def test_a_user_folder_as_second_sink_fails_before_the_first_is_replaced(run_pipe):
    run_pipe(SOURCE, files={"in.csv": OLD})
    before = {name: (run_pipe.workdir / "out" / name).read_text() for name in SINKS}
    (run_pipe.workdir / "out" / "b.json").unlink()
    (run_pipe.workdir / "out" / "b.json").mkdir()
    (run_pipe.workdir / "out" / "b.json" / "mine.txt").write_text("user data")
    with pytest.raises(PipelineRunError, match=r"cannot write .*out/b\.json: it is a folder pipec did not write"):
        run_pipe(SOURCE, files={"in.csv": NEW})
    assert (run_pipe.workdir / "out" / "a.csv").read_text() == before["a.csv"]
    assert (run_pipe.workdir / "out" / "b.json" / "mine.txt").read_text() == "user data"
    assert sorted(os.listdir(run_pipe.workdir / "out")) == list(SINKS)


def test_dest_dot_never_deletes_anything(run_pipe):
    source = """
schema Row { id: int, score: float }
pipeline t() {
  param dest: str = "x.csv"
  read_csv("in.csv", schema=Row) | write_csv("${dest}")
}
"""
    run_pipe.workdir.joinpath("keep.txt").write_text("user data")
    with pytest.raises(PipelineRunError, match="folder"):
        run_pipe(source, params={"dest": "."}, files={"in.csv": OLD})
    assert sorted(p.name for p in run_pipe.workdir.iterdir() if p.name != ".pipec") == ["in.csv", "keep.txt"]


MODEL_SOURCE = """
schema Row { x: float, y: bool }
pipeline m() {
  rows = read_csv("in.csv", schema=Row)
  model = rows | fit(logistic_regression(), features=[x], label=y)
  model | save_model("model")
}
"""
MODEL_DATA = "x,y\n0.1,false\n0.2,false\n0.9,true\n0.8,true\n"


def test_save_model_onto_a_user_folder_is_an_error_and_onto_its_own_model_a_replacement(run_pipe):
    folder = run_pipe.workdir / "model"
    folder.mkdir()
    (folder / "notes.txt").write_text("user data")
    with pytest.raises(PipelineRunError, match="it is a folder pipec did not write"):
        run_pipe(MODEL_SOURCE, files={"in.csv": MODEL_DATA})
    assert os.listdir(folder) == ["notes.txt"]
    (folder / "notes.txt").unlink()
    folder.rmdir()
    run_pipe(MODEL_SOURCE, files={"in.csv": MODEL_DATA})
    first = (folder / "model.json").stat().st_ino
    run_pipe(MODEL_SOURCE, files={"in.csv": MODEL_DATA + "0.7,true\n"})  # new data: a new model replaces it
    assert (folder / "model.json").stat().st_ino != first
    assert sorted(os.listdir(run_pipe.workdir)) == [".pipec", "in.csv", "model"]


# ---------------------------------------------------------------- real processes, real signals
def pipec(workdir: Path, *args: str, pause: float = 0.0) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **{PAUSE_VARIABLE: str(pause)})
    return subprocess.Popen([sys.executable, "-m", "pipec.cli", "run", "p.pipe", *args], cwd=workdir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def outputs(workdir: Path) -> dict[str, str]:
    return {name: (workdir / "out" / name).read_text() for name in SINKS if (workdir / "out" / name).exists()}


def leftovers(workdir: Path) -> list[str]:
    found = [p.name for p in (workdir / "out").iterdir() if ".pipec-" in p.name]
    found += [f"journal {p.name}" for p in (workdir / ".pipec" / "commits").glob("*")]
    return found


@pytest.fixture
def project(tmp_path) -> dict:
    """A workdir whose outputs come from OLD, with NEW in place for the next run: the outputs
    of either, for comparison."""
    (tmp_path / "p.pipe").write_text(SOURCE + OTHER)
    results = {}
    for name, data in (("new", NEW), ("old", OLD)):
        (tmp_path / "in.csv").write_text(data)
        done = pipec(tmp_path, "--pipeline", "t")
        assert done.wait() == 0, done.stderr.read()
        results[name] = outputs(tmp_path)
    (tmp_path / "in.csv").write_text(NEW)
    return {"dir": tmp_path, **results}


def wait_for_journal(workdir: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not list((workdir / ".pipec" / "commits").glob("*.json")):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.005)


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_commit_waits_for_it_and_says_so(project, number):
    workdir = project["dir"]
    process = pipec(workdir, "--pipeline", "t", pause=0.2)
    wait_for_journal(workdir, process)
    time.sleep(0.3)
    process.send_signal(number)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted after commit: all 3 outputs were written" in stderr
    assert outputs(workdir) == project["new"]
    assert leftovers(workdir) == []


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_before_the_commit_changes_nothing_and_says_so(project, number):
    workdir = project["dir"]
    process = pipec(workdir, "--pipeline", "t", pause=0.2)
    while "running t" not in process.stderr.readline():  # started, well before the commit
        assert process.poll() is None
    process.send_signal(number)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "no output was changed" in stderr and "after commit" not in stderr
    assert outputs(workdir) == project["old"]
    assert leftovers(workdir) == []


def test_sigkill_mid_commit_is_rolled_forward_by_the_next_run_of_any_pipeline(project):
    workdir = project["dir"]
    process = pipec(workdir, "--pipeline", "t", pause=0.3)
    wait_for_journal(workdir, process)
    time.sleep(0.45)  # after the first old output was moved aside and the new one moved in
    process.kill()
    process.wait()
    assert outputs(workdir) not in (project["old"], project["new"]), "the kill did not hit the commit"
    assert leftovers(workdir)
    following = pipec(workdir, "--pipeline", "other")  # fails (missing input), but recovers first
    _, stderr = following.communicate(timeout=60)
    assert following.returncode == 1
    assert stderr.count("recovered an interrupted commit") == 1
    assert "rolled forward: all 3 outputs are the new ones" in stderr
    assert outputs(workdir) == project["new"]
    assert leftovers(workdir) == []


@pytest.mark.parametrize("seed", range(3))
def test_a_kill_at_a_random_moment_leaves_all_old_or_all_new(project, seed):
    chooser = random.Random(seed)
    number = chooser.choice([signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
    workdir = project["dir"]
    process = pipec(workdir, "--pipeline", "t", pause=0.05)
    time.sleep(chooser.uniform(0.0, 2.5))
    process.send_signal(number)
    process.wait(timeout=60)
    following = pipec(workdir, "--pipeline", "other")
    following.communicate(timeout=60)
    assert outputs(workdir) in (project["old"], project["new"])
    assert leftovers(workdir) == []


def test_stages_staging_sinks_at_once_take_the_run_lock_once(tmp_path, monkeypatch):
    """Found by the differential tester: two stages on two threads both took the run's flock,
    and the second open of the same lock file in one process waited forever."""
    import threading

    from pipec.backends import commit
    from pipec.backends.local import runtime

    slow_lock = commit.RunLock

    class SlowRunLock(slow_lock):
        def __init__(self, *args):
            time.sleep(0.3)  # widen the window in which a second thread could take it too
            super().__init__(*args)

    monkeypatch.setattr(runtime.commit_protocol, "RunLock", SlowRunLock)
    ctx = runtime.RunContext({}, tmp_path)
    threads = [threading.Thread(target=ctx.stage_file, args=(f"n{k}", f"out/{k}.txt", 1,
                                                              lambda tmp: tmp.write_text("x")), daemon=True)
               for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not any(thread.is_alive() for thread in threads)
    ctx.abort()
