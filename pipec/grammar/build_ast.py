"""Lark parse tree → the AST of pipec.compiler.ast, with the smallest sensible span on every node."""
from __future__ import annotations

import inspect

from lark import Token, Tree

from pipec.compiler import ast
from pipec.compiler.diagnostics import Diagnostic
from pipec.grammar.spans import SpanMaker
from pipec.runtime_contract import parse_duration

STRING_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


def _nodes(children: list) -> list:
    """Children that are AST nodes: the tree keeps brackets and keywords only for their positions."""
    return [c for c in children if c is not None and not isinstance(c, Token)]


def _token(children: list, kind: str) -> Token | None:
    return next((c for c in children if isinstance(c, Token) and c.type == kind), None)


def docstring_text(token: Token | None) -> str | None:
    """The documentation inside `\"\"\"...\"\"\"`, with common indentation removed."""
    return inspect.cleandoc(token[3:-3]) if token is not None else None


class AstBuilder:
    """Builds AST nodes bottom-up; problems found inside tokens (bad escapes) go to `diagnostics`.

    The parser's reductions (pipec.grammar.reductions) call the method named after each rule with
    the rule's position (`meta`) and its children, already built.
    """

    def __init__(self, spans: SpanMaker, diagnostics: list[Diagnostic]):
        self.spans = spans
        self.diagnostics = diagnostics

    # ------------------------------------------------------------ declarations
    def start(self, meta, children):
        return _nodes(children)

    def import_decl(self, meta, children):
        _, path = children
        return ast.Import(span=self.spans.of(meta), path=self._unescape(path))

    def schema_decl(self, meta, children):
        doc, keyword, name, _, fields, close = children
        return ast.SchemaDecl(span=self._between(keyword, close), name=str(name),
                              name_span=self.spans.of(name), fields=fields or [],
                              doc=docstring_text(doc))

    def fields(self, meta, children):
        return _nodes(children)

    def field(self, meta, children):
        name, type_ = children
        quoted = name.type == "QUOTED_NAME"
        return ast.FieldDecl(span=self.spans.of(meta), name=name[1:-1] if quoted else str(name),
                             name_span=self.spans.of(name), quoted=quoted, type=type_)

    def type(self, meta, children):
        return ast.TypeExpr(span=self.spans.of(meta), name=str(children[0]),
                            nullable=_token(children, "NULLABLE") is not None,
                            args=_nodes(children[1:]))

    def pipeline(self, meta, children):
        doc, keyword, name, options, _, body, close = children
        return ast.Pipeline(span=self._between(keyword, close), name=str(name),
                            name_span=self.spans.of(name), options=options or [],
                            body=body or [], doc=docstring_text(doc))

    def options(self, meta, children):
        return _nodes(children)

    def option(self, meta, children):
        name, value = children
        return ast.Option(span=self.spans.of(meta), name=str(name), name_span=self.spans.of(name),
                          value=value)

    def anyname(self, meta, children):
        return children[0]

    # ------------------------------------------------------------ statements
    def body(self, meta, children):
        return _nodes(children)

    def statement(self, meta, children):
        doc, statement = children
        statement.doc = docstring_text(doc)
        return statement

    def param_decl(self, meta, children):
        _, name, type_, default = children
        return ast.ParamDecl(span=self.spans.of(meta), name=str(name),
                             name_span=self.spans.of(name), type=type_, default=default)

    def binding(self, meta, children):
        targets, chain = children
        return ast.Binding(span=self.spans.of(meta), targets=targets, value=chain)

    def targets(self, meta, children):
        return [ast.Target(span=self.spans.of(name), name=str(name)) for name in children]

    def sink(self, meta, children):
        return ast.SinkStatement(span=self.spans.of(meta), value=children[0])

    def chain(self, meta, children):
        head, *steps = children
        return ast.Chain(span=self.spans.of(meta), head=head, steps=steps)

    # ------------------------------------------------------------ expressions
    def binary(self, meta, children):
        left, op, right = children
        return ast.Binary(span=self.spans.of(meta), op=str(op), left=left, right=right)

    def unary(self, meta, children):
        op, operand = children
        if op == "-" and isinstance(operand, ast.Literal_) and operand.literal_type in ("int", "float"):
            # `-1` is one literal, as it is when YAML reads it, so both forms give the same AST.
            return operand.model_copy(update={"value": -operand.value, "span": self.spans.of(meta)})
        return ast.Unary(span=self.spans.of(meta), op=str(op), operand=operand)

    def in_list(self, meta, children):
        operand, _, items = children
        return ast.InList(span=self.spans.of(meta), operand=operand, items=items.items)

    def is_null(self, meta, children):
        return ast.IsNull(span=self.spans.of(meta), operand=children[0],
                          negated=_token(children, "NOT") is not None)

    def parens(self, meta, children):
        return children[1]

    def call(self, meta, children):
        name, _, args, _ = children
        return ast.Call(span=self.spans.of(meta), name=str(name), name_span=self.spans.of(name),
                        args=args or [])

    def args(self, meta, children):
        return _nodes(children)

    def arg(self, meta, children):
        return ast.Arg(span=self.spans.of(meta), value=children[0])

    def keyword(self, meta, children):
        name, value = children
        text = name[1:-1] if name.type == "QUOTED_NAME" else str(name)  # a new column `late flight`
        return ast.Arg(span=self.spans.of(meta), name=text, name_span=self.spans.of(name), value=value)

    def list(self, meta, children):
        return ast.ListExpr(span=self.spans.of(meta), items=_nodes(children))

    def schema_literal(self, meta, children):
        _, fields, _ = children
        return ast.SchemaLiteral(span=self.spans.of(meta), fields=fields or [])

    def column(self, meta, children):
        token = children[0]
        if token.type == "QUOTED_NAME":
            return ast.ColumnRef(span=self.spans.of(token), name=token[1:-1], quoted=True)
        return ast.ColumnRef(span=self.spans.of(token), name=str(token))

    def param(self, meta, children):
        return ast.ParamRef(span=self.spans.of(children[0]), name=children[0][1:])

    def run_field(self, meta, children):
        return ast.RunRef(span=self.spans.of(children[0]), field=children[0][len("run."):])

    def int(self, meta, children):
        return self._literal(children[0], int(children[0]), "int")

    def float(self, meta, children):
        return self._literal(children[0], float(children[0]), "float")

    def string(self, meta, children):
        return self._literal(children[0], self._unescape(children[0]), "str")

    def duration(self, meta, children):
        text = str(children[0])
        seconds = parse_duration(text)
        return ast.Literal_(span=self.spans.of(children[0]), value=seconds,
                            literal_type="duration", text=text)

    def true(self, meta, children):
        return self._literal(children[0], True, "bool")

    def false(self, meta, children):
        return self._literal(children[0], False, "bool")

    def null(self, meta, children):
        return self._literal(children[0], None, "null")

    # ------------------------------------------------------------ entry points
    def expression(self, meta, children):
        return children[0]

    def argument(self, meta, children):
        return children[0]

    def type_only(self, meta, children):
        return children[0]

    # ------------------------------------------------------------ helpers
    def _literal(self, token: Token, value, literal_type: str) -> ast.Literal_:
        return ast.Literal_(span=self.spans.of(token), value=value, literal_type=literal_type)

    def _between(self, first: Token, last: Token) -> "ast.Span":
        return self.spans.of(first).to(self.spans.of(last))

    def _unescape(self, token: Token) -> str:
        """The value of a string token; an unknown escape is reported (E0005) and kept as written."""
        body, out, i = token[1:-1], [], 0
        while i < len(body):
            char = body[i]
            if char == "\\" and i + 1 < len(body):
                escaped = body[i + 1]
                if escaped in STRING_ESCAPES:
                    out.append(STRING_ESCAPES[escaped])
                else:
                    start = token.start_pos + 1 + i
                    self.diagnostics.append(Diagnostic(
                        code="E0005", message=f"unknown escape `\\{escaped}` in a string",
                        span=self.spans.range(start, start + 2), label="unknown escape",
                        help="the escapes are \\\" \\\\ \\n and \\t; write \\\\ for a backslash"))
                    out.append(char + escaped)
                i += 2
            else:
                out.append(char)
                i += 1
        return "".join(out)
