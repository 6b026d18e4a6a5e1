"""What a local run returns and what `pipec run` prints of it. Free of heavy imports: an unchanged
rerun prints its summary without loading the runtime (up_to_date.py)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SinkResult:
    node: str
    step: str
    path: str
    rows: int | None  # None for metrics and models


@dataclass
class RunResult:
    pipeline: str
    sinks: list[SinkResult]
    metrics: dict[str, dict[str, float]]  # evaluate node id -> metric -> value
    stage_seconds: dict[str, float]
    node_stats: dict[str, dict[str, int]]  # materialised node id -> {"rows", "bytes"}
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    bindings: dict[str, str] = field(default_factory=dict)  # node id -> the user's name
    observations: dict[str, dict[str, float | None]] = field(default_factory=dict)  # node id -> rows, bytes, seconds
    kept: list[SinkResult] = field(default_factory=list)  # sinks of reused stages, already up to date


def format_summary(result: RunResult) -> str:
    """What `pipec run` prints after a successful run: each sink with its rows, the metrics, the time."""
    reused = f", {len(result.kept)} unchanged" if result.kept else ""
    lines = [f"pipeline {result.pipeline}: {len(result.sinks)} output(s) written{reused} in {result.seconds:.2f}s"]
    for sink in result.sinks:
        rows = f"{sink.rows:,} rows" if sink.rows is not None else _what(sink)
        lines.append(f"  wrote {sink.path} ({rows})")
    for sink in result.kept:
        lines.append(f"  kept {sink.path} (unchanged)")
    for node, metrics in result.metrics.items():
        name = result.bindings.get(node, node)
        shown = ", ".join(f"{k} = {v:.4f}" for k, v in metrics.items())
        lines.append(f"  {name}: {shown}")
    for warning in result.warnings:
        lines.append(f"  warning: {warning}")
    return "\n".join(lines)


def _what(sink: SinkResult) -> str:
    """What a sink without rows wrote: a model or metrics."""
    from pipec.stdlib.steps import STEPS

    return "model" if STEPS[sink.step].input == "model" else "metrics"
