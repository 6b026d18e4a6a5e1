"""Typing rules of the expression functions and aggregates of LANGUAGE.md section 6.

Each rule takes the argument types and returns the result type, or a message saying what the
function expects. Rules see only types; the expression checker handles arity, spans and nulls.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pipec.compiler.types import ColumnType, col, unify_numeric

Rule = Callable[[list[ColumnType]], "ColumnType | str"]


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int | None  # None: variadic
    rule: Rule
    aggregate: bool = False
    signature: str = ""


def _any_null(args: list[ColumnType]) -> bool:
    return any(a.nullable for a in args)


def _numeric(result: str | None = None, *, nullable: bool | None = None) -> Rule:
    """A rule for numeric arguments; `result` None keeps the (widened) argument type."""
    def rule(args: list[ColumnType]) -> ColumnType | str:
        if not all(a.is_numeric for a in args):
            return "numeric arguments (int or float)"
        base = result or ("float" if any(a.base == "float" for a in args) else "int")
        return col(base, _any_null(args) if nullable is None else nullable)
    return rule


def _strings(result: str) -> Rule:
    def rule(args: list[ColumnType]) -> ColumnType | str:
        if not all(a.base == "str" for a in args):
            return "str arguments"
        return col(result, _any_null(args))
    return rule


def _substr(args: list[ColumnType]) -> ColumnType | str:
    if args[0].base != "str" or not all(a.base == "int" for a in args[1:]):
        return "(str, int, int)"
    return col("str", _any_null(args))


def _round(args: list[ColumnType]) -> ColumnType | str:
    if not args[0].is_numeric or (len(args) == 2 and args[1].base != "int"):
        return "(number, int digits)"
    return col(args[0].base, _any_null(args))


def _temporal(result: str) -> Rule:
    def rule(args: list[ColumnType]) -> ColumnType | str:
        if args[0].base not in ("date", "timestamp"):
            return "a date or timestamp"
        return col(result, args[0].nullable)
    return rule


def _coalesce(args: list[ColumnType]) -> ColumnType | str:
    result = args[0]
    for a in args[1:]:
        merged = unify_numeric(result, a)
        if merged is None:
            return "arguments of one type"
        result = merged
    return result.with_nullable(all(a.nullable for a in args))


def _if(args: list[ColumnType]) -> ColumnType | str:
    if args[0].base != "bool":
        return "a bool condition, then two values of one type"
    merged = unify_numeric(args[1], args[2])
    if merged is None:
        return "then and else values of one type"
    return merged


def _count(args: list[ColumnType]) -> ColumnType | str:
    return col("int")


def _sum(args: list[ColumnType]) -> ColumnType | str:
    if not (args[0].is_numeric or args[0].base == "bool"):
        return "a numeric column"
    return col("int" if args[0].base == "bool" else args[0].base, args[0].nullable)


def _float_agg(always_nullable: bool) -> Rule:
    def rule(args: list[ColumnType]) -> ColumnType | str:
        if not (args[0].is_numeric or args[0].base == "bool"):
            return "a numeric column"
        return col("float", always_nullable or args[0].nullable)
    return rule


def _min_max(args: list[ColumnType]) -> ColumnType | str:
    if args[0].base == "bool":
        return "a column of numbers, strings, dates or timestamps"
    return args[0]


FUNCTIONS: dict[str, Function] = {f.name: f for f in [
    Function("abs", 1, 1, _numeric(), signature="abs(x)"),
    Function("round", 1, 2, _round, signature="round(x, digits)"),
    Function("floor", 1, 1, _numeric(), signature="floor(x)"),
    Function("ceil", 1, 1, _numeric(), signature="ceil(x)"),
    Function("sqrt", 1, 1, _numeric("float"), signature="sqrt(x)"),
    Function("log", 1, 1, _numeric("float"), signature="log(x)"),
    Function("log10", 1, 1, _numeric("float"), signature="log10(x)"),
    Function("exp", 1, 1, _numeric("float"), signature="exp(x)"),
    Function("pow", 2, 2, _numeric("float"), signature="pow(x, y)"),
    Function("lower", 1, 1, _strings("str"), signature="lower(s)"),
    Function("upper", 1, 1, _strings("str"), signature="upper(s)"),
    Function("trim", 1, 1, _strings("str"), signature="trim(s)"),
    Function("length", 1, 1, _strings("int"), signature="length(s)"),
    Function("contains", 2, 2, _strings("bool"), signature="contains(s, sub)"),
    Function("starts_with", 2, 2, _strings("bool"), signature="starts_with(s, prefix)"),
    Function("ends_with", 2, 2, _strings("bool"), signature="ends_with(s, suffix)"),
    Function("substr", 3, 3, _substr, signature="substr(s, start, len)"),
    Function("concat", 1, None, _strings("str"), signature="concat(a, b, ...)"),
    Function("replace", 3, 3, _strings("str"), signature="replace(s, old, new)"),
    Function("coalesce", 1, None, _coalesce, signature="coalesce(a, b, ...)"),
    Function("if", 3, 3, _if, signature="if(cond, then, else)"),
    Function("year", 1, 1, _temporal("int"), signature="year(t)"),
    Function("month", 1, 1, _temporal("int"), signature="month(t)"),
    Function("day", 1, 1, _temporal("int"), signature="day(t)"),
    Function("hour", 1, 1, _temporal("int"), signature="hour(t)"),
    Function("weekday", 1, 1, _temporal("int"), signature="weekday(t)"),
    Function("date", 1, 1, _temporal("date"), signature="date(t)"),
    # cast is typed by the expression checker: its second argument is a type, not a value.
    Function("count", 0, 1, _count, aggregate=True, signature="count() or count(x)"),
    Function("count_distinct", 1, 1, _count, aggregate=True, signature="count_distinct(x)"),
    Function("sum", 1, 1, _sum, aggregate=True, signature="sum(x)"),
    Function("mean", 1, 1, _float_agg(False), aggregate=True, signature="mean(x)"),
    Function("median", 1, 1, _float_agg(False), aggregate=True, signature="median(x)"),
    Function("std", 1, 1, _float_agg(True), aggregate=True, signature="std(x)"),
    Function("var", 1, 1, _float_agg(True), aggregate=True, signature="var(x)"),
    Function("min", 1, 1, _min_max, aggregate=True, signature="min(x)"),
    Function("max", 1, 1, _min_max, aggregate=True, signature="max(x)"),
]}

KNOWN_FUNCTION_NAMES = sorted([*FUNCTIONS, "cast", "row_count"])
