"""`pipec fmt`: the canonical layout of a `.pipe` file, printed from its AST, keeping every comment.

Layout: 2-space indentation, one statement per line, a chain broken into one `| step` per line when
it has more than one step or does not fit in LINE_LIMIT characters, `name=value` arguments, spaces
around binary operators and binding `=`, parentheses only where precedence needs them, a blank
line between declarations, and the user's blank lines between statements (at most one).
Comments are attached by line: a comment on its own line goes before the next thing printed, one
at the end of a line stays at the end of the line that now holds that code.
"""
from __future__ import annotations

import re

from pipec.compiler import ast

INDENT = "  "
LINE_LIMIT = 100
KEYWORDS = {"import", "schema", "pipeline", "param", "and", "or", "not", "in", "is", "true",
            "false", "null"}
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
BINARY_PRECEDENCE = {"or": 1, "and": 2, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
                     "+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6}
NOT, COMPARISON, UNARY_MINUS, ATOM = 3, 4, 7, 8


# ---------------------------------------------------------------- expressions
def format_expr(e: ast.Expr) -> str:
    return _render(e)[0]


def _wrapped(e: ast.Expr, at_least: int) -> str:
    text, precedence = _render(e)
    return f"({text})" if precedence < at_least else text


def _render(e: ast.Expr) -> tuple[str, int]:
    """The text of `e` and the precedence of its outermost operator."""
    if isinstance(e, ast.Binary):
        p = BINARY_PRECEDENCE[e.op]
        # Left-associative, and comparisons do not chain: `a == b == c` is not an expression.
        left_min, right_min = (p + 1, p + 1) if p == COMPARISON else (p, p + 1)
        return f"{_wrapped(e.left, left_min)} {e.op} {_wrapped(e.right, right_min)}", p
    if isinstance(e, ast.Unary):
        if e.op == "not":
            return f"not {_wrapped(e.operand, NOT)}", NOT
        return f"-{_wrapped(e.operand, UNARY_MINUS)}", UNARY_MINUS
    if isinstance(e, ast.IsNull):
        return f"{_wrapped(e.operand, COMPARISON + 1)} is {'not ' if e.negated else ''}null", \
            COMPARISON
    if isinstance(e, ast.InList):
        items = ", ".join(format_expr(i) for i in e.items)
        return f"{_wrapped(e.operand, COMPARISON + 1)} in [{items}]", COMPARISON
    if isinstance(e, ast.Call):
        return format_call(e), ATOM
    if isinstance(e, ast.ListExpr):
        return "[" + ", ".join(format_expr(i) for i in e.items) + "]", ATOM
    if isinstance(e, ast.SchemaLiteral):
        return "{" + ", ".join(_field(f) for f in e.fields) + "}", ATOM
    if isinstance(e, ast.ColumnRef):
        return _name(e.name, e.quoted), ATOM
    if isinstance(e, ast.ParamRef):
        return f"${e.name}", ATOM
    if isinstance(e, ast.RunRef):
        return f"run.{e.field}", ATOM
    return _literal(e)


def _literal(e: ast.Literal_) -> tuple[str, int]:
    if e.literal_type == "str":
        escaped = e.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
            .replace("\t", "\\t")
        return f'"{escaped}"', ATOM
    if e.literal_type == "duration":
        return e.text or f"{e.value}s", ATOM
    if e.literal_type == "bool":
        return ("true" if e.value else "false"), ATOM
    if e.literal_type == "null":
        return "null", ATOM
    text = repr(float(e.value)) if e.literal_type == "float" else str(int(e.value))
    return text, (UNARY_MINUS if text.startswith("-") else ATOM)


def _name(name: str, quoted: bool = False) -> str:
    plain = IDENTIFIER.match(name) and name not in KEYWORDS
    return name if plain and not quoted else f"`{name}`"


def _argument(a: ast.Arg) -> str:
    if a.name is None:
        return format_expr(a.value)
    name = a.name if IDENTIFIER.match(a.name) else f"`{a.name}`"  # keywords name arguments unquoted
    return f"{name}={format_expr(a.value)}"


def format_call(call: ast.Call) -> str:
    return f"{call.name}({', '.join(_argument(a) for a in call.args)})"


def _call_lines(call: ast.Call, prefix: str, indent: str) -> list[str]:
    """`prefix + call` on one line, or with one argument per line when it does not fit."""
    flat = prefix + format_call(call)
    if len(indent + flat) <= LINE_LIMIT or not call.args:
        return [flat]
    inner = indent + " " * len(prefix) + INDENT
    return [f"{prefix}{call.name}(", *[inner[len(indent):] + _argument(a) + "," for a in call.args],
            " " * len(prefix) + ")"]


def _field(f: ast.FieldDecl) -> str:
    return f"{_name(f.name, f.quoted)}: {f.type}"


def _docstring(doc: str) -> list[str]:
    if "\n" in doc or doc.endswith('"'):
        return ['"""', *doc.splitlines(), '"""']
    return [f'"""{doc}"""']


# ---------------------------------------------------------------- layout with comments
class _Printer:
    def __init__(self, module: ast.Module, source_text: str):
        self.source_lines = source_text.splitlines()
        self.pending = sorted(module.comments, key=lambda c: c.span.start)
        self.lines: list[str] = []

    def own_line(self, comment: ast.Comment) -> bool:
        line = self.source_lines[comment.span.line - 1] if comment.span.line <= len(self.source_lines) else ""
        return not line[:comment.span.column - 1].strip()

    def take(self, last_line: int) -> list[ast.Comment]:
        """The comments not printed yet that sit on or before `last_line`."""
        taken = [c for c in self.pending if c.span.line <= last_line]
        self.pending = self.pending[len(taken):]
        return taken

    def emit_unit(self, indent: str, first_line: int, last_line: int,
                  rendered: list[tuple[str, int | None]]) -> None:
        """Print lines of code, each tagged with the source line it comes from (or None).

        A comment at the end of a source line ends the printed line that holds that code; one on
        its own line inside the unit goes above the next printed line from a later source line;
        the rest (and the comments before the unit) go above the unit.
        """
        before = self.take(first_line - 1)
        above: dict[int, list[str]] = {}
        trailing: dict[int, str] = {}
        for comment in self.take(last_line):
            if self.own_line(comment):
                target = next((i for i, (_, src) in enumerate(rendered)
                               if src is not None and src > comment.span.line), None)
                if target:
                    above.setdefault(target, []).append(comment.text)
                    continue
            else:
                target = max((i for i, (_, src) in enumerate(rendered)
                              if src is not None and src <= comment.span.line), default=0)
                if target not in trailing:
                    trailing[target] = comment.text
                    continue
            before.append(comment)
        self.lines += [indent + comment.text for comment in before]
        for index, (text, _) in enumerate(rendered):
            inner_indent = indent + text[:len(text) - len(text.lstrip())]
            self.lines += [inner_indent + comment for comment in above.get(index, [])]
            line = indent + text
            if index in trailing:
                line += "  " + trailing[index]
            self.lines.append(line.rstrip())

    def comments_before(self, line: int, indent: str) -> None:
        """Print the comments before `line` (say, the last ones inside a block, above its `}`)."""
        self.lines += [indent + comment.text for comment in self.take(line - 1)]

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def blank_in_source_before(self, line: int) -> bool:
        earliest = min([line] + [c.span.line for c in self.pending if c.span.line < line])
        return earliest >= 2 and not self.source_lines[earliest - 2].strip()

    def rest(self) -> None:
        for comment in self.pending:
            self.lines.append(comment.text)
        self.pending = []


def format_module(module: ast.Module, source_text: str) -> str:
    """The canonical text of a parsed `.pipe` module; `source_text` is used to place comments."""
    printer = _Printer(module, source_text)
    previous: ast.Node | None = None
    for declaration in module.declarations:
        if previous is not None and not (isinstance(previous, ast.Import)
                                         and isinstance(declaration, ast.Import)):
            printer.blank()
        if isinstance(declaration, ast.Import):
            text = f'import {_literal(ast.Literal_(span=declaration.span, value=declaration.path, literal_type="str"))[0]}'
            printer.emit_unit("", declaration.span.line, declaration.span.end_line,
                              [(text, declaration.span.line)])
        elif isinstance(declaration, ast.SchemaDecl):
            _schema(printer, declaration)
        else:
            _pipeline(printer, declaration)
        previous = declaration
    printer.rest()
    return "\n".join(printer.lines).strip("\n") + "\n"


def _schema(printer: _Printer, s: ast.SchemaDecl) -> None:
    for line in _docstring(s.doc) if s.doc else []:
        printer.lines.append(line)
    if not s.fields:
        printer.emit_unit("", s.span.line, s.span.end_line, [(f"schema {s.name} {{}}", s.span.line)])
        return
    printer.emit_unit("", s.span.line, s.name_span.end_line, [(f"schema {s.name} {{", s.span.line)])
    for f in s.fields:
        printer.emit_unit(INDENT, f.span.line, f.span.end_line, [(_field(f), f.span.line)])
    printer.comments_before(s.span.end_line, INDENT)
    printer.emit_unit("", s.span.end_line, s.span.end_line, [("}", s.span.end_line)])


def _pipeline(printer: _Printer, p: ast.Pipeline) -> None:
    for line in _docstring(p.doc) if p.doc else []:
        printer.lines.append(line)
    options = ", ".join(f"{o.name}={format_expr(o.value)}" for o in p.options)
    header_end = max([p.name_span.end_line] + [o.span.end_line for o in p.options])
    header = [(f"pipeline {p.name}" + (f"({options})" if p.options else "") + " {", p.span.line)]
    if len(header[0][0]) > LINE_LIMIT:
        header = [(f"pipeline {p.name}(", p.span.line),
                  *[(f"{INDENT}{o.name}={format_expr(o.value)},", o.span.line) for o in p.options],
                  (") {", header_end)]
    printer.emit_unit("", p.span.line, header_end, header)
    for index, statement in enumerate(p.body):
        if index and (statement.doc or printer.blank_in_source_before(statement.span.line)):
            printer.blank()
        for line in _docstring(statement.doc) if statement.doc else []:
            printer.lines.append(INDENT + line)
        printer.emit_unit(INDENT, statement.span.line, statement.span.end_line,
                          _statement(statement))
    printer.comments_before(p.span.end_line, INDENT)
    printer.emit_unit("", p.span.end_line, p.span.end_line, [("}", p.span.end_line)])


def _statement(s) -> list[tuple[str, int | None]]:
    if isinstance(s, ast.ParamDecl):
        return [(f"param {s.name}: {s.type} = {format_expr(s.default)}", s.span.line)]
    prefix = ", ".join(t.name for t in s.targets) + " = " if isinstance(s, ast.Binding) else ""
    chain = s.value
    head = prefix + format_expr(chain.head)
    flat = head + "".join(" | " + format_call(call) for call in chain.steps)
    if len(chain.steps) <= 1 and len(INDENT + flat) <= LINE_LIMIT:
        return [(flat, s.span.line)]
    lines: list[tuple[str, int | None]] = [(head, s.span.line)]
    for call in chain.steps:
        step_lines = _call_lines(call, "| ", INDENT * 2)
        lines.append((INDENT + step_lines[0], call.span.line))
        lines += [(INDENT + line, None) for line in step_lines[1:]]
    return lines
