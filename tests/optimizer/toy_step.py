"""A toy step defined outside pipec, in one module, as a new step would be: `double(col, ...)`
replaces each listed number column by twice its value. Registering it (`register`) is all it
takes for the checker, the IR, the passes, the cost model and `explain` to handle it."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from pipec.stdlib.steps import Step, StepContext
from pipec.stdlib.steps.checking import column_names, table
from pipec.stdlib.steps.spec import BoundArgs, Result, moves_filters_past, needs_what_it_reads


class DoubleArgs(BaseModel):
    step: Literal["double"] = "double"
    columns: list[str]


def _double(ctx: StepContext, b: BoundArgs) -> Result | None:
    names = column_names(ctx, [a.value for a in b.items], "`double` arguments")
    if names is None:
        return None
    for a, name in zip(b.items, names):
        if not ctx.schema.get(name).is_numeric:
            ctx.error("E0304", f"`double` needs number columns, but `{name}` is {ctx.schema.get(name)}", a.span)
            return None
    return DoubleArgs(columns=names), table([(f.name, f.type) for f in ctx.schema.fields])


def _reads(args: DoubleArgs) -> set[str]:
    return set(args.columns)


def _creates(args: DoubleArgs, inputs) -> set[str]:
    return set(args.columns)


DOUBLE = Step(
    "double", _double, "table", variadic=True, args=DoubleArgs, signature="double(col, ...)",
    doc="Replace each listed number column by twice its value.", row_local=True,
    reads=_reads, creates=_creates, needs=needs_what_it_reads(_reads), route_filter=moves_filters_past(_creates),
    seconds_per_row=1e-8, argument_values={"...": "column"},
)
