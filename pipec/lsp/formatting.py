"""Formatting through `pipec fmt`'s formatter: one edit replacing the whole document, or none
when the document has syntax errors (or is YAML, which `pipec fmt` does not format either)."""
from __future__ import annotations

from lsprotocol import types

from pipec.grammar import is_yaml_file, parse_source
from pipec.grammar.format import format_module
from pipec.lsp.analysis import TextIndex


def format_document(text: str, path: str) -> list[types.TextEdit]:
    if is_yaml_file(path):
        return []
    try:
        module, diagnostics = parse_source(text, path)
        if any(d.is_error for d in diagnostics):
            return []
        formatted = format_module(module, text)
    except RecursionError:
        return []
    if formatted == text:
        return []
    whole = types.Range(start=types.Position(line=0, character=0), end=TextIndex(text).position(len(text)))
    return [types.TextEdit(range=whole, new_text=formatted)]
