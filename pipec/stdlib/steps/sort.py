"""`sort(col, -col, ...)`: the rows ordered by the listed columns (`-col` descending); stable."""
from __future__ import annotations

import math
from typing import Literal

from pipec.compiler import ast
from pipec.compiler.model import Model
from pipec.stdlib.steps.checking import column_names
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.spec import (BoundArgs, Result, Step, StepContext, moves_filters_past,
                                     needs_what_it_reads)


class SortKey(Model):
    column: str
    descending: bool = False


class SortArgs(Model):
    step: Literal["sort"] = "sort"
    keys: list[SortKey]


def _sort(ctx: StepContext, b: BoundArgs) -> Result | None:
    keys: list[SortKey] = []
    for a in b.items:
        e, desc = a.value, False
        if isinstance(e, ast.Unary) and e.op == "-":
            e, desc = e.operand, True
        names = column_names(ctx, [e], "`sort` keys (a column, or `-column` for descending)")
        if names is None or a.name is not None:
            return None
        keys.append(SortKey(column=names[0], descending=desc))
    if not keys:
        ctx.error("E0303", "`sort` needs at least one column", ctx.call.span)
        return None
    return SortArgs(keys=keys), ctx.input


def _reads(args: SortArgs) -> set[str]:
    return {k.column for k in args.keys}


STEPS = [Step(
    "sort", _sort, "table", variadic=True, args=SortArgs, signature="sort(col, -col, ...)",
    doc="Sort the rows by the listed columns (`-col` descending); the sort is stable.",
    shuffle=True, schema_preserving=True, reads=_reads, creates=lambda args, inputs: set(),
    needs=needs_what_it_reads(_reads), route_filter=moves_filters_past(),
    row_work=lambda rows: math.log2(max(rows, 2)), argument_values={"...": "column"},
    lineage=flow.passes_rows(lambda args, inputs: flow.on_columns([k.column for k in args.keys], flow.INDIRECT, flow.SORT)),
)]
