"""Hover: what the checker knows about the name under the cursor, as Markdown.

A binding or a step shows the value it produces (a table's columns with their types; `?` marks a
nullable one), a column its type and the step that made it, a parameter its type and default, a
step or function its signature and one line of documentation.
"""
from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from pipec.compiler import ast
from pipec.compiler.span import Span
from pipec.compiler.types import ModelType, Schema, TableType, ValueType
from pipec.grammar.format import format_expr
from pipec.lsp.analysis import Analysis, StepSite, chain_calls, contains, walk
from pipec.lsp.navigation import occurrence_at
from pipec.stdlib.docs import FUNCTION_DOCS
from pipec.stdlib.estimators import ESTIMATORS
from pipec.stdlib.functions import FUNCTIONS
from pipec.stdlib.steps import STEPS


def hover(analysis: Analysis, offset: int) -> types.Hover | None:
    found = _describe(analysis, offset)
    if found is None:
        return None
    text, span = found
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
                       range=analysis.index.range(span))


def _describe(analysis: Analysis, offset: int) -> tuple[str, Span] | None:
    if analysis.module is None:
        return None
    for decl in analysis.module.declarations:
        if not contains(decl.span, offset):
            continue
        if isinstance(decl, ast.SchemaDecl):
            return _in_schema(decl, offset)
        if isinstance(decl, ast.Import):
            target = (Path(analysis.path).parent / decl.path).resolve()
            return f"import of `{target}`", decl.span
        if isinstance(decl, ast.Pipeline):
            return _in_pipeline(analysis, decl, offset)
    return None


def _in_schema(decl: ast.SchemaDecl, offset: int) -> tuple[str, Span] | None:
    if contains(decl.name_span, offset):
        lines = [f"{f.name}: {f.type}" for f in decl.fields]
        return _doc(decl.doc) + f"schema `{decl.name}`\n" + _block(lines), decl.name_span
    for f in decl.fields:
        if contains(f.span, offset):
            return f"column `{f.name}`: `{f.type}`", f.span
    return None


def _in_pipeline(analysis: Analysis, p: ast.Pipeline, offset: int) -> tuple[str, Span] | None:
    if contains(p.name_span, offset):
        params = [f"param {s.name}: {s.type} = {format_expr(s.default)}" for s in p.body
                  if isinstance(s, ast.ParamDecl)]
        return _doc(p.doc) + f"pipeline `{p.name}`" + (("\n" + _block(params)) if params else ""), p.name_span
    hit = occurrence_at(analysis, offset)
    if hit is not None:
        return _symbol(analysis, p, hit.symbol.kind, hit.symbol.name), hit.span
    site = analysis.step_at(offset)
    if site is None:
        return None
    call = site.call
    if contains(call.name_span, offset):
        step = STEPS.get(call.name)
        text = f"```\n{step.signature if step else call.name}\n```\n{step.doc if step else ''}"
        output = analysis.output_of(site)
        if output is not None:
            text += "\n\n" + _value("output", output)
        return text, call.name_span
    for arg in call.args:
        if arg.name_span is not None and contains(arg.name_span, offset):
            return _named_item(analysis, site, arg)
        if contains(arg.value.span, offset):
            return _in_expression(analysis, site, arg.value, offset)
    return None


def _symbol(analysis: Analysis, p: ast.Pipeline, kind: str, name: str) -> str:
    """A binding's value, a param's declaration or a schema's columns (navigation finds which)."""
    if kind == "param":
        decl = analysis.param(p, name)
        return _param(decl) if decl else f"unknown parameter `${name}`"
    if kind == "binding":
        found = analysis.binding_statement(p, name)
        return _value(f"`{name}`", analysis.value_of(p, name), found[0].doc if found else None)
    schema = analysis.program.schemas.get(name)
    return f"schema `{name}`\n" + _schema_block(schema) if schema else f"unknown schema `{name}`"


def _in_expression(analysis: Analysis, site: StepSite, root: ast.Expr, offset: int) -> tuple[str, Span] | None:
    """The smallest name under the cursor inside an expression: a column or a function."""
    hits = [e for e in walk(root) if contains(e.span, offset) and isinstance(e, (ast.ColumnRef, ast.Call))]
    for e in sorted(hits, key=lambda e: e.span.end - e.span.start):
        if isinstance(e, ast.Call) and contains(e.name_span, offset):
            return _function(e.name), e.name_span
        if isinstance(e, ast.ColumnRef):
            return _column(analysis, site, e), e.span
    return None


def _named_item(analysis: Analysis, site: StepSite, arg: ast.Arg) -> tuple[str, Span] | None:
    """`name = ...` in derive, select, aggregate, rename, ...: the column it makes."""
    output = analysis.output_of(site)
    if isinstance(output, TableType) and arg.name in output.schema_:
        return f"column `{arg.name}`: `{output.schema_.get(arg.name)}`, made by `{site.call.name}` here", arg.name_span
    return f"argument `{arg.name}` of `{site.call.name}`", arg.name_span


def _column(analysis: Analysis, site: StepSite, ref: ast.ColumnRef) -> str:
    value = analysis.input_of(site.call)
    if not isinstance(value, TableType) or ref.name not in value.schema_:
        return f"`{ref.name}` is not a column here"
    text = f"column `{ref.name}`: `{value.schema_.get(ref.name)}`"
    origin = column_origin(analysis, site, ref.name)
    return text + (f"\n\n{origin}" if origin else "")


def column_origin(analysis: Analysis, site: StepSite, name: str) -> str | None:
    """Which step first gave the chain the column `name` (following bindings back)."""
    statement, calls, index, seen = site.statement, site.calls, site.index, set()
    while True:
        for k in range(index - 1, -1, -1):
            value = analysis.input_of(calls[k])
            if not (isinstance(value, TableType) and name in value.schema_):
                return _made_by(calls[k])
        head = statement.value.head
        if not isinstance(head, ast.ColumnRef) or head.name in seen:
            return None
        seen.add(head.name)
        found = analysis.binding_statement(site.pipeline, head.name)
        if found is None:
            return None
        statement = found[0]
        calls = chain_calls(statement.value)
        index = len(calls)


def _made_by(call: ast.Call) -> str:
    where = f"line {call.span.line}"
    schema = call.keyword("schema")
    if schema is not None and isinstance(schema.value, ast.ColumnRef):
        return f"from `{call.name}` (schema `{schema.value.name}`) on {where}"
    return f"from `{call.name}` on {where}"


# ---------------------------------------------------------------- rendering
def _value(title: str, value: ValueType | None, doc: str | None = None) -> str:
    text = _doc(doc)
    if isinstance(value, TableType):
        return text + f"{title}: table with {len(value.schema_.fields)} columns\n" + _schema_block(value.schema_)
    if isinstance(value, ModelType):
        label = f"\nlabel {value.label.name}: {value.label.type}" if value.label else ""
        return text + f"{title}: {value.model_kind} model (`{value.estimator}`)\n" + \
            _schema_block(value.features) + label
    if value is not None:
        return text + f"{title}: `{value}`"
    return text + f"{title}: type unknown (see the errors of this pipeline)"


def _schema_block(schema: Schema) -> str:
    return _block([f"{f.name}: {f.type}" for f in schema.fields])


def _block(lines: list[str]) -> str:
    return "```\n" + "\n".join(lines) + "\n```"


def _doc(doc: str | None) -> str:
    return f"{doc.strip()}\n\n" if doc else ""


def _param(decl: ast.ParamDecl) -> str:
    return _doc(decl.doc) + f"```\nparam {decl.name}: {decl.type} = {format_expr(decl.default)}\n```"


def _function(name: str) -> str:
    if name in ESTIMATORS:
        e = ESTIMATORS[name]
        hypers = ", ".join(f"{h}={p.default}" for h, p in e.params.items())
        return f"```\n{name}({hypers})\n```\nestimator: a {e.kind}"
    signature = FUNCTIONS[name].signature if name in FUNCTIONS else f"{name}(...)"
    label = "aggregate: " if name in FUNCTIONS and FUNCTIONS[name].aggregate else "function: "
    return f"```\n{signature}\n```\n{label}{FUNCTION_DOCS.get(name, '')}"

