"""Which recorded run wrote a file: matched by content digest through the run store, so that a
file changed after pipec wrote it (by hand, by another program) is reported as not produced by
pipec. Also the runs that wrote that run's inputs, as far as pipec wrote them."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipec.cache.digests import StatCache

SUCCEEDED = "succeeded"
MAX_UPSTREAM_DEPTH = 20  # a chain of pipelines longer than this is cut (and says so)


@dataclass
class Provenance:
    """The answer for one file: `run` (the record of the run that wrote these bytes) or None,
    and then `other_writes`: runs that wrote other bytes at this path (the file changed since)."""

    path: Path
    digest: str
    run: dict[str, Any] | None = None
    written_as: str | None = None  # where that run wrote these bytes (another path: a copy)
    other_writes: list[dict[str, Any]] = field(default_factory=list)
    upstream: list[dict[str, Any]] = field(default_factory=list)


def _absolute(row: dict[str, Any]) -> Path:
    return Path(os.path.normpath(os.path.join(row["workdir"], row["path"])))


def digest_of(path: Path) -> str:
    """The content digest the run store records (a file, or a model folder); no stat cache is
    written, so asking changes nothing on disk."""
    return StatCache(None).digest(path)


def find_writer(store, path: Path) -> Provenance:
    resolved = path.resolve()
    found = Provenance(path, digest_of(resolved))
    rows = [r for r in store.files_recorded("output", found.digest, resolved.name) if r["status"] == SUCCEEDED]
    same_bytes = [r for r in rows if r["digest"] == found.digest]
    if same_bytes:
        here = [r for r in same_bytes if _absolute(r) == resolved]
        best = (here or same_bytes)[0]
        found.run = store.load(best["run_id"])
        found.written_as = None if here else str(_absolute(best))
        found.upstream = upstream_runs(store, found.run, depth=1, seen={best["run_id"]})
    else:
        found.other_writes = [r for r in rows if _absolute(r) == resolved]
    return found


def upstream_runs(store, run: dict[str, Any], depth: int, seen: set[str]) -> list[dict[str, Any]]:
    """For each input file of `run`, the newest succeeded run that had written those exact bytes
    before `run` started, and its own upstream runs."""
    out = []
    for f in run["inputs"]:
        if f["digest"] is None:
            continue
        writers = [r for r in store.files_recorded("output", f["digest"], Path(f["path"]).name)
                   if r["status"] == SUCCEEDED and r["digest"] == f["digest"] and r["started_at"] < run["started_at"]]
        if not writers:
            continue
        writer = writers[0]
        entry = {"input": f["path"], "digest": f["digest"], "run_id": writer["run_id"],
                 "pipeline": writer["pipeline"], "written_as": writer["path"], "started_at": writer["started_at"],
                 "upstream": []}
        if writer["run_id"] in seen:
            entry["upstream_note"] = "already shown"
        elif depth >= MAX_UPSTREAM_DEPTH:
            entry["upstream_note"] = f"not followed further than {MAX_UPSTREAM_DEPTH} runs"
        else:
            entry["upstream"] = upstream_runs(store, store.load(writer["run_id"]), depth + 1, seen | {writer["run_id"]})
        out.append(entry)
    return out


def provenance_json(found: Provenance) -> dict[str, Any]:
    run = found.run
    if run is None:
        return {"path": str(found.path), "digest": found.digest, "produced_by_pipec": False,
                "other_writes": [{"run_id": r["run_id"], "pipeline": r["pipeline"], "digest": r["digest"],
                                  "started_at": r["started_at"]} for r in found.other_writes]}
    return {"path": str(found.path), "digest": found.digest, "produced_by_pipec": True,
            "written_as": found.written_as,
            "run": {k: run[k] for k in ("run_id", "pipeline", "pipeline_file", "source_digest", "ir_digest",
                                        "target", "engine", "opt_level", "started_at", "ended_at", "status", "argv")},
            "params": run["params"],
            "inputs": [{"path": f["path"], "digest": f["digest"], "size": f["size"]} for f in run["inputs"]],
            "modules": [{"path": f["path"], "digest": f["digest"]} for f in run["modules"]],
            "upstream": found.upstream}


def provenance_text(found: Provenance) -> str:
    data = provenance_json(found)
    if not data["produced_by_pipec"]:
        lines = [f"{found.path}: not produced by pipec: no recorded run wrote these bytes ({found.digest})"]
        for r in data["other_writes"]:
            lines.append(f"  run {r['run_id'][:12]} ({r['pipeline']}, {r['started_at'][:19].replace('T', ' ')} UTC) "
                         f"wrote {r['digest']} here; the file was changed since (by hand or by another program)")
        return "\n".join(lines)
    run = data["run"]
    lines = [f"{found.path}: written by run {run['run_id']} of pipeline {run['pipeline']} "
             f"({run['started_at'][:19].replace('T', ' ')} UTC, {run['target']}, -O{run['opt_level']})",
             f"  digest   {found.digest}"]
    if found.written_as:
        lines.append(f"  note     that run wrote these bytes to {found.written_as}; this file is a copy")
    lines += [f"  file     {run['pipeline_file']}", f"  code     source {run['source_digest']}",
              f"           IR     {run['ir_digest']}", "  command  " + " ".join(run["argv"])]
    if data["params"]:
        lines.append("params")
        lines += [f"  {name} = {p['value']!r}  ({p['origin']})" for name, p in data["params"].items()]
    if data["inputs"]:
        lines.append("inputs (as read by that run)")
        lines += [f"  {f['path']}  {f['digest'] or 'unreadable'}" for f in data["inputs"]]
    if data["modules"]:
        lines.append("python modules")
        lines += [f"  {f['path']}  {f['digest']}" for f in data["modules"]]
    if data["upstream"]:
        lines.append("upstream runs (that wrote those inputs)")
        lines += _upstream_text(data["upstream"], "  ")
    return "\n".join(lines)


def _upstream_text(entries: list[dict[str, Any]], indent: str) -> list[str]:
    lines = []
    for e in entries:
        note = f" ({e['upstream_note']})" if e.get("upstream_note") else ""
        lines.append(f"{indent}{e['input']} <- run {e['run_id'][:12]} of {e['pipeline']}, "
                     f"{e['started_at'][:19].replace('T', ' ')} UTC{note}")
        lines += _upstream_text(e["upstream"], indent + "  ")
    return lines
