"""`expect(condition, ...)`: a quality gate that fails the run when a condition on the table (its
aggregates) or on metrics does not hold, and passes its input through."""
from __future__ import annotations

from typing import Literal

from pipec.compiler import ast
from pipec.compiler.expressions import Mode, check_predicate, columns_of
from pipec.compiler.model import Model
from pipec.compiler.types import MetricsType, ModelType, Schema
from pipec.stdlib.steps.checking import wrong_input
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext, needs_what_it_reads


class ExpectArgs(Model):
    """`on` says what the conditions read: aggregates over a table, or metric names."""

    step: Literal["expect"] = "expect"
    on: Literal["table", "metrics"]
    conditions: list[ast.Expr]


def _expect(ctx: StepContext, b: BoundArgs) -> Result | None:
    if isinstance(ctx.input, ModelType):
        return wrong_input(ctx, "a table or metrics")
    on_metrics = isinstance(ctx.input, MetricsType)
    conditions = [a.value for a in b.items]
    if not conditions or any(a.name is not None for a in b.items):
        ctx.error("E0304", "`expect` takes conditions, e.g. `expect(row_count() > 0)`", ctx.call.span)
        return None
    ok = True
    for c in conditions:
        ectx = (ctx.expr_ctx(Schema(), Mode.EXPECT_METRICS, ctx.input.names) if on_metrics
                else ctx.expr_ctx(ctx.schema, Mode.EXPECT_TABLE, groups_may_be_empty=True))
        if check_predicate(c, ectx, "expect") is None:
            ok = False
    return (ExpectArgs(on="metrics" if on_metrics else "table", conditions=conditions), ctx.input) if ok else None



def _reads(args: ExpectArgs) -> set[str]:
    return columns_of(*args.conditions) if args.on == "table" else set()


STEPS = [Step(
    "expect", _expect, "any", variadic=True, args=ExpectArgs, signature="expect(condition, ...)",
    doc="Fail the run when a condition on the data does not hold.",
    gate=True, schema_preserving=True, conditions=True, reads=_reads, creates=lambda args, inputs: set(),
    needs=needs_what_it_reads(_reads), evaluates=lambda args: list(args.conditions), seconds_per_row=2e-8,
    argument_values={"...": "column"},
    lineage=flow.passes_rows(),
)]
