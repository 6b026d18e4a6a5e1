"""What a step's `lineage` hook answers: which input columns each output column is computed from,
and how, in OpenLineage's column-lineage vocabulary.

A DIRECT edge means the output value is computed from the input value (IDENTITY: the same value,
TRANSFORMATION: a function of it, AGGREGATION: a function of a group of them); an INDIRECT edge
means the input value decides something else about the output (FILTER: which rows are kept, JOIN:
which rows are matched, GROUP_BY: which rows make one group, SORT: the row order, CONDITIONAL: which
branch of an `if` computes the value). Edges that concern every output column (a filter's
predicate, join keys, sort keys) are the flow's `dataset` edges. The lineage walk
(`pipec/lineage/columns.py`) composes these per-step answers into source-to-sink lineage.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from pipec.compiler import ast
from pipec.compiler.expressions import children, columns_of
from pipec.compiler.types import MetricsType, ModelType, TableType
from pipec.stdlib.functions import FUNCTIONS

DIRECT, INDIRECT = "DIRECT", "INDIRECT"
IDENTITY, TRANSFORMATION, AGGREGATION = "IDENTITY", "TRANSFORMATION", "AGGREGATION"
FILTER, JOIN, GROUP_BY, SORT, CONDITIONAL = "FILTER", "JOIN", "GROUP_BY", "SORT", "CONDITIONAL"

# A model value carries one pseudo-column: what its parameters were computed from.
MODEL_COLUMN = "model"


@dataclass(frozen=True, order=True)
class Edge:
    """Output depends on column `column` of input `input` (its index in the node's inputs)."""

    input: int
    column: str
    type: str
    subtype: str


@dataclass(frozen=True)
class ColumnFlow:
    """A step's answer: `columns` maps each output column to its edges; `dataset` holds the edges
    that concern every output row; `rows_from` lists the inputs whose rows become the output's
    rows (their own row-level lineage carries over to every output column). An edge into an input
    not in `rows_from` (the model of `predict`) brings that input's row-level lineage to the
    column it feeds only. A partial answer (user code with declared lineage) lists the output
    columns it cannot answer for in `unknown`, and says whether it knows what chose its rows."""

    columns: dict[str, tuple[Edge, ...]]
    dataset: tuple[Edge, ...] = ()
    rows_from: tuple[int, ...] = (0,)
    unknown: tuple[str, ...] = ()
    rows_known: bool = True


def column_names(value) -> list[str]:
    """The column names of a value as lineage sees them: a table's columns, a metrics record's
    names, a model's one pseudo-column."""
    if isinstance(value, TableType):
        return list(value.schema_.names)
    if isinstance(value, MetricsType):
        return list(value.names)
    if isinstance(value, ModelType):
        return [MODEL_COLUMN]
    return []


def same_columns(names: Iterable[str], input: int = 0) -> dict[str, tuple[Edge, ...]]:
    """Each column passed through unchanged from input `input`."""
    return {n: (Edge(input, n, DIRECT, IDENTITY),) for n in names}


def passes_rows(rows_edges=lambda args, inputs: ()):
    """The `lineage` of a step that keeps its input's columns as they are and only selects or
    orders rows; `rows_edges(args, inputs)` gives its dataset edges."""
    def lineage(args, inputs) -> ColumnFlow:
        return ColumnFlow(same_columns(column_names(inputs[0])), tuple(rows_edges(args, inputs)))
    return lineage


def on_columns(names: Iterable[str], type: str, subtype: str, input: int = 0) -> tuple[Edge, ...]:
    return tuple(Edge(input, n, type, subtype) for n in dict.fromkeys(names))


def expression_edges(expr: ast.Expr, input: int = 0) -> tuple[Edge, ...]:
    """How the value of `expr` depends on the columns it reads: IDENTITY for a bare column,
    AGGREGATION inside an aggregate function, CONDITIONAL for the condition of `if(...)`, else
    TRANSFORMATION."""
    if isinstance(expr, ast.ColumnRef):
        return (Edge(input, expr.name, DIRECT, IDENTITY),)
    found: dict[tuple[str, str, str], None] = {}

    def visit(e: ast.Expr, aggregated: bool) -> None:
        if isinstance(e, ast.ColumnRef):
            found[(e.name, DIRECT, AGGREGATION if aggregated else TRANSFORMATION)] = None
            return
        if isinstance(e, ast.Call) and e.name == "if" and e.args:
            for name in sorted(columns_of(e.args[0].value)):
                found[(name, INDIRECT, CONDITIONAL)] = None
            for a in e.args[1:]:
                visit(a.value, aggregated)
            return
        inner = aggregated or (isinstance(e, ast.Call) and e.name in FUNCTIONS and FUNCTIONS[e.name].aggregate)
        for child in children(e):
            visit(child, inner)

    visit(expr, False)
    return tuple(Edge(input, name, kind, subtype) for name, kind, subtype in found)
