"""Fusion: group the nodes into stages, each of which a backend runs as one unit (one lazy polars
query, one Spark job section, one Airflow task), as FlumeJava and Beam fuse producers into their
consumers.

A node joins the stage of an input unless the edge between them is a boundary:
- the input is cached (its output is materialised once for all its consumers);
- the input is a `fit` (the model is trained eagerly and handed on);
- on Spark and Airflow, the node is a shuffle (`join`, `aggregate`, `sort`, `distinct`); polars'
  lazy engine runs those inside one query, so the local backend needs no boundary there;
- on Spark, either side is a `python` step (it runs as pandas code, outside Spark SQL).
A stage may have several outputs (a table read twice, uncached, stays in one stage with both of
its readers). Two stages are not merged when a boundary runs between them or when merging them
would make the stages depend on each other in a cycle. A sink joins the stage of what it writes.
"""
from __future__ import annotations

import networkx as nx

from pipec.compiler.ir import IR, IRNode
from pipec.compiler.passes.naming import describe
from pipec.compiler.plan import PassRecord, Stage

PASS = "fusion"
BACKENDS = ("local", "spark", "airflow")
SHUFFLE_STEPS = frozenset({"join", "aggregate", "sort", "distinct"})


def fusion(ir: IR, *, backend: str = "local", cached: frozenset[str] | set[str] = frozenset(),
           records: list[PassRecord] | None = None) -> list[Stage]:
    """The stages of `ir`, in an order in which they can run, each with why it ends.

    >>> from pipec.compiler.ir import IRNode, LimitArgs, SinkArgs, lit
    >>> ir = IR("p")
    >>> _ = ir.add(IRNode(id="a", step="limit", args=LimitArgs(n=lit(1))))
    >>> _ = ir.add(IRNode(id="o", step="write_csv", inputs=["a"], args=SinkArgs(step="write_csv", path="o.csv")))
    >>> [(s.nodes, s.boundary) for s in fusion(ir)]
    [(['a', 'o'], 'it writes o.csv')]
    """
    stage_of = {n: n for n in ir.graph.nodes}  # union-find: node -> representative

    def find(n: str) -> str:
        while stage_of[n] != n:
            stage_of[n] = stage_of[stage_of[n]]
            n = stage_of[n]
        return n

    boundaries: dict[tuple[str, str], str] = {}
    for node in ir.nodes():
        for input_id in dict.fromkeys(node.inputs):
            reason = _boundary(ir.node(input_id), node, backend, cached)
            if reason:
                boundaries[(input_id, node.id)] = reason
            elif _can_merge(ir, find, find(input_id), find(node.id), boundaries):
                stage_of[find(node.id)] = find(input_id)
    stages = _ordered_stages(ir, find)
    stage_id = {find(s.nodes[0]): s.id for s in stages}
    for stage in stages:
        stage.boundary = _why_it_ends(ir, stage, find, stage_id, boundaries)
    if records is not None:
        records.append(PassRecord(pass_name=PASS, nodes=[],
                                  message=f"fused {len(ir)} nodes into {len(stages)} stages for {backend}"))
    return stages


def _boundary(producer: IRNode, consumer: IRNode, backend: str, cached: frozenset[str] | set[str]) -> str | None:
    """Why the edge producer -> consumer must cross stages, or None when it may be fused.
    A sink always joins its producer's stage: writing a result is part of computing it."""
    if consumer.is_sink:
        return None
    if producer.id in cached:
        return f"{describe(producer)} is cached"
    if producer.step == "fit":
        return f"{describe(producer)} trains a model, which later steps use"
    if backend in ("spark", "airflow") and consumer.step in SHUFFLE_STEPS:
        return f"{describe(consumer)} needs a shuffle on {backend}"
    if backend == "spark" and "python" in (producer.step, consumer.step):
        python = producer if producer.step == "python" else consumer
        return f"{describe(python)} runs as pandas code on spark"
    return None


def _can_merge(ir: IR, find, a: str, b: str, boundaries: dict[tuple[str, str], str]) -> bool:
    """Stages `a` and `b` may merge when no boundary runs between them and no cycle results."""
    if a == b:
        return False
    if any({find(x), find(y)} == {a, b} for x, y in boundaries):
        return False
    merged = {a, b}
    quotient = nx.DiGraph()
    for x, y in ir.graph.edges:
        gx, gy = ("merged" if find(x) in merged else find(x)), ("merged" if find(y) in merged else find(y))
        if gx != gy:
            quotient.add_edge(gx, gy)
    return nx.is_directed_acyclic_graph(quotient)


def _ordered_stages(ir: IR, find) -> list[Stage]:
    order = {n.id: k for k, n in enumerate(ir.nodes())}
    members: dict[str, list[str]] = {}
    for node_id in sorted(order, key=order.__getitem__):
        members.setdefault(find(node_id), []).append(node_id)
    quotient = nx.DiGraph()
    quotient.add_nodes_from(members)
    quotient.add_edges_from((find(x), find(y)) for x, y in ir.graph.edges if find(x) != find(y))
    ranked = nx.lexicographical_topological_sort(quotient, key=lambda g: order[members[g][0]])
    return [Stage(id=f"s{k}", nodes=members[g]) for k, g in enumerate(ranked, 1)]


def _why_it_ends(ir: IR, stage: Stage, find, stage_id: dict[str, str],
                 boundaries: dict[tuple[str, str], str]) -> str:
    own = find(stage.nodes[0])
    reasons: list[str] = []
    for node_id in stage.nodes:
        node = ir.node(node_id)
        if node.is_sink:
            reasons.append(f"it writes {node.args.path}")
        for consumer in ir.consumers(node_id):
            if find(consumer.id) != own:
                reasons.append(boundaries.get((node_id, consumer.id))
                               or f"{describe(node)} is also read by stage {stage_id[find(consumer.id)]}")
    return "; ".join(dict.fromkeys(reasons))
