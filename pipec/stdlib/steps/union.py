"""`union(other, ...)`: the rows of the input, then those of each other table with the same columns."""
from __future__ import annotations

from typing import Literal

from pipec.compiler.model import Model
from pipec.compiler.types import Schema, TableType, unify_numeric
from pipec.stdlib.steps.checking import table
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext


class UnionArgs(Model):
    step: Literal["union"] = "union"


def _union(ctx: StepContext, b: BoundArgs) -> Result | None:
    others = [b.get("other"), *[a.value for a in b.items]]
    merged = {f.name: f.type for f in ctx.schema.fields}
    ok = True
    for e in others:
        ref = ctx.resolver.binding(e, "the table to union with")
        if ref is None:
            ok = False
            continue
        node_id, other = ref
        if not isinstance(other, TableType):
            ctx.error("E0305", f"`union` needs tables, but `{e.name}` is {other}", e.span)
            ok = False
            continue
        ctx.extra_inputs.append(node_id)
        mismatch = _schema_difference(ctx.schema, other.schema_)
        if mismatch:
            ctx.error("E0313", f"`union` needs the same columns on both sides, but {mismatch}", e.span,
                      label=f"`{e.name}` has {other.schema_}", help="use `select` or `cast` to line them up")
            ok = False
            continue
        for f in other.schema_.fields:
            merged[f.name] = unify_numeric(merged[f.name], f.type)
    return (UnionArgs(), table(list(merged.items()))) if ok else None


def _schema_difference(a: Schema, b: Schema) -> str | None:
    missing = [n for n in a.names if n not in b]
    extra = [n for n in b.names if n not in a]
    if missing or extra:
        parts = ([f"the other side lacks {', '.join(missing)}"] if missing else []) + \
                ([f"has extra {', '.join(extra)}"] if extra else [])
        return " and ".join(parts)
    for f in a.fields:
        o = b.get(f.name)
        if f.type.base != o.base:
            return f"`{f.name}` is {f.type} on one side and {o} on the other"
    return None


def _lineage(args: UnionArgs, inputs) -> flow.ColumnFlow:
    every = range(len(inputs))
    return flow.ColumnFlow({n: tuple(flow.Edge(k, n, flow.DIRECT, flow.IDENTITY) for k in every)
                            for n in flow.column_names(inputs[0])}, rows_from=tuple(every))


STEPS = [Step(
    "union", _union, "table", ("other",), variadic=True, required=("other",), args=UnionArgs,
    signature="union(other, ...)", doc="Append the rows of other tables with the same columns.",
    creates=lambda args, inputs: set(),
    route_filter=lambda args, inputs, part, used: [(k, part) for k in range(len(inputs))],
    rows_out=lambda args, rows_in, value: sum(rows_in), seconds_per_row=1e-8,
    argument_values={"other": "binding", "*": "binding"},
    lineage=_lineage,
)]
