"""One document as the editor sees it: parsed and checked (around syntax errors too), with the value
each step call receives, and the lookups that hover, completion and navigation share.

The compiler does the work (`check_parsed(partial=True)`); what is added here is only what an editor
needs on top: which node is under the cursor, and which checker diagnostics are mere consequences
of a statement the parser had to skip.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

from lsprotocol import types

from pipec.compiler import ast
from pipec.compiler.check import Program, check_parsed, too_deep
from pipec.compiler.diagnostics import Diagnostic
from pipec.compiler.expressions import children
from pipec.compiler.span import Span
from pipec.compiler.types import ValueType
from pipec.grammar import parse_source

SYNTAX_CODES = ("E0001", "E0002", "E0003", "E0004", "E0005", "E0006")
# Checker findings that a skipped (unparsable) statement can cause on its own: a name it would
# have bound, a value it would have used, a sink it would have been.
UNKNOWN_NAME_CODES = ("E0131", "E0104", "E0123")
NEVER_USED_CODES = ("W0001", "W0002")
_DECLARED = re.compile(r"^[ \t]*(?:param[ \t]+(\w+)|schema[ \t]+(\w+)|(\w+(?:[ \t]*,[ \t]*\w+)*)[ \t]*=(?!=))",
                       re.MULTILINE)


class TextIndex:
    """Character offsets <-> LSP positions (whose `character` counts UTF-16 code units)."""

    def __init__(self, text: str):
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(self, offset: int) -> types.Position:
        offset = max(0, min(offset, len(self.text)))
        line = _last_at_most(self.line_starts, offset)
        chunk = self.text[self.line_starts[line]:offset]
        return types.Position(line=line, character=len(chunk.encode("utf-16-le")) // 2)

    def offset(self, position: types.Position) -> int:
        if position.line >= len(self.line_starts):
            return len(self.text)
        start = self.line_starts[position.line]
        end = self.text.find("\n", start)
        line = self.text[start:len(self.text) if end == -1 else end]
        units = 0
        for i, char in enumerate(line):
            if units >= position.character:
                return start + i
            units += 2 if ord(char) > 0xFFFF else 1
        return start + len(line)

    def range(self, span: Span) -> types.Range:
        return types.Range(start=self.position(span.start), end=self.position(span.end))


def _last_at_most(sorted_values: list[int], value: int) -> int:
    lo, hi = 0, len(sorted_values) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sorted_values[mid] <= value:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass
class StepSite:
    """A call in a chain (the source head counts as step 0) and where it sits."""

    pipeline: ast.Pipeline
    statement: ast.Binding | ast.SinkStatement
    calls: list[ast.Call]
    index: int

    @property
    def call(self) -> ast.Call:
        return self.calls[self.index]


@dataclass
class Analysis:
    path: str
    text: str
    program: Program
    step_inputs: dict[Span, ValueType]
    diagnostics: list[Diagnostic]
    uri: str = ""
    index: TextIndex = field(init=False)

    def __post_init__(self) -> None:
        self.index = TextIndex(self.text)

    @property
    def module(self) -> ast.Module | None:
        return self.program.module

    # ------------------------------------------------------------ where things are
    def pipelines(self) -> list[ast.Pipeline]:
        return [d for d in self.module.declarations if isinstance(d, ast.Pipeline)] if self.module else []

    def pipeline_at(self, offset: int) -> ast.Pipeline | None:
        return next((p for p in self.pipelines() if contains(p.span, offset)), None)

    def step_sites(self, pipeline: ast.Pipeline) -> Iterator[StepSite]:
        for stmt in pipeline.body:
            if isinstance(stmt, ast.ParamDecl):
                continue
            calls = chain_calls(stmt.value)
            for i in range(len(calls)):
                yield StepSite(pipeline, stmt, calls, i)

    def step_at(self, offset: int) -> StepSite | None:
        """The chain call whose span holds `offset` (its end included: the cursor after `)`)."""
        pipeline = self.pipeline_at(offset)
        if pipeline is None:
            return None
        return next((s for s in self.step_sites(pipeline) if contains(s.call.span, offset)), None)

    # ------------------------------------------------------------ values
    def input_of(self, call: ast.Call) -> ValueType | None:
        return self.step_inputs.get(call.span)

    def output_of(self, site: StepSite) -> ValueType | None:
        if site.index + 1 < len(site.calls):
            return self.input_of(site.calls[site.index + 1])
        if isinstance(site.statement, ast.Binding):
            return self.value_of(site.pipeline, site.statement.targets[0].name)
        return None

    def value_of(self, pipeline: ast.Pipeline, name: str) -> ValueType | None:
        """The value bound to `name`: from the IR, or else from a step that reads it."""
        ir = self.program.pipelines.get(pipeline.name)
        node = next((n for n in ir.nodes() if n.binding == name), None) if ir else None
        if node is not None:
            return node.output
        for stmt in pipeline.body:
            if isinstance(stmt, ast.ParamDecl):
                continue
            calls = chain_calls(stmt.value)
            head = stmt.value.head
            if isinstance(head, ast.ColumnRef) and head.name == name and calls:
                value = self.input_of(calls[0])
                if value is not None:
                    return value
        return None

    def binding_statement(self, pipeline: ast.Pipeline, name: str) -> tuple[ast.Binding, int] | None:
        for stmt in pipeline.body:
            if isinstance(stmt, ast.Binding):
                for i, target in enumerate(stmt.targets):
                    if target.name == name:
                        return stmt, i
        return None

    def param(self, pipeline: ast.Pipeline, name: str) -> ast.ParamDecl | None:
        return next((s for s in pipeline.body if isinstance(s, ast.ParamDecl) and s.name == name), None)


def chain_calls(chain: ast.Chain) -> list[ast.Call]:
    """The calls of a chain in order, with a source call at its head as the first one."""
    head = [chain.head] if isinstance(chain.head, ast.Call) else []
    return head + list(chain.steps)


def contains(span: Span, offset: int) -> bool:
    return span.start <= offset <= span.end


def analyse(text: str, path: str, uri: str = "") -> Analysis:
    """Parse and check `text` (the file at `path`, whose imports are read from disk)."""
    step_inputs: dict[Span, ValueType] = {}
    try:
        module, syntax = parse_source(text, path)
        program = check_parsed(module, syntax, text, path, partial=True, step_inputs=step_inputs)
    except RecursionError:
        program = Program(path=path, module=None, sources={path: text}, diagnostics=[too_deep(path)])
    return Analysis(path, text, program, step_inputs, editor_diagnostics(program.diagnostics, text, path), uri)


def editor_diagnostics(diagnostics: list[Diagnostic], text: str, path: str) -> list[Diagnostic]:
    """Drop what only follows from a statement the parser skipped; with no syntax error, nothing."""
    if not any(d.code in SYNTAX_CODES and d.span is not None and d.span.file == path for d in diagnostics):
        return diagnostics
    declared = {name.strip() for m in _DECLARED.finditer(text) for group in m.groups() if group
                for name in group.split(",")}
    return [d for d in diagnostics
            if d.code not in NEVER_USED_CODES
            and not (d.code in UNKNOWN_NAME_CODES and _named(d.message) in declared)]


def _named(message: str) -> str | None:
    """The first `name` quoted in a message (`$x` and `${x}` give `x`)."""
    m = re.search(r"`\$?\{?(\w+)\}?`", message)
    return m.group(1) if m else None


def walk(e: ast.Expr) -> Iterator[ast.Expr]:
    """`e` and all its sub-expressions."""
    yield e
    for child in children(e):
        yield from walk(child)
