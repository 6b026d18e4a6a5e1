"""`python("module:function", schema=S, option=value, cache=false)`: the table transformed by a
function of the user's project, which declares its output schema. `cache=false` (a function with
side effects or a result that is not a function of its input) is never reused by incremental runs."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

from pipec.compiler import ast
from pipec.compiler.arguments import NamedExpr
from pipec.compiler.expressions import check_expr
from pipec.compiler.types import Schema, TableType
from pipec.stdlib.steps.checking import schema_arg, string_arg
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext


class PythonArgs(BaseModel):
    step: Literal["python"] = "python"
    function: str
    schema_: Schema
    options: list[NamedExpr] = []
    cache: bool | None = None  # False: never reused; None, the default: reused (absent from the IR JSON)


_FUNCTION_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def _python(ctx: StepContext, b: BoundArgs) -> Result | None:
    fn = string_arg(ctx, b.get("function"), "the function")
    if fn is not None and not _FUNCTION_REF.match(fn):
        ctx.error("E0304", f"`{fn}` is not a function reference", b.get("function").span,
                  help='write it as "package.module:function"')
        fn = None
    schema = schema_arg(ctx, b.get("schema"))
    options: list[NamedExpr] = []
    cache: bool | None = None
    for a in b.items:
        if a.name is None:
            ctx.error("E0302", "`python` takes its options as `name = value`", a.span)
            return None
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
    return PythonArgs(function=fn, schema_=schema, options=options, cache=cache), TableType(schema_=schema)


# The function gets the whole frame, so it needs every column (the default `needs`).
STEPS = [Step(
    "python", _python, "table", ("function",), ("schema",), named_items=True, required=("function", "schema"),
    args=PythonArgs, signature='python("module:function", schema=S, option=value)',
    doc="Transform the table with a Python function that declares its output schema.",
    eager=True, user_code=True, deterministic=False, seconds_per_row=1e-6,
    argument_values={"schema": "schema"}, reusable=lambda args: args.cache is not False,
)]
