"""Run a Plan in-process: generate the stage module, run its stages, commit the sinks, and record
what the run measured so that the next compile of the pipeline estimates from it.

Stages that do not depend on each other run at the same time on a thread pool as large as the
machine has cores (polars and scikit-learn release the GIL while they work), e.g. two models
fitted from one table. The schedule does not change the outputs: each stage sees exactly its
inputs, and the sinks are committed in plan order once every stage has succeeded, all or nothing
(pipec/backends/commit.py). A failing stage cancels the stages not yet started and stops the
running ones at their next materialisation point; then every staged sink is removed, so a failed
run leaves no output behind. Before anything else, a run finishes a commit that an earlier run in
the same working directory left interrupted.
"""
from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from pipec.backends.emitters import step_location
from pipec.backends.local import runtime as rt
from pipec.backends.local.codegen import DEFAULT_RUNTIME, emitter_of, generate_module, stage_metadata
from pipec.backends.local.measure import StageTiming, node_observations
from pipec.backends.local.reuse import Reuse
from pipec.backends.local.summary import RunResult, SinkResult
from pipec.compiler.plan import Plan, Stage
from pipec.runtime_contract import checked_saved_model, run_context
from pipec.stdlib.steps import STEPS
from pipec.stdlib.steps.database import run_items
from pipec.stdlib.steps.load_model import LoadModelArgs, expected_signature

Event = dict[str, Any]

class StageCancelled(Exception):
    """Raised inside a running stage after another stage failed, to stop it early."""


class RunInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped the run; `message` says exactly what happened to the outputs."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class _ScheduledContext(rt.RunContext):
    """The run context shared by stages running on several threads: events reach the caller one
    at a time, each materialisation point is timed for the statistics, and a cancelled run stops
    a stage at its next one."""

    def __init__(self, params: dict[str, Any], workdir: Path | str, on_event: Callable[[Event], None] | None):
        super().__init__(params, workdir, on_event)
        self.cancelled = threading.Event()
        self._events = threading.Lock()
        self._current = threading.local()  # the StageTiming of the stage running on this thread

    def emit(self, event: str, **fields: Any) -> None:
        with self._events:
            super().emit(event, **fields)

    def record(self, node_id: str, frame) -> None:
        if self.cancelled.is_set():
            raise StageCancelled(node_id)
        super().record(node_id, frame)
        timing = getattr(self._current, "timing", None)
        if timing is not None:
            timing.marks.append((node_id, time.perf_counter()))

    def timed(self, timing: StageTiming | None) -> None:
        self._current.timing = timing


def run_plan(plan: Plan, params: dict[str, Any], workdir: Path | str,
             on_event: Callable[[Event], None] | None = None, *, use_cache: bool = True,
             rerun: frozenset[str] = frozenset(), cache_dir: str | None = None) -> RunResult:
    """Run every stage that cannot be reused (pipec/backends/local/reuse.py; `use_cache=False`
    reuses nothing, `rerun` names nodes to run again with what depends on them, `cache_dir` is
    where outputs are cached, default the working directory's .pipec/cache/); sinks are
    committed only when all stages succeeded, and then the measurements of a run that reused
    nothing are merged into the pipeline's statistics under `workdir`.

    Raises `runtime.PipelineRunError` (message complete on its own) for bad data, failed
    expectations and failing user code; a failed or interrupted run leaves no partial output.
    `params` may hold the run context (`runtime_contract.run_context`); without it the run is
    for now, as `pipec run` without `--run-date` is.
    """
    started = time.perf_counter()
    ir = plan.ir
    stages = [stage_metadata(plan, stage) for stage in plan.ordered_stages]
    ctx = _ScheduledContext(run_params(plan, params), workdir, on_event)
    values: dict[str, Any] = {}
    timings: dict[str, StageTiming] = {}
    try:
        ctx.recover([node.args.path for node in ir.sinks() if not node.spec.external])
        if tables := run_items(ir):
            rt.check_databases(ctx, tables)
        check_saved_models(plan, ctx)
        reuse = Reuse(plan, ctx.params, workdir, use_cache=use_cache, rerun=rerun, cache_dir=cache_dir)
        to_run = [stage for stage in plan.ordered_stages if not reuse.decisions[stage.id].reuse]
        imports = prefetch_imports(plan, to_run)
        namespace = _stage_functions(plan) if to_run else {}  # a full hit needs neither polars nor the code
        with _importable(workdir, plan):
            _run_stages(stages, namespace, plan, ctx, values, timings, imports, reuse)
        order = {node.id: k for k, node in enumerate(ir.nodes())}
        ctx.sinks.sort(key=lambda sink: order[sink["node"]])
        ctx.commit()
        reuse.remember()
        reused = [d for d in reuse.decisions.values() if d.reuse]
        observations = _record_statistics(plan, ctx, timings, workdir) if not reused else {}
    except KeyboardInterrupt as exc:
        ctx.abort()
        if ctx.committed:
            raise RunInterrupted(f"interrupted after commit: all {len(ctx.sinks)} outputs were written") from exc
        raise RunInterrupted("interrupted before commit: no output was changed") from exc
    except BaseException:
        ctx.abort()
        raise
    return RunResult(
        pipeline=ir.pipeline,
        sinks=[SinkResult(node=s["node"], step=ir.node(s["node"]).step, path=s["path"], rows=s["rows"])
               for s in [*ctx.sinks, *ctx.tables]],
        metrics={n.id: values[n.id] for n in ir.nodes() if STEPS[n.step].makes_metrics},
        stage_seconds={s["id"]: timings[s["id"]].ended - timings[s["id"]].started if s["id"] in timings else 0.0
                       for s in stages},
        node_stats=ctx.node_stats,
        warnings=ctx.warnings,
        seconds=time.perf_counter() - started,
        bindings={n.id: n.binding for n in ir.nodes() if n.binding},
        observations=observations,
        kept=[SinkResult(node=n, step=ir.node(n).step, path=str(ctx.path(ir.node(n).args.path)), rows=sink["rows"])
              for d in reused for n, sink in d.manifest["sinks"].items() if n not in d.sinks_to_restore],
    )


def run_params(plan: Plan, params: dict[str, Any]) -> dict[str, Any]:
    """The values a run's steps see: the pipeline's param defaults, the run context (for now,
    unless `params` hold one) and `params`."""
    return {**{p.name: p.default for p in plan.ir.params}, **run_context(), **params}


def check_saved_models(plan: Plan, ctx: rt.RunContext) -> None:
    """Check every model `load_model` reads (engine, digest, type) before any stage starts, so that
    a wrong model is a located error before any work (the step checks it again as it loads it)."""
    for node in plan.ir.nodes():
        if isinstance(node.args, LoadModelArgs):
            checked_saved_model(str(ctx.path(node.args.path)), expected_signature(node.output), "scikit-learn",
                                step_location(node))


def _stage_functions(plan: Plan) -> dict[str, Any]:
    """The generated module of the plan, run: its namespace holds one function per stage."""
    source = generate_module(plan, DEFAULT_RUNTIME)
    namespace: dict[str, Any] = {"__name__": f"pipec_generated_{plan.ir.pipeline}"}
    exec(compile(source, f"<pipec: {plan.ir.pipeline}>", "exec"), namespace)
    return namespace


def _run_stages(stages: list[dict[str, Any]], namespace: dict[str, Any], plan: Plan, ctx: _ScheduledContext,
                values: dict[str, Any], timings: dict[str, StageTiming], imports: threading.Thread | None, reuse: Reuse) -> None:
    """Take over the reused stages, then start every other stage whose inputs are ready (in plan
    order) until all have run; on a failure, cancel the rest, wait for the running ones to stop,
    and raise the first error."""
    waiting = []
    finished: set[str] = set()
    for stage in stages:
        decision = reuse.decisions[stage["id"]]
        if not decision.reuse:
            waiting.append(stage)
            continue
        reuse.restore_sinks(decision, ctx)
        values.update({n: reuse.load(n) for n in stage["outputs"] if STEPS[plan.ir.node(n).step].makes_metrics})
        finished |= set(stage["nodes"])
        ctx.emit("stage_reused", stage=stage["id"], nodes=stage["nodes"], reasons=decision.reasons,
                 key=decision.key.key)
    running: dict[Future, dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=_cores(), thread_name_prefix="pipec-stage") as pool:
        try:
            while waiting or running:
                for stage in [s for s in waiting if set(s["inputs"]) <= finished]:
                    waiting.remove(stage)
                    for i in stage["inputs"]:
                        if i not in values:  # computed by a reused stage: read only now that it is needed
                            values[i] = reuse.load(i)
                    inputs = {i: values[i] for i in stage["inputs"]}
                    needs_imports = imports if _uses_heavy_imports(plan, stage) else None
                    future = pool.submit(_run_stage, namespace[stage["fn"]], stage, inputs, ctx, plan,
                                         timings, needs_imports, reuse)
                    running[future] = stage
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: stages.index(running[f])):
                    stage = running.pop(future)
                    values.update(future.result())
                    finished |= set(stage["nodes"])
        except BaseException:
            ctx.cancelled.set()
            wait(running)
            raise


def _run_stage(fn: Callable, stage: dict[str, Any], inputs: dict[str, Any], ctx: _ScheduledContext,
               plan: Plan, timings: dict[str, StageTiming], imports: threading.Thread | None,
               reuse: Reuse) -> dict[str, Any]:
    """Run one stage function (on a worker thread), store what it computed for later runs, and
    return its outputs."""
    if imports is not None:
        imports.join()  # importing scikit-learn from two threads at once is not safe
    if ctx.cancelled.is_set():
        raise StageCancelled(stage["id"])
    decision = reuse.decisions[stage["id"]]
    ctx.emit("stage_started", stage=stage["id"], nodes=stage["nodes"], reasons=decision.reasons,
             key=decision.key.key)
    timing = timings[stage["id"]] = StageTiming(started=time.perf_counter())
    ctx.timed(timing)
    try:
        outputs = fn(ctx, inputs)
    except StageCancelled:
        raise
    except rt.PipelineRunError as exc:
        ctx.emit("stage_failed", stage=stage["id"], error=str(exc))
        raise
    except Exception as exc:  # a polars/scikit-learn failure: say where, keep the cause for debugging
        names = [plan.ir.node(n).binding for n in stage["nodes"] if plan.ir.node(n).binding]
        where = f"stage {stage['id']}" + (f" ({', '.join(names)})" if names else "")
        error = rt.PipelineRunError(f"{where} failed: {type(exc).__name__}: {_first_line(exc)}")
        ctx.emit("stage_failed", stage=stage["id"], error=str(error))
        raise error from exc
    finally:
        ctx.timed(None)
        timing.ended = time.perf_counter()
    try:
        reuse.store_stage(stage, outputs, ctx, ctx.run_id)
    except OSError as exc:  # a cache that cannot be written costs the next run time, not this run
        ctx.warn(f"outputs of stage {stage['id']} not cached: {exc}")
    ctx.emit("stage_finished", stage=stage["id"], seconds=timing.ended - timing.started)
    return outputs


@contextmanager
def _importable(workdir: Path | str, plan: Plan) -> Iterator[None]:
    """Keep the working directory on `sys.path` for the whole run when python steps import from
    it: the runtime adds and removes it around each import, which is not safe for two steps
    importing at the same time on two threads. The project modules they run are imported afresh
    from their current source (`fresh_project_modules`), the source their cache keys hashed."""
    folder = str(Path(workdir).resolve())
    functions = [n.args.function for n in plan.ir.nodes() if STEPS[n.step].user_code]
    if functions:
        fresh_project_modules(functions, folder)
    added = bool(functions) and folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added:
            sys.path.remove(folder)


def fresh_project_modules(functions: list[str], root: str) -> None:
    """Make the next import of the project modules `functions` run use their source as it is now.

    Python trusts a module's `.pyc` while the source's mtime (whole seconds) and size match, so an
    edit within the same second that keeps the size would run the old code. Each project module
    is compiled again with a bytecode file checked against the source's hash, and forgotten by
    this process if it was imported before (a test or a notebook running pipelines twice)."""
    import py_compile

    from pipec.cache.modules import project_modules

    paths = sorted({p for function in functions for p in project_modules(function, root)})
    for path in paths:
        try:
            py_compile.compile(str(path), doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
        except (py_compile.PyCompileError, OSError):
            continue  # the import reports a broken or unreadable module where it happens
        parts = path.relative_to(root).with_suffix("").parts
        sys.modules.pop(".".join(parts[:-1] if parts[-1] == "__init__" else parts), None)
    importlib.invalidate_caches()


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def heavy_imports(plan: Plan, stages: list[Stage] | None = None) -> list[str]:
    """The slow modules the runtime will import for the steps of `stages` (default: all of the
    plan's), as their emitters say."""
    nodes = plan.ir.nodes() if stages is None else [plan.ir.node(n) for s in stages for n in s.nodes]
    return list(dict.fromkeys(module for node in nodes for module in emitter_of(node).imports(node)))


def _uses_heavy_imports(plan: Plan, stage: dict[str, Any]) -> bool:
    return any(emitter_of(node).imports(node) for node in map(plan.ir.node, stage["nodes"]))


def prefetch_imports(plan: Plan, stages: list[Stage] | None = None) -> threading.Thread | None:
    """Start importing the heavy modules of `stages` (default: the whole plan) in the background,
    so that the first `fit` does not wait for them after the sources have been read; None when
    there is nothing to import."""
    modules = [m for m in heavy_imports(plan, stages) if m not in sys.modules]
    if not modules:
        return None

    def load() -> None:
        for module in modules:
            try:
                importlib.import_module(module)
            except ImportError:
                pass  # the step that needs it reports the failure where it happens

    thread = threading.Thread(target=load, name="pipec-imports", daemon=True)
    thread.start()
    return thread


def _record_statistics(plan: Plan, ctx: _ScheduledContext, timings: dict[str, StageTiming],
                       workdir: Path | str) -> dict[str, dict[str, float | None]]:
    """Merge the run's measurements into `.pipec/stats/` under the working directory and return
    them (for the run store). Statistics only improve later estimates: failing to write them is a
    warning, not a failed run."""
    from pipec.compiler.cost import estimate
    from pipec.compiler.stats import record

    guesses = estimate(plan.ir, params=ctx.params, workdir=workdir)
    observed = node_observations(plan.ir, plan.stages, timings, ctx.node_stats, guesses)
    try:
        record(plan, observed, workdir)
    except OSError as exc:
        ctx.warn(f"statistics not recorded: {exc}")
    return observed


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
