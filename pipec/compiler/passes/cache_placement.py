"""Cache placement: KeystoneML's greedy algorithm for which intermediate results to keep.

Without caching, a table is recomputed every time something reads it: `runs(v)`, the sum over its
consumers of how often each of them runs (once if it is cached) times how often it reads its
input per run. Models and metrics are always kept (they are small Python objects), and a sink
runs once. `t(v)` is the time to compute `v` from its nearest kept ancestors. Caching `v` saves
`t(v) × (runs(v) − 1)` seconds and costs its size in memory; the algorithm repeatedly keeps the
node with the best saving per byte that still fits in the budget, then recomputes `runs` and `t`
(caching one node changes both for the others), until nothing that fits saves more time than
writing it into memory takes (a big table that is cheap to compute again is not worth keeping).
A node chosen early can become useless once its readers are cached too; such nodes are released.

What the backend does is read from its `Capabilities`, never from its name: how often a `fit`
reads its input (on Spark an iterative estimator scans it once per iteration, logistic regression
`max_iter` times; scikit-learn, on local and Airflow, collects it once), whether sources are kept
in memory (local: then `t(v)` does not count reading one again) and what writing a table into
memory costs.
"""
from __future__ import annotations

from pipec.backends.base import capabilities_of
from pipec.backends.capabilities import Capabilities
from pipec.compiler.cost import NodeEstimate, estimate, value_of
from pipec.compiler.memory import default_memory_budget
from pipec.compiler.ir import IR, IRNode
from pipec.compiler.passes.naming import describe, human_bytes
from pipec.compiler.plan import CacheDecision, PassRecord
from pipec.compiler.types import TableType
from pipec.stdlib.steps import STEPS

PASS = "cache_placement"


def cache_placement(ir: IR, *, backend: str | Capabilities = "local", memory_budget: int | None = None,
                    estimates: dict[str, NodeEstimate] | None = None,
                    records: list[PassRecord] | None = None) -> list[CacheDecision]:
    """The nodes to cache, in the order they were chosen.

    >>> from pipec.compiler.cost import NodeEstimate
    >>> from pipec.compiler.ir import IRNode, LimitArgs, SinkArgs, lit
    >>> from pipec.compiler.types import Schema, TableType
    >>> t = TableType(schema_=Schema())
    >>> ir = IR("p")
    >>> _ = ir.add(IRNode(id="a", step="limit", args=LimitArgs(n=lit(1)), output=t))
    >>> for k in "12":
    ...     _ = ir.add(IRNode(id=k, step="write_csv", inputs=["a"], args=SinkArgs(step="write_csv", path=k)))
    >>> est = {n: NodeEstimate(rows=1, bytes=100, seconds=2.0) for n in ["a", "1", "2"]}
    >>> [(c.node, c.runs, c.seconds_saved) for c in cache_placement(ir, memory_budget=1000, estimates=est)]
    [('a', 2.0, 2.0)]
    """
    rules = capabilities_of(backend)
    budget = default_memory_budget() if memory_budget is None else memory_budget
    estimates = estimates if estimates is not None else estimate(ir)
    chosen: list[CacheDecision] = []
    left = budget
    while True:
        options = _options(ir, {c.node for c in chosen}, estimates, rules)
        fitting = [o for o in options if o.bytes <= left]
        if not fitting:
            break
        best = max(fitting, key=lambda o: (o.seconds_saved / o.bytes, o.seconds_saved, o.node))
        chosen.append(best)
        left -= best.bytes
        _record(records, f"cached {describe(ir.node(best.node))}: computed {best.runs:g} times "
                         f"without caching; saves {best.seconds_saved:.3g} s for {human_bytes(best.bytes)}",
                best.node)
    for decision in list(chosen):
        if _given_the_others(ir, decision.node, chosen, estimates, rules) is None:
            chosen.remove(decision)
            left += decision.bytes
            _record(records, f"released {describe(ir.node(decision.node))}: what reads it is cached",
                    decision.node)
    # what each kept node saves, given the final choice
    chosen = [_given_the_others(ir, c.node, chosen, estimates, rules) or c for c in chosen]
    for missed in _options(ir, {c.node for c in chosen}, estimates, rules):
        _record(records, f"did not cache {describe(ir.node(missed.node))}: would save "
                         f"{missed.seconds_saved:.3g} s but needs {human_bytes(missed.bytes)}, "
                         f"{human_bytes(left)} of the {human_bytes(budget)} budget left", missed.node)
    return chosen


def _given_the_others(ir: IR, node: str, chosen: list[CacheDecision], estimates: dict[str, NodeEstimate],
                      rules: Capabilities) -> CacheDecision | None:
    """The decision for `node` when the other chosen nodes are cached; None if it saves nothing."""
    others = {c.node for c in chosen if c.node != node}
    return next((o for o in _options(ir, others, estimates, rules) if o.node == node), None)


def _options(ir: IR, cached: set[str], estimates: dict[str, NodeEstimate], rules: Capabilities) -> list[CacheDecision]:
    """Every uncached table whose caching would save time, with its runs, saving and size."""
    kept = cached | {n.id for n in ir.nodes() if (n.output is not None and not isinstance(n.output, TableType))
                     or (n.is_source and rules.keeps_sources)}
    runs = _runs(ir, kept, rules)
    seconds = recompute_seconds(ir, kept, estimates)
    options = []
    for node in ir.nodes():
        if node.id in kept or not isinstance(node.output, TableType):
            continue
        saved = seconds[node.id] * (runs[node.id] - 1)
        size = max(1, round(estimates[node.id].bytes))
        if saved > size * rules.materialise_seconds_per_byte:
            options.append(CacheDecision(node=node.id, runs=runs[node.id], seconds_saved=saved, bytes=size))
    return options


def _runs(ir: IR, kept: set[str], rules: Capabilities) -> dict[str, float]:
    """How often each node's output is computed, given that the nodes in `kept` are computed once."""
    runs: dict[str, float] = {}
    for node in reversed(list(ir.nodes())):
        reads = [(consumer, consumer.inputs.count(node.id)) for consumer in ir.consumers(node.id)]
        runs[node.id] = sum((1 if c.id in kept else runs[c.id]) * n * reads_per_run(c, ir, rules)
                            for c, n in reads) or 1.0
    return runs


def recompute_seconds(ir: IR, kept: set[str], estimates: dict[str, NodeEstimate]) -> dict[str, float]:
    """`t(v)`: the seconds to compute each node from its nearest kept ancestors (or the sources)."""
    seconds: dict[str, float] = {}
    for node in ir.nodes():
        seconds[node.id] = estimates[node.id].seconds + sum(
            0.0 if i in kept else seconds[i] for i in node.inputs)
    return seconds


def reads_per_run(consumer: IRNode, ir: IR, rules: Capabilities) -> float:
    """How many times `consumer` reads its input each time it runs."""
    if not STEPS[consumer.step].fits_model or rules.fit_passes is None or not hasattr(consumer.args, "estimator"):
        return 1.0  # `tune` reads its input about once and keeps the rows it scores
    passes = rules.fit_passes.get(consumer.args.estimator, 1)
    if isinstance(passes, int):
        return float(passes)
    name, default = passes
    given = next((p.expr for p in consumer.args.params if p.name == name), None)
    value = value_of(given, ir) if given is not None else default
    return float(value) if isinstance(value, (int, float)) else float(default)


def _record(records: list[PassRecord] | None, message: str, node: str) -> None:
    if records is not None:
        records.append(PassRecord(pass_name=PASS, message=message, nodes=[node]))
