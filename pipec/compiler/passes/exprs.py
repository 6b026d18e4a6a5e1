"""Column-level views of expressions that several passes share: which columns an expression reads,
its conjuncts, the same expression over renamed columns, and a one-line rendering for `explain`."""
from __future__ import annotations

import json

from pipec.compiler.ast import (Binary, Call, ColumnRef, Expr, InList, IsNull, ListExpr, Literal_,
                                ParamRef, Unary)
from pipec.compiler.types import ColumnType


def children(expr: Expr) -> list[Expr]:
    """The sub-expressions that are evaluated as values (the type argument of `cast` is not one)."""
    if isinstance(expr, (Unary, IsNull)):
        return [expr.operand]
    if isinstance(expr, Binary):
        return [expr.left, expr.right]
    if isinstance(expr, InList):
        return [expr.operand, *expr.items]
    if isinstance(expr, ListExpr):
        return list(expr.items)
    if isinstance(expr, Call):
        values = [a.value for a in expr.args]
        return values[:1] if expr.name == "cast" else values
    return []


def columns_used(*exprs: Expr) -> set[str]:
    """Every input column the expressions read."""
    found: set[str] = set()
    stack = list(exprs)
    while stack:
        e = stack.pop()
        if isinstance(e, ColumnRef):
            found.add(e.name)
        stack.extend(children(e))
    return found


def rename_columns(expr: Expr, mapping: dict[str, str]) -> Expr:
    """`expr` reading column `mapping[c]` wherever it read `c` (a copy; the input is untouched)."""
    if isinstance(expr, ColumnRef):
        return expr.model_copy(update={"name": mapping.get(expr.name, expr.name)})
    if isinstance(expr, (Unary, IsNull)):
        return expr.model_copy(update={"operand": rename_columns(expr.operand, mapping)})
    if isinstance(expr, Binary):
        return expr.model_copy(update={"left": rename_columns(expr.left, mapping),
                                       "right": rename_columns(expr.right, mapping)})
    if isinstance(expr, InList):
        return expr.model_copy(update={"operand": rename_columns(expr.operand, mapping),
                                       "items": [rename_columns(i, mapping) for i in expr.items]})
    if isinstance(expr, ListExpr):
        return expr.model_copy(update={"items": [rename_columns(i, mapping) for i in expr.items]})
    if isinstance(expr, Call):
        args = [a if (expr.name == "cast" and k > 0) else
                a.model_copy(update={"value": rename_columns(a.value, mapping)})
                for k, a in enumerate(expr.args)]
        return expr.model_copy(update={"args": args})
    return expr


def conjuncts(expr: Expr) -> list[Expr]:
    """`a and (b and c)` as `[a, b, c]`: each part can be moved on its own."""
    if isinstance(expr, Binary) and expr.op == "and":
        return conjuncts(expr.left) + conjuncts(expr.right)
    return [expr]


def conjoin(parts: list[Expr]) -> Expr:
    """The inverse of `conjuncts`: `[a, b, c]` as `(a and b) and c`."""
    result = parts[0]
    for part in parts[1:]:
        nullable = bool((result.type and result.type.nullable) or (part.type and part.type.nullable))
        result = Binary(span=result.span, op="and", left=result, right=part,
                        type=ColumnType(base="bool", nullable=nullable))
    return result


def not_null_column(conjunct: Expr) -> str | None:
    """The column of a conjunct `x is not null`, which makes `x` non-nullable after the filter."""
    if isinstance(conjunct, IsNull) and conjunct.negated and isinstance(conjunct.operand, ColumnRef):
        return conjunct.operand.name
    return None


_PRECEDENCE = {"or": 1, "and": 2, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
               "+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6}


def _literal_text(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # the same escapes as `.pipe` strings: \" \\ \n
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def expr_text(expr: Expr, parent: int = 0) -> str:
    """The expression in `.pipe` syntax, parenthesised only where precedence needs it."""
    if isinstance(expr, Literal_):
        return expr.text if expr.text is not None else _literal_text(expr.value)
    if isinstance(expr, ColumnRef):
        return f"`{expr.name}`" if expr.quoted else expr.name
    if isinstance(expr, ParamRef):
        return f"${expr.name}"
    if isinstance(expr, ListExpr):
        return "[" + ", ".join(expr_text(i) for i in expr.items) + "]"
    if isinstance(expr, Call):
        args = ", ".join((f"{a.name}=" if a.name else "") + expr_text(a.value) for a in expr.args)
        return f"{expr.name}({args})"
    if isinstance(expr, IsNull):
        text, own = f"{expr_text(expr.operand, 4)} is {'not ' if expr.negated else ''}null", 4
    elif isinstance(expr, InList):
        text, own = f"{expr_text(expr.operand, 4)} in [{', '.join(expr_text(i) for i in expr.items)}]", 4
    elif isinstance(expr, Unary):
        own = 3 if expr.op == "not" else 7
        text = f"not {expr_text(expr.operand, own)}" if expr.op == "not" else f"-{expr_text(expr.operand, own)}"
    elif isinstance(expr, Binary):
        own = _PRECEDENCE[expr.op]
        text = f"{expr_text(expr.left, own)} {expr.op} {expr_text(expr.right, own + 1)}"
    else:
        return "{...}"
    return f"({text})" if own < parent else text
