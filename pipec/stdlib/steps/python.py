"""`python("module:function", schema=S, option=value)`: the table transformed by a function of
the user's project, which declares its output schema and, optionally, the lineage of its output
columns (`lineage=columns(out = [in, ...], ...)`): pipec cannot see through user code, so a
column's lineage is what the user declares, or unknown. `cache=false` (a function with side effects
or a result that is not a function of its input) is never reused by incremental runs."""
from __future__ import annotations

import re
from typing import Literal

from pipec.compiler import ast
from pipec.compiler.arguments import NamedExpr
from pipec.compiler.expressions import check_expr
from pipec.compiler.model import Model
from pipec.compiler.suggest import did_you_mean, listing
from pipec.compiler.types import Schema, TableType
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.checking import list_items, schema_arg, string_arg
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext


class PythonArgs(Model):
    step: Literal["python"] = "python"
    function: str
    schema_: Schema
    options: list[NamedExpr] = []
    lineage: dict[str, list[str]] | None = None  # declared: output column -> the input columns it is computed from
    cache: bool | None = None  # False: never reused; None, the default: reused (absent from the IR JSON)


LINEAGE_OPTION = "lineage"  # not passed to the function: it declares the lineage of its output
LINEAGE_CALL = "columns"
_FUNCTION_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def _python(ctx: StepContext, b: BoundArgs) -> Result | None:
    fn = string_arg(ctx, b.get("function"), "the function")
    if fn is not None and not _FUNCTION_REF.match(fn):
        ctx.error("E0304", f"`{fn}` is not a function reference", b.get("function").span,
                  help='write it as "package.module:function"')
        fn = None
    schema = schema_arg(ctx, b.get("schema"))
    options: list[NamedExpr] = []
    lineage: dict[str, list[str]] | None = None
    cache: bool | None = None
    for a in b.items:
        if a.name is None:
            ctx.error("E0302", "`python` takes its options as `name = value`", a.span)
            return None
        if a.name == LINEAGE_OPTION:
            lineage = _declared_lineage(ctx, a.value, schema)
            if lineage is None:
                return None
            continue
        if a.name == "cache":
            if not (isinstance(a.value, ast.Literal_) and a.value.literal_type == "bool"):
                ctx.error("E0304", "`cache` takes `true` or `false`", a.value.span,
                          help="`cache=false` runs the function on every run, never reusing a stored result")
                return None
            cache = a.value.value
            continue
        if isinstance(a.value, ast.ListExpr):
            ctx.error("E0304", "`python` options are single values", a.value.span)
            return None
        v = check_expr(a.value, ctx.expr_ctx(Schema()))
        if v is None:
            return None
        options.append(NamedExpr(name=a.name, expr=a.value))
    if fn is None or schema is None:
        return None
    return PythonArgs(function=fn, schema_=schema, options=options, lineage=lineage, cache=cache), TableType(schema_=schema)


def _declared_lineage(ctx: StepContext, value: ast.Expr, output: Schema | None) -> dict[str, list[str]] | None:
    """`columns(out = [in, ...], ...)`: each output column named (one of `schema`'s, E0170) with
    the input columns it is computed from (E0171); any other shape is E0172."""
    shape = f"write `{LINEAGE_OPTION}={LINEAGE_CALL}(out_column = [input_column, ...], ...)`"
    if not (isinstance(value, ast.Call) and value.name == LINEAGE_CALL):
        ctx.error("E0172", f"`{LINEAGE_OPTION}` declares columns as `{LINEAGE_CALL}(...)`", value.span, help=shape)
        return None
    declared: dict[str, list[str]] = {}
    inputs = ctx.schema if isinstance(ctx.input, TableType) else Schema()
    ok = True
    for a in value.args:
        if a.name is None or a.name in declared:
            ctx.error("E0172", "each output column is declared once, as `out_column = [input_column, ...]`"
                      if a.name else "a declared column needs its name", a.span, help=shape)
            ok = False
            continue
        if output is not None and a.name not in output:
            ctx.error("E0170", f"`{a.name}` is not a column of the function's output", a.name_span or a.span,
                      label="not in `schema`", help=did_you_mean(a.name, output.names),
                      notes=[f"output columns: {listing(output.names)}"])
            ok = False
        sources: list[str] = []
        for item in list_items(a.value):
            if not isinstance(item, ast.ColumnRef):
                ctx.error("E0172", "the inputs of a declared column are input column names", item.span, help=shape)
                ok = False
            elif item.name not in inputs:
                ctx.error("E0171", f"`{item.name}` is not a column of {ctx.input_name}", item.span,
                          label="not an input column", help=did_you_mean(item.name, inputs.names),
                          notes=[f"input columns: {listing(inputs.names)}"])
                ok = False
            elif item.name not in sources:
                sources.append(item.name)
        declared[a.name] = sources
    return declared if ok else None


def _lineage(args: PythonArgs, inputs) -> flow.ColumnFlow | None:
    """What the user declared: each declared column is DIRECT TRANSFORMATION of its input
    columns (the function's code is not seen, so not IDENTITY); the other columns, and what
    chose the rows, are unknown."""
    if args.lineage is None:
        return None
    names = flow.column_names(TableType(schema_=args.schema_))
    return flow.ColumnFlow(
        {n: flow.on_columns(args.lineage.get(n, ()), flow.DIRECT, flow.TRANSFORMATION) for n in names},
        unknown=tuple(n for n in names if n not in args.lineage), rows_known=False)


# The function gets the whole frame, so it needs every column (the default `needs`).
STEPS = [Step(
    "python", _python, "table", ("function",), ("schema",), named_items=True, required=("function", "schema"),
    args=PythonArgs, signature='python("module:function", schema=S, option=value)',
    doc="Transform the table with a Python function that declares its output schema.",
    eager=True, user_code=True, deterministic=False, seconds_per_row=1e-6,
    argument_values={"schema": "schema"}, lineage=_lineage, reusable=lambda args: args.cache is not False,
)]
