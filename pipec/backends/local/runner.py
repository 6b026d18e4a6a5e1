"""Run a Plan in-process: generate the stage module, execute its stages in order, commit the sinks.

All stages run through `_run_stage`, in the one loop of `run_plan`, so that parallel scheduling of
independent stages can later replace that loop without touching anything else.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipec.backends.local import runtime as rt
from pipec.backends.local.codegen import DEFAULT_RUNTIME, generate_module
from pipec.compiler.plan import Plan

Event = dict[str, Any]


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


def run_plan(plan: Plan, params: dict[str, Any], workdir: Path | str,
             on_event: Callable[[Event], None] | None = None) -> RunResult:
    """Run every stage; sinks are committed only when all stages succeeded.

    Raises `runtime.PipelineRunError` (message complete on its own) for bad data, failed
    expectations and failing user code; a failed or interrupted run leaves no partial output.
    """
    started = time.perf_counter()
    ir = plan.ir
    source = generate_module(plan, DEFAULT_RUNTIME)
    namespace: dict[str, Any] = {"__name__": f"pipec_generated_{ir.pipeline}"}
    exec(compile(source, f"<pipec: {ir.pipeline}>", "exec"), namespace)
    ctx = rt.RunContext({**namespace["PARAMS"], **params}, workdir, on_event)
    values: dict[str, Any] = {}
    stage_seconds: dict[str, float] = {}
    try:
        for stage in namespace["STAGES"]:
            stage_seconds[stage["id"]] = _run_stage(namespace[stage["fn"]], stage, ctx, values, plan)
        ctx.commit()
    except BaseException:
        ctx.abort()
        raise
    return RunResult(
        pipeline=ir.pipeline,
        sinks=[SinkResult(node=s["node"], step=ir.node(s["node"]).step, path=s["path"], rows=s["rows"])
               for s in ctx.sinks],
        metrics={n: v for n, v in values.items() if ir.node(n).step == "evaluate"},
        stage_seconds=stage_seconds,
        node_stats=ctx.node_stats,
        warnings=ctx.warnings,
        seconds=time.perf_counter() - started,
        bindings={n.id: n.binding for n in ir.nodes() if n.binding},
    )


def _run_stage(fn: Callable, stage: dict[str, Any], ctx: rt.RunContext, values: dict[str, Any],
               plan: Plan) -> float:
    """Run one stage function, storing its outputs in `values`; returns its seconds."""
    ctx.emit("stage_started", stage=stage["id"], nodes=stage["nodes"])
    started = time.perf_counter()
    try:
        values.update(fn(ctx, {i: values[i] for i in stage["inputs"]}))
    except rt.PipelineRunError:
        raise
    except Exception as exc:  # a polars/scikit-learn failure: say where, keep the cause for debugging
        names = [plan.ir.node(n).binding for n in stage["nodes"] if plan.ir.node(n).binding]
        where = f"stage {stage['id']}" + (f" ({', '.join(names)})" if names else "")
        raise rt.PipelineRunError(f"{where} failed: {type(exc).__name__}: {_first_line(exc)}") from exc
    seconds = time.perf_counter() - started
    ctx.emit("stage_finished", stage=stage["id"], seconds=seconds)
    return seconds


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def format_summary(result: RunResult) -> str:
    """What `pipec run` prints after a successful run: each sink with its rows, the metrics, the time."""
    lines = [f"pipeline {result.pipeline}: {len(result.sinks)} output(s) in {result.seconds:.2f}s"]
    for sink in result.sinks:
        rows = f"{sink.rows:,} rows" if sink.rows is not None else {"save_model": "model"}.get(sink.step, "metrics")
        lines.append(f"  wrote {sink.path} ({rows})")
    for node, metrics in result.metrics.items():
        name = result.bindings.get(node, node)
        shown = ", ".join(f"{k} = {v:.4f}" for k, v in metrics.items())
        lines.append(f"  {name}: {shown}")
    for warning in result.warnings:
        lines.append(f"  warning: {warning}")
    return "\n".join(lines)
