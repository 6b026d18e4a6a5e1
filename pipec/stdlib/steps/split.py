"""`a, b = t | split(fraction=0.8, seed=0, by=col)`: two tables from a seeded draw per row (or per
value of the `by` key). It is the one step that gives two values: each side is its own IR node."""
from __future__ import annotations

from typing import Literal

from pipec.compiler import ast
from pipec.compiler.arguments import lit
from pipec.compiler.model import Model
from pipec.runtime_contract import BOUNDS
from pipec.stdlib.steps.checking import bounded_arg, column_names, known_fraction, seed_arg
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext, every_column


class SplitArgs(Model):
    """One side of `split`: `part` 0 keeps the rows whose draw is below `fraction`, part 1 the rest."""

    step: Literal["split"] = "split"
    fraction: ast.Expr
    seed: ast.Expr
    by: str | None = None
    part: Literal[0, 1]


def _split(ctx: StepContext, b: BoundArgs) -> Result | None:
    e = b.get("fraction")
    # Each side must get some rows and leave some.
    fraction = lit(0.8) if e is None else bounded_arg(
        ctx, e, "float", "`fraction`", BOUNDS["proper_fraction"],
        help="a fraction of the rows, e.g. 0.8")
    seed = seed_arg(ctx, b.get("seed"))
    by = None
    if (e := b.get("by")) is not None:
        names = column_names(ctx, [e], "`by`")
        if names is None:
            return None
        by = names[0]
        if ctx.schema.get(by).base != "int":
            ctx.error("E0304", f"`split(by=...)` needs an int column, but `{by}` is {ctx.schema.get(by)}",
                      e.span, help="derive an integer key first, e.g. `derive(key = year * 10000 + month * 100 + day)`")
            return None
    if fraction is None or seed is None:
        return None
    return SplitArgs(fraction=fraction, seed=seed, by=by, part=0), ctx.input


def _needs(args: SplitArgs, inputs, index: int, wanted: set[str]) -> set[str]:
    """Without `by` each row's draw hashes the whole row."""
    return every_column(args, inputs, index, wanted) if args.by is None else wanted | {args.by}


def _rows_out(args: SplitArgs, rows_in: list[float], value) -> float:
    fraction = known_fraction(args.fraction, value)
    return rows_in[0] * (1 - fraction if args.part == 1 else fraction)


def _drawn_by(args: SplitArgs, inputs) -> tuple[flow.Edge, ...]:
    """The `by` column decides a row's side; without it, a hash of the whole row does."""
    return flow.on_columns([args.by] if args.by else flow.column_names(inputs[0]), flow.INDIRECT, flow.FILTER)


STEPS = [Step(
    "split", _split, "table", keywords=("fraction", "seed", "by"), args=SplitArgs,
    signature="split(fraction=0.8, seed=0, by=col)",
    doc="Split the rows into two tables (train and test) by a seeded fraction.",
    row_local=True, outputs=2, other_output=lambda args: args.model_copy(update={"part": 1}),
    reads=lambda args: {args.by} if args.by else set(), creates=lambda args, inputs: set(), needs=_needs,
    rows_out=_rows_out, seconds_per_row=2e-8, argument_values={"by": "column"},
    lineage=flow.passes_rows(_drawn_by),
    bounds=lambda args: [(args.fraction, BOUNDS["proper_fraction"])],
)]
