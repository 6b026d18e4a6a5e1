"""Which arguments name bound values is each step's answer (`Step.argument_values`), so a binding
given by keyword (`union(other=b)`) is as much a reference as one given by position."""
from __future__ import annotations

from pipec.lsp.analysis import analyse
from pipec.lsp.navigation import occurrences

TEXT = '''schema T { a: int }
pipeline p {
  a = read_csv("a.csv", schema=T)
  b = read_csv("b.csv", schema=T)
  j = read_csv("j.csv", schema=T)
  both = a | union(other=b) | union(j) | join(right=j, on=[a], how="semi")
  both | write_csv("o.csv")
}
'''


def references(name: str) -> list[int]:
    analysis = analyse(TEXT, "nav.pipe")
    assert not [d for d in analysis.program.diagnostics if d.severity == "error"]
    return [o.span.column for o in occurrences(analysis)
            if o.symbol.kind == "binding" and o.symbol.name == name and not o.is_definition]


def test_bindings_given_by_keyword_or_position_are_references():
    assert len(references("b")) == 1          # union(other=b)
    assert len(references("j")) == 2          # union(j) and join(right=j)
    assert references("a") == [10]            # the head of the chain, not the join key `on=[a]`
