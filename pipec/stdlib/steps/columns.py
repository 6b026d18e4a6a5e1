"""The steps that take a list of columns: `drop(col, ...)` removes them, `drop_nulls(col, ...)`
removes the rows with a null in them and `distinct(col, ...)` keeps the first row of each
distinct key (the last two: all columns when none is listed)."""
from __future__ import annotations

from typing import Literal

from pipec.compiler.model import Model
from pipec.stdlib.steps.checking import column_names, table
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.spec import (BoundArgs, Result, Step, StepContext, every_column, moves_filters_past,
                                     needs_what_it_reads)


class ColumnsArgs(Model):
    """drop, drop_nulls and distinct take a list of columns (empty means all for the last two)."""

    step: Literal["drop", "drop_nulls", "distinct"]
    columns: list[str] = []


def _names(ctx: StepContext, b: BoundArgs) -> list[str] | None:
    return column_names(ctx, [a.value for a in b.items], f"`{ctx.call.name}` arguments")


def _drop(ctx: StepContext, b: BoundArgs) -> Result | None:
    names = _names(ctx, b)
    if names is None:
        return None
    if not names:
        ctx.error("E0303", "`drop` needs at least one column", ctx.call.span)
        return None
    return ColumnsArgs(step="drop", columns=names), table(
        [(f.name, f.type) for f in ctx.schema.fields if f.name not in names])


def _drop_nulls(ctx: StepContext, b: BoundArgs) -> Result | None:
    names = _names(ctx, b)
    if names is None:
        return None
    which = set(names) or set(ctx.schema.names)
    return ColumnsArgs(step="drop_nulls", columns=names), table(
        [(f.name, f.type.with_nullable(False) if f.name in which else f.type) for f in ctx.schema.fields])


def _distinct(ctx: StepContext, b: BoundArgs) -> Result | None:
    names = _names(ctx, b)
    if names is None:
        return None
    kept = [(n, ctx.schema.get(n)) for n in names] if names else [(f.name, f.type) for f in ctx.schema.fields]
    return ColumnsArgs(step="distinct", columns=names), table(kept)


def _reads(args: ColumnsArgs) -> set[str]:
    return set(args.columns)


def _needs_listed_or_all(args: ColumnsArgs, inputs, index: int, wanted: set[str]) -> set[str]:
    """The listed columns, or every column when none is listed."""
    return _reads(args) or every_column(args, inputs, index, wanted)


def _drop_nulls_needs(args: ColumnsArgs, inputs, index: int, wanted: set[str]) -> set[str]:
    return wanted | _reads(args) if args.columns else every_column(args, inputs, index, wanted)


def _kept(args: ColumnsArgs, inputs) -> list[str]:
    """The listed columns, or every column when none is listed."""
    return args.columns or flow.column_names(inputs[0])


def _drop_lineage(args: ColumnsArgs, inputs) -> flow.ColumnFlow:
    return flow.ColumnFlow(flow.same_columns(n for n in flow.column_names(inputs[0]) if n not in args.columns))


def _distinct_lineage(args: ColumnsArgs, inputs) -> flow.ColumnFlow:
    """One row per distinct key: the key columns group the rows."""
    kept = _kept(args, inputs)
    return flow.ColumnFlow(flow.same_columns(kept), flow.on_columns(kept, flow.INDIRECT, flow.GROUP_BY))


_COLUMNS = dict(input="table", variadic=True, args=ColumnsArgs, reads=_reads,
                creates=lambda args, inputs: set(), argument_values={"...": "column"})
DROP = Step(
    "drop", _drop, signature="drop(col, ...)", doc="Remove the listed columns.", row_local=True,
    needs=needs_what_it_reads(_reads), route_filter=moves_filters_past(), seconds_per_row=1e-9,
    lineage=_drop_lineage, **_COLUMNS)
DROP_NULLS = Step(
    "drop_nulls", _drop_nulls, signature="drop_nulls(col, ...)",
    doc="Remove the rows with a null in the listed columns (all columns if none).",
    row_local=True, schema_preserving=True, needs=_drop_nulls_needs, route_filter=moves_filters_past(),
    rows_out=lambda args, rows_in, value: rows_in[0] * 0.9, seconds_per_row=1e-8,
    lineage=flow.passes_rows(lambda args, inputs: flow.on_columns(_kept(args, inputs), flow.INDIRECT, flow.FILTER)),
    **_COLUMNS)
DISTINCT = Step(
    "distinct", _distinct, signature="distinct(col, ...)",
    doc="Keep the first row of each distinct key (all columns if none).", shuffle=True,
    needs=_needs_listed_or_all, rows_out=lambda args, rows_in, value: max(1.0, 0.5 * rows_in[0]),
    seconds_per_row=1e-7, lineage=_distinct_lineage, **_COLUMNS)
STEPS = [DROP, DROP_NULLS, DISTINCT]
