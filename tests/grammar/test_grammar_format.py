"""`pipec fmt`: canonical, idempotent, keeps every comment, and never changes meaning."""
from __future__ import annotations

from pathlib import Path

import pytest

from grammar_helpers import parse_ok, without_spans
from pipec.grammar.format import format_module

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*/*.pipe"))

MESSY = '''# header comment
import   "s.pipe"
schema S { a:int,b : str?
  `c d` : float }   # trailing on schema
"""Doc."""
pipeline p( schedule = "@daily" , retries=2 ) {   # header comment
  param n : int = -3
  # before t
  t = read_csv( "a.csv" , schema = S ) | filter( ( a + 1 ) * 2 > $n and not ( b is null ) )   # on t


  u = t|select(a,`c d`)|sort(-a)
    # between steps
    | limit(n = 10)  # on limit
  u | write_csv( "u.csv" )
  # before closing brace
}
# at the end
'''


def fmt(text: str) -> str:
    return format_module(parse_ok(text), text)


def test_messy_file_gets_the_canonical_layout():
    assert fmt(MESSY) == '''# header comment
import "s.pipe"

schema S {
  a: int
  b: str?
  `c d`: float  # trailing on schema
}

"""Doc."""
pipeline p(schedule="@daily", retries=2) {  # header comment
  param n: int = -3
  # before t
  t = read_csv("a.csv", schema=S) | filter((a + 1) * 2 > $n and not b is null)  # on t

  u = t
    | select(a, `c d`)
    | sort(-a)
    # between steps
    | limit(n=10)  # on limit
  u | write_csv("u.csv")
  # before closing brace
}
# at the end
'''


@pytest.mark.parametrize("text", [MESSY, *[p.read_text() for p in EXAMPLES]])
def test_idempotent_and_meaning_preserving(text):
    once = fmt(text)
    assert fmt(once) == once
    assert without_spans(parse_ok(once)) == without_spans(parse_ok(text))


@pytest.mark.parametrize("text", [MESSY, *[p.read_text() for p in EXAMPLES]])
def test_every_comment_is_kept(text):
    before = [c.text for c in parse_ok(text).comments]
    assert sorted(c.text for c in parse_ok(fmt(text)).comments) == sorted(before)


@pytest.mark.parametrize("expression", [
    "a - (b - c)", "(a - b) - c", "-(a + b)", "not (a and b)", "(a or b) and c", "a * (b + c)",
    "(a == b) == c", "(a + b) is null", "-(-a)", "x - -1", "-1 * x", "(a > 1) in [true]",
])
def test_parentheses_follow_precedence(expression):
    text = f"pipeline p {{\n  x = t | f({expression})\n}}\n"
    assert without_spans(parse_ok(fmt(text))) == without_spans(parse_ok(text))


def test_long_calls_are_broken_one_argument_per_line():
    args = ", ".join(f"column_number_{i}" for i in range(12))
    text = f"pipeline p {{\n  x = t | select({args})\n}}\n"
    out = fmt(text)
    assert "    | select(\n        column_number_0,\n" in out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert fmt(out) == out
