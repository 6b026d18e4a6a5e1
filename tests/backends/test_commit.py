"""The commit protocol (pipec/backends/commit.py): every target checked before any is replaced,
a journal that lets the next run finish or undo an interrupted commit, stale temporaries removed."""
from __future__ import annotations

import json
import os
import threading

import pytest

from pipec.backends import commit as protocol

FILES = protocol.LocalFiles()


class Killed(BaseException):
    """Stands for SIGKILL: nothing after the raising rename runs."""


def stage(tmp_path, outputs: dict[str, str], run_id: str) -> list[tuple[str, str]]:
    pairs = []
    for name, text in outputs.items():
        target = str(tmp_path / name)
        staged = protocol.staged_path(FILES, target, run_id)
        with open(staged, "w") as handle:
            handle.write(text)
        pairs.append((staged, target))
    return pairs


def contents(tmp_path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(tmp_path.iterdir()) if p.is_file()}


def test_commit_replaces_every_target_and_leaves_nothing_else(tmp_path):
    (tmp_path / "a.csv").write_text("old a")
    state = str(tmp_path / ".pipec")
    protocol.commit(FILES, state, "0" * 12, stage(tmp_path, {"a.csv": "new a", "b.csv": "new b"}, "0" * 12))
    assert contents(tmp_path) == {"a.csv": "new a", "b.csv": "new b"}
    assert os.listdir(tmp_path / ".pipec" / "commits") == []


@pytest.mark.parametrize("make_target", [
    lambda p: (p.mkdir(), (p / "keep.txt").write_text("user data")),
    lambda p: (p.with_name("real").mkdir(), (p.with_name("real") / "keep.txt").write_text("user data"),
               p.symlink_to(p.with_name("real"))),
])
def test_a_folder_pipec_did_not_write_is_an_error_before_anything_is_replaced(tmp_path, make_target):
    (tmp_path / "a.csv").write_text("old a")
    make_target(tmp_path / "b")
    pairs = stage(tmp_path, {"a.csv": "new a", "b": "new b"}, "1" * 12)
    with pytest.raises(protocol.CommitError, match=f"cannot write {tmp_path / 'b'}: "):
        protocol.commit(FILES, str(tmp_path / ".pipec"), "1" * 12, pairs)
    assert (tmp_path / "a.csv").read_text() == "old a"
    assert (tmp_path / "b" / "keep.txt").read_text() == "user data"


def test_the_working_directory_itself_is_never_a_target(tmp_path):
    (tmp_path / "keep.txt").write_text("user data")
    with pytest.raises(protocol.CommitError, match="folder"):
        protocol.check_targets(FILES, [str(tmp_path)], str(tmp_path / ".pipec"))
    (tmp_path / protocol.MARKER).write_text("")  # even when it carries the marker
    with pytest.raises(protocol.CommitError, match="holding this working directory"):
        protocol.check_targets(FILES, [str(tmp_path)], str(tmp_path / ".pipec"))


def test_folders_pipec_wrote_may_be_replaced(tmp_path):
    marked, model, spark_model = tmp_path / "marked", tmp_path / "model", tmp_path / "spark_model"
    for folder in (marked, model, spark_model):
        folder.mkdir()
    (marked / protocol.MARKER).write_text("")
    (model / "model.json").write_text(json.dumps({"format": "pipec-model/1"}))
    (spark_model / "pipec-model.json").write_text(json.dumps({"kind": "classifier", "estimator": "x",
                                                              "features": []}))
    protocol.check_targets(FILES, [str(marked), str(model), str(spark_model)], str(tmp_path / ".pipec"))
    (model / "model.json").write_text(json.dumps({"format": "someone-else"}))
    with pytest.raises(protocol.CommitError):
        protocol.check_targets(FILES, [str(model)], str(tmp_path / ".pipec"))


def interrupted_commit(tmp_path, monkeypatch, renames_before_kill: int) -> list[tuple[str, str]]:
    """Old a.csv, b.csv, c.csv; a commit of new ones killed after `renames_before_kill` renames."""
    for name in ("a.csv", "b.csv", "c.csv"):
        (tmp_path / name).write_text(f"old {name}")
    pairs = stage(tmp_path, {n: f"new {n}" for n in ("a.csv", "b.csv", "c.csv")}, "2" * 12)
    done = []
    real_rename = FILES.rename

    def rename(source, target):
        if len(done) == renames_before_kill:
            raise Killed
        real_rename(source, target)
        done.append(target)

    monkeypatch.setattr(FILES, "rename", rename)
    with pytest.raises(Killed):
        protocol.commit(FILES, str(tmp_path / ".pipec"), "2" * 12, pairs)
    monkeypatch.undo()
    return pairs


@pytest.mark.parametrize("renames_before_kill", range(6))
def test_recovery_rolls_an_interrupted_commit_forward(tmp_path, monkeypatch, renames_before_kill):
    interrupted_commit(tmp_path, monkeypatch, renames_before_kill)
    messages = protocol.recover(FILES, str(tmp_path / ".pipec"))
    assert messages == [f"recovered an interrupted commit of run {'2' * 12}: rolled forward: "
                        "all 3 outputs are the new ones"]
    assert contents(tmp_path) == {n: f"new {n}" for n in ("a.csv", "b.csv", "c.csv")}
    assert os.listdir(tmp_path / ".pipec" / "commits") == []


@pytest.mark.parametrize("renames_before_kill", [1, 3])
def test_recovery_rolls_back_when_a_staged_output_is_lost(tmp_path, monkeypatch, renames_before_kill):
    interrupted_commit(tmp_path, monkeypatch, renames_before_kill)
    # c was not touched yet; now its staged file is lost while the old one sits in the backup
    os.unlink(tmp_path / f".c.csv.pipec-{'2' * 12}.tmp")
    os.rename(tmp_path / "c.csv", tmp_path / f".c.csv.pipec-{'2' * 12}.old")
    [message] = protocol.recover(FILES, str(tmp_path / ".pipec"))
    assert "rolled back" in message
    assert contents(tmp_path) == {n: f"old {n}" for n in ("a.csv", "b.csv", "c.csv")}


def test_stale_temporaries_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    state = str(tmp_path / ".pipec")
    target = str(tmp_path / "out.csv")
    dead = protocol.staged_path(FILES, target, "3" * 12)
    live = protocol.staged_path(FILES, target, "4" * 12)
    other = str(tmp_path / f".unrelated.pipec-{'3' * 12}.tmp")
    for path in (dead, live, other):
        open(path, "w").close()
    lock = protocol.RunLock(state, "4" * 12)
    try:
        assert protocol.remove_stale(FILES, state, [target]) == 1
        assert sorted(os.listdir(tmp_path)) == sorted([".pipec", os.path.basename(live), os.path.basename(other)])
    finally:
        lock.release()
    assert protocol.remove_stale(FILES, state, [target]) == 1
    assert not os.path.exists(live)


def test_commits_in_one_working_directory_wait_for_each_other(tmp_path):
    state = str(tmp_path / ".pipec")
    pairs = stage(tmp_path, {"a.csv": "new a"}, "5" * 12)
    done = threading.Event()

    def other_run() -> None:
        with protocol.commit_lock(state):
            protocol.commit(FILES, state, "5" * 12, pairs)
        done.set()

    with protocol.commit_lock(state):
        thread = threading.Thread(target=other_run)
        thread.start()
        assert not done.wait(0.5)
        assert not (tmp_path / "a.csv").exists()
    thread.join(30)
    assert done.is_set() and (tmp_path / "a.csv").read_text() == "new a"


def test_a_failing_rename_leaves_all_old_or_all_new_at_once(tmp_path, monkeypatch):
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text(f"old {name}")
    pairs = stage(tmp_path, {n: f"new {n}" for n in ("a.csv", "b.csv")}, "6" * 12)
    real_rename, calls = FILES.rename, []

    def rename(source, target):
        calls.append(target)
        if len(calls) == 3:  # moving the old b.csv aside fails once
            raise OSError("device busy")
        real_rename(source, target)

    monkeypatch.setattr(FILES, "rename", rename)
    with pytest.raises(OSError, match="device busy"):
        protocol.commit(FILES, str(tmp_path / ".pipec"), "6" * 12, pairs)
    assert contents(tmp_path) == {"a.csv": "new a.csv", "b.csv": "new b.csv"}
    assert os.listdir(tmp_path / ".pipec" / "commits") == []
