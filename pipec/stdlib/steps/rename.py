"""`rename(new = old, ...)`: the same columns under new names."""
from __future__ import annotations

from typing import Literal

from pipec.compiler import ast
from pipec.compiler.expressions import rename_columns, unknown_column
from pipec.compiler.model import Model
from pipec.stdlib.steps.checking import no_duplicates, table
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext


class RenameArgs(Model):
    step: Literal["rename"] = "rename"
    mapping: list[tuple[str, str]]  # (new, old)


def _rename(ctx: StepContext, b: BoundArgs) -> Result | None:
    mapping: list[tuple[str, str]] = []
    ok = True
    for a in b.items:
        if a.name is None or not isinstance(a.value, ast.ColumnRef):
            ctx.error("E0304", "`rename` items are written `new_name = old_name`", a.span)
            ok = False
        elif a.value.name not in ctx.schema:
            unknown_column(ctx.diags, a.value.name, a.value.span, ctx.schema, ctx.input_name)
            ok = False
        else:
            a.value.type = ctx.schema.get(a.value.name)
            mapping.append((a.name, a.value.name))
    if not ok:
        return None
    renamed = dict((old, new) for new, old in mapping)
    pairs = [(renamed.get(f.name, f.name), f.type) for f in ctx.schema.fields]
    if not no_duplicates(ctx, [(n, ctx.call) for n, _ in pairs]):
        return None
    return RenameArgs(mapping=mapping), table(pairs)


def _needs(args: RenameArgs, inputs, index: int, wanted: set[str]) -> set[str]:
    old_name = dict(args.mapping)
    return {old_name.get(c, c) for c in wanted} | set(old_name.values())


def _lineage(args: RenameArgs, inputs) -> flow.ColumnFlow:
    new_name = {old: new for new, old in args.mapping}
    return flow.ColumnFlow({new_name.get(n, n): (flow.Edge(0, n, flow.DIRECT, flow.IDENTITY),)
                            for n in flow.column_names(inputs[0])})


STEPS = [Step(
    "rename", _rename, "table", named_items=True, args=RenameArgs, signature="rename(new = old, ...)",
    doc="Rename columns: `new = old`.", row_local=True,
    reads=lambda args: {old for _, old in args.mapping},
    creates=lambda args, inputs: {new for new, _ in args.mapping}, needs=_needs,
    route_filter=lambda args, inputs, part, used: [(0, rename_columns(part, dict(args.mapping)))],
    seconds_per_row=1e-9, argument_values={"...": "column"},
    lineage=_lineage,
)]
