"""Per-node measurements of a local run (rows, bytes, seconds), for `pipec.compiler.stats.record`.

Rows and bytes are exact, but only for the nodes the run materialises (sources, cached nodes,
sinks): inside a fused stage the other nodes are parts of one lazy polars query and never exist
as tables of their own. Seconds are not observable per node either, for the same reason. What
the runner does observe is *when* each materialisation point of a stage finishes; the stretch of
time before it (a segment) is the work of that point and of the steps executed since the
previous point, each of which computes itself and every not-kept ancestor (a lazy ancestor is
recomputed by each reader; a materialised table, a model or the output of an eager step such as
`fit`, `predict` or `python` is not). A segment's seconds are split over that work in proportion
to the cost model's guesses, and a node computed several times gets the mean of its shares: the
time to compute it once, which is what the cost model's `seconds` means. Stages that ran at the
same time shared the cores, so their seconds are somewhat inflated.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from pipec.compiler.ir import IR
from pipec.compiler.plan import Stage
from pipec.compiler.types import TableType
from pipec.stdlib.steps import STEPS

if TYPE_CHECKING:
    from pipec.compiler.cost import NodeEstimate


def _computing(ir: IR, node_id: str) -> bool:
    """The generated code computes the node's input: an eager step hands on an eager result, a
    gate hands its input on lazily (read again by every consumer)."""
    spec = STEPS[ir.node(node_id).step]
    return spec.eager or spec.gate


@dataclass
class StageTiming:
    """When a stage started and ended, and when each of its materialisation points finished."""

    started: float
    marks: list[tuple[str, float]] = field(default_factory=list)  # (node id, time), in order
    ended: float = 0.0


def node_observations(ir: IR, stages: list[Stage], timings: Mapping[str, StageTiming],
                      node_stats: Mapping[str, Mapping[str, int]],
                      guesses: Mapping[str, "NodeEstimate"]) -> dict[str, dict[str, float | None]]:
    """`{node_id: {"rows", "bytes", "seconds"}}` for every node with a measurement; rows and
    bytes are None for the nodes that were never materialised."""
    kept = set(node_stats) | {n.id for n in ir.nodes()
                              if STEPS[n.step].eager or not isinstance(n.output, TableType)}
    shares: dict[str, list[float]] = defaultdict(list)
    for stage in stages:
        timing = timings.get(stage.id)
        if timing is None:
            continue
        for seconds, points in _segments(ir, stage, timing, set(node_stats)):
            work = [n for p in points for n in _computed_by(ir, p, kept)]
            _share(seconds, work, guesses, shares)
    observed: dict[str, dict[str, float | None]] = {}
    for node in ir.nodes():
        stats = node_stats.get(node.id, {})
        seconds = sum(shares[node.id]) / len(shares[node.id]) if shares[node.id] else None
        if stats or seconds is not None:
            observed[node.id] = {"rows": stats.get("rows"), "bytes": stats.get("bytes"), "seconds": seconds}
    return observed


def _segments(ir: IR, stage: Stage, timing: StageTiming, recorded: set[str]):
    """(seconds, work points) for each stretch between materialisation points; the last stretch
    runs to the end of the stage. A work point is a materialised node or a computing step."""
    marks = iter(timing.marks)
    mark = next(marks, None)
    since, points = timing.started, []
    for node_id in stage.nodes:
        if _computing(ir, node_id) and node_id not in recorded:
            points.append(node_id)
        if mark is not None and mark[0] == node_id:
            yield mark[1] - since, [*points, node_id]
            since, points = mark[1], []
            mark = next(marks, None)
    if points:
        yield timing.ended - since, points


def _computed_by(ir: IR, node_id: str, kept: set[str]) -> list[str]:
    """The node and every ancestor it computes again because nothing kept lies in between."""
    found, todo = [node_id], list(ir.node(node_id).inputs)
    while todo:
        i = todo.pop()
        if i not in kept and i not in found:
            found.append(i)
            todo.extend(ir.node(i).inputs)
    return found


def _share(seconds: float, work: list[str], guesses: Mapping[str, "NodeEstimate"],
           shares: dict[str, list[float]]) -> None:
    weights = {n: max(guesses[n].seconds, 0.0) for n in work}
    total = sum(weights.values())
    for n in work:
        shares[n].append(seconds * (weights[n] / total if total > 0 else 1 / len(work)))
