"""Syntax errors are in words, name the right place, and several are reported per file."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipec.grammar import parse_pipe


def in_body(line: str) -> str:
    return "pipeline p {\n  x = read_csv(\"a\", schema=S)\n" + line + "\n}\n"


# (source, code, line, column, words the message must contain)
CASES = [
    (in_body("  y = x filter(a > 1)"), "E0001", 3, 9, "expected `|`"),
    (in_body("  y = x | filter(a > 1 and b = 2)"), "E0001", 3, 30, "unexpected `=`"),
    (in_body("  y = x | filter(a <> 2)"), "E0001", 3, 21, "`<>` is not an operator"),
    (in_body("  y = x | select(a b)"), "E0001", 3, 20, "expected `)` or `,` after the argument"),
    (in_body("  y = x | select([a b])"), "E0001", 3, 21, "expected `,` or `]`"),
    (in_body("  y = x | distinct"), "E0001", 3, 19, "expected `(` after the step name"),
    (in_body("  schema = x | limit(1)"), "E0001", 3, 3, "`schema` is a keyword"),
    (in_body("  import, b = x | split()"), "E0001", 3, 3, "`import` is a keyword"),
    (in_body("  y = x | filter(a >)"), "E0001", 3, 21, "expected an expression"),
    (in_body("  y = x | filter(a > 'b')"), "E0002", 3, 22, "double quotes"),
    (in_body("  y = x | filter(a > \"b)"), "E0003", 3, 22, "unterminated string"),
    (in_body("  y = x | filter(a > 1))"), "E0004", 3, 24, "unmatched `)`"),
    (in_body("  y = x | filter(a ? 1)"), "E0001", 3, 20, "found `?`"),
    (in_body("  y = x | filter(a ~ 1)"), "E0002", 3, 20, "unexpected character `~`"),
    (in_body("  y = x | f(\"\\d\")"), "E0005", 3, 14, "unknown escape"),
    ("pipeline p()\n  x = 1\n}\n", "E0001", 1, 13, "expected `{` after the pipeline header"),
    ("x = 1\n", "E0001", 1, 1, "expected a declaration"),
    ("pipeline p {\n  y = f(a,\n", "E0004", 2, 8, "`(` is never closed"),
    ("schema S {\n  a: \n}\n", "E0001", 2, 5, "expected a name"),
    ("pipeline p {\n  param n: int\n}\n", "E0001", 2, 15, "needs a default"),
    ('"""doc', "E0003", 1, 1, "unterminated docstring"),
]


@pytest.mark.parametrize("source, code, line, column, words", CASES,
                         ids=[c[4] for c in CASES])
def test_message_place_and_words(source, code, line, column, words):
    _, diagnostics = parse_pipe(source, "t.pipe")
    assert diagnostics, "expected a syntax error"
    first = diagnostics[0]
    assert (first.code, first.span.line, first.span.column) == (code, line, column), first
    assert words in first.message
    if "`<>`" in words:
        assert "`!=`" in first.help
    for d in diagnostics:
        assert not re.search(r"\b(RPAR|LPAR|__ANON|_NL|\$END|NAME|VBAR)\b", d.message + (d.help or ""))


def test_several_errors_in_one_file_and_the_good_statements_kept():
    source = ("pipeline p {\n"
              "  a = read_csv(\"a\", schema=S) filter(x)\n"
              "  b = a | select(x y)\n"
              "  c = a | limit(1)\n"
              "  d = a | filter(x = = 1)\n"
              "  c | write_csv(\"c.csv\")\n"
              "}\n"
              "pipeline q( {\n"
              "}\n"
              "pipeline r {\n"
              "  t | write_csv(\"o\"\n"
              "}\n")
    module, diagnostics = parse_pipe(source, "t.pipe")
    assert [d.span.line for d in diagnostics] == [2, 3, 5, 8, 11]
    p = module.declarations[0]
    assert [s.targets[0].name for s in p.body if s.kind == "binding"] == ["c"]
    assert [s.kind for s in p.body] == ["binding", "sink"]


def test_recovery_keeps_each_statement_before_the_error_once():
    # The parser returns to its state at the last statement boundary; the statements parsed
    # before it must come back once (lark grows the statement list in place). The `(` left open
    # is closed where the next statement starts, so the statements after it are kept too.
    example = Path(__file__).parents[2] / "examples" / "flights" / "flight_delays.pipe"
    source = example.read_text().replace("log(distance))", "log(distance)")
    module, diagnostics = parse_pipe(source, "t.pipe")
    assert [d.code for d in diagnostics] == ["E0001"]
    body = module.declarations[1].body
    assert [s.targets[0].name for s in body if s.kind == "binding"] == \
        ["flights", "weather", "train", "model", "scored", "report", "by_carrier"]


def test_a_file_that_stops_before_its_last_brace_keeps_its_last_statement():
    # What an editor sees while a pipeline is being written top-down.
    source = 'pipeline p {\n  a = read_csv("a", schema=S)\n  b = a | limit(1)\n'
    module, diagnostics = parse_pipe(source, "t.pipe")
    assert [d.message for d in diagnostics] == ["`{` is never closed"]
    assert [s.targets[0].name for s in module.declarations[0].body] == ["a", "b"]


def test_help_points_at_an_unclosed_parenthesis_on_an_earlier_line():
    _, diagnostics = parse_pipe("pipeline p {\n  a = f(x,\n    y z)\n}\n", "t.pipe")
    assert any("line 2" in (d.help or "") for d in diagnostics), diagnostics


def test_an_unclosed_parenthesis_before_the_next_statement_is_named():
    _, diagnostics = parse_pipe("pipeline p {\n  a = f(x\n  b = g(y)\n}\n", "t.pipe")
    assert [(d.code, d.span.line, d.span.column, d.message) for d in diagnostics] == \
        [("E0004", 2, 8, "`(` is never closed")]


UNCLOSED = ("pipeline p {\n"
            "  x = read_csv(\"a.csv\", schema={a: int}\n"
            "  y = x | frobnicate(a > 1)\n"
            "  w = y +\n"
            "  y | write_csv(\"o.csv\")\n"
            "}\n")


def test_an_unclosed_parenthesis_does_not_hide_the_rest_of_the_pipeline():
    module, diagnostics = parse_pipe(UNCLOSED, "t.pipe")
    assert [(d.code, d.span.line, d.span.column) for d in diagnostics] == [("E0004", 2, 15), ("E0001", 4, 10)]
    assert diagnostics[0].message == "`(` is never closed"
    assert [s.kind for s in module.declarations[0].body] == ["binding", "sink"]


def test_the_editor_checks_the_statements_after_an_unclosed_parenthesis():
    from pipec.compiler.check import check_parsed

    source = UNCLOSED.replace("  w = y +\n", "").replace("y = x |", "y = read_csv(\"b.csv\", schema={a: int}) |")
    module, syntax = parse_pipe(source, "t.pipe")
    program = check_parsed(module, syntax, source, "t.pipe", partial=True)
    assert any("frobnicate" in d.message for d in program.diagnostics), program.diagnostics


def test_a_missing_comma_between_arguments_on_their_own_lines_is_still_one_error():
    source = in_body("  y = x | derive(\n      a = 1\n      b = 2)")
    _, diagnostics = parse_pipe(source, "t.pipe")
    assert [(d.code, d.span.line, d.message) for d in diagnostics] == \
        [("E0001", 5, "expected `)` or `,` after the argument")]
