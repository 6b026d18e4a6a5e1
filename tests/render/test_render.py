"""The terminal and JSON renderings of diagnostics, compared with exact expected text."""
from __future__ import annotations

import io
import json

import pytest

from pipec.compiler.diagnostics import Diagnostic, Label
from pipec.compiler.render import (render_diagnostic, render_json, render_terminal, should_color,
                                   summary_line)
from pipec.compiler.span import Span, span_from_offsets

FILE = "examples/flights/flight_delays.pipe"
SOURCE = (
    "pipeline flight_delays() {\n"               # 1
    "  flights = read_csv(\"f.csv\", schema=Flight)\n"  # 2
    "  a = 1\n"                                  # 3
    "  b = 2\n"                                  # 4
    "  c = 3\n"                                  # 5
    "  d = 4\n"                                  # 6
    "  e = 5\n"                                  # 7
    "  f = 6\n"                                  # 8
    "  g = 7\n"                                  # 9
    "  late = flights\n"                         # 10
    "    | derive(x = 1)\n"                      # 11
    "    | filter(arr_delayy > 15)\n"            # 12
    "}\n"
)


def span_of(text: str, occurrence: int = 0, file: str = FILE, source: str = SOURCE) -> Span:
    start = -1
    for _ in range(occurrence + 1):
        start = source.index(text, start + 1)
    return span_from_offsets(file, source, start, start + len(text))


UNKNOWN_COLUMN = Diagnostic(
    code="E0201", message="unknown column `arr_delayy`", span=span_of("arr_delayy"),
    label="not a column of `flights`", help="did you mean `arr_delay`?",
    notes=["available columns: year, month, day, ..."])


def test_single_line_span_with_help_and_note():
    assert render_diagnostic(UNKNOWN_COLUMN, {FILE: SOURCE}) == (
        "error[E0201]: unknown column `arr_delayy`\n"
        "  --> examples/flights/flight_delays.pipe:12:14\n"
        "   |\n"
        "12 |     | filter(arr_delayy > 15)\n"
        "   |              ^^^^^^^^^^ not a column of `flights`\n"
        "   |\n"
        "   = help: did you mean `arr_delay`?\n"
        "   = note: available columns: year, month, day, ..."
    )


def test_secondary_label_on_a_distant_line_elides_the_gap():
    d = Diagnostic(code="E0102", message="`late` uses `flights` twice",
                   span=span_of("flights", 1), label="used again here",
                   labels=[Label(span=span_of("flights", 0), message="first bound here")])
    assert render_diagnostic(d, {FILE: SOURCE}) == (
        "error[E0102]: `late` uses `flights` twice\n"
        "  --> examples/flights/flight_delays.pipe:10:10\n"
        "   |\n"
        " 2 |   flights = read_csv(\"f.csv\", schema=Flight)\n"
        "   |   ------- first bound here\n"
        "...\n"
        "10 |   late = flights\n"
        "   |          ^^^^^^^ used again here"
    )


def test_a_one_line_gap_shows_the_line_instead_of_dots():
    d = Diagnostic(code="E0102", message="clash", span=span_of("c = 3"), label="here",
                   labels=[Label(span=span_of("a = 1"), message="there")])
    assert render_diagnostic(d, {FILE: SOURCE}) == (
        "error[E0102]: clash\n"
        " --> examples/flights/flight_delays.pipe:5:3\n"
        "  |\n"
        "3 |   a = 1\n"
        "  |   ----- there\n"
        "4 |   b = 2\n"
        "5 |   c = 3\n"
        "  |   ^^^^^ here"
    )


def test_two_marks_on_one_line_each_get_their_own_row_in_column_order():
    d = Diagnostic(code="E0301", message="type mismatch", span=span_of("15"), label="int",
                   labels=[Label(span=span_of("arr_delayy"), message="str")])
    assert render_diagnostic(d, {FILE: SOURCE}) == (
        "error[E0301]: type mismatch\n"
        "  --> examples/flights/flight_delays.pipe:12:27\n"
        "   |\n"
        "12 |     | filter(arr_delayy > 15)\n"
        "   |              ---------- str\n"
        "   |                           ^^ int"
    )


def test_multi_line_span_underlines_each_line_and_labels_the_last():
    d = Diagnostic(code="W0101", severity="warning", message="`late` is never used",
                   span=span_of("late = flights\n    | derive(x = 1)\n    | filter(arr_delayy > 15)"),
                   label="reaches no sink", help="write it with a sink or remove it")
    assert render_diagnostic(d, {FILE: SOURCE}) == (
        "warning[W0101]: `late` is never used\n"
        "  --> examples/flights/flight_delays.pipe:10:3\n"
        "   |\n"
        "10 |   late = flights\n"
        "   |   ^^^^^^^^^^^^^^\n"
        "11 |     | derive(x = 1)\n"
        "   |     ^^^^^^^^^^^^^^^\n"
        "12 |     | filter(arr_delayy > 15)\n"
        "   |     ^^^^^^^^^^^^^^^^^^^^^^^^^ reaches no sink\n"
        "   |\n"
        "   = help: write it with a sink or remove it"
    )


def test_long_multi_line_span_keeps_its_first_lines_and_its_last():
    d = Diagnostic(code="E0900", message="too long", span=span_of("a = 1\n  b = 2\n  c = 3\n  d = 4\n  e = 5"),
                   label="this block")
    assert render_diagnostic(d, {FILE: SOURCE}) == (
        "error[E0900]: too long\n"
        " --> examples/flights/flight_delays.pipe:3:3\n"
        "  |\n"
        "3 |   a = 1\n"
        "  |   ^^^^^\n"
        "4 |   b = 2\n"
        "  |   ^^^^^\n"
        "...\n"
        "7 |   e = 5\n"
        "  |   ^^^^^ this block"
    )


def test_tabs_are_expanded_and_the_caret_follows():
    source = "x = t\n\t| filter(bad)\n"
    d = Diagnostic(code="E0201", message="unknown column `bad`", span=span_of("bad", file="t.pipe", source=source))
    assert render_diagnostic(d, {"t.pipe": source}) == (
        "error[E0201]: unknown column `bad`\n"
        " --> t.pipe:2:11\n"
        "  |\n"
        "2 |     | filter(bad)\n"
        "  |              ^^^"
    )


def test_empty_span_at_the_end_of_the_file_gets_one_caret():
    source = "pipeline p() {\n"
    d = Diagnostic(code="E0001", message="expected `}`", label="the file ends here",
                   span=span_from_offsets("p.pipe", source, len(source), len(source)))
    assert render_diagnostic(d, {"p.pipe": source}) == (
        "error[E0001]: expected `}`\n"
        " --> p.pipe:2:1\n"
        "  |\n"
        "2 |\n"
        "  | ^ the file ends here"
    )


def test_label_in_another_file_opens_its_own_snippet():
    other = "schema Flight {\n  year: int\n}\n"
    d = Diagnostic(code="E0201", message="unknown column `arr_delayy`", span=span_of("arr_delayy"),
                   labels=[Label(span=span_of("Flight", file="schemas.pipe", source=other),
                                 message="schema declared here")])
    assert render_diagnostic(d, {FILE: SOURCE, "schemas.pipe": other}) == (
        "error[E0201]: unknown column `arr_delayy`\n"
        "  --> examples/flights/flight_delays.pipe:12:14\n"
        "   |\n"
        "12 |     | filter(arr_delayy > 15)\n"
        "   |              ^^^^^^^^^^\n"
        "  ::: schemas.pipe:1:8\n"
        "   |\n"
        " 1 | schema Flight {\n"
        "   |        ------ schema declared here"
    )


def test_source_is_read_from_disk_when_not_given(tmp_path):
    path = tmp_path / "f.pipe"
    path.write_text(SOURCE)
    d = UNKNOWN_COLUMN.model_copy(update={"span": span_of("arr_delayy", file=str(path)), "notes": []})
    assert render_diagnostic(d).splitlines()[3] == "12 |     | filter(arr_delayy > 15)"


def test_unreadable_source_keeps_the_location_and_the_label():
    d = Diagnostic(code="E0201", message="unknown column `x`", label="not a column",
                   span=span_of("flights", file="/nonexistent/f.pipe"), help="check the schema")
    assert render_diagnostic(d) == (
        "error[E0201]: unknown column `x`\n"
        " --> /nonexistent/f.pipe:2:3\n"
        "  = note: not a column\n"
        "  = help: check the schema"
    )


def test_diagnostic_without_span():
    d = Diagnostic(code="E0002", message="no pipeline in this file", help="declare one with `pipeline`")
    assert render_diagnostic(d) == (
        "error[E0002]: no pipeline in this file\n"
        "  = help: declare one with `pipeline`"
    )


def test_render_terminal_separates_diagnostics_by_blank_lines():
    d = Diagnostic(code="E0002", message="first")
    assert render_terminal([d, d.model_copy(update={"message": "second"})]) == (
        "error[E0002]: first\n\nerror[E0002]: second\n\n")
    assert render_terminal([]) == ""


def test_colour_codes_when_asked():
    d = Diagnostic(code="W0101", severity="warning", message="unused", span=span_of("a = 1"), label="here")
    assert render_diagnostic(d, {FILE: SOURCE}, color=True) == (
        "\x1b[1m\x1b[33mwarning[W0101]\x1b[0m\x1b[1m: unused\x1b[0m\n"
        " \x1b[1m\x1b[34m-->\x1b[0m examples/flights/flight_delays.pipe:3:3\n"
        "\x1b[1m\x1b[34m  |\x1b[0m\n"
        "\x1b[1m\x1b[34m3 |\x1b[0m   a = 1\n"
        "\x1b[1m\x1b[34m  |\x1b[0m   \x1b[1m\x1b[33m^^^^^ here\x1b[0m"
    )


@pytest.mark.parametrize("severities, expected", [
    (["error", "error", "warning"], "error: could not check flights.pipe: 2 errors, 1 warning"),
    (["error"], "error: could not check flights.pipe: 1 error"),
    (["warning", "warning"], "warning: flights.pipe: 2 warnings"),
    ([], None),
])
def test_summary_line(severities, expected):
    items = [Diagnostic(code="E0001", severity=s, message="m") for s in severities]
    assert summary_line(items, "flights.pipe") == expected


def test_summary_line_names_the_action_and_can_be_coloured():
    items = [Diagnostic(code="E0001", message="m")]
    assert summary_line(items, "a.pipe", action="compile", color=True) == (
        "\x1b[1m\x1b[31merror\x1b[0m\x1b[1m: could not compile a.pipe: 1 error\x1b[0m")


class FakeStream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_should_color_needs_a_tty_and_no_NO_COLOR(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert should_color(FakeStream(tty=True))
    assert not should_color(FakeStream(tty=False))
    monkeypatch.setenv("NO_COLOR", "1")
    assert not should_color(FakeStream(tty=True))


def test_render_json_is_a_stable_document():
    d = Diagnostic(code="E0102", message="`flights` is bound twice", span=span_of("flights", 1),
                   label="bound again here", help="rename one",
                   labels=[Label(span=span_of("flights", 0), message="first bound here")])
    no_span = Diagnostic(code="W0002", severity="warning", message="empty file", notes=["n"])
    assert json.loads(render_json([d, no_span])) == [
        {"code": "E0102", "severity": "error", "message": "`flights` is bound twice",
         "file": FILE, "line": 10, "column": 10, "end_line": 10, "end_column": 17,
         "label": "bound again here",
         "labels": [{"message": "first bound here", "file": FILE, "line": 2, "column": 3,
                     "end_line": 2, "end_column": 10}],
         "help": "rename one", "notes": []},
        {"code": "W0002", "severity": "warning", "message": "empty file", "file": None, "line": None,
         "column": None, "end_line": None, "end_column": None, "label": None, "labels": [],
         "help": None, "notes": ["n"]},
    ]
    assert list(json.loads(render_json([d]))[0]) == [
        "code", "severity", "message", "file", "line", "column", "end_line", "end_column",
        "label", "labels", "help", "notes"]
    assert render_json([]) == "[]"
