"""The content-addressed object store: put/get by key with the recorded size and digest checked,
and `pipec cache ls | verify | gc`."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from pipec.cache.objects import ObjectStore, parse_duration
from pipec.cli import main

KEY_A, KEY_B, KEY_C = "a" * 32, "b" * 32, "c" * 32


@pytest.fixture
def store(tmp_path) -> ObjectStore:
    return ObjectStore.in_workdir(tmp_path)


def output(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_put_then_get_gives_the_same_bytes_and_identical_outputs_share_one_object(tmp_path, store):
    entry = store.put(KEY_A, output(tmp_path, "x.csv", "a\n1\n"), run_id="r1")
    assert entry.size == 4 and entry.digest.startswith("sha256:")
    got = store.get(KEY_A)
    assert got.read_text() == "a\n1\n" and got.stat().st_mode & 0o222 == 0  # stored read-only
    store.put(KEY_B, output(tmp_path, "y.csv", "a\n1\n"))
    assert store.get(KEY_B) == got
    assert len(list((store.root / "objects").glob("*/*"))) == 1


def test_a_folder_output_round_trips(tmp_path, store):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text('{"kind": "classifier"}')
    (model / "model.joblib").write_bytes(b"\x00" * 10)
    entry = store.put(KEY_A, model)
    assert entry.kind == "dir" and entry.size == 32
    assert (store.get(KEY_A) / "model.json").read_text() == '{"kind": "classifier"}'


def test_an_unknown_key_a_missing_object_or_a_changed_object_is_a_miss(tmp_path, store):
    assert store.get(KEY_A) is None
    store.put(KEY_A, output(tmp_path, "x.csv", "a\n1\n"))
    obj = store.get(KEY_A)
    obj.chmod(0o644)
    obj.write_text("a\n2\n")  # same size, other content
    assert store.get(KEY_A) is None
    assert [(p.key, p.problem.split()[0]) for p in store.verify()] == [(KEY_A, "content")]
    obj.unlink()
    assert store.get(KEY_A) is None
    assert [p.problem for p in store.verify()] == ["object missing"]


def test_storing_again_replaces_a_damaged_object(tmp_path, store):
    """The recompute after a miss on a changed object stores an intact one, so the next run hits."""
    source = output(tmp_path, "x.csv", "a\n1\n")
    store.put(KEY_A, source)
    obj = store.get(KEY_A)
    obj.chmod(0o644)
    obj.write_text("a\n2\n")
    assert store.get(KEY_A) is None
    store.put(KEY_A, source)
    assert store.get(KEY_A).read_text() == "a\n1\n" and store.verify() == []


def test_keys_are_hex_so_they_cannot_name_a_path(tmp_path, store):
    with pytest.raises(ValueError, match="not a cache key"):
        store.put("../../etc", output(tmp_path, "x.csv", "a\n"))


def test_gc_keep_last_keeps_what_the_latest_runs_used(tmp_path, store):
    for key, run, text in ((KEY_A, "r1", "1"), (KEY_B, "r2", "2"), (KEY_C, "r3", "3")):
        store.put(key, output(tmp_path, f"{run}.csv", text), run_id=run)
        time.sleep(0.01)
    store.get(KEY_A, run_id="r3")  # r3 reused A: it stays with r3
    done = store.gc(keep_last=1)
    assert sorted(e.key for e in store.entries()) == [KEY_A, KEY_C]
    assert done.entries == 1 and done.objects == 1 and done.bytes == 1


def test_a_use_by_no_new_run_touches_the_entry_instead_of_replacing_it(tmp_path, store):
    """An unchanged rerun uses every entry: replacing each one (a new file renamed over the old)
    took milliseconds apiece, touching it takes microseconds. The time of use still advances."""
    store.put(KEY_A, output(tmp_path, "x.csv", "a\n1\n"), run_id="r1")
    long_ago = time.time() - 3600
    entry = store.entry(KEY_A)
    entry.last_used = long_ago
    store._write_entry(entry)
    path = store.root / "entries" / KEY_A[:2] / f"{KEY_A}.json"
    os.utime(path, (long_ago, long_ago))
    inode = path.stat().st_ino
    assert store.get(KEY_A) is not None
    assert path.stat().st_ino == inode
    used = store.entry(KEY_A)
    assert used.last_used > long_ago + 3000 and used.last_run == "r1"


def test_gc_older_than_removes_what_was_not_used_for_that_long(tmp_path, store):
    store.put(KEY_A, output(tmp_path, "x.csv", "old"))
    store.put(KEY_B, output(tmp_path, "y.csv", "new"))
    later = time.time() + 3 * 86400
    store.get(KEY_B)
    entry = store.entry(KEY_B)
    entry.last_used = later - 3600
    store._write_entry(entry)
    store.gc(older_than=parse_duration("2d"), now=later)
    assert [e.key for e in store.entries()] == [KEY_B]


def test_gc_removes_broken_entries_unreferenced_objects_and_dead_temporary_files(tmp_path, store):
    store.put(KEY_A, output(tmp_path, "x.csv", "a"))
    store.object_path(store.entry(KEY_A).digest).unlink()
    stray = store.root / "objects" / "ff" / ("sha256-ff" + "0" * 62)
    stray.parent.mkdir(parents=True)
    stray.write_text("nobody's")
    dead = store.root / "tmp" / "dead"
    dead.write_text("half")
    os.utime(dead, (time.time() - 7200, time.time() - 7200))
    young = store.root / "tmp" / "young"
    young.write_text("being written")
    done = store.gc()
    assert (done.entries, done.objects, done.temporary) == (1, 1, 1)
    assert store.entries() == [] and not stray.exists() and not dead.exists() and young.exists()


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("15m", 900), ("12h", 43200), ("7d", 604800), ("2w", 1209600)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_cache_commands(capsys, tmp_path, store):
    assert cli(capsys, "cache", "ls", "--workdir", str(tmp_path))[1].startswith("the cache in")
    store.put(KEY_A, output(tmp_path, "x.csv", "a\n1\n"), run_id="r1")
    code, out, _ = cli(capsys, "cache", "ls", "--workdir", str(tmp_path), "--format", "json")
    [listed] = json.loads(out)
    assert listed["key"] == KEY_A and listed["size"] == 4 and Path(listed["path"]).exists()
    assert cli(capsys, "cache", "verify", "--workdir", str(tmp_path))[0] == 0
    Path(listed["path"]).unlink()
    code, out, _ = cli(capsys, "cache", "verify", "--workdir", str(tmp_path))
    assert code == 1 and f"{KEY_A}: object missing" in out
    code, out, _ = cli(capsys, "cache", "gc", "--workdir", str(tmp_path), "--format", "json")
    assert code == 0 and json.loads(out)["entries"] == 1
    code, _, err = cli(capsys, "cache", "gc", "--older-than", "soon", "--workdir", str(tmp_path))
    assert code == 2 and "--older-than expected a duration" in err
    code, _, err = cli(capsys, "cache", "ls", "--keep-last", "2", "--workdir", str(tmp_path))
    assert code == 2 and "go with `pipec cache gc`" in err


def test_cache_commands_work_on_the_folder_runs_were_given(capsys, tmp_path, monkeypatch):
    """`--cache-dir` (or $PIPEC_CACHE_DIR, as `pipec run` reads it) names the cache that `ls`,
    `verify` and `gc` work on; a cache at a URL is refused rather than answered from elsewhere."""
    shared = ObjectStore(tmp_path / "shared")
    shared.put(KEY_A, output(tmp_path, "x.csv", "a\n1\n"), run_id="r1")
    code, out, _ = cli(capsys, "cache", "ls", "--cache-dir", str(tmp_path / "shared"), "--format", "json")
    assert code == 0 and [e["key"] for e in json.loads(out)] == [KEY_A]
    monkeypatch.setenv("PIPEC_CACHE_DIR", str(tmp_path / "shared"))
    code, out, _ = cli(capsys, "cache", "gc", "--keep-last", "0", "--workdir", str(tmp_path / "elsewhere"),
                       "--format", "json")
    assert code == 0 and json.loads(out)["entries"] == 1 and shared.entries() == []
    monkeypatch.setenv("PIPEC_CACHE_DIR", "s3://bucket/cache")
    code, _, err = cli(capsys, "cache", "ls")
    assert code == 2 and "is a URL" in err
    code, _, err = cli(capsys, "cache", "ls", "--target", "airflow", "--cache-dir", str(tmp_path))
    assert code == 2 and "--cache-dir goes with the local cache" in err
