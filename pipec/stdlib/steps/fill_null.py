"""`fill_null(col = value, ...)`: replace the nulls of a column with a value."""
from __future__ import annotations

from typing import Literal

from pipec.compiler.arguments import NamedExpr
from pipec.compiler.expressions import NULL, check_expr, columns_of, unknown_column
from pipec.compiler.model import Model
from pipec.compiler.types import unify_numeric
from pipec.stdlib.steps.checking import table
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext, moves_filters_past, needs_what_it_reads


class FillNullArgs(Model):
    step: Literal["fill_null"] = "fill_null"
    values: list[NamedExpr]


def _fill_null(ctx: StepContext, b: BoundArgs) -> Result | None:
    values: list[NamedExpr] = []
    filled: dict[str, bool] = {}
    ok = True
    for a in b.items:
        if a.name is None:
            ctx.error("E0304", "`fill_null` items are written `column = value`", a.span)
            ok = False
            continue
        target = ctx.schema.get(a.name)
        if target is None:
            unknown_column(ctx.diags, a.name, a.name_span or a.span, ctx.schema, ctx.input_name)
            ok = False
            continue
        t = check_expr(a.value, ctx.expr_ctx(ctx.schema))
        if t is None:
            ok = False
            continue
        if t is NULL or unify_numeric(target, t) is None or (target.base == "int" and t.base == "float"):
            ctx.error("E0202", f"`{a.name}` is {target}, so it cannot be filled with "
                      f"{'null' if t is NULL else t}", a.value.span, label="this value")
            ok = False
            continue
        values.append(NamedExpr(name=a.name, expr=a.value))
        filled[a.name] = t.nullable
    if not ok:
        return None
    return FillNullArgs(values=values), table(
        [(f.name, f.type.with_nullable(filled[f.name]) if f.name in filled else f.type)
         for f in ctx.schema.fields])


def _reads(args: FillNullArgs) -> set[str]:
    return {v.name for v in args.values} | columns_of(*[v.expr for v in args.values])


def _creates(args: FillNullArgs, inputs) -> set[str]:
    return {v.name for v in args.values}


def _lineage(args: FillNullArgs, inputs) -> flow.ColumnFlow:
    """A filled column is its own value or the fill value's: a transformation of both."""
    columns = flow.same_columns(flow.column_names(inputs[0]))
    for v in args.values:
        columns[v.name] = flow.on_columns([v.name, *sorted(columns_of(v.expr))], flow.DIRECT, flow.TRANSFORMATION)
    return flow.ColumnFlow(columns)


STEPS = [Step(
    "fill_null", _fill_null, "table", named_items=True, args=FillNullArgs,
    signature="fill_null(col = value, ...)",
    doc="Replace the nulls of a column with a value; the column stops being nullable.",
    row_local=True, schema_preserving=True, reads=_reads, creates=_creates, needs=needs_what_it_reads(_reads),
    evaluates=lambda args: [v.expr for v in args.values], route_filter=moves_filters_past(_creates),
    seconds_per_row=1e-8, argument_values={"...": "column"},
    lineage=_lineage,
)]
