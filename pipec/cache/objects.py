"""A content-addressed store of node outputs under `<workdir>/.pipec/cache/`.

    objects/ab/sha256-ab12...      one file or folder per distinct content, read-only
    entries/<key[:2]>/<key>.json   key -> {digest, size, kind, created, last_used, last_run}
                                   (a use by no new run only touches the file: its mtime)
    tmp/                           objects being written

A key is what a caller computed *before* running a node from everything that determines its
output; the entry says which content that produced. Identical outputs under different keys share
one object. `get` is a hit only when the entry exists and its object is present with the recorded
size and digest (digests come from a stat cache, so a hit does not reread the object); anything
else is a miss and the caller recomputes. Objects are written under tmp/ and renamed into place,
entries are replaced atomically, so a killed `put` leaves at most a temporary file that `gc`
removes. A `gc` racing a `put` can at worst remove a fresh object, which turns the entry into a
miss, never into a wrong hit.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipec.cache.digests import StatCache, file_digest, path_size, tree_digest

CACHE_DIR = Path(".pipec") / "cache"
TMP_GRACE_SECONDS = 3600  # a temporary object younger than this may belong to a running `put`
_KEY = re.compile(r"[0-9a-f]{16,128}")


@dataclass
class Entry:
    key: str
    digest: str
    size: int
    kind: str  # file | dir
    created: float
    last_used: float
    last_run: str | None = None


@dataclass
class Problem:
    key: str
    problem: str


@dataclass
class Collected:
    entries: int = 0
    objects: int = 0
    bytes: int = 0
    temporary: int = 0


class ObjectStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.digests = StatCache(self.root / "digests.json")

    @classmethod
    def in_workdir(cls, workdir: Path | str) -> "ObjectStore":
        return cls(Path(workdir) / CACHE_DIR)

    # -- paths
    def _entry_path(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a cache key: {key!r} (16 to 128 lowercase hex digits)")
        return self.root / "entries" / key[:2] / f"{key}.json"

    def object_path(self, digest: str) -> Path:
        name = digest.replace(":", "-")
        return self.root / "objects" / name.rsplit("-", 1)[1][:2] / name

    # -- writing and reading
    def put(self, key: str, source: Path | str, *, run_id: str | None = None) -> Entry:
        """Store a copy of `source` (a file or folder) under `key`; returns its entry."""
        source = Path(source)
        kind = "dir" if source.is_dir() else "file"
        digest = tree_digest(source) if kind == "dir" else file_digest(source)
        target = self.object_path(digest)
        stored = Entry(key=key, digest=digest, size=path_size(source), kind=kind, created=0, last_used=0)
        if target.exists() and self._problem(stored, self.digests.digest) is not None:
            _remove(target)  # a damaged object (edited in place): replaced, or it would stay a miss forever
        if not target.exists():
            tmp = self._tmp()
            if kind == "dir":
                shutil.copytree(source, tmp)
            else:
                shutil.copyfile(source, tmp)
            _read_only(tmp)
            _fsync_tree(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(tmp, target)
            except OSError:  # another process stored the same content first
                _remove(tmp)
        now = time.time()
        entry = Entry(key=key, digest=digest, size=path_size(target), kind=kind, created=now, last_used=now,
                      last_run=run_id)
        self._write_entry(entry)
        return entry

    def get(self, key: str, *, run_id: str | None = None) -> Path | None:
        """The stored object for `key` if it is intact (recorded size and digest), else None."""
        entry = self.entry(key)
        if entry is None or self._problem(entry, self.digests.digest) is not None:
            return None
        if run_id is not None and run_id != entry.last_run:
            entry.last_used, entry.last_run = time.time(), run_id
            self._write_entry(entry)
        else:  # only the time of use changes: touching the entry is far cheaper than replacing it
            try:
                os.utime(self._entry_path(key))
            except FileNotFoundError:  # an entry read from elsewhere (`RemoteObjectStore.entry`)
                entry.last_used = time.time()
                self._write_entry(entry)
        self.digests.save()
        return self.object_path(entry.digest)

    def entry(self, key: str) -> Entry | None:
        """The entry of `key`; its last use is the later of the recorded one and the file's mtime."""
        path = self._entry_path(key)
        try:
            entry = Entry(**json.loads(path.read_text()))
            entry.last_used = max(entry.last_used, path.stat().st_mtime)
            return entry
        except (OSError, ValueError, TypeError):
            return None

    def entries(self) -> list[Entry]:
        """Every readable entry, most recently used first."""
        found = []
        for path in (self.root / "entries").glob("*/*.json"):
            entry = self.entry(path.stem)
            if entry is not None:
                found.append(entry)
        return sorted(found, key=lambda e: (-e.last_used, e.key))

    # -- checking and collecting
    def verify(self) -> list[Problem]:
        """Every entry whose object is missing or differs from what was recorded (rereads all)."""
        problems = []
        for entry in self.entries():
            problem = self._problem(entry, file_digest)
            if problem is not None:
                problems.append(Problem(entry.key, problem))
        return problems

    def gc(self, *, keep_last: int | None = None, older_than: float | None = None,
           now: float | None = None) -> Collected:
        """Remove entries not used by the `keep_last` most recent runs and/or not used for
        `older_than` seconds, entries whose object is broken, objects no entry names, and
        temporary files of dead `put`s."""
        now = time.time() if now is None else now
        done = Collected()
        entries = self.entries()
        kept_runs = _recent_runs(entries, keep_last) if keep_last is not None else None
        live: set[str] = set()
        for entry in entries:
            stale = ((kept_runs is not None and (entry.last_run or "key:" + entry.key) not in kept_runs)
                     or (older_than is not None and entry.last_used < now - older_than)
                     or self._problem(entry, None) is not None)
            if stale:
                self._entry_path(entry.key).unlink(missing_ok=True)
                done.entries += 1
            else:
                live.add(entry.digest.replace(":", "-"))
        for obj in (self.root / "objects").glob("*/*"):
            if obj.name not in live:
                done.bytes += path_size(obj)
                _remove(obj)
                done.objects += 1
        for tmp in (self.root / "tmp").glob("*"):
            if now - tmp.lstat().st_mtime > TMP_GRACE_SECONDS:
                _remove(tmp)
                done.temporary += 1
        return done

    def _problem(self, entry: Entry, digest) -> str | None:
        """What is wrong with an entry's object; `digest=None` checks presence and size only."""
        path = self.object_path(entry.digest)
        if not path.exists():
            return "object missing"
        if path_size(path) != entry.size:
            return f"size {path_size(path)} differs from the recorded {entry.size}"
        if digest is not None:
            found = tree_digest(path, digest) if entry.kind == "dir" else digest(path)
            if found != entry.digest:
                return f"content digest {found} differs from the recorded {entry.digest}"
        return None

    def _write_entry(self, entry: Entry) -> None:
        path = self._entry_path(entry.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_text(json.dumps(asdict(entry), sort_keys=True))
        os.replace(tmp, path)

    def _tmp(self) -> Path:
        folder = self.root / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / uuid.uuid4().hex

    def describe(self, entry: Entry) -> dict[str, Any]:
        return {**asdict(entry), "path": str(self.object_path(entry.digest))}

    @staticmethod
    def summary(described: dict[str, Any]) -> str:
        """The end of an entry's line in `pipec cache ls`: what its object is."""
        return f"{described['kind']:<4}  {described['digest']}"


def _recent_runs(entries: list[Entry], count: int) -> set[str]:
    """The runs (an entry stored without a run counts as a run of its own) of the `count` most
    recent uses; `entries` come most recently used first."""
    runs: list[str] = []
    for entry in entries:
        run = entry.last_run or "key:" + entry.key
        if run not in runs:
            runs.append(run)
    return set(runs[:count])


def parse_duration(text: str) -> float:
    """Seconds in `90s`, `15m`, `12h`, `7d` or `2w`; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise ValueError(f"expected a duration such as 30m, 12h, 7d or 2w, got `{text}`")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]


def _read_only(path: Path) -> None:
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if p.is_file():
            p.chmod(0o444)


def _fsync_tree(path: Path) -> None:
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
