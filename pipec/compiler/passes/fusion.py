"""Fusion: group the nodes into stages, each of which a backend runs as one unit (one lazy polars
query, one Spark job section, one Airflow task), as FlumeJava and Beam fuse producers into their
consumers.

A node joins the stage of an input unless the edge between them is a boundary:
- the input is cached (its output is materialised once for all its consumers), unless the
  backend's capabilities keep a cached table in its consumers' stage;
- the input fits a model (the model is trained eagerly and handed on), unless the capabilities
  let a model be used in the stage that trains it;
- the input is a quality gate (`expect`) and the capabilities say a gate ends a stage (Airflow:
  a gate's task fails, and is retried, on its own);
- the node's work fans out into independent items (`tune`'s candidates) and the backend runs one
  task per item (Airflow's mapped tasks), which read the node's input from storage;
- the node is a shuffle (`join`, `aggregate`, `sort`, `distinct`) and the backend's capabilities
  say a shuffle ends a stage (Spark and Airflow; polars' lazy engine runs those inside one query);
- either side runs user code (`python`) and the backend runs user code apart (Spark: as pandas
  code, outside Spark SQL).
The rules read the backend's `Capabilities` and the steps' flags, never their names.
A stage may have several outputs (a table read twice, uncached, stays in one stage with both of
its readers). Two stages are not merged when a boundary runs between them or when merging them
would make the stages depend on each other in a cycle. A sink joins the stage of what it writes.
"""
from __future__ import annotations

from pipec.backends.base import capabilities_of
from pipec.backends.capabilities import Capabilities
from pipec.compiler.ir import IR, IRNode, lexicographical_topological_order
from pipec.compiler.passes.naming import describe
from pipec.compiler.plan import PassRecord, Stage
from pipec.stdlib.steps import STEPS

PASS = "fusion"


def fusion(ir: IR, *, backend: str | Capabilities = "local", cached: frozenset[str] | set[str] = frozenset(),
           records: list[PassRecord] | None = None) -> list[Stage]:
    """The stages of `ir`, in an order in which they can run, each with why it ends.

    >>> from pipec.compiler.ir import IRNode, LimitArgs, SinkArgs, lit
    >>> ir = IR("p")
    >>> _ = ir.add(IRNode(id="a", step="limit", args=LimitArgs(n=lit(1))))
    >>> _ = ir.add(IRNode(id="o", step="write_csv", inputs=["a"], args=SinkArgs(step="write_csv", path="o.csv")))
    >>> [(s.nodes, s.boundary) for s in fusion(ir)]
    [(['a', 'o'], 'it writes o.csv')]
    """
    rules = capabilities_of(backend)
    position = {node_id: k for k, node_id in enumerate(ir.order())}
    grouping = _Grouping(ir, position)
    find = grouping.find
    boundaries: dict[tuple[str, str], str] = {}
    for node in ir.nodes():
        inputs = list(dict.fromkeys(node.inputs))
        # every boundary into the node first: merging through one input must not swallow another
        # input's boundary (`predict` reads a table of the stage that fits its model)
        for input_id in inputs:
            reason = _boundary(ir.node(input_id), node, rules, cached)
            if reason:
                boundaries[(input_id, node.id)] = reason
                grouping.mark_boundary(find(input_id), find(node.id))
        for input_id in inputs:
            if (input_id, node.id) not in boundaries and grouping.can_merge(find(input_id), find(node.id),
                                                                            position[node.id]):
                grouping.merge(find(input_id), find(node.id))
    stages = _ordered_stages(grouping, position)
    stage_id = {find(s.nodes[0]): s.id for s in stages}
    for stage in stages:
        stage.boundary = _why_it_ends(ir, stage, find, stage_id, boundaries)
    if records is not None:
        records.append(PassRecord(pass_name=PASS, nodes=[],
                                  message=f"fused {len(ir)} nodes into {len(stages)} stages for {rules.name}"))
    return stages


class _Grouping:
    """The stages so far: a union-find over node ids, plus the graph between the stages, whose
    edges say whether a boundary runs along them. Keeping that graph up to date as stages merge
    makes each merge check cost what the part of the graph it could close a cycle through costs,
    not the whole graph."""

    def __init__(self, ir: IR, position: dict[str, int]):
        self.parent = {n: n for n in ir.ids()}
        self.last = dict(position)  # stage -> position of its last node in topological order
        self.succ: dict[str, dict[str, bool]] = {n: {} for n in ir.ids()}
        self.pred: dict[str, dict[str, bool]] = {n: {} for n in ir.ids()}
        for producer, consumer in ir.edges():
            self.succ[producer][consumer] = self.pred[consumer][producer] = False

    def find(self, n: str) -> str:
        while self.parent[n] != n:
            self.parent[n] = self.parent[self.parent[n]]
            n = self.parent[n]
        return n

    def mark_boundary(self, a: str, b: str) -> None:
        if a != b:
            self.succ[a][b] = self.pred[b][a] = True

    def can_merge(self, a: str, b: str, now: int) -> bool:
        """Stages `a` and `b` (an edge runs from `a` to `b`) may merge when no boundary runs
        between them and no path leads from `a` to `b` through a third stage (a cycle would result).
        Nodes are grouped in topological order, so only stages whose nodes all come before `now`
        are merged ones; any other stage is a single later node, from which no path returns to `b`."""
        if a == b or self.succ[a].get(b) or self.succ[b].get(a):
            return False
        seen: set[str] = set()
        to_visit = [s for s in self.succ[a] if s != b]
        while to_visit:
            stage = to_visit.pop()
            if stage == b:
                return False
            if stage not in seen and self.last[stage] <= now:
                seen.add(stage)
                to_visit.extend(self.succ[stage])
        return True

    def merge(self, a: str, b: str) -> None:
        """Merge the stage with fewer neighbours into the other."""
        if len(self.succ[a]) + len(self.pred[a]) < len(self.succ[b]) + len(self.pred[b]):
            a, b = b, a
        self.parent[b] = a
        self.last[a] = max(self.last[a], self.last.pop(b))
        for neighbour, boundary in self.succ.pop(b).items():
            del self.pred[neighbour][b]
            if neighbour != a:
                self.succ[a][neighbour] = self.pred[neighbour][a] = self.succ[a].get(neighbour, False) or boundary
        for neighbour, boundary in self.pred.pop(b).items():
            del self.succ[neighbour][b]
            if neighbour != a:
                self.pred[a][neighbour] = self.succ[neighbour][a] = self.pred[a].get(neighbour, False) or boundary


def _boundary(producer: IRNode, consumer: IRNode, rules: Capabilities,
              cached: frozenset[str] | set[str]) -> str | None:
    """Why the edge producer -> consumer must cross stages, or None when it may be fused.
    A sink always joins its producer's stage: writing a result is part of computing it."""
    if consumer.is_sink:
        return None
    if producer.id in cached and rules.cache_ends_stage:
        return f"{describe(producer)} is cached"
    if STEPS[producer.step].fits_model and rules.model_ends_stage:
        return f"{describe(producer)} trains a model, which later steps use"
    if STEPS[producer.step].gate and rules.gate_ends_stage:
        return f"{describe(producer)} is a quality gate, retried on its own on {rules.name}"
    fan_out = STEPS[consumer.step].fan_out(consumer.args) if rules.fan_out_starts_stage else None
    if fan_out is not None:
        return f"{describe(consumer)} runs one task per {fan_out.item} on {rules.name}"
    if rules.shuffle_ends_stage and STEPS[consumer.step].shuffle:
        return f"{describe(consumer)} needs a shuffle on {rules.name}"
    if rules.user_code_runs_apart:
        user_code = next((n for n in (producer, consumer) if STEPS[n.step].user_code), None)
        if user_code is not None:
            return f"{describe(user_code)} {rules.user_code_runs_apart} on {rules.name}"
    return None


def _ordered_stages(grouping: _Grouping, position: dict[str, int]) -> list[Stage]:
    members: dict[str, list[str]] = {}
    for node_id in sorted(position, key=position.__getitem__):
        members.setdefault(grouping.find(node_id), []).append(node_id)
    ranked = lexicographical_topological_order(grouping.succ, key=lambda g: position[members[g][0]])
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
