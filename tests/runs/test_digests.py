"""File digests and their stat cache: an unchanged file is not reread; a changed one, or one
modified within RACY_SECONDS of when its digest was taken, is."""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from pipec.cache import digests
from pipec.cache.digests import StatCache, file_digest, tree_digest


@pytest.fixture
def short_racy_window(monkeypatch):
    monkeypatch.setattr(digests, "RACY_SECONDS", 0.2)
    return 0.2


def settled(path: Path, window: float) -> None:
    """Wait until the file's last change is older than the racy window."""
    time.sleep(window + 0.05)


def test_file_digest_is_sha256_of_the_bytes(tmp_path):
    (tmp_path / "a.csv").write_bytes(b"x,y\n1,2\n")
    assert file_digest(tmp_path / "a.csv") == "sha256:" + hashlib.sha256(b"x,y\n1,2\n").hexdigest()


def test_an_unchanged_settled_file_is_not_reread(tmp_path, short_racy_window):
    path = tmp_path / "a.csv"
    path.write_text("a\n1\n")
    settled(path, short_racy_window)
    cache = StatCache(tmp_path / "digests.json")
    first = cache.digest(path)
    cache.save()
    again = StatCache(tmp_path / "digests.json")  # as the next run loads it
    assert again.digest(path) == first and again.hashed == 0


def test_a_file_recorded_within_the_racy_window_is_rehashed(tmp_path, short_racy_window):
    path = tmp_path / "a.csv"
    path.write_text("a\n1\n")
    cache = StatCache(tmp_path / "digests.json")
    cache.digest(path)  # taken right after the write: not trusted later
    assert cache.digest(path) and cache.hashed == 2
    settled(path, short_racy_window)
    cache.digest(path)  # taken long after the write: trusted from now on
    assert cache.hashed == 3
    cache.digest(path)
    assert cache.hashed == 3


def test_a_same_size_rewrite_with_the_old_mtime_is_still_noticed(tmp_path, short_racy_window):
    """Content changed, size and mtime put back: the inode (a new file moved in) and the ctime
    still differ, so the digest is recomputed."""
    path = tmp_path / "a.csv"
    path.write_text("a\n1\n")
    settled(path, short_racy_window)
    cache = StatCache(None)
    before = cache.digest(path)
    st = path.stat()
    replacement = tmp_path / "new.csv"
    replacement.write_text("a\n2\n")
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(replacement, path)
    settled(path, short_racy_window)
    assert cache.digest(path) != before and cache.hashed == 2


def test_an_appended_file_gets_a_new_digest(tmp_path, short_racy_window):
    path = tmp_path / "a.csv"
    path.write_text("a\n1\n")
    settled(path, short_racy_window)
    cache = StatCache(None)
    before = cache.digest(path)
    with open(path, "a") as f:
        f.write("2\n")
    assert cache.digest(path) == file_digest(path) != before


def test_a_folder_digest_covers_names_and_contents(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.json").write_text("{}")
    (folder / "model.joblib").write_bytes(b"\x00\x01")
    first = tree_digest(folder)
    assert StatCache(None).digest(folder) == first
    (folder / "model.json").rename(folder / "meta.json")
    assert tree_digest(folder) != first


def test_an_unreadable_cache_file_is_an_empty_cache(tmp_path):
    (tmp_path / "digests.json").write_text("{not json")
    path = tmp_path / "a.csv"
    path.write_text("a\n")
    cache = StatCache(tmp_path / "digests.json")
    assert cache.digest(path) == file_digest(path)
    cache.save()
    assert str(path.resolve()) in StatCache(tmp_path / "digests.json").entries


def test_the_saved_cache_forgets_files_that_are_gone(tmp_path):
    kept, gone = tmp_path / "kept.csv", tmp_path / "gone.csv"
    kept.write_text("a\n")
    gone.write_text("b\n")
    cache = StatCache(tmp_path / "digests.json")
    cache.digest(kept), cache.digest(gone)
    gone.unlink()
    cache.save()
    assert list(StatCache(tmp_path / "digests.json").entries) == [str(kept.resolve())]
