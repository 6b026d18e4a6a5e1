"""`sample(fraction, seed=0)`: a seeded random fraction of the rows (each row drawn by its hash)."""
from __future__ import annotations

from typing import Literal

from pipec.compiler import ast
from pipec.compiler.arguments import lit
from pipec.compiler.model import Model
from pipec.runtime_contract import BOUNDS
from pipec.stdlib.steps.checking import bounded_arg, known_fraction, seed_arg
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext


class SampleArgs(Model):
    step: Literal["sample"] = "sample"
    fraction: ast.Expr
    seed: ast.Expr


def _sample(ctx: StepContext, b: BoundArgs) -> Result | None:
    e = b.get("fraction")
    # A sample may keep every row (1.0).
    fraction = lit(1.0) if e is None else bounded_arg(
        ctx, e, "float", "`fraction`", BOUNDS["nonzero_fraction"],
        help="a fraction of the rows, e.g. 0.1")
    seed = seed_arg(ctx, b.get("seed"))
    if fraction is None or seed is None:
        return None
    return SampleArgs(fraction=fraction, seed=seed), ctx.input


def _drawn_by(args: SampleArgs, inputs) -> tuple[flow.Edge, ...]:
    """Each row is drawn by a hash of the whole row (docs/semantics.md)."""
    return flow.on_columns(flow.column_names(inputs[0]), flow.INDIRECT, flow.FILTER)


STEPS = [Step(
    "sample", _sample, "table", ("fraction",), ("seed",), required=("fraction",), args=SampleArgs,
    signature="sample(fraction, seed=0)", doc="Keep a seeded random fraction of the rows.",
    row_local=True, schema_preserving=True, creates=lambda args, inputs: set(),
    rows_out=lambda args, rows_in, value: rows_in[0] * known_fraction(args.fraction, value),
    seconds_per_row=2e-8,
    lineage=flow.passes_rows(_drawn_by),
    bounds=lambda args: [(args.fraction, BOUNDS["nonzero_fraction"])],
)]
