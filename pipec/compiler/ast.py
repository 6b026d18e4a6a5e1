"""The abstract syntax tree shared by the `.pipe` and YAML front ends; every node carries its span.

Expression nodes also carry a `type` slot that the type checker fills in, so that the IR and the
backends can see the type of every sub-expression without re-deriving it.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field

from pipec.compiler.model import Model
from pipec.compiler.span import Span
from pipec.compiler.types import ColumnType


class _SharedFieldsSet(set):
    """A fields-set that nodes built alike share; a node gets a set of its own before it changes."""


_SHARED_FIELD_SETS: dict[frozenset[str], _SharedFieldsSet] = {}


class Node(Model):
    span: Span

    def model_post_init(self, context, /) -> None:
        """Share the fields-set (which fields were given) with the nodes built alike: a set of its
        own cost each node 216 bytes, a 1 MB source has 400,000 nodes (see Span for the spans)."""
        given = frozenset(self.__pydantic_fields_set__)
        shared = _SHARED_FIELD_SETS.get(given)
        if shared is None:
            shared = _SHARED_FIELD_SETS[given] = _SharedFieldsSet(given)
        object.__setattr__(self, "__pydantic_fields_set__", shared)

    def __setattr__(self, name: str, value: Any) -> None:
        given = self.__pydantic_fields_set__
        if name not in given and given.__class__ is _SharedFieldsSet:   # pydantic adds `name`
            object.__setattr__(self, "__pydantic_fields_set__", set(given))
        super().__setattr__(name, value)


# ---------------------------------------------------------------- expressions
class ExprBase(Node):
    type: ColumnType | None = None


class Literal_(ExprBase):
    """A literal. `value` is the Python value; durations are seconds (int), `text` keeps `5m`."""

    kind: Literal["literal"] = "literal"
    value: Any
    literal_type: Literal["int", "float", "str", "bool", "null", "duration"]
    text: str | None = None


class ListExpr(ExprBase):
    kind: Literal["list"] = "list"
    items: list["Expr"]


class ColumnRef(ExprBase):
    """A bare identifier: a column of the input table, or (in some arguments) a binding or type name."""

    kind: Literal["column"] = "column"
    name: str
    quoted: bool = False


class ParamRef(ExprBase):
    kind: Literal["param"] = "param"
    name: str


class RunRef(ExprBase):
    """`run.field`: a value of the run context (its logical date, its data interval), fixed for
    one run like a param but given by whoever starts the run (docs/language.md)."""

    kind: Literal["run"] = "run"
    field: str


class Unary(ExprBase):
    kind: Literal["unary"] = "unary"
    op: Literal["-", "not"]
    operand: "Expr"


class Binary(ExprBase):
    kind: Literal["binary"] = "binary"
    op: Literal["or", "and", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "//", "%"]
    left: "Expr"
    right: "Expr"


class IsNull(ExprBase):
    kind: Literal["is_null"] = "is_null"
    operand: "Expr"
    negated: bool = False


class InList(ExprBase):
    kind: Literal["in"] = "in"
    operand: "Expr"
    items: list["Expr"]


class Arg(Node):
    """One argument of a call: positional when `name` is None, else `name = value`."""

    name: str | None = None
    name_span: Span | None = None
    value: "Expr"


class Call(ExprBase):
    """A function, aggregate, estimator or step call: `name(args...)`."""

    kind: Literal["call"] = "call"
    name: str
    name_span: Span
    args: list[Arg] = []

    def positional(self) -> list["Expr"]:
        return [a.value for a in self.args if a.name is None]

    def keyword(self, name: str) -> "Arg | None":
        return next((a for a in self.args if a.name == name), None)


class TypeExpr(Node):
    """A written type: `int`, `str?`, `list[int]`; names are resolved by the checker."""

    name: str
    nullable: bool = False
    args: list["TypeExpr"] = []

    def __str__(self) -> str:
        inner = f"[{', '.join(map(str, self.args))}]" if self.args else ""
        return f"{self.name}{inner}{'?' if self.nullable else ''}"


class FieldDecl(Node):
    name: str
    name_span: Span
    quoted: bool = False
    type: TypeExpr


class SchemaLiteral(ExprBase):
    """An inline schema `{field: type, ...}` used where a schema name may appear."""

    kind: Literal["schema"] = "schema"
    fields: list[FieldDecl]


Expr = Annotated[
    Union[Literal_, ListExpr, ColumnRef, ParamRef, RunRef, Unary, Binary, IsNull, InList, Call, SchemaLiteral],
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------- statements
class Chain(Node):
    """`head | step(...) | step(...)`; `head` is a source call or a reference to a binding."""

    head: Expr
    steps: list[Call] = []


class Target(Node):
    name: str


class Binding(Node):
    kind: Literal["binding"] = "binding"
    targets: list[Target]
    value: Chain
    doc: str | None = None


class SinkStatement(Node):
    kind: Literal["sink"] = "sink"
    value: Chain
    doc: str | None = None


class ParamDecl(Node):
    kind: Literal["param"] = "param"
    name: str
    name_span: Span
    type: TypeExpr
    default: Expr
    doc: str | None = None


Statement = Annotated[Union[Binding, SinkStatement, ParamDecl], Field(discriminator="kind")]


class Option(Node):
    name: str
    name_span: Span
    value: Expr


class Import(Node):
    kind: Literal["import"] = "import"
    path: str


class SchemaDecl(Node):
    kind: Literal["schema"] = "schema"
    name: str
    name_span: Span
    fields: list[FieldDecl]
    doc: str | None = None


class Pipeline(Node):
    kind: Literal["pipeline"] = "pipeline"
    name: str
    name_span: Span
    options: list[Option] = []
    body: list[Statement] = []
    doc: str | None = None


Declaration = Annotated[Union[Import, SchemaDecl, Pipeline], Field(discriminator="kind")]


class Comment(Node):
    """A `#` comment, kept so that `pipec fmt` can put it back."""

    text: str


class Module(Node):
    """One source file."""

    path: str
    declarations: list[Declaration] = []
    comments: list[Comment] = []


for _model in (ListExpr, Unary, Binary, IsNull, InList, Arg, Call, TypeExpr, Chain):
    _model.model_rebuild()
