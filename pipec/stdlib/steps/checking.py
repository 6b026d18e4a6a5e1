"""The checks that typing rules share: string, literal and bounded arguments, column names,
schemas, `name = expr` items, and the error for a value of the wrong kind."""
from __future__ import annotations

import re
from typing import Callable

from pipec.compiler import ast
from pipec.compiler.arguments import lit
from pipec.compiler.diagnostics import Diagnostics
from pipec.compiler.expressions import NULL, Mode, check_expr, unknown_column, unknown_run_field
from pipec.compiler.schemas import schema_from_fields
from pipec.compiler.suggest import did_you_mean, listing
from pipec.compiler.types import ColumnType, ParamType, Schema, TableType
from pipec.runtime_contract import RUN_FIELDS, RUN_PREFIX, Bound
from pipec.stdlib.steps.spec import StepContext


def string_arg(ctx: StepContext, e: ast.Expr, what: str) -> str | None:
    """A string literal argument; `$p` becomes the template `${p}`. Unknown `${x}` are errors."""
    if isinstance(e, ast.ParamRef):
        e = ast.Literal_(span=e.span, value="${" + e.name + "}", literal_type="str")
    if not (isinstance(e, ast.Literal_) and e.literal_type == "str"):
        ctx.error("E0304", f"{what} must be a string", e.span, help='write it in quotes, e.g. "out/x.csv"')
        return None
    return e.value if check_interpolation(e, ctx.params, ctx.diags) else None


_INTERP = re.compile(r"\$\{([^}]*)\}")


def check_interpolation(e: ast.Literal_, params: dict[str, ParamType], diags: Diagnostics) -> bool:
    ok = True
    for m in _INTERP.finditer(e.value):
        name = m.group(1)
        if name.startswith(RUN_PREFIX):
            if name[len(RUN_PREFIX):] not in RUN_FIELDS:
                unknown_run_field(diags, name[len(RUN_PREFIX):], e.span)
                ok = False
        elif name not in params:
            diags.error("E0123", f"unknown parameter `${{{name}}}` in a string", e.span,
                        help=did_you_mean(name, params) or "declare it: `param name: type = default`")
            ok = False
    return ok


def value_arg(ctx: StepContext, e: ast.Expr, want: str, what: str) -> ast.Expr | None:
    """A literal or `$param` scalar argument of type `want` (int also fits float)."""
    if isinstance(e, (ast.Literal_, ast.ParamRef)) or (isinstance(e, ast.Unary) and e.op == "-"
                                                      and isinstance(e.operand, ast.Literal_)):
        t = check_expr(e, ctx.expr_ctx(Schema()))
        if t is None:
            return None
        if t is not NULL and (t.base == want or (want == "float" and t.base == "int")):
            return e
        ctx.error("E0304", f"{what} must be {'an' if want == 'int' else 'a'} {want}, not {t if t is not NULL else 'null'}",
                  e.span)
        return None
    ctx.error("E0304", f"{what} must be a literal {want} or a `$parameter`", e.span)
    return None


def bounded_arg(ctx: StepContext, e: ast.Expr, want: str, what: str, bound: Bound,
                help: str | None = None) -> ast.Expr | None:
    """`value_arg` whose value must also lie in `bound` (the runtime contract's). A `$param` is checked with the value it
    has in this check (its `-p` override, else its default), so a value that reaches a backend
    never needs the backend's own check; a bad override is E0124 (a bad command line)."""
    v = value_arg(ctx, e, want, what)
    if v is None:
        return None
    if isinstance(v, ast.ParamRef):
        value, origin, label = ctx.resolver.param_value(v.name)
        if isinstance(value, (int, float)) and not bound.accepts(value):
            ctx.diags.error("E0124" if label is None else "E0304",
                            f"{what} must be {bound.requirement}, but it is `${v.name}`, whose value is {value!r} "
                            f"({origin})", v.span, labels=[label] if label else None,
                            help=help or f"give `${v.name}` a value that is {bound.requirement}")
            return None
        return v
    value = literal_of(v)
    if isinstance(value, (int, float)) and not bound.accepts(value):
        ctx.error("E0304", f"{what} must be {bound.requirement}, not {value}", v.span, help=help)
        return None
    return v


def literal_of(e: ast.Expr) -> object:
    if isinstance(e, ast.Unary) and isinstance(e.operand, ast.Literal_):
        return -e.operand.value
    return e.value if isinstance(e, ast.Literal_) else None


def column_names(ctx: StepContext, exprs: list[ast.Expr], what: str, schema: Schema | None = None) -> list[str] | None:
    """Plain column names (each must exist in `schema`, by default the input's)."""
    schema = ctx.schema if schema is None else schema
    names: list[str] = []
    ok = True
    for e in exprs:
        if not isinstance(e, ast.ColumnRef):
            ctx.error("E0304", f"{what} must be column names", e.span, help="write a bare column name")
            ok = False
        elif e.name not in schema:
            unknown_column(ctx.diags, e.name, e.span, schema, ctx.input_name)
            ok = False
        else:
            e.type = schema.get(e.name)
            names.append(e.name)
    return names if ok else None


PARTITION_TYPES = ("int", "str", "bool", "date")  # values a folder name holds exactly


def partition_columns(ctx: StepContext, e: ast.Expr, schema: Schema) -> list[str] | None:
    """The `partition_by` columns of a source or sink: columns of `schema` of a type a folder name
    holds exactly, each once, and not all of them (a partition's files hold the others). An
    empty list is no partitioning."""
    names = column_names(ctx, list_items(e), "`partition_by`", schema)
    if names is None:
        return None
    for item, name in zip(list_items(e), names):
        base = schema.get(name).base
        if base not in PARTITION_TYPES:
            ctx.error("E0730", f"cannot partition by `{name}`: it is {base}, and a partition's folder name "
                      f"holds only {', '.join(PARTITION_TYPES)} values exactly", item.span,
                      help="derive a date or a string from it first, e.g. `day = date(time_hour)`")
            return None
    if len(set(names)) != len(names) or (names and len(names) == len(schema.fields)):
        ctx.error("E0731", "`partition_by` must name each column once, and not every column "
                  "(the files of a partition hold the others)", e.span)
        return None
    return names


def list_items(e: ast.Expr) -> list[ast.Expr]:
    return list(e.items) if isinstance(e, ast.ListExpr) else [e]


def schema_arg(ctx: StepContext, e: ast.Expr) -> Schema | None:
    if isinstance(e, ast.SchemaLiteral):
        return schema_from_fields(e.fields, ctx.diags)
    if isinstance(e, ast.ColumnRef):
        s = ctx.schemas.get(e.name)
        if s is None:
            ctx.error("E0104", f"unknown schema `{e.name}`", e.span,
                      help=did_you_mean(e.name, ctx.schemas) or "declare it with `schema Name { ... }` or import it",
                      notes=[f"known schemas: {listing(sorted(ctx.schemas))}"] if ctx.schemas else [])
        return s
    ctx.error("E0304", "`schema` must be a schema name or a literal `{column: type, ...}`", e.span)
    return None


def no_duplicates(ctx: StepContext, pairs: list[tuple[str, ast.Node]]) -> bool:
    seen: set[str] = set()
    for name, node in pairs:
        if name in seen:
            ctx.error("E0209", f"the output has two columns named `{name}`", node.span,
                      help="give one of them another name")
            return False
        seen.add(name)
    return True


def table(pairs: list[tuple[str, ColumnType]]) -> TableType:
    return TableType(schema_=Schema.of(pairs))


def named_exprs(ctx: StepContext, items: list[ast.Arg], what: str, mode: Mode = Mode.ROW,
                schema: Schema | None = None, groups_may_be_empty: bool = False,
                ) -> list[tuple[ast.Arg, ColumnType]] | None:
    """`name = expr` items, each typed against the input."""
    out = []
    ok = True
    for a in items:
        if a.name is None:
            ctx.error("E0304", f"{what} must be written `name = expression`", a.span)
            ok = False
            continue
        t = check_expr(a.value, ctx.expr_ctx(ctx.schema if schema is None else schema, mode,
                                             groups_may_be_empty=groups_may_be_empty))
        if t is NULL:
            ctx.error("E0203", f"the type of `{a.name} = null` is unknown", a.value.span,
                      help="write `cast(null, T)` with the type you want")
            t = None
        if t is None:
            ok = False
        else:
            out.append((a, t))
    return out if ok else None


def wrong_input(ctx: StepContext, wanted: str) -> None:
    ctx.error("E0305", f"`{ctx.call.name}` needs {wanted}, but {ctx.input_name} is {ctx.input}",
              ctx.call.name_span, label=f"applied to {ctx.input_name}")
    return None


def seed_arg(ctx: StepContext, e: ast.Expr | None) -> ast.Expr | None:
    """The `seed` of a seeded step, 0 when it is not given."""
    return value_arg(ctx, e, "int", "`seed`") if e is not None else lit(0)


def known_fraction(fraction: ast.Expr, value: Callable[[ast.Expr], object]) -> float:
    """A fraction's value for the cost model (a half when it is not known before the run)."""
    v = value(fraction)
    return float(v) if isinstance(v, (int, float)) else 0.5
