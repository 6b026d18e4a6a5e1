"""The front end: `.pipe` and `.pipe.yaml` text → AST (pipec.compiler.ast) plus syntax diagnostics.

Nothing here raises for bad user input; every function returns what it could parse together with
the diagnostics, so that the checker can go on and report more.
"""
from __future__ import annotations

from pipec.compiler import ast
from pipec.compiler.diagnostics import Diagnostic
from pipec.compiler.gc_pause import gc_paused
from pipec.compiler.span import LineIndex
from pipec.grammar.parser import parse_fragment, parse_pipe

YAML_SUFFIXES = (".yaml", ".yml")

__all__ = ["parse_pipe", "parse_yaml", "parse_source", "parse_expression", "is_yaml_file"]


def is_yaml_file(file: str) -> bool:
    return file.lower().endswith(YAML_SUFFIXES)


@gc_paused()
def parse_source(text: str, file: str) -> tuple[ast.Module, list[Diagnostic]]:
    """Parse a file in whichever form its name says (`*.pipe.yaml`, `*.yaml`, `*.yml` are YAML)."""
    return parse_yaml(text, file) if is_yaml_file(file) else parse_pipe(text, file)


def parse_yaml(text: str, file: str) -> tuple[ast.Module, list[Diagnostic]]:
    """Parse the YAML form of LANGUAGE.md §9 (ruamel.yaml is imported only when needed)."""
    from pipec.grammar.yaml_frontend import parse_yaml as parse

    return parse(text, file)


def parse_expression(text: str, file: str, offset: int = 0, *,
                     source: str | None = None) -> tuple[ast.Expr | None, list[Diagnostic]]:
    """Parse one expression; spans are shifted by `offset` into `source` (the whole file) if given."""
    return parse_fragment(text, file, "expression", offset,
                          LineIndex(source) if source is not None else None)
