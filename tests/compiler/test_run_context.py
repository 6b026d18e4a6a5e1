"""The run context in the language (docs/language.md, "The run context"): `run.<field>` in
expressions and `${run.<field>}` in strings are typed, wrong uses are located E0125 errors, and
the IR carries them (and says so) without changing the IR of pipelines that do not use them."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipec.compiler import ast
from pipec.compiler.check import check_source
from pipec.compiler.ir import IR
from pipec.grammar.format import format_module
from pipec.grammar.parser import parse_pipe
from tests.support.interrupts import calls_made_by, interrupted_at_call

SOURCE = """pipeline p(schedule="@daily") {
  t = read_csv("data/date=${run.date}/part.csv", schema={time_hour: timestamp, day: date, run: int})
    | filter(time_hour >= run.interval_start and time_hour < run.interval_end)
    | derive(today=run.date, logical=run.logical_date, ends=run.interval_end, again=run + 1)
  t | write_csv("out/${run.date}.csv")
}
"""


def check(source: str):
    return check_source(source, "p.pipe")


def errors(source: str) -> list[tuple[str, int, int, str]]:
    return [(d.code, d.span.line, d.span.column, d.message) for d in check(source).diagnostics if d.is_error]


def test_run_values_have_their_types_and_run_alone_is_still_a_column():
    program = check(SOURCE)
    assert program.ok, [d.message for d in program.diagnostics]
    (derive,) = [n for n in program.pipelines["p"].nodes() if n.step == "derive"]
    types = {f.name: str(f.type) for f in derive.output.schema_.fields}
    assert types == {"time_hour": "timestamp", "day": "date", "run": "int", "today": "date",
                     "logical": "timestamp", "ends": "timestamp", "again": "int"}


def test_a_run_value_compares_like_a_value_of_its_type():
    wrong = SOURCE.replace("time_hour >= run.interval_start", "time_hour >= run.date")
    assert errors(wrong) == [("E0202", 3, 14, "cannot compare timestamp with date")]


@pytest.mark.parametrize("text, where", [
    ("derive(today = run.dat)", (4, 22)),
    ("filter(run.start < time_hour)", (4, 14)),
])
def test_an_unknown_run_field_is_a_located_E0125_with_a_suggestion(text, where):
    source = SOURCE.replace("derive(today=run.date, logical=run.logical_date, ends=run.interval_end, "
                            "again=run + 1)", text)
    (diagnostic,) = [d for d in check(source).diagnostics if d.is_error]
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.column) == ("E0125", *where)
    assert diagnostic.message.startswith("unknown run value `run.")
    assert "run.date, run.logical_date, run.interval_start, run.interval_end" in diagnostic.notes[0]


def test_an_unknown_run_field_in_a_string_is_E0125_and_suggests_the_field():
    (diagnostic,) = [d for d in check(SOURCE.replace("${run.date}/part", "${run.dte}/part")).diagnostics
                     if d.is_error]
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.column) == ("E0125", 2, 16)
    assert diagnostic.help == "did you mean `run.date`?"


def test_options_and_param_defaults_cannot_wait_for_the_run():
    source = """pipeline p(start=run.date) {
  param since: date = run.date
  t = read_csv("t.csv", schema={day: date}) | filter(day >= $since)
  t | write_csv("o.csv")
}
"""
    found = [e for e in errors(source) if e[0] == "E0125"]
    assert [(code, line, column) for code, line, column, _ in found] == [("E0125", 1, 18), ("E0125", 2, 23)]
    assert "run values are known only when a run starts" in found[0][3]


def test_the_formatter_writes_run_values_back_as_they_were_written():
    module, diagnostics = parse_pipe(SOURCE, "p.pipe")
    assert diagnostics == []
    assert format_module(module, SOURCE) == SOURCE


def test_the_ir_carries_run_values_and_round_trips():
    ir = check(SOURCE).pipelines["p"]
    assert ir.uses_run_context()
    (flt,) = [n for n in ir.nodes() if n.step == "filter"]
    left = flt.args.predicate.left.right
    assert isinstance(left, ast.RunRef) and left.field == "interval_start" and str(left.type) == "timestamp"
    text = ir.dumps()
    assert '"kind": "run"' in text
    assert IR.from_json(json.loads(text)).dumps() == text


def test_a_pipeline_without_run_values_does_not_use_the_run_context():
    ir = check("""pipeline p() {
  t = read_csv("runs/${x}.csv", schema={run: int}) | filter(run > 1)
  t | write_csv("o.csv")
  param x: str = "a"
}
""").pipelines["p"]
    assert not ir.uses_run_context()
    assert '"run"' not in ir.dumps().replace('"name": "run"', "")


def test_the_example_of_the_language_reference_checks():
    text = (Path(__file__).parents[2] / "docs" / "language.md").read_text()
    example = text.split("### The run context", 1)[1].split("```\n", 2)[1]
    program = check("schema Flight { carrier: str, time_hour: timestamp }\n" + example)
    assert program.ok, [d.message for d in program.diagnostics]
    assert program.pipelines["daily_flights"].uses_run_context()


WITHOUT_RUN_VALUES = """pipeline p() {
  t = read_csv("runs/${x}.csv", schema={run: int, v: float}) | filter(run > 1) | derive(w = v * 2.0)
  t | aggregate(by=[run], total = sum(w)) | write_csv("o.csv")
  param x: str = "a"
}
"""


@pytest.mark.parametrize("source", [SOURCE, WITHOUT_RUN_VALUES])
def test_a_ctrl_c_while_looking_for_run_values_is_never_swallowed(source):
    """`uses_run_context` runs at the start of every `pipec run`: a Ctrl-C landing in it, wherever
    it lands (it used to serialise every argument, and pydantic lost an interrupt raised inside
    Span's serializer), stops the run."""
    ir = check(source).pipelines["p"]
    calls = calls_made_by(ir.uses_run_context)
    assert calls > 0
    assert all(interrupted_at_call(ir.uses_run_context, n) for n in range(1, calls + 1))
