"""`drift(reference, columns=[...])`: how far the input's columns have moved from the reference
table's, as metrics an `expect` can gate on: `psi_<col>` per column, `ks_<col>` per numeric
column, `max_psi` and `max_ks`. The math is the runtime contract's (`drift_metrics`), the same
on every backend."""
from __future__ import annotations

from typing import Literal

from pipec.compiler.model import Model
from pipec.compiler.suggest import listing
from pipec.compiler.types import MetricsType, TableType
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.checking import column_names, list_items
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext

NUMERIC, CATEGORICAL = ("int", "float"), ("str", "bool")


class DriftColumn(Model):
    name: str
    numeric: bool


class DriftArgs(Model):
    step: Literal["drift"] = "drift"
    columns: list[DriftColumn]


def metric_names(columns: list[DriftColumn]) -> tuple[str, ...]:
    """The metrics `drift` gives, in order (the runtime contract's `drift_metrics`)."""
    names = [name for c in columns for name in ([f"psi_{c.name}", f"ks_{c.name}"] if c.numeric else [f"psi_{c.name}"])]
    return (*names, "max_psi", *(["max_ks"] if any(c.numeric for c in columns) else []))


def _drift(ctx: StepContext, b: BoundArgs) -> Result | None:
    reference_e = b.get("reference")
    ref = ctx.resolver.binding(reference_e, "the reference table")
    if ref is None:
        return None
    reference_id, reference = ref
    if not isinstance(reference, TableType):
        ctx.error("E0305", f"`drift` compares with a table, but `{reference_e.name}` is {reference}",
                  reference_e.span)
        return None
    ctx.extra_inputs.append(reference_id)
    columns_e = b.get("columns")
    names = (column_names(ctx, list_items(columns_e), "`columns`") if columns_e is not None
             else ctx.schema.names)
    if names is None:
        return None
    spans = {item.name: item.span for item in list_items(columns_e)} if columns_e is not None else {}
    where = spans.get if columns_e is not None else (lambda name: ctx.call.span)
    columns, ok = [], True
    for name in dict.fromkeys(names):
        here, there = ctx.schema.get(name), reference.schema_.get(name)
        if here.base not in NUMERIC + CATEGORICAL:
            ctx.error("E0415", f"`drift` compares numbers, strings and booleans, but `{name}` is {here}",
                      where(name), help="leave it out of `columns=[...]`, or derive a number from it")
            ok = False
        elif there is None:
            ctx.error("E0414", f"the reference `{reference_e.name}` has no column `{name}`", where(name),
                      notes=[f"its columns: {listing(reference.schema_.names)}"],
                      help="compare the columns both tables have: `columns=[...]`")
            ok = False
        elif (here.base in NUMERIC) != (there.base in NUMERIC) or (here.base in CATEGORICAL and here.base != there.base):
            ctx.error("E0414", f"`{name}` is {here} here but {there} in the reference `{reference_e.name}`",
                      where(name), help="cast one side so that both have the same type")
            ok = False
        else:
            columns.append(DriftColumn(name=name, numeric=here.base in NUMERIC))
    if not ok:
        return None
    if not columns:
        ctx.error("E0303", "`drift` needs at least one column", ctx.call.span)
        return None
    args = DriftArgs(columns=columns)
    return args, MetricsType(names=metric_names(columns))


def _reads(args: DriftArgs) -> set[str]:
    return {c.name for c in args.columns}


def _lineage(args: DriftArgs, inputs) -> flow.ColumnFlow:
    """Each column's metrics aggregate that column on both sides."""
    columns = {}
    for c in args.columns:
        compared = (*flow.on_columns([c.name], flow.DIRECT, flow.AGGREGATION),
                    flow.Edge(1, c.name, flow.DIRECT, flow.AGGREGATION))
        for name in ([f"psi_{c.name}", f"ks_{c.name}"] if c.numeric else [f"psi_{c.name}"]):
            columns[name] = compared
    every = tuple(sorted({edge for edges in columns.values() for edge in edges}))
    columns["max_psi"] = every
    if any(c.numeric for c in args.columns):
        columns["max_ks"] = every
    return flow.ColumnFlow(columns)


STEPS = [Step(
    "drift", _drift, "table", ("reference",), keywords=("columns",), required=("reference",), args=DriftArgs,
    signature="drift(reference, columns=[col, ...])",
    doc="Population stability index and Kolmogorov-Smirnov statistic of the columns against a reference table.",
    eager=True, makes_metrics=True, reads=_reads,
    needs=lambda args, inputs, index, wanted: _reads(args),
    rows_out=lambda args, rows_in, value: 1.0, seconds_per_row=2e-7,
    argument_values={"reference": "binding", "columns": "column"},
    lineage=_lineage,
)]
