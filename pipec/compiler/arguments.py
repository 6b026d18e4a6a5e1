"""The building blocks that step argument models share: a typed literal the compiler fills in
itself and a named expression. They live below both the IR and the step modules, since the IR's
argument union is built from the step registry (`pipec.stdlib.steps`)."""
from __future__ import annotations

from typing import Any

from pipec.compiler.ast import Expr, Literal_
from pipec.compiler.model import Model
from pipec.compiler.span import UNKNOWN_SPAN
from pipec.compiler.types import col


def lit(value: Any) -> Literal_:
    """A typed literal expression for arguments the compiler fills in itself."""
    kind = {bool: "bool", int: "int", float: "float", str: "str"}[type(value)]
    return Literal_(span=UNKNOWN_SPAN, value=value, literal_type=kind, type=col(kind))


class NamedExpr(Model):
    name: str
    expr: Expr
