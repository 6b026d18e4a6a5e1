"""Statistics recorded by earlier runs of a pipeline (rows, bytes and seconds per node), which the
cost model prefers to its guesses: the optimizer learns from the last run.

They live in `.pipec/stats/<pipeline>.json` under the working directory, keyed by each node's
structural hash (see `passes/fingerprint.py`), so they survive edits elsewhere in the file.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Mapping

from pydantic import ValidationError

from pipec.compiler.model import Model
from pipec.compiler.plan import Plan

STATS_VERSION = "pipec-stats/1"


class NodeStatistics(Model):
    rows: int | None = None  # None for a node that never existed as a table of its own (fused)
    bytes: int | None = None
    seconds: float | None = None


class Statistics(Model):
    """What earlier runs measured, by structural hash."""

    version: str = STATS_VERSION
    pipeline: str
    nodes: dict[str, NodeStatistics] = {}

    @staticmethod
    def path(pipeline: str, workdir: str | Path) -> Path:
        return Path(workdir) / ".pipec" / "stats" / f"{pipeline}.json"

    @classmethod
    def load(cls, pipeline: str, workdir: str | Path) -> "Statistics":
        """The recorded statistics, or none when there are none (or the file is unreadable:
        statistics only improve estimates, they are never worth failing a compile for)."""
        try:
            loaded = cls.model_validate_json(cls.path(pipeline, workdir).read_text())
        except (OSError, ValueError, ValidationError):
            return cls(pipeline=pipeline)
        if loaded.version != STATS_VERSION or loaded.pipeline != pipeline:
            return cls(pipeline=pipeline)
        return loaded

    def save(self, workdir: str | Path) -> Path:
        """Write atomically, so that a crash never leaves half a file behind."""
        target = self.path(self.pipeline, workdir)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self.model_dump(mode="json"), f, indent=1, sort_keys=True)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target


def record(plan: Plan, observed: Mapping[str, Mapping[str, float | None]], workdir: str | Path) -> Statistics:
    """Merge one run's measurements (`{node_id: {"rows", "bytes", "seconds"?}}`) into the stored
    statistics of the plan's pipeline and save them; nodes the plan does not have are ignored, and
    a value that is None (or missing) was not measured this time and keeps its earlier measurement."""
    from pipec.compiler.passes.fingerprint import structural_hashes  # the passes package imports this module

    hashes = structural_hashes(plan.ir)
    stats = Statistics.load(plan.ir.pipeline, workdir)
    for node_id, values in observed.items():
        if node_id in hashes:
            before = stats.nodes.get(hashes[node_id], NodeStatistics())
            stats.nodes[hashes[node_id]] = NodeStatistics(
                rows=_measured(values.get("rows"), before.rows, int),
                bytes=_measured(values.get("bytes"), before.bytes, int),
                seconds=_measured(values.get("seconds"), before.seconds, float))
    stats.save(workdir)
    return stats


def _measured(value, earlier, kind):
    return earlier if value is None else kind(value)
