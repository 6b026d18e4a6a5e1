"""Content digests of files and folders, with a stat cache so that an unchanged file is not read.

A cached digest is trusted only while the file's (device, inode, size, mtime_ns, ctime_ns) are
the ones recorded with it, and only if the file had not been modified within `RACY_SECONDS` of
when the digest was taken: a file written in the same instant as it was hashed (or just before)
may change again without its times changing at the file system's time granularity, so such a
digest is recomputed (git's "racily clean" rule). The cache is a JSON file replaced atomically;
two processes updating it at once lose one's new entries at worst, never a digest's correctness.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

ALGORITHM = "sha256"
RACY_SECONDS = 2.0
CACHE_FILE = Path(".pipec") / "digests.json"


def file_digest(path: Path | str) -> str:
    """`sha256:<hex>` of a file's bytes."""
    with open(path, "rb") as f:
        return f"{ALGORITHM}:" + hashlib.file_digest(f, ALGORITHM).hexdigest()


def tree_digest(folder: Path | str, digest=file_digest) -> str:
    """A folder's digest: of every file's relative path and digest, in path order (empty folders
    and permissions do not count)."""
    folder = Path(folder)
    h = hashlib.new(ALGORITHM)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(f"{path.relative_to(folder).as_posix()}\0{digest(path)}\n".encode())
    return f"{ALGORITHM}:tree:" + h.hexdigest()


def path_size(path: Path | str) -> int:
    """The bytes of a file, or of every file in a folder."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def stat_key(st: os.stat_result) -> list[int]:
    """What tells a file's versions apart without reading it."""
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


class StatCache:
    """Digests of files keyed by their resolved path and stat key; `save()` writes it back."""

    def __init__(self, file: Path | str | None):
        self.file = Path(file) if file is not None else None
        self.entries: dict[str, dict] = {}
        self.changed = False
        self.hashed = 0  # files read by this cache: how tests tell a hit from a rehash
        if self.file is not None:
            try:
                self.entries = json.loads(self.file.read_text())
            except (OSError, ValueError):
                self.entries = {}

    @classmethod
    def in_workdir(cls, workdir: Path | str) -> "StatCache":
        return cls(Path(workdir) / CACHE_FILE)

    def digest(self, path: Path | str) -> str:
        """The digest of a file (or folder), from the cache when the file is provably unchanged."""
        path = Path(path)
        if path.is_dir():
            return tree_digest(path, self.digest)
        key = os.path.realpath(path)  # (a symlink loop: the stat below fails with ELOOP)
        st = os.stat(key)
        entry = self.entries.get(key)
        if entry is not None and entry["stat"] == stat_key(st) and not self._racy(entry, st):
            return entry["digest"]
        recorded = time.time_ns()
        digest = file_digest(key)
        self.hashed += 1
        after = os.stat(key)
        if stat_key(after) == stat_key(st):  # not changed while it was read
            self.entries[key] = {"stat": stat_key(st), "digest": digest, "recorded_ns": recorded}
            self.changed = True
        return digest

    @staticmethod
    def _racy(entry: dict, st: os.stat_result) -> bool:
        return entry["recorded_ns"] - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_SECONDS * 1e9

    def save(self) -> None:
        """Write the cache back (atomically) if it learned anything, without the files that are
        gone (so that it does not grow forever); a failure only costs a rehash."""
        if self.file is None or not self.changed:
            return
        self.entries = {path: entry for path, entry in self.entries.items() if os.path.exists(path)}
        tmp = self.file.with_name(f"{self.file.name}.{os.getpid()}.tmp")
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self.entries, sort_keys=True))
            os.replace(tmp, self.file)
            self.changed = False
        except OSError:
            tmp.unlink(missing_ok=True)


def partitioned_digest(digests: StatCache, folder: Path) -> str | None:
    """The digest of a partitioned dataset's folder: every data file's path below it and content
    digest (hidden and `_` files are not data; all partitions, pruned or not, count: a file
    changing anywhere gives a new digest). None when the folder or a file cannot be read."""
    if not folder.is_dir():
        return None
    h = hashlib.new(ALGORITHM)
    for directory, subfolders, files in os.walk(folder):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith((".", "_")))
        for name in sorted(f for f in files if not f.startswith((".", "_"))):
            path = Path(directory) / name
            digest = digest_or_none(digests, path)
            if digest is None:
                return None
            h.update(f"{path.relative_to(folder).as_posix()}\0{digest}\0".encode())
    return f"{ALGORITHM}:" + h.hexdigest()


def digest_or_none(digests: StatCache, path: Path | str | None) -> str | None:
    """The digest of `path` through `digests`; None when there is no path or it cannot be read."""
    try:
        return digests.digest(path) if path is not None else None
    except OSError:
        return None
