"""Expression rewrites that several passes share: a list of conjuncts joined back, the column a
`x is not null` conjunct narrows, and whether an expression can overflow int64. Reading
expressions (children, conjuncts, columns) and renaming their columns is
`pipec.compiler.expressions`' job (step modules use them too), and rendering them
`pipec.grammar.format.format_expr`'s; both are re-exported here for the passes."""
from __future__ import annotations

from pipec.compiler.ast import Binary, Call, ColumnRef, Expr, IsNull, Literal_, Unary
from pipec.compiler.expressions import children, conjuncts, rename_columns
from pipec.compiler.expressions import columns_of as columns_used
from pipec.compiler.types import ColumnType
from pipec.grammar.format import format_expr as expr_text

__all__ = ["can_overflow", "children", "columns_used", "conjoin", "conjuncts", "expr_text", "not_null_column",
           "rename_columns"]


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


def can_overflow(*exprs: Expr) -> bool:
    """Whether evaluating one of `exprs` can leave int64: `+ - *` or unary `-` on ints, or `sum` of
    ints. Such a value is an error (docs/semantics.md), so whether a run fails depends on the rows
    the expression sees, and an optimizer must not change them."""
    stack = list(exprs)
    while stack:
        e = stack.pop()
        if e.type is not None and e.type.base == "int" and (
                (isinstance(e, Binary) and e.op in ("+", "-", "*"))
                or (isinstance(e, Unary) and e.op == "-" and not isinstance(e.operand, Literal_))
                or (isinstance(e, Call) and e.name == "sum")):
            return True
        stack.extend(children(e))
    return False
