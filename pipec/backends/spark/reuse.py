"""Whether a Spark job needs to run at all, and what it wrote for the next run to compare with
(docs/runs.md, "Spark and Airflow").

The plan's stages get their keys from the local backend's key function, with Spark's
implementation in place of the local runtime (the Spark runtime's source, pyspark's and the
other engine libraries' versions), computed before the job starts. The job is skipped when every
stage is up to date: its manifest is in the cache; a sink file that no longer has the content
stored for it (deleted, edited, or never written in this working directory) is restored from the
cache, as a local run restores it. A job runs as a whole, so anything else (one stale stage,
`--no-cache`, `--rerun`) runs all of it; after it succeeded, its sinks are stored under their
stages' keys. The cache is the working directory's `.pipec/cache/`, or `--cache-dir` (a folder,
or any fsspec URL: pipec/cache/remote.py), which several working directories and machines can
share.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pipec.backends.base import RunObserver, RunOptions
from pipec.backends.local.reuse import Reuse
from pipec.backends.local.stage_keys import runtime_version
from pipec.compiler.plan import Plan

SPARK_LIBRARIES = ("pyspark", "polars", "pyarrow", "pandas", "numpy")
RAN_WITH_THE_JOB = "ran with the rest of the Spark job"


def job_reuse(plan: Plan, params: dict[str, Any], workdir: Path, options: RunOptions) -> Reuse:
    """The reuse decisions for `plan`'s stages as a Spark job runs them (`params` with the run context)."""
    return Reuse(plan, params, workdir, use_cache=options.use_cache, rerun=options.rerun,
                 engine=runtime_version("pipec.backends.spark.runtime", SPARK_LIBRARIES), state=".spark",
                 cache_dir=options.cache_dir)


def up_to_date(reuse: Reuse) -> bool:
    """Every stage can be reused: the job has nothing to compute (`restore_outputs` puts back
    the sink files that differ from the stored ones)."""
    return all(d.reuse for d in reuse.decisions.values())


def restore_outputs(reuse: Reuse, params: dict[str, Any], workdir: Path) -> list[str]:
    """Commit the stored copy of every sink whose file differs from it, all or nothing, as a
    local run does; returns their paths."""
    from pipec.backends.local import runtime as rt

    ctx = rt.RunContext(params, workdir=workdir)
    try:
        ctx.recover([node.args.path for node in reuse.plan.ir.sinks() if not node.spec.external])
        for decision in reuse.decisions.values():
            reuse.restore_sinks(decision, ctx)
        if ctx.sinks:
            ctx.commit()
    finally:
        ctx.abort()
    return [sink["path"] for sink in ctx.sinks]


def report_reused(reuse: Reuse, record: RunObserver) -> None:
    for stage in reuse.plan.ordered_stages:
        decision = reuse.decisions[stage.id]
        record.on_event({"event": "stage_reused", "stage": stage.id, "nodes": stage.nodes,
                         "reasons": decision.reasons, "key": decision.key.key})


def remember_job(reuse: Reuse, record: RunObserver) -> None:
    """After a successful job: every stage ran (with why), its sinks are stored, its keys kept."""
    for stage in reuse.plan.ordered_stages:
        decision = reuse.decisions[stage.id]
        reasons = decision.reasons if not decision.reuse else [
            f"output {decision.manifest['sinks'][n]['path']} differs from the stored one"
            for n in decision.sinks_to_restore] or [RAN_WITH_THE_JOB]
        record.on_event({"event": "stage_started", "stage": stage.id, "nodes": stage.nodes,
                         "reasons": reasons, "key": decision.key.key})
        record.on_event({"event": "stage_finished", "stage": stage.id})
        reuse.store_written(stage, record.run_id)
    reuse.remember()
