"""`select(col, new = expr, ...)`: keep the listed columns, in that order, computing new ones."""
from __future__ import annotations

from typing import Literal

from pipec.compiler import ast
from pipec.compiler.arguments import NamedExpr
from pipec.compiler.expressions import columns_of, rename_columns
from pipec.compiler.model import Model
from pipec.compiler.types import ColumnType
from pipec.stdlib.steps.checking import named_exprs, no_duplicates, table
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext


class SelectArgs(Model):
    step: Literal["select"] = "select"
    items: list[NamedExpr]


def _select(ctx: StepContext, b: BoundArgs) -> Result | None:
    if not b.items:
        ctx.error("E0303", "`select` needs at least one column", ctx.call.span)
        return None
    items: list[NamedExpr] = []
    pairs: list[tuple[str, ColumnType]] = []
    ok = True
    for a in b.items:
        if a.name is None and not isinstance(a.value, ast.ColumnRef):
            ctx.error("E0304", "a `select` item is a column or `name = expression`", a.span)
            ok = False
            continue
        typed = named_exprs(ctx, [a if a.name else a.model_copy(update={"name": a.value.name})], "")
        if typed is None:
            ok = False
            continue
        (arg, t), = typed
        items.append(NamedExpr(name=arg.name, expr=a.value))
        pairs.append((arg.name, t))
    if not ok or not no_duplicates(ctx, [(n, a) for (n, _), a in zip(pairs, b.items)]):
        return None
    return SelectArgs(items=items), table(pairs)


def _reads(args: SelectArgs) -> set[str]:
    return columns_of(*[i.expr for i in args.items])


def _route_filter(args: SelectArgs, inputs, part: ast.Expr, used: set[str]):
    """Through the plain items, renamed to the input's names; a computed item blocks it."""
    plain = {i.name: i.expr.name for i in args.items if isinstance(i.expr, ast.ColumnRef)}
    return [(0, rename_columns(part, plain))] if used <= plain.keys() else None


def _lineage(args: SelectArgs, inputs) -> flow.ColumnFlow:
    return flow.ColumnFlow({i.name: flow.expression_edges(i.expr) for i in args.items})


STEPS = [Step(
    "select", _select, "table", variadic=True, named_items=True, args=SelectArgs,
    signature="select(col, new = expr, ...)",
    doc="Keep the listed columns, in that order; `name = expr` computes a new one.",
    row_local=True, reads=_reads, needs=lambda args, inputs, index, wanted: _reads(args),
    evaluates=lambda args: [i.expr for i in args.items], route_filter=_route_filter,
    seconds_per_row=2e-8, argument_values={"...": "column"},
    lineage=_lineage,
)]
