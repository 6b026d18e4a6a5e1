"""`filter(predicate)`: keep the rows for which the predicate is true (null counts as false)."""
from __future__ import annotations

from typing import Literal

from pipec.compiler import ast
from pipec.compiler.expressions import check_predicate, columns_of, conjuncts
from pipec.compiler.model import Model
from pipec.stdlib.steps.checking import table
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext, needs_what_it_reads


class FilterArgs(Model):
    step: Literal["filter"] = "filter"
    predicate: ast.Expr


def _filter(ctx: StepContext, b: BoundArgs) -> Result | None:
    pred = b.get("predicate")
    if check_predicate(pred, ctx.expr_ctx(ctx.schema), "filter") is None:
        return None
    narrowed = {c.operand.name for c in conjuncts(pred)
                if isinstance(c, ast.IsNull) and c.negated and isinstance(c.operand, ast.ColumnRef)}
    schema = [(f.name, f.type.with_nullable(False) if f.name in narrowed else f.type)
              for f in ctx.schema.fields]
    return FilterArgs(predicate=pred), table(schema)


def _reads(args: FilterArgs) -> set[str]:
    return columns_of(args.predicate)


def _rows_out(args: FilterArgs, rows_in: list[float], value) -> float:
    """Each conjunct is guessed to keep half of the rows (at most three count)."""
    return rows_in[0] * 0.5 ** min(len(conjuncts(args.predicate)), 3)


STEPS = [Step(
    "filter", _filter, "table", ("predicate",), required=("predicate",), args=FilterArgs,
    signature="filter(predicate)", doc="Keep the rows for which the predicate is true (null counts as false).",
    row_local=True, schema_preserving=True, conditions=True,
    reads=_reads, creates=lambda args, inputs: set(), needs=needs_what_it_reads(_reads),
    evaluates=lambda args: [args.predicate], scan_predicate=lambda args: args.predicate,
    rows_out=_rows_out, seconds_per_row=2e-8, argument_values={"...": "column"},
    lineage=flow.passes_rows(lambda args, inputs: flow.on_columns(sorted(_reads(args)), flow.INDIRECT, flow.FILTER)),
)]
