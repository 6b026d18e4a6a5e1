"""`limit(n)`: the first n rows."""
from __future__ import annotations

from typing import Literal

from pipec.compiler import ast
from pipec.compiler.model import Model
from pipec.runtime_contract import BOUNDS
from pipec.stdlib.steps.checking import bounded_arg
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext, needs_what_it_reads


class LimitArgs(Model):
    step: Literal["limit"] = "limit"
    n: ast.Expr


def _limit(ctx: StepContext, b: BoundArgs) -> Result | None:
    n = bounded_arg(ctx, b.get("n"), "int", "the number of rows of `limit`", BOUNDS["row_count"])
    return (LimitArgs(n=n), ctx.input) if n is not None else None


def _rows_out(args: LimitArgs, rows_in: list[float], value) -> float:
    n = value(args.n)
    return min(rows_in[0], float(n)) if isinstance(n, (int, float)) else rows_in[0]


STEPS = [Step(
    "limit", _limit, "table", ("n",), required=("n",), args=LimitArgs, signature="limit(n)",
    doc="Keep the first n rows.", schema_preserving=True, creates=lambda args, inputs: set(),
    needs=needs_what_it_reads(lambda args: set()), rows_out=_rows_out, seconds_per_row=1e-9,
    lineage=flow.passes_rows(),
    bounds=lambda args: [(args.n, BOUNDS["row_count"])],
)]
