"""Completion offers exactly the columns of the step's input, wherever a column is written in the
examples: in the finished file, and with the rest of that line not typed yet."""
from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from pipec.compiler import ast
from pipec.compiler.types import TableType
from pipec.lsp.analysis import analyse, walk
from pipec.lsp.completion import complete
from pipec.stdlib.steps import STEPS

ROOT = Path(__file__).parents[2]
EXAMPLES = [ROOT / "examples" / "flights" / "flight_delays.pipe", ROOT / "examples" / "penguins" / "species.pipe"]


def column_places(path: Path):
    """(offset of the first column named in each column argument of each step, that step's input)."""
    analysis = analyse(path.read_text(), str(path))
    for pipeline in analysis.pipelines():
        for site in analysis.step_sites(pipeline):
            value = analysis.input_of(site.call)
            for arg in site.call.args:
                step = STEPS.get(site.call.name)
                if step is not None and step.argument_value(arg.name or "*") == "column":
                    ref = next((e for e in walk(arg.value) if isinstance(e, ast.ColumnRef) and e.type), None)
                    if ref is not None and isinstance(value, TableType):
                        yield ref.span.start, value.schema_.names


def columns_offered(text: str, path: Path, offset: int) -> list[str]:
    return [item.label for item in complete(analyse(text, str(path)), offset)
            if item.kind == types.CompletionItemKind.Field]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_columns_offered_are_the_step_input(path: Path):
    text = path.read_text()
    places = list(column_places(path))
    assert len(places) > 10
    for offset, columns in places:
        assert columns_offered(text, path, offset) == columns
        unfinished = text[:offset] + text[text.index("\n", offset):]
        assert columns_offered(unfinished, path, offset) == columns, text[offset - 40:offset]
