"""A toy step defined outside pipec, in one module, as a new step would be: `double(col, ...)`
replaces each listed number column by twice its value. The module holds the step's spec and its
emitters for the local and Spark backends; `registered()` adds all three (and removes them
after), which is all it takes for the checker, the IR, the passes, the cost model, `explain` and
both backends to handle it."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Literal

from pydantic import BaseModel

from pipec.backends.local import codegen as local_codegen
from pipec.backends.spark import codegen as spark_codegen
from pipec.stdlib.steps import Step, StepContext, register, unregister
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


def _local_code(site: local_codegen.Site) -> str:
    doubled = ", ".join(f"pl.col({name!r}) * 2" for name in site.args.columns)
    return f"{site.out} = {site.ins[0]}.with_columns({doubled})"


def _spark_code(job: spark_codegen.JobWriter, node) -> str:
    doubled = ", ".join(f"{name!r}: F.col({name!r}) * 2" for name in node.args.columns)
    return f".withColumns({{{doubled}}})"


@contextmanager
def registered() -> Iterator[Step]:
    """`double` known to the checker and emitted by the local and Spark backends, for the block."""
    register(DOUBLE)
    local_codegen.register_emitter(DOUBLE.name, _local_code, arguments=lambda node: ", ".join(node.args.columns))
    spark_codegen.register_emitter(DOUBLE.name, _spark_code, shape=spark_codegen.METHOD)
    try:
        yield DOUBLE
    finally:
        spark_codegen.unregister_emitter(DOUBLE.name)
        local_codegen.unregister_emitter(DOUBLE.name)
        unregister(DOUBLE.name)
