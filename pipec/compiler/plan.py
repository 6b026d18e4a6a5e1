"""The physical plan: the optimized IR cut into stages, plus the cache decisions and the record of
what each optimizer pass did, so that `pipec explain` can show every decision and its reason.

Backends execute a Plan. A stage is a group of nodes that runs as one unit (one lazy polars query,
one Airflow task); the nodes of a stage are listed in topological order. The facts every backend
needs about a plan (the order to run the stages in, what each stage reads and hands on, which
columns each table really carries) are computed here, once per plan, so that the backends agree.
"""
from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import ConfigDict

from pipec.compiler.ir import IR, lexicographical_topological_order
from pipec.compiler.model import Model
from pipec.compiler.types import TableType
from pipec.stdlib.steps import STEPS


class Stage(Model):
    id: str
    nodes: list[str]
    boundary: str = ""  # why the stage ends where it does, in words


class CacheDecision(Model):
    node: str
    runs: float  # how often the output would be computed without caching
    seconds_saved: float
    bytes: int


class PassRecord(Model):
    """One thing an optimizer pass did, for `explain` ("pushed filter n3 into source n1")."""

    pass_name: str
    message: str
    nodes: list[str] = []


class Plan(Model):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    ir: IR
    stages: list[Stage]
    cached: list[CacheDecision] = []
    records: list[PassRecord] = []
    statistics: Literal["guessed", "recorded", "none"] = "none"

    def stage_of(self, node_id: str) -> Stage:
        return next(s for s in self.stages if node_id in s.nodes)

    @property
    def cached_nodes(self) -> set[str]:
        return {c.node for c in self.cached}

    @cached_property
    def ordered_stages(self) -> list[Stage]:
        """The stages in dependency order (plan order among independent stages): the order in
        which every backend writes and schedules them."""
        position = {stage.id: k for k, stage in enumerate(self.stages)}
        stage_of = {node_id: stage.id for stage in self.stages for node_id in stage.nodes}
        readers: dict[str, set[str]] = {stage.id: set() for stage in self.stages}
        for stage in self.stages:
            for node_id in self.stage_inputs(stage):
                readers[stage_of[node_id]].add(stage.id)
        by_id = {stage.id: stage for stage in self.stages}
        return [by_id[s] for s in lexicographical_topological_order(readers, key=position.__getitem__)]

    def stage_inputs(self, stage: Stage) -> list[str]:
        """Nodes of other stages that `stage` reads, in first-use order."""
        return self._stage_flow[stage.id][0]

    def stage_outputs(self, stage: Stage) -> list[str]:
        """Nodes of `stage` read by other stages, and every node that makes metrics (the caller
        reports them)."""
        return self._stage_flow[stage.id][1]

    @cached_property
    def _stage_flow(self) -> dict[str, tuple[list[str], list[str]]]:
        """Stage id -> (its inputs, its outputs)."""
        flow = {}
        for stage in self.stages:
            inside = set(stage.nodes)
            inputs = [i for node_id in stage.nodes for i in self.ir.node(node_id).inputs if i not in inside]
            outputs = [n for n in stage.nodes if STEPS[self.ir.node(n).step].makes_metrics
                       or any(c.id not in inside for c in self.ir.consumers(n))]
            flow[stage.id] = (list(dict.fromkeys(inputs)), outputs)
        return flow

    def physical_columns(self, node_id: str) -> list[str]:
        """The columns the table of `node_id` really carries when it runs, in the order of its
        logical schema.

        Node schemas describe the logical tables; projection pushdown only tells the sources to
        skip the columns nothing needs, so a column a source skipped is missing downstream until
        a step computes it again. Code that names columns itself (a join's reordering `select`,
        a `distinct` of all columns) must name only these."""
        return [c for c in self.ir.node(node_id).schema_.names if c not in self._unread[node_id]]

    @cached_property
    def _unread(self) -> dict[str, frozenset[str]]:
        """Table node -> the columns of its logical table that no source read."""
        unread: dict[str, frozenset[str]] = {}
        for node in self.ir.nodes():
            if not isinstance(node.output, TableType):
                continue
            if node.is_source:
                read = node.args.columns if node.args.columns is not None else node.args.schema_.names
                unread[node.id] = frozenset(node.args.schema_.names) - set(read)
                continue
            created = node.spec.creates(node.args, self.ir.input_types(node))
            inherited = set().union(*[unread[i] for i in node.inputs if i in unread])
            unread[node.id] = frozenset() if created is None else frozenset(
                (inherited - created) & set(node.schema_.names))
        return unread


def unoptimized_plan(ir: IR) -> Plan:
    """The `-O0` plan: every node is its own stage and nothing is cached."""
    return Plan(ir=ir, stages=[Stage(id=f"s{i}", nodes=[n.id], boundary="optimisation off")
                               for i, n in enumerate(ir.nodes(), 1)])

