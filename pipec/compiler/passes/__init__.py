"""The optimizer: an ordered list of passes behind flags (as in polars' lazy optimizer), checked
after every pass by `invariants`.

`prune` runs first at every level, -O0 included, and cannot be turned off: a value that reaches no
sink is never computed (were it computed at -O0 only, its failure, a failing `expect` or a missing
file, would make the levels disagree). Then three passes rewrite the graph (`IR -> IR`, on a copy),
and the last two decide how the final graph runs: `cache_placement` picks the nodes to
materialise, and `fusion` cuts the graph into stages, which needs to know what is cached. Every
pass appends `PassRecord`s saying what it did, which `pipec explain` prints.

>>> [name for name, _ in PASSES]
['cse', 'predicate_pushdown', 'projection_pushdown', 'cache_placement', 'fusion']
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from pipec.backends.base import capabilities_of
from pipec.backends.capabilities import Capabilities
from pipec.compiler.gc_pause import gc_paused
from pipec.compiler.ir import IR
from pipec.compiler.passes.cache_placement import cache_placement
from pipec.compiler.passes.cse import cse
from pipec.compiler.passes.fusion import fusion
from pipec.compiler.passes.invariants import OptimizerInvariantError, check_cached, check_ir, check_stages
from pipec.compiler.passes.predicate_pushdown import predicate_pushdown
from pipec.compiler.passes.projection_pushdown import projection_pushdown
from pipec.compiler.passes.prune import prune
from pipec.compiler.plan import PassRecord, Plan, Stage, unoptimized_plan
from pipec.compiler.stats import Statistics

PASSES: list[tuple[str, Callable[..., Any]]] = [
    ("cse", cse),
    ("predicate_pushdown", predicate_pushdown),
    ("projection_pushdown", projection_pushdown),
    ("cache_placement", cache_placement),
    ("fusion", fusion),
]
PASS_NAMES = tuple(name for name, _ in PASSES)
_REWRITES = PASSES[:3]

__all__ = ["PASSES", "PASS_NAMES", "OptimizerInvariantError", "optimize", "prune", "cse",
           "predicate_pushdown", "projection_pushdown", "cache_placement", "fusion"]


@gc_paused()
def optimize(ir: IR, *, level: int = 1, disable: set[str] | frozenset[str] = frozenset(),
             backend: str | Capabilities = "local", memory_budget: int | None = None,
             stats: Statistics | None = None, workdir: str | Path | None = None, params: Mapping[str, Any] | None = None) -> Plan:
    """The plan for `ir` (which is left untouched).

    `level=0` gives the unoptimised plan (every node that reaches a sink its own stage, nothing
    cached); `disable` names passes to skip; `backend` is a backend's name or the capabilities to
    plan with (`AirflowBackend(engine="spark").capabilities`). Estimates come from `stats` when given, else from the
    statistics recorded under `workdir` (when given); source paths resolve against `workdir`
    (default: the current directory) with `params` over the param defaults.
    """
    unknown = set(disable) - set(PASS_NAMES)
    if unknown:
        raise ValueError(f"unknown optimizer pass {', '.join(sorted(unknown))}; "
                         f"known passes: {', '.join(PASS_NAMES)}")
    try:
        rules = capabilities_of(backend).for_tasks(ir.options.tasks)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    records: list[PassRecord] = []
    before, ir = ir, prune(ir, records)
    check_ir("prune", before, ir)
    if level <= 0:
        return unoptimized_plan(ir)
    from pipec.compiler.cost import estimate  # the cost model is only needed past -O0

    for name, rewrite in _REWRITES:
        if name not in disable:
            before, ir = ir, rewrite(ir, records)
            check_ir(name, before, ir)
    if stats is None and workdir is not None:
        stats = Statistics.load(ir.pipeline, workdir)
    estimates = estimate(ir, stats=stats, params=params, workdir=workdir or ".")
    cached = []
    if "cache_placement" not in disable:
        cached = cache_placement(ir, backend=rules, memory_budget=memory_budget,
                                 estimates=estimates, records=records)
        check_cached("cache_placement", ir, cached)
    if "fusion" in disable:
        stages = [Stage(id=f"s{k}", nodes=[n.id], boundary="fusion disabled")
                  for k, n in enumerate(ir.nodes(), 1)]
    else:
        stages = fusion(ir, backend=rules, cached={c.node for c in cached}, records=records)
        check_stages("fusion", ir, stages)
    recorded = any(e.recorded for e in estimates.values())
    return Plan(ir=ir, stages=stages, cached=cached, records=records,
                statistics="recorded" if recorded else "guessed")
