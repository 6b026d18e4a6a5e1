"""Static column lineage: compose the steps' `lineage` answers (pipec/stdlib/steps/column_flow.py)
along the IR, from the sources' columns to every sink's columns.

The walk is generic: it asks each step, never tests a step's name. A step without an answer
(`python()`: user code) makes its output's lineage unknown, and every column computed from it
says so; the walk never guesses a dependency. A `python()` step whose user declared the lineage
of some columns answers for those only (and not for its rows). Composition along a path: a DIRECT edge after a
DIRECT one stays DIRECT (IDENTITY only if both are; AGGREGATION if either is; else
TRANSFORMATION); any INDIRECT edge on the path makes it INDIRECT, with the subtype of the
INDIRECT edge nearest the source.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pipec.compiler.ir import IR, IRNode
from pipec.stdlib.steps.column_flow import AGGREGATION, DIRECT, IDENTITY, INDIRECT, TRANSFORMATION, Edge, column_names


@dataclass(frozen=True, order=True)
class Origin:
    """A source column (`source`: the id of the node that reads it) and how it reaches a column."""

    source: str
    column: str
    type: str
    subtype: str


@dataclass(frozen=True)
class Lineage:
    """What one column (or a whole table's rows) depends on: known origins, and the user-code
    nodes through which the dependency is not known (`unknown`)."""

    origins: frozenset[Origin] = frozenset()
    unknown: frozenset[str] = frozenset()

    def __or__(self, other: "Lineage") -> "Lineage":
        return Lineage(self.origins | other.origins, self.unknown | other.unknown)

    def through(self, edge: Edge) -> "Lineage":
        """This lineage, as seen through one more edge."""
        return Lineage(frozenset(_compose(o, edge) for o in self.origins), self.unknown)


NOTHING = Lineage()


def _compose(origin: Origin, edge: Edge) -> Origin:
    if origin.type == INDIRECT:
        return origin
    if edge.type == INDIRECT:
        return Origin(origin.source, origin.column, INDIRECT, edge.subtype)
    if origin.subtype == IDENTITY and edge.subtype == IDENTITY:
        subtype = IDENTITY
    elif AGGREGATION in (origin.subtype, edge.subtype):
        subtype = AGGREGATION
    else:
        subtype = TRANSFORMATION
    return Origin(origin.source, origin.column, DIRECT, subtype)


@dataclass(frozen=True)
class ValueLineage:
    """The lineage of a node's value: per column, and of its rows (`dataset`: what decided which
    rows it has and their order, which concerns every column)."""

    columns: dict[str, Lineage]
    dataset: Lineage = NOTHING


@dataclass
class SinkLineage:
    node: IRNode
    input: IRNode
    value: ValueLineage


@dataclass
class PipelineLineage:
    ir: IR
    sinks: list[SinkLineage] = field(default_factory=list)

    def node(self, node_id: str) -> IRNode:
        return self.ir.node(node_id)


def lineage_of(ir: IR) -> PipelineLineage:
    """The lineage of every sink of a checked (unoptimized) pipeline."""
    values: dict[str, ValueLineage] = {}
    result = PipelineLineage(ir)
    for node in ir.nodes():
        if node.is_sink:
            result.sinks.append(SinkLineage(node, ir.node(node.inputs[0]), values[node.inputs[0]]))
        elif node.is_source:
            values[node.id] = ValueLineage({c: Lineage(frozenset({Origin(node.id, c, DIRECT, IDENTITY)}))
                                            for c in column_names(node.output)})
        else:
            values[node.id] = _step_lineage(ir, node, [values[i] for i in node.inputs])
    return result


def _step_lineage(ir: IR, node: IRNode, inputs: list[ValueLineage]) -> ValueLineage:
    flow = node.spec.lineage(node.args, ir.input_types(node))
    lost = Lineage(unknown=frozenset({node.id}))
    if flow is None:
        return ValueLineage({c: lost for c in column_names(node.output)}, lost)
    dataset = NOTHING if flow.rows_known else lost
    for i in flow.rows_from:
        dataset |= inputs[i].dataset
    for edge in flow.dataset:
        dataset |= inputs[edge.input].columns[edge.column].through(edge)
    columns = {}
    for name, edges in flow.columns.items():
        lineage = NOTHING
        for edge in edges:
            source = inputs[edge.input]
            lineage |= source.columns[edge.column].through(edge)
            if edge.input not in flow.rows_from:  # e.g. a model: what chose its rows goes with this column
                lineage |= source.dataset.through(edge)
        columns[name] = lineage
    columns.update((name, lost) for name in flow.unknown)
    return ValueLineage(columns, dataset)
