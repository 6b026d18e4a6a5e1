"""Turning written types (`int`, `str?`, `list[int]`) and schema declarations into types."""
from __future__ import annotations

from pipec.compiler import ast
from pipec.compiler.diagnostics import Diagnostics
from pipec.compiler.suggest import did_you_mean
from pipec.compiler.types import BASE_TYPES, ColumnType, ParamType, Schema, col

PARAM_TYPES = ("int", "float", "bool", "str", "date", "duration", "list")


def column_type(t: ast.TypeExpr, diags: Diagnostics) -> ColumnType | None:
    if t.name not in BASE_TYPES or t.args:
        diags.error("E0121", f"unknown column type `{t}`", t.span,
                    help=did_you_mean(t.name, BASE_TYPES) or f"column types are {', '.join(BASE_TYPES)}")
        return None
    return col(t.name, t.nullable)


def param_type(t: ast.TypeExpr, diags: Diagnostics) -> ParamType | None:
    if t.name not in PARAM_TYPES or t.nullable or (t.name == "list") != (len(t.args) == 1):
        diags.error("E0121", f"`{t}` is not a parameter type", t.span,
                    help=did_you_mean(t.name, PARAM_TYPES)
                    or "parameter types are int, float, bool, str, date, duration and list[T]")
        return None
    if t.name == "list":
        item = param_type(t.args[0], diags)
        return None if item is None else ParamType(name="list", item=item)
    return ParamType(name=t.name)  # type: ignore[arg-type]


def schema_from_fields(fields: list[ast.FieldDecl], diags: Diagnostics) -> Schema | None:
    seen: dict[str, ast.FieldDecl] = {}
    pairs: list[tuple[str, ColumnType]] = []
    ok = True
    for f in fields:
        if f.name in seen:
            diags.error("E0209", f"column `{f.name}` is declared twice", f.name_span,
                        label="declared again here", help="remove or rename one of them")
            ok = False
            continue
        seen[f.name] = f
        t = column_type(f.type, diags)
        if t is None:
            ok = False
        else:
            pairs.append((f.name, t))
    return Schema.of(pairs) if ok else None
