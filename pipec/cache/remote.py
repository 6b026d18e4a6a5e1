"""The output cache on another file system (`--cache-dir s3://bucket/cache`, `PIPEC_CACHE_DIR`):
the layout of `ObjectStore` (entries/, objects/) at an fsspec URL, in front of which the working
directory's `.pipec/cache/` keeps a local copy of what was used.

A run reads an entry from the local copy when it is there and intact; otherwise from the URL:
the object is downloaded, checked against the entry's recorded size and digest, and only then
copied into the local store under the key (a missing or different object is a miss, and is
removed so that the next `put` uploads it again). `put` stores locally, then uploads the object
(once per content) and the entry, the entry last: a run killed between the two leaves an object
no entry names, never an entry without its object. Any failure to reach the URL only costs a
recomputation, never a wrong hit.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from pipec.cache.digests import file_digest, path_size, tree_digest
from pipec.cache.objects import CACHE_DIR, Entry, ObjectStore

CACHE_DIR_VARIABLE = "PIPEC_CACHE_DIR"
log = logging.getLogger("pipec.cache")


def cache_location(given: str | None) -> str | None:
    """Where the output cache lives: `given` (`--cache-dir`), else $PIPEC_CACHE_DIR, else None
    (the working directory's `.pipec/cache/`)."""
    return given or os.environ.get(CACHE_DIR_VARIABLE) or None


def cache_store(workdir: Path | str, cache_dir: str | None) -> ObjectStore:
    """The store of a run in `workdir`: `.pipec/cache/` there (no `cache_dir`), the store at a
    local folder, or one at an fsspec URL behind the local copy."""
    from pipec.backends.commit import is_url

    if not cache_dir:
        return ObjectStore.in_workdir(workdir)
    if is_url(cache_dir):
        return RemoteObjectStore(cache_dir, Path(workdir) / CACHE_DIR)
    return ObjectStore(Path(cache_dir.removeprefix("file://")).expanduser())


class RemoteObjectStore(ObjectStore):
    """An `ObjectStore` at an fsspec URL, with its local copy at `root`."""

    def __init__(self, url: str, root: Path | str):
        super().__init__(root)
        self.url = url.rstrip("/")

    def _fs(self):
        from fsspec.core import url_to_fs

        return url_to_fs(self.url)

    def _remote(self, relative: Path) -> str:
        return f"{self.url}/{relative.relative_to(self.root).as_posix()}"

    def put(self, key: str, source: Path | str, *, run_id: str | None = None) -> Entry:
        entry = super().put(key, source, run_id=run_id)
        try:
            self._upload(entry)
        except (OSError, ValueError) as exc:  # the local copy still serves this working directory
            log.warning("could not store %s in %s: %s", key, self.url, exc)
        return entry

    def get(self, key: str, *, run_id: str | None = None) -> Path | None:
        found = super().get(key, run_id=run_id)
        if found is None and self._download(key):
            found = super().get(key, run_id=run_id)
        return found

    def entry(self, key: str) -> Entry | None:
        return super().entry(key) or self._remote_entry(key)

    # -- the remote side
    def _remote_entry(self, key: str) -> Entry | None:
        try:
            fs, _ = self._fs()
            return Entry(**json.loads(fs.cat_file(self._remote(self._entry_path(key)))))
        except (OSError, ValueError, TypeError):
            return None

    def _upload(self, entry: Entry) -> None:
        fs, _ = self._fs()
        obj = self._remote(self.object_path(entry.digest))
        if not fs.exists(obj):  # (a partly uploaded object fails its digest check, and is removed, on download)
            fs.makedirs(obj.rsplit("/", 1)[0], exist_ok=True)
            fs.put(str(self.object_path(entry.digest)), obj, recursive=entry.kind == "dir")
        entry_file = self._remote(self._entry_path(entry.key))
        fs.makedirs(entry_file.rsplit("/", 1)[0], exist_ok=True)
        fs.pipe_file(entry_file, json.dumps(asdict(entry), sort_keys=True).encode())

    def _download(self, key: str) -> bool:
        """Copy the entry of `key` and its object from the URL into the local store, if intact."""
        entry = self._remote_entry(key)
        if entry is None:
            return False
        fs, _ = self._fs()
        obj = self._remote(self.object_path(entry.digest))
        with tempfile.TemporaryDirectory(dir=self._local_tmp()) as scratch:
            copy = Path(scratch) / "object"
            try:
                fs.get(obj, str(copy), recursive=entry.kind == "dir")
            except (OSError, ValueError):
                return False
            found = (tree_digest(copy) if copy.is_dir() else file_digest(copy)) if copy.exists() else None
            if found != entry.digest or path_size(copy) != entry.size:
                log.warning("the cached %s in %s is missing or differs from its entry: recomputed", key, self.url)
                self._discard(fs, obj)
                return False
            super().put(key, copy, run_id=entry.last_run)  # (replaces a damaged local copy of the object)
        return True

    def _discard(self, fs, obj: str) -> None:
        try:
            if fs.exists(obj):
                fs.rm(obj, recursive=True)
        except OSError:
            pass

    def _local_tmp(self) -> Path:
        folder = self.root / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

