"""Shared helpers for the grammar tests: comparing ASTs without their spans."""
from __future__ import annotations

from pipec.compiler import ast
from pipec.grammar import parse_pipe


def without_spans(value):
    """A plain-data dump of an AST node with every span (and the file path) removed."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, dict):
        return {k: without_spans(v) for k, v in value.items()
                if k not in ("span", "name_span", "path", "comments")}
    if isinstance(value, list):
        return [without_spans(v) for v in value]
    return value


def parse_ok(text: str, file: str = "t.pipe") -> ast.Module:
    module, diagnostics = parse_pipe(text, file)
    assert diagnostics == [], [d.message for d in diagnostics]
    return module


def body(text: str) -> list:
    """The statements of a one-pipeline program written as its body."""
    return parse_ok("pipeline p {\n" + text + "\n}").declarations[0].body


def expr(text: str):
    """The expression in `x = t | f(<text>)`."""
    return body(f"x = t | f({text})")[0].value.steps[0].args[0].value
