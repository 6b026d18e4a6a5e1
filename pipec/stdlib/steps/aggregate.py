"""`aggregate(by=[col, ...], name = agg(...), ...)`: one row per group of `by`, groups in the
order their key first appears."""
from __future__ import annotations

from typing import Literal

from pipec.compiler.arguments import NamedExpr
from pipec.compiler.expressions import Mode, columns_of
from pipec.compiler.model import Model
from pipec.stdlib.steps.checking import column_names, list_items, named_exprs, no_duplicates, table
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext


class AggregateArgs(Model):
    step: Literal["aggregate"] = "aggregate"
    by: list[str] = []
    aggregates: list[NamedExpr]


def _aggregate(ctx: StepContext, b: BoundArgs) -> Result | None:
    by: list[str] = []
    if (e := b.get("by")) is not None:
        names = column_names(ctx, list_items(e), "`by`")
        if names is None:
            return None
        by = names
    # Every group of a `by` has a row; without `by` the one group may have none.
    typed = named_exprs(ctx, b.items, "aggregates", Mode.AGGREGATE, groups_may_be_empty=not by)
    if typed is None:
        return None
    if not typed:
        ctx.error("E0303", "`aggregate` needs at least one `name = aggregate(...)`", ctx.call.span,
                  help="for example `aggregate(by=[carrier], flights = count())`")
        return None
    pairs = [(n, ctx.schema.get(n)) for n in by] + [(a.name, t) for a, t in typed]
    if not no_duplicates(ctx, [(n, ctx.call) for n, _ in pairs]):
        return None
    return AggregateArgs(by=by, aggregates=[NamedExpr(name=a.name, expr=a.value) for a, _ in typed]), table(pairs)


def _reads(args: AggregateArgs) -> set[str]:
    return set(args.by) | columns_of(*[a.expr for a in args.aggregates])


def _lineage(args: AggregateArgs, inputs) -> flow.ColumnFlow:
    columns = flow.same_columns(args.by)
    columns.update({a.name: flow.expression_edges(a.expr) for a in args.aggregates})
    return flow.ColumnFlow(columns, flow.on_columns(args.by, flow.INDIRECT, flow.GROUP_BY))


STEPS = [Step(
    "aggregate", _aggregate, "table", keywords=("by",), named_items=True, args=AggregateArgs,
    signature="aggregate(by=[col, ...], name = agg(...), ...)",
    doc="One row per group of `by` with the given aggregates.", shuffle=True,
    reads=_reads, needs=lambda args, inputs, index, wanted: _reads(args),
    evaluates=lambda args: [a.expr for a in args.aggregates],
    # A conjunct on `by` columns alone keeps or drops whole groups.
    route_filter=lambda args, inputs, part, used: [(0, part)] if used and used <= set(args.by) else None,
    rows_out=lambda args, rows_in, value: max(1.0, 0.1 * rows_in[0]) if args.by else 1.0,
    argument_values={"...": "column"},
    lineage=_lineage,
)]
