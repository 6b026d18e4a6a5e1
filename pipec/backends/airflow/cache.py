"""The stage cache of generated DAGs under a storage root ({storage_root}/cache/KEY/), as
`pipec cache ls | verify | gc --storage-root URL` sees it: the same interface as a working
directory's cache (pipec/cache/objects.py), so that `pipec cache` prints both alike.

The layout, the use markers and the removal live in task_io, which the DAG's own `clean_up`
prunes with; what is here only the command line does: rereading every file, and keeping what
each DAG's N most recent runs used.
"""
from __future__ import annotations

import time
from typing import Any

from pipec.backends.airflow.task_io import CACHE_FOLDER, CacheEntry, StageCacheListing
from pipec.cache.objects import Collected, Problem


class StorageRootCache:
    """The cache under `storage_root` as one listing shows it (one listing per command)."""

    def __init__(self, storage_root: str):
        self.root = f"{storage_root.rstrip('/')}/{CACHE_FOLDER}"
        self._listing = StageCacheListing(storage_root)

    def entries(self) -> list[CacheEntry]:
        """Every entry, most recently used first."""
        return self._listing.entries

    def describe(self, entry: CacheEntry) -> dict[str, Any]:
        """An entry for `pipec cache ls`: which stage of which DAG stored or used it last, and
        the values (node ids) it holds."""
        manifest = self._listing.manifest(entry) or {"records": {}}
        last = next(iter(self._listing.uses(entry)), {"dag": None, "run": None, "stage": None})
        return {"key": entry.key, "size": entry.size, "files": len(entry.files), "created": entry.created,
                "last_used": entry.last_used, "last_run": last["run"], "dag": last["dag"], "stage": last["stage"],
                "nodes": sorted(manifest["records"]), "path": f"{self.root}/{entry.key}"}

    @staticmethod
    def summary(described: dict[str, Any]) -> str:
        stage = f"{described['dag']} stage {described['stage']}" if described["dag"] else "stage unknown"
        return f"{stage}: {', '.join(described['nodes']) or 'no values'}"

    def verify(self) -> list[Problem]:
        """Every entry a task would not reuse, rereading every file against its recorded sha256."""
        return [Problem(entry.key, problem) for entry in self.entries()
                if (problem := self._listing.problem(entry, reread=True)) is not None]

    def gc(self, *, keep_last: int | None = None, older_than: float | None = None,
           now: float | None = None) -> Collected:
        """Remove broken entries (a file missing, or one written after the manifest and changed:
        only those are reread), entries not used by the `keep_last` most recent runs of the DAG
        that used them and/or not used for `older_than` seconds, and the leftovers of
        interrupted stores."""
        now = time.time() if now is None else now
        entries = self.entries()
        runs = {entry.key: self._runs(entry) for entry in entries} if keep_last is not None else {}
        kept = _recent_runs([use for uses in runs.values() for use in uses], keep_last or 0)

        def stale(entry: CacheEntry) -> str | None:
            if keep_last is not None and not kept & {run for _, run in runs[entry.key]}:
                return f"not used by the {keep_last} most recent runs of its DAG"
            if older_than is not None and entry.last_used < now - older_than:
                return f"not used for {older_than:g} seconds"
            return self._listing.problem(entry, reread=False)

        return Collected(**self._listing.prune(stale, now))

    def _runs(self, entry: CacheEntry) -> list[tuple[float, tuple[Any, Any]]]:
        """When each (DAG, run) marked `entry` as used; an entry nobody marked counts as a run
        of its own, at the time it was stored."""
        return [(use["at"], (use["dag"], use["run"])) for use in self._listing.uses(entry)] or \
            [(entry.created, (None, "key:" + entry.key))]


def _recent_runs(uses: list[tuple[float, tuple[Any, Any]]], count: int) -> set[tuple[Any, Any]]:
    """Of each DAG, its `count` most recent runs among `uses` ((when, (DAG, run)) pairs)."""
    kept: dict[Any, list[tuple[Any, Any]]] = {}
    for _, run in sorted(uses, key=lambda use: -use[0]):
        runs = kept.setdefault(run[0], [])
        if run not in runs and len(runs) < count:
            runs.append(run)
    return {run for runs in kept.values() for run in runs}
