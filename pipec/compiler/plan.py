"""The physical plan: the optimized IR cut into stages, plus the cache decisions and the record of
what each optimizer pass did, so that `pipec explain` can show every decision and its reason.

Backends execute a Plan. A stage is a group of nodes that runs as one unit (one lazy polars query,
one Airflow task); the nodes of a stage are listed in topological order.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from pipec.compiler.ir import IR


class Stage(BaseModel):
    id: str
    nodes: list[str]
    boundary: str = ""  # why the stage ends where it does, in words


class CacheDecision(BaseModel):
    node: str
    runs: float  # how often the output would be computed without caching
    seconds_saved: float
    bytes: int


class PassRecord(BaseModel):
    """One thing an optimizer pass did, for `explain` ("pushed filter n3 into source n1")."""

    pass_name: str
    message: str
    nodes: list[str] = []


class Plan(BaseModel):
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


def unoptimized_plan(ir: IR) -> Plan:
    """The `-O0` plan: every node is its own stage and nothing is cached."""
    return Plan(ir=ir, stages=[Stage(id=f"s{i}", nodes=[n.id], boundary="optimisation off")
                               for i, n in enumerate(ir.nodes(), 1)])
