"""Type checking of expressions (LANGUAGE.md section 6) against the schema of a step's input.

`check_expr` fills in the `type` slot of every node it accepts and reports what it does not,
returning None for a sub-expression that failed so that one mistake is reported once.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum

from pipec.compiler import ast
from pipec.compiler.diagnostics import Diagnostics
from pipec.compiler.suggest import did_you_mean, listing
from pipec.compiler.types import BASE_TYPES, ColumnType, ParamType, Schema, col, unify_numeric
from pipec.runtime_contract import RUN_FIELDS
from pipec.stdlib.functions import FUNCTIONS, KNOWN_FUNCTION_NAMES


class Mode(Enum):
    ROW = "row"                    # filter, derive, select, ...: one value per row
    AGGREGATE = "groups"           # aggregate(...): aggregates over groups
    EXPECT_TABLE = "expect_table"  # expect on a table: aggregates and row_count()
    EXPECT_METRICS = "expect_metrics"  # expect on metrics: metric names are the values


# The type of the literal `null` before context gives it one (an object identity marker).
NULL = ColumnType(base="str", nullable=True)

PARAM_TO_COLUMN = {"int": "int", "float": "float", "bool": "bool", "str": "str", "date": "date",
                   "duration": "int"}


@dataclass
class ExprContext:
    schema: Schema
    params: dict[str, ParamType]
    diags: Diagnostics
    what: str = "the input"
    mode: Mode = Mode.ROW
    metrics: tuple[str, ...] = ()
    # Aggregates may see no rows (`aggregate` without `by`, `expect` on a table): then every
    # aggregate but the counts is null, so it is typed nullable.
    groups_may_be_empty: bool = False
    in_aggregate: bool = field(default=False, init=False)


def param_column_type(t: ParamType) -> ColumnType | None:
    base = PARAM_TO_COLUMN.get(t.name)
    return col(base) if base else None


def check_expr(e: ast.Expr, ctx: ExprContext) -> ColumnType | None:
    """Type `e`; returns its type (NULL for a bare `null`) or None after reporting an error."""
    result = _CHECKERS[e.kind](e, ctx)
    if result is not None and result is not NULL:
        e.type = result
    return result


def check_predicate(e: ast.Expr, ctx: ExprContext, step: str) -> ColumnType | None:
    t = check_expr(e, ctx)
    if t is NULL:
        ctx.diags.error("E0208", f"the condition of `{step}` is always null, so it is never true", e.span,
                        help="compare a column, e.g. `x > 0` or `x is not null`")
        return None
    if t is not None and t.base != "bool":
        ctx.diags.error("E0208", f"the condition of `{step}` must be a bool, not {t}", e.span,
                        label=f"this is {t}", help="compare it, e.g. `x > 0` or `x is not null`")
        return None
    return t


def _literal(e: ast.Literal_, ctx: ExprContext) -> ColumnType | None:
    if e.literal_type == "null":
        return NULL
    if e.literal_type == "duration":
        ctx.diags.error("E0203", "a duration cannot be used as a column value", e.span,
                        help=f"write the number of seconds, {e.value}, instead")
        return None
    return col(e.literal_type)


def _column(e: ast.ColumnRef, ctx: ExprContext) -> ColumnType | None:
    if ctx.mode is Mode.EXPECT_METRICS:
        if e.name in ctx.metrics:
            return col("float")
        ctx.diags.error("E0201", f"unknown metric `{e.name}`", e.span, label="not a metric of the input",
                        help=did_you_mean(e.name, ctx.metrics),
                        notes=[f"available metrics: {listing(ctx.metrics)}"])
        return None
    t = ctx.schema.get(e.name)
    if t is None:
        unknown_column(ctx.diags, e.name, e.span, ctx.schema, ctx.what)
        return None
    if ctx.mode in (Mode.AGGREGATE, Mode.EXPECT_TABLE) and not ctx.in_aggregate:
        ctx.diags.error("E0207", f"column `{e.name}` is used outside an aggregate function", e.span,
                        label="one value per row, but this expression gives one value per group",
                        help=f"wrap it in an aggregate such as `max({e.name})`"
                        + (", or list it in `by=`" if ctx.mode is Mode.AGGREGATE else ""))
        return None
    return t


def unknown_column(diags: Diagnostics, name: str, span, schema: Schema, what: str) -> None:
    diags.error("E0201", f"unknown column `{name}`", span, label=f"not a column of {what}",
                help=did_you_mean(name, schema.names),
                notes=[f"available columns: {listing(schema.names)}"])


def _param(e: ast.ParamRef, ctx: ExprContext) -> ColumnType | None:
    t = ctx.params.get(e.name)
    if t is None:
        ctx.diags.error("E0123", f"unknown parameter `${e.name}`", e.span,
                        help=did_you_mean(e.name, ctx.params) or "declare it: `param name: type = default`")
        return None
    ct = param_column_type(t)
    if ct is None:
        ctx.diags.error("E0203", f"parameter `${e.name}` is a {t} and cannot be used as a value here",
                        e.span, help="list parameters can only be used where a list is expected")
    return ct


def _run(e: ast.RunRef, ctx: ExprContext) -> ColumnType | None:
    base = RUN_FIELDS.get(e.field)
    if base is None:
        unknown_run_field(ctx.diags, e.field, e.span)
        return None
    return col(base)


def unknown_run_field(diags: Diagnostics, name: str, span) -> None:
    names = [f"run.{field}" for field in RUN_FIELDS]
    diags.error("E0125", f"unknown run value `run.{name}`", span, label="not a field of the run context",
                help=did_you_mean(f"run.{name}", names), notes=[f"run values: {listing(names)}"])


def _unary(e: ast.Unary, ctx: ExprContext) -> ColumnType | None:
    t = check_expr(e.operand, ctx)
    if t is None:
        return None
    if t is NULL:
        return NULL
    if e.op == "not":
        if t.base != "bool":
            return _operand_error(ctx, e.operand, "not", t, "a bool")
        return t
    if not t.is_numeric:
        return _operand_error(ctx, e.operand, "-", t, "a number")
    return t


def _operand_error(ctx: ExprContext, operand: ast.Expr, op: str, t: ColumnType, wanted: str,
                   help: str | None = None) -> None:
    ctx.diags.error("E0202", f"`{op}` needs {wanted}, but this is {t}", operand.span,
                    label=f"this is {t}", help=help)
    return None


_ARITH = {"+", "-", "*", "/", "//", "%"}
_COMPARE = {"==", "!=", "<", "<=", ">", ">="}


def _binary(e: ast.Binary, ctx: ExprContext) -> ColumnType | None:
    lt, rt = check_expr(e.left, ctx), check_expr(e.right, ctx)
    if lt is None or rt is None:
        return None
    if e.op in ("and", "or"):
        for side, t in ((e.left, lt), (e.right, rt)):
            if t is not NULL and t.base != "bool":
                return _operand_error(ctx, side, e.op, t, "bool operands",
                                      help="compare it first, e.g. `x > 0`")
        return col("bool", lt is NULL or rt is NULL or lt.nullable or rt.nullable)
    if lt is NULL or rt is NULL:
        if e.op in _COMPARE:
            ctx.diags.error("E0202", f"comparing with `null` with `{e.op}` is never true", e.span,
                            help="use `x is null` or `x is not null`")
            return None
        other = rt if lt is NULL else lt
        return NULL if other is NULL else other.with_nullable(True)
    nullable = lt.nullable or rt.nullable
    if e.op in _ARITH:
        if e.op == "+" and lt.base == "str" and rt.base == "str":
            ctx.diags.error("E0202", "`+` does not join strings", e.span,
                            help="use `concat(a, b)`")
            return None
        for side, t in ((e.left, lt), (e.right, rt)):
            if not t.is_numeric:
                return _operand_error(ctx, side, e.op, t, "numbers",
                                      help="convert it with `cast(x, float)`" if t.base in ("str", "bool") else None)
        if e.op == "/":
            return col("float", nullable)
        base = "int" if lt.base == rt.base == "int" else "float"
        return col(base, nullable or (e.op in ("//", "%") and not _nonzero_literal(e.right)))
    # comparisons
    _coerce_temporal_literal(e, lt, rt, ctx)
    lt, rt = e.left.type or lt, e.right.type or rt
    if unify_numeric(lt, rt) is None:
        ctx.diags.error("E0202", f"cannot compare {lt} with {rt}", e.span,
                        label=f"{lt} {e.op} {rt}", help="convert one side with `cast(x, T)`")
        return None
    if lt.base == "bool" and e.op not in ("==", "!="):
        ctx.diags.error("E0202", f"bools cannot be ordered with `{e.op}`", e.span)
        return None
    return col("bool", nullable)


def _nonzero_literal(e: ast.Expr) -> bool:
    return isinstance(e, ast.Literal_) and e.literal_type in ("int", "float") and e.value != 0


def _coerce_temporal_literal(e: ast.Binary, lt: ColumnType, rt: ColumnType, ctx: ExprContext) -> None:
    """Let `time_hour >= "2013-06-01"` compare a date/timestamp with a string literal by turning
    the literal into `cast("...", T)` once it is known to parse."""
    for side_name, this, other in (("left", lt, rt), ("right", rt, lt)):
        side = getattr(e, side_name)
        if this.base == "str" and other.base in ("date", "timestamp") and isinstance(side, ast.Literal_):
            if parse_temporal(side.value, other.base) is None:
                ctx.diags.error("E0203", f"`{side.value}` is not a valid {other.base}", side.span,
                                help="write dates as \"2013-06-01\" and timestamps as \"2013-06-01T10:00:00Z\"")
                return
            setattr(e, side_name, typed_cast(side, other.base))


def typed_cast(value: ast.Expr, base: str) -> ast.Call:
    target = ast.ColumnRef(span=value.span, name=base)
    return ast.Call(span=value.span, name="cast", name_span=value.span, type=col(base),
                    args=[ast.Arg(span=value.span, value=value), ast.Arg(span=value.span, value=target)])


def parse_temporal(text: str, base: str) -> dt.date | dt.datetime | None:
    try:
        if base == "date":
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, TypeError):
        return None


def _is_null(e: ast.IsNull, ctx: ExprContext) -> ColumnType | None:
    t = check_expr(e.operand, ctx)
    return None if t is None else col("bool")


def _in_list(e: ast.InList, ctx: ExprContext) -> ColumnType | None:
    t = check_expr(e.operand, ctx)
    item_types = [check_expr(i, ctx) for i in e.items]
    if t is None or t is NULL or any(it is None for it in item_types):
        return None
    for item, it in zip(e.items, item_types):
        if it is not NULL and unify_numeric(t, it) is None:
            ctx.diags.error("E0202", f"`in` compares {t} with a list holding {it}", item.span,
                            label=f"this is {it}")
            return None
    return col("bool", t.nullable)


def _list(e: ast.ListExpr, ctx: ExprContext) -> ColumnType | None:
    ctx.diags.error("E0203", "a list is not a column value", e.span,
                    help="lists are written after `in`, e.g. `origin in [\"JFK\", \"LGA\"]`")
    return None


def _schema(e: ast.SchemaLiteral, ctx: ExprContext) -> ColumnType | None:
    ctx.diags.error("E0203", "a schema is not a column value", e.span)
    return None


def _call(e: ast.Call, ctx: ExprContext) -> ColumnType | None:
    for a in e.args:
        if a.name is not None:
            ctx.diags.error("E0205", f"`{e.name}` takes no named arguments", a.span,
                            help=f"write `{e.name}(...)` with positional arguments")
            return None
    if e.name == "cast":
        return _cast(e, ctx)
    if e.name == "row_count":
        return _row_count(e, ctx)
    fn = FUNCTIONS.get(e.name)
    if fn is None:
        from pipec.stdlib.steps import STEPS  # a step name used inside an expression
        note = [f"`{e.name}` is a step: use it in a chain, `| {e.name}(...)`"] if e.name in STEPS else []
        ctx.diags.error("E0204", f"unknown function `{e.name}`", e.name_span,
                        help=did_you_mean(e.name, KNOWN_FUNCTION_NAMES), notes=note)
        return None
    if not _arity_ok(e, fn.min_args, fn.max_args, fn.signature, ctx):
        return None
    if fn.aggregate:
        return _aggregate(e, fn, ctx)
    if e.name == "round" and len(e.args) == 2 and not _is_constant(e.args[1].value):
        ctx.diags.error("E0210", "the digits of `round` must be a constant: an int literal or a `$parameter`",
                        e.args[1].value.span, label="not a constant",
                        help="write `round(x, 2)` or `round(x, $digits)`")
        return None
    args = [check_expr(a.value, ctx) for a in e.args]
    if any(a is None for a in args):
        return None
    typed = [a for a in args if a is not NULL]
    if not typed:
        return NULL
    if e.name in ("coalesce", "if"):
        if e.name == "if" and args[0] is NULL:
            args[0] = col("bool", True)
        return _apply(fn, e, [a if a is not NULL else _null_like(typed) for a in args], ctx)
    nullish = any(a is NULL for a in args)
    result = _apply(fn, e, [a if a is not NULL else _null_like(typed) for a in args], ctx)
    return result.with_nullable(True) if result is not None and nullish else result


def _is_constant(e: ast.Expr) -> bool:
    """A literal, a `$param`, or a negated literal: a value fixed for the whole run."""
    if isinstance(e, ast.Unary) and e.op == "-":
        e = e.operand
    return isinstance(e, (ast.Literal_, ast.ParamRef))


def _null_like(typed: list[ColumnType]) -> ColumnType:
    return typed[-1].with_nullable(True)


def _apply(fn, e: ast.Call, args: list[ColumnType], ctx: ExprContext) -> ColumnType | None:
    result = fn.rule(args)
    if isinstance(result, str):
        got = ", ".join(map(str, args))
        ctx.diags.error("E0203", f"`{e.name}` expects {result}, but got ({got})", e.span,
                        label=f"`{fn.signature}`")
        return None
    return result


def _arity_ok(e: ast.Call, lo: int, hi: int | None, signature: str, ctx: ExprContext) -> bool:
    n = len(e.args)
    if n < lo or (hi is not None and n > hi):
        want = f"{lo}" if lo == hi else (f"{lo} to {hi}" if hi is not None else f"at least {lo}")
        ctx.diags.error("E0205", f"`{e.name}` takes {want} argument{'s' if want != '1' else ''}, "
                        f"but {n} {'was' if n == 1 else 'were'} given", e.span,
                        help=f"write it as `{signature}`")
        return False
    return True


def _aggregate(e: ast.Call, fn, ctx: ExprContext) -> ColumnType | None:
    if ctx.mode is Mode.ROW or ctx.mode is Mode.EXPECT_METRICS:
        ctx.diags.error("E0206", f"the aggregate `{e.name}` can only be used inside `aggregate(...)` "
                        "or `expect(...)` on a table", e.name_span,
                        help="compute it with `| aggregate(by=[...], name = " + e.name + "(...))`")
        return None
    if ctx.in_aggregate:
        ctx.diags.error("E0206", f"aggregates cannot be nested: `{e.name}` is inside another aggregate",
                        e.name_span)
        return None
    ctx.in_aggregate = True
    try:
        args = [check_expr(a.value, ctx) for a in e.args]
    finally:
        ctx.in_aggregate = False
    if any(a is None or a is NULL for a in args):
        return None
    result = _apply(fn, e, args, ctx)
    if result is not None and ctx.groups_may_be_empty and fn.name not in COUNTS:
        return result.with_nullable(True)
    return result


COUNTS = ("count", "count_distinct")


def _row_count(e: ast.Call, ctx: ExprContext) -> ColumnType | None:
    if ctx.mode is not Mode.EXPECT_TABLE:
        ctx.diags.error("E0206", "`row_count()` can only be used in `expect(...)` on a table", e.span,
                        help="count rows with `| aggregate(n = count())`")
        return None
    if e.args:
        ctx.diags.error("E0205", "`row_count` takes no arguments", e.span, help="write `row_count()`")
        return None
    return col("int")


def _cast(e: ast.Call, ctx: ExprContext) -> ColumnType | None:
    if not _arity_ok(e, 2, 2, "cast(x, T)", ctx):
        return None
    target = e.args[1].value
    if not isinstance(target, ast.ColumnRef) or target.name not in BASE_TYPES:
        name = target.name if isinstance(target, ast.ColumnRef) else None
        ctx.diags.error("E0121", "the second argument of `cast` must be a type", target.span,
                        help=(did_you_mean(name, BASE_TYPES) if name else None)
                        or f"one of: {', '.join(BASE_TYPES)}")
        return None
    t = check_expr(e.args[0].value, ctx)
    if t is None:
        return None
    target.type = col(target.name)
    if t is NULL:
        return col(target.name, True)
    may_fail = t.base == "str" and target.name != "str"
    return col(target.name, t.nullable or may_fail)


_CHECKERS = {
    "literal": _literal, "column": _column, "param": _param, "run": _run, "unary": _unary, "binary": _binary,
    "is_null": _is_null, "in": _in_list, "list": _list, "schema": _schema, "call": _call,
}


def conjuncts(e: ast.Expr) -> list[ast.Expr]:
    """Split `a and b and c` into its parts (used for null narrowing and predicate pushdown)."""
    if isinstance(e, ast.Binary) and e.op == "and":
        return conjuncts(e.left) + conjuncts(e.right)
    return [e]


def columns_of(*exprs: ast.Expr) -> set[str]:
    """Every input column the expressions read."""
    found: set[str] = set()
    stack = list(exprs)
    while stack:
        e = stack.pop()
        if isinstance(e, ast.ColumnRef):
            found.add(e.name)
        stack.extend(children(e))
    return found


def children(e: ast.Expr) -> list[ast.Expr]:
    """The sub-expressions evaluated as values (the type argument of `cast` is not one)."""
    if isinstance(e, (ast.Unary, ast.IsNull)):
        return [e.operand]
    if isinstance(e, ast.Binary):
        return [e.left, e.right]
    if isinstance(e, ast.InList):
        return [e.operand, *e.items]
    if isinstance(e, ast.ListExpr):
        return list(e.items)
    if isinstance(e, ast.Call):
        values = [a.value for a in e.args]
        return values[:1] if e.name == "cast" else values
    return []


def rename_columns(expr: ast.Expr, mapping: dict[str, str]) -> ast.Expr:
    """`expr` reading column `mapping[c]` wherever it read `c` (a copy; the input is untouched)."""
    if isinstance(expr, ast.ColumnRef):
        return expr.model_copy(update={"name": mapping.get(expr.name, expr.name)})
    if isinstance(expr, (ast.Unary, ast.IsNull)):
        return expr.model_copy(update={"operand": rename_columns(expr.operand, mapping)})
    if isinstance(expr, ast.Binary):
        return expr.model_copy(update={"left": rename_columns(expr.left, mapping),
                                       "right": rename_columns(expr.right, mapping)})
    if isinstance(expr, ast.InList):
        return expr.model_copy(update={"operand": rename_columns(expr.operand, mapping),
                                       "items": [rename_columns(i, mapping) for i in expr.items]})
    if isinstance(expr, ast.ListExpr):
        return expr.model_copy(update={"items": [rename_columns(i, mapping) for i in expr.items]})
    if isinstance(expr, ast.Call):
        args = [a if (expr.name == "cast" and k > 0) else
                a.model_copy(update={"value": rename_columns(a.value, mapping)})
                for k, a in enumerate(expr.args)]
        return expr.model_copy(update={"args": args})
    return expr
