"""`derive(new = expr, ...)`: add (or replace) columns computed from each row."""
from __future__ import annotations

from typing import Literal

from pipec.compiler.arguments import NamedExpr
from pipec.compiler.expressions import columns_of
from pipec.compiler.model import Model
from pipec.stdlib.steps.checking import named_exprs, no_duplicates, table
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext, moves_filters_past


class DeriveArgs(Model):
    step: Literal["derive"] = "derive"
    columns: list[NamedExpr]


def _derive(ctx: StepContext, b: BoundArgs) -> Result | None:
    typed = named_exprs(ctx, b.items, "`derive` items")
    if not typed:
        if typed == []:
            ctx.error("E0303", "`derive` needs at least one `name = expression`", ctx.call.span)
        return None
    if not no_duplicates(ctx, [(a.name, a) for a, _ in typed]):
        return None
    new = {a.name: t for a, t in typed}
    pairs = [(f.name, new.pop(f.name, f.type)) for f in ctx.schema.fields] + list(new.items())
    return DeriveArgs(columns=[NamedExpr(name=a.name, expr=a.value) for a, _ in typed]), table(pairs)


def _reads(args: DeriveArgs) -> set[str]:
    return columns_of(*[c.expr for c in args.columns])


def _creates(args: DeriveArgs, inputs) -> set[str]:
    return {c.name for c in args.columns}


def _needs(args: DeriveArgs, inputs, index: int, wanted: set[str]) -> set[str]:
    # A column that derive replaces keeps its place, so it is still read when it is wanted:
    # without it, derive would add the column at the end and change the column order.
    return wanted | _reads(args)


def _lineage(args: DeriveArgs, inputs) -> flow.ColumnFlow:
    """A replaced column keeps its place; new ones come last."""
    columns = flow.same_columns(flow.column_names(inputs[0]))
    columns.update({c.name: flow.expression_edges(c.expr) for c in args.columns})
    return flow.ColumnFlow(columns)


STEPS = [Step(
    "derive", _derive, "table", named_items=True, args=DeriveArgs, signature="derive(new = expr, ...)",
    doc="Add (or replace) columns computed from each row.",
    row_local=True, reads=_reads, creates=_creates, needs=_needs,
    evaluates=lambda args: [c.expr for c in args.columns], route_filter=moves_filters_past(_creates),
    seconds_per_row=3e-8, argument_values={"...": "column"},
    lineage=_lineage,
)]
