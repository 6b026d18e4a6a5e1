"""Typed pipec expressions → PySpark Column source text, with the semantics of docs/semantics.md.

The text uses `F` (pyspark.sql.functions), `params` (the run's param values) and a few Column
helpers of the embedded runtime (`floor_divide`, `python_mod`, `trim_whitespace`), which build
their Columns from Spark SQL functions too: no Python UDF is ever involved. Spark 4 runs in ANSI
mode, so every operation that could raise (division, modulo, casts from text) uses its `try_`
form or a guard, giving null as the semantics require.

>>> from pipec.compiler.ir import lit
>>> column(lit(2.5))
'F.lit(2.5)'
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import math
import re
from typing import Iterator

from pipec.compiler.ast import (Binary, Call, ColumnRef, Expr, InList, IsNull, ListExpr, Literal_,
                                ParamRef, RunRef, Unary)
from pipec.grammar.format import format_expr as describe  # `.pipe` syntax for messages
from pipec.runtime_contract import run_key

SPARK_TYPE_NAMES = {"int": "bigint", "float": "double", "bool": "boolean", "str": "string",
                    "date": "date", "timestamp": "timestamp"}

AGGREGATES = {
    "count": "F.count", "count_distinct": "F.count_distinct", "sum": "float_sum", "mean": "float_mean",
    "min": "F.min", "max": "F.max", "std": "float_std", "var": "float_var", "median": "float_median",
}
_NUMERIC_AGGREGATES = frozenset({"sum", "mean", "std", "var", "median"})  # a bool counts as 0 / 1

_CHECKED_INT_OPERATORS = frozenset({"+", "-", "*"})  # int64 overflow is an error (int_arithmetic)

_STEP: contextvars.ContextVar[str] = contextvars.ContextVar("step", default="expression")


@contextlib.contextmanager
def in_step(step: str) -> Iterator[None]:
    """Name `step` in the run-time errors of the expressions translated inside the block."""
    token = _STEP.set(step)
    try:
        yield
    finally:
        _STEP.reset(token)


def _overflow_message(expr: Expr) -> str:
    """The error's text as a Python literal, split into short lines when long."""
    where = f"{expr.span.file}:{expr.span.line}:{expr.span.column}"
    text = f"integer overflow in {_STEP.get()} at {where}: {describe(expr)}"
    parts = [py_literal(text[i:i + 60]) for i in range(0, len(text), 60)]
    return parts[0] if len(parts) == 1 else "(\n" + "".join(f"    {p}\n" for p in parts) + ")"

_SIMPLE_FUNCTIONS = {  # name -> PySpark function taking the same arguments in the same order
    "abs": "F.abs", "exp": "F.exp", "pow": "F.pow", "log": "ieee_ln", "log10": "ieee_log10",  # IEEE 754 outside the domain, as numpy
    "lower": "F.lower", "upper": "F.upper", "length": "F.char_length", "trim": "trim_whitespace",
    "concat": "F.concat", "coalesce": "F.coalesce", "year": "F.year", "month": "F.month",
    "day": "F.dayofmonth", "hour": "F.hour", "date": "F.to_date",
}

_COLUMN_METHODS = {"contains": "contains", "starts_with": "startswith", "ends_with": "endswith"}

_PYTHON_OPERATORS = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
                     "+": "+", "-": "-", "*": "*", "and": "&", "or": "|"}


def py_literal(value: object) -> str:
    """A Python literal for `value`, double-quoted as black writes it; safe for any user string."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and not math.isfinite(value):
        return f'float("{value}")'
    if isinstance(value, (list, tuple)):
        items = ", ".join(py_literal(v) for v in value)
        return f"[{items}]" if isinstance(value, list) else f"({items}{',' if len(value) == 1 else ''})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


class UnsupportedExpression(ValueError):
    """An expression the Spark backend cannot translate (reported as a compile diagnostic)."""

    def __init__(self, message: str, expr: Expr | None = None):
        super().__init__(message)
        self.span = expr.span if expr is not None else None


def column_name(name: str) -> str:
    """`F.col(...)` source for a column; names that are not identifiers are backtick-quoted."""
    quoted = name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else "`" + name.replace("`", "``") + "`"
    return f"F.col({py_literal(quoted)})"


def value(expr: Expr) -> str:
    """Python source for a constant argument (a literal, a param, or a list of them)."""
    if isinstance(expr, Literal_):
        return py_literal(expr.value)
    if isinstance(expr, ParamRef):
        return f"params[{py_literal(expr.name)}]"
    if isinstance(expr, ListExpr):
        return "[" + ", ".join(value(item) for item in expr.items) + "]"
    if isinstance(expr, Unary) and expr.op == "-":
        return f"-{value(expr.operand)}"
    raise UnsupportedExpression(f"expected a constant (a literal or a $param), got {describe(expr)}", expr)


def column(expr: Expr) -> str:
    """PySpark Column source text for `expr`."""
    if isinstance(expr, ColumnRef):
        return column_name(expr.name)
    if isinstance(expr, Literal_):
        if expr.value is None:
            target = SPARK_TYPE_NAMES[expr.type.base] if expr.type else None
            return f"F.lit(None).cast({py_literal(target)})" if target else "F.lit(None)"
        return f"F.lit({py_literal(expr.value)})"
    if isinstance(expr, ParamRef):
        return f"F.lit(params[{py_literal(expr.name)}])"
    if isinstance(expr, RunRef):  # the job holds run values as a date / an aware UTC datetime
        return f"F.lit(params[{py_literal(run_key(expr.field))}])"
    if isinstance(expr, Unary):
        inner = _operand(expr.operand, bare_literals=False)
        if expr.op == "not":
            return f"~{inner}"
        if expr.type and expr.type.base == "int":  # -(-2**63) leaves int64 too
            return f'int_arithmetic("-", F.lit(0), {inner}, {_overflow_message(expr)})'
        return f"-{inner}"
    if isinstance(expr, Binary):
        return _binary(expr)
    if isinstance(expr, IsNull):
        return f"{_operand(expr.operand, bare_literals=False)}.{'isNotNull' if expr.negated else 'isNull'}()"
    if isinstance(expr, InList):
        items = ", ".join(_operand(item, bare_literals=True) for item in expr.items)
        return f"{_operand(expr.operand, bare_literals=False)}.isin({items})"
    if isinstance(expr, Call):
        return _call(expr)
    raise UnsupportedExpression(f"{describe(expr)} is not a value expression", expr)


def _is_plain_literal(expr: Expr) -> bool:
    return isinstance(expr, Literal_) and expr.value is not None


def _operand(expr: Expr, *, bare_literals: bool) -> str:
    """An operand of a Python operator: parenthesised if compound, a bare Python literal if allowed
    (Spark coerces it to the other side's type, which keeps `F.col("x") > 15` readable)."""
    if bare_literals and _is_plain_literal(expr):
        return py_literal(expr.value)
    text = column(expr)
    return f"({text})" if isinstance(expr, (Binary, Unary)) else text


def _binary(expr: Binary) -> str:
    left, right = expr.left, expr.right
    if expr.op == "/":
        return f"ieee_divide({column(left)}, {column(right)})"
    if expr.op == "//":
        function = "float_floor_divide" if expr.type and expr.type.base == "float" else "floor_divide"
        return f"{function}({column(left)}, {column(right)})"
    if expr.op == "%":
        return f"python_mod({column(left)}, {column(right)})"
    if expr.op in _CHECKED_INT_OPERATORS and expr.type and expr.type.base == "int":
        return f"int_arithmetic({py_literal(expr.op)}, {column(left)}, {column(right)}, {_overflow_message(expr)})"
    operator = _PYTHON_OPERATORS[expr.op]
    # A bare literal is fine on either side of a Python operator, as long as the other side is a Column.
    left_bare = expr.op not in ("and", "or") and not _is_plain_literal(right)
    right_bare = expr.op not in ("and", "or")
    return f"{_operand(left, bare_literals=left_bare)} {operator} {_operand(right, bare_literals=right_bare)}"


def _call(call: Call) -> str:
    name, args = call.name, call.positional()
    texts = [column(a) for a in args]
    if name in AGGREGATES:
        if name == "count" and not args:
            return "F.count(F.lit(1))"
        base = args[0].type.base if args[0].type else None
        operand = f'{_operand(args[0], bare_literals=False)}.cast("bigint")' if (
            base == "bool" and name in _NUMERIC_AGGREGATES) else texts[0]
        if name == "sum" and base in ("int", "bool"):
            return f"exact_sum({operand}, {_overflow_message(call)})"
        return f"{AGGREGATES[name]}({operand})"
    if name == "row_count":
        return "F.count(F.lit(1))"
    if name in _SIMPLE_FUNCTIONS:
        return f"{_SIMPLE_FUNCTIONS[name]}({', '.join(texts)})"
    if name in _COLUMN_METHODS:
        return f"{_operand(args[0], bare_literals=False)}.{_COLUMN_METHODS[name]}({_operand(args[1], bare_literals=True)})"
    if name == "round":
        digits = value(args[1]) if len(args) > 1 else (value(call.keyword("digits").value) if call.keyword("digits") else "0")
        if args[0].type and args[0].type.base == "int":
            return texts[0]  # an int is already round (and keeps its type)
        return f"round_half_away({texts[0]}, {digits})"
    if name in ("floor", "ceil"):
        if args[0].type and args[0].type.base == "int":
            return texts[0]  # floor/ceil of an int is the int
        return f"float_{name}({texts[0]})"  # Spark's gives bigint; pipec keeps float
    if name == "sqrt":
        return f"F.sqrt({texts[0]})"  # NaN for negative input, as IEEE 754
    if name == "substr":
        if all(_is_plain_literal(a) for a in args[1:]):
            return f"F.substring({texts[0]}, {py_literal(args[1].value)}, {py_literal(args[2].value)})"
        return f"{_operand(args[0], bare_literals=False)}.substr({texts[1]}, {texts[2]})"
    if name == "replace":  # F.replace matches literal text and replaces every occurrence
        return f"F.replace({', '.join(texts)})"
    if name == "if":
        return f"F.when({texts[0]}, {texts[1]}).otherwise({texts[2]})"
    if name == "weekday":
        return f"F.weekday({texts[0]}) + 1"  # Spark: Monday = 0; ISO: Monday = 1
    if name == "cast":
        return _cast(args[0], call)
    raise UnsupportedExpression(f"function {name}() is not supported by the Spark backend", call)


def _cast(operand: Expr, call: Call) -> str:
    source = operand.type.base if operand.type else None
    target = call.type.base if call.type else None
    text = column(operand)
    if target is None or source == target:
        return text
    if target == "str" and source == "timestamp":
        return f"timestamp_text({text})"
    if target == "str" and source == "float":
        return f"float_text({text})"
    if target == "str" and source == "bool":
        return f'F.when({_operand(operand, bare_literals=False)}, F.lit("true")).otherwise(F.lit("false"))'
    # Text, and floats going to int, may not convert: try_cast gives null instead of an ANSI error.
    method = "try_cast" if source == "str" or (source == "float" and target == "int") else "cast"
    return f"{_operand(operand, bare_literals=False)}.{method}({py_literal(SPARK_TYPE_NAMES[target])})"


# ---------------------------------------------------------------- describing expressions
def observed_values(condition: Expr) -> list[Expr]:
    """The parts of an `expect` condition worth reporting when it fails: aggregates, `row_count()`
    and metric names (the maximal sub-expressions that are not literals or operators)."""
    if isinstance(condition, ColumnRef) or (isinstance(condition, Call) and
                                            (condition.name in AGGREGATES or condition.name == "row_count")):
        return [condition]
    children: list[Expr] = []
    if isinstance(condition, Binary):
        children = [condition.left, condition.right]
    elif isinstance(condition, (Unary, IsNull)):
        children = [condition.operand]
    elif isinstance(condition, InList):
        children = [condition.operand]
    elif isinstance(condition, Call):
        children = condition.positional()
    found: list[Expr] = []
    for child in children:
        for item in observed_values(child):
            if describe(item) not in {describe(f) for f in found}:
                found.append(item)
    return found
