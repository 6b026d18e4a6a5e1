"""Every construct of LANGUAGE.md parses into the expected AST, with exact spans."""
from __future__ import annotations

from pathlib import Path

import pytest

from grammar_helpers import body, expr, parse_ok
from pipec.compiler import ast
from pipec.grammar import parse_expression, parse_source

REPO = Path(__file__).parents[2]
LANGUAGE = REPO.parent / "shared" / "LANGUAGE.md"  # the contract beside the repository
EXAMPLES = REPO / "examples"


def language_example() -> str:
    text = REPO / "docs" / "language.md"
    source = text.read_text() if text.exists() else LANGUAGE.read_text()
    return source.split("```\n", 2)[1]


def test_whole_example_of_language_md():
    module = parse_ok(language_example())
    imports, pipeline = module.declarations
    assert imports.path == "schemas.pipe"
    assert pipeline.name == "flight_delays"
    assert pipeline.doc == "Train and evaluate a late-arrival classifier every day."
    assert [o.name for o in pipeline.options] == ["schedule", "start", "retries", "retry_delay",
                                                  "owner", "tags"]
    kinds = [s.kind for s in pipeline.body]
    assert kinds == ["param"] * 3 + ["binding"] * 8 + ["sink"] * 4
    features = pipeline.body[5]
    assert [t.name for t in features.targets] == ["features"]
    assert [s.name for s in features.value.steps] == ["filter", "join", "fill_null", "derive",
                                                      "select"]
    split = pipeline.body[6]
    assert [t.name for t in split.targets] == ["train", "test"]
    assert [c.text for c in module.comments][0].startswith("# flights.pipe")


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*/*.pipe")), ids=lambda p: p.name)
def test_every_example_parses(path):
    parse_ok(path.read_text(), str(path))


def test_schema_declaration_with_commas_newlines_backticks_and_nullable():
    module = parse_ok('schema Flight {\n  year: int, month: int\n  `arr delay`: float?\n'
                      '  tags: list[str]\n}\n')
    (schema,) = module.declarations
    assert [(f.name, f.quoted, str(f.type)) for f in schema.fields] == [
        ("year", False, "int"), ("month", False, "int"), ("arr delay", True, "float?"),
        ("tags", False, "list[str]")]


def test_schema_literal_in_arguments_may_span_lines():
    (statement,) = body('t = read_csv("a.csv", schema={\n  a: int,\n  b: str?\n})')
    schema = statement.value.head.keyword("schema").value
    assert isinstance(schema, ast.SchemaLiteral)
    assert [(f.name, str(f.type)) for f in schema.fields] == [("a", "int"), ("b", "str?")]


def test_params_with_every_type_and_docs():
    statements = body('"""How many."""\nparam n: int = 3\nparam r: float = -1.5\n'
                      'param ok: bool = true\nparam d: date = "2020-01-01"\n'
                      'param wait: duration = 5m\nparam names: list[str] = ["a", "b"]')
    assert [(s.name, str(s.type)) for s in statements] == [
        ("n", "int"), ("r", "float"), ("ok", "bool"), ("d", "date"), ("wait", "duration"),
        ("names", "list[str]")]
    assert statements[0].doc == "How many."
    assert statements[1].default.value == -1.5   # a negative number is one literal
    assert statements[4].default.value == 300 and statements[4].default.text == "5m"


def test_chain_continues_on_lines_starting_with_a_pipe_and_keywords_name_arguments():
    (statement,) = body('t = read_csv("a.csv", schema=S)\n\n  # a comment\n  | filter(x > 1)\n'
                        '  | python("m:f", schema=S, pipeline=1)')
    chain = statement.value
    assert chain.head.name == "read_csv"
    assert [a.name for a in chain.steps[1].args] == [None, "schema", "pipeline"]


def test_sink_statement_and_pipeline_without_options():
    module = parse_ok('pipeline p {\n  t | write_csv("o.csv")\n}')
    (sink,) = module.declarations[0].body
    assert sink.kind == "sink" and sink.value.head.name == "t"


@pytest.mark.parametrize("source, expected", [
    ("a or b and not c == 1", ("or", "a", ("and", "b", ("not", ("==", "c", 1))))),
    ("a + b * c - d", ("-", ("+", "a", ("*", "b", "c")), "d")),
    ("-a * b", ("*", ("-", "a"), "b")),
    ("a // b % c / d", ("/", ("%", ("//", "a", "b"), "c"), "d")),
    ("(a + b) * c", ("*", ("+", "a", "b"), "c")),
    ("2013 - year", ("-", 2013, "year")),
    ("not a is null", ("not", ("is null", "a"))),
    ("a + 1 is not null", ("is not null", ("+", "a", 1))),
    ("x in [1, 2] and y", ("and", ("in", "x", [1, 2]), "y")),
    ("$p <= `arr delay`", ("<=", "$p", "arr delay")),
])
def test_precedence(source, expected):
    assert shape(expr(source)) == expected


def shape(e):
    """A compact, independent description of an expression tree for the precedence table."""
    if isinstance(e, ast.Binary):
        return (e.op, shape(e.left), shape(e.right))
    if isinstance(e, ast.Unary):
        return (e.op, shape(e.operand))
    if isinstance(e, ast.IsNull):
        return ("is not null" if e.negated else "is null", shape(e.operand))
    if isinstance(e, ast.InList):
        return ("in", shape(e.operand), [shape(i) for i in e.items])
    if isinstance(e, ast.ColumnRef):
        return e.name
    if isinstance(e, ast.ParamRef):
        return "$" + e.name
    return e.value


@pytest.mark.parametrize("source, literal_type, value", [
    ("42", "int", 42), ("3.5", "float", 3.5), ("1e-3", "float", 0.001), (".5", "float", 0.5),
    (r'"a \"b\" \\ c\n"', "str", 'a "b" \\ c\n'), ("true", "bool", True), ("false", "bool", False),
    ("null", "null", None), ("30s", "duration", 30), ("5m", "duration", 300),
    ("2h", "duration", 7200), ("1d", "duration", 86400), ("-7", "int", -7),
])
def test_literals(source, literal_type, value):
    e = expr(source)
    assert (e.literal_type, e.value) == (literal_type, value)


def test_calls_lists_and_type_names_as_columns():
    e = expr("cast(x, float)")
    assert e.name == "cast" and [a.value.name for a in e.args] == ["x", "float"]
    assert isinstance(expr("[a, b,]"), ast.ListExpr)
    assert [a.name for a in expr("count()").args] == []


def test_spans_are_smallest_and_one_based():
    text = 'pipeline p {\n  x = t | f(abs(a + 1), n = 2)\n}'
    module = parse_ok(text)
    call = module.declarations[0].body[0].value.steps[0]
    assert text[call.span.start:call.span.end] == "f(abs(a + 1), n = 2)"
    assert text[call.name_span.start:call.name_span.end] == "f"
    inner = call.args[0].value
    assert text[inner.span.start:inner.span.end] == "abs(a + 1)"
    assert (inner.span.line, inner.span.column) == (2, 13)
    keyword = call.args[1]
    assert text[keyword.span.start:keyword.span.end] == "n = 2"
    assert text[keyword.name_span.start:keyword.name_span.end] == "n"
    binding = module.declarations[0].body[0]
    assert text[binding.span.start:binding.span.end] == "x = t | f(abs(a + 1), n = 2)"
    pipeline = module.declarations[0]
    assert (pipeline.span.start, pipeline.span.end) == (0, len(text))


def test_parse_expression_with_offset_into_a_bigger_source():
    source = "xxxx\nfilter: a > 1"
    e, diagnostics = parse_expression("a > 1", "f.yaml", 13, source=source)
    assert diagnostics == []
    assert (e.span.start, e.span.end, e.span.line, e.span.column) == (13, 18, 2, 9)
    assert (e.right.span.line, e.right.span.column) == (2, 13)


def test_parse_source_dispatches_on_the_file_name():
    module, diagnostics = parse_source("pipeline: p\nsteps: {}\n", "a.pipe.yaml")
    assert diagnostics == [] and module.declarations[0].name == "p"


def test_backticked_new_column_names_parse_and_format_back():
    from pipec.grammar.format import format_module

    source = ('pipeline p {\n  x = t | derive(`late flight`=a > 15) | select(`x y`=a, `late flight`)'
              ' | rename(`z z`=`x y`) | aggregate(`n rows`=count(), `select`=sum(a))\n  x | write_csv("o.csv")\n}\n')
    module = parse_ok(source)
    chain = module.declarations[0].body[0].value
    assert [[a.name for a in call.args] for call in chain.steps] == [
        ["late flight"], ["x y", None], ["z z"], ["n rows", "select"]]
    formatted = format_module(module, source)
    assert "derive(`late flight`=a > 15)" in formatted
    again = parse_ok(formatted).declarations[0].body[0].value
    assert [[a.name for a in call.args] for call in again.steps] == [[a.name for a in call.args] for call in chain.steps]
