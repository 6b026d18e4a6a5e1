"""Fuzzing: random text and mutated valid programs never raise, they only give diagnostics."""
from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grammar_helpers import without_spans
from pipec.grammar import parse_pipe, parse_yaml
from pipec.grammar.format import format_module
from pipec.grammar.lexing import lex

EXAMPLE = (Path(__file__).parents[2] / "examples" / "flights" / "flight_delays.pipe").read_text()
EXAMPLE_YAML = (Path(__file__).parents[2] / "examples" / "flights" /
                "flight_delays.pipe.yaml").read_text()
EXAMPLE_TOKENS = [str(t) for t in lex(EXAMPLE)[0]]
PIECES = [t for t in EXAMPLE_TOKENS if not t.startswith("#")] + \
    ["\n", "(", ")", "[", "]", "{", "}", '"', "'", "`", "|", "=", "\"\"\"", "#", "$", "\\", "é"]
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_diagnostics_only(text: str, parse=parse_pipe) -> None:
    module, diagnostics = parse(text, "fuzz.pipe")
    for d in diagnostics:
        assert d.code.startswith("E00") and d.message and d.span is not None
    if parse is parse_pipe and not diagnostics:
        formatted = format_module(module, text)
        again, problems = parse_pipe(formatted, "fuzz.pipe")
        assert problems == [] and without_spans(again) == without_spans(module)


@FUZZ
@given(st.text(max_size=200))
def test_random_text(text):
    assert_diagnostics_only(text)


@FUZZ
@given(st.lists(st.sampled_from(PIECES), max_size=60).map(" ".join))
def test_random_token_soup(text):
    assert_diagnostics_only(text)


@st.composite
def mutated_example(draw):
    tokens = list(EXAMPLE_TOKENS)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(tokens) - 1))
        action = draw(st.sampled_from(["delete", "insert", "swap"]))
        if action == "delete":
            del tokens[i]
        elif action == "insert":
            tokens.insert(i, draw(st.sampled_from(PIECES)))
        else:
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
    return " ".join(tokens)


@FUZZ
@given(mutated_example())
def test_mutated_programs(text):
    assert_diagnostics_only(text)


@FUZZ
@given(st.integers(0, len(EXAMPLE_YAML)), st.integers(0, 40), st.text(max_size=8))
def test_mutated_yaml(start, length, insert):
    text = EXAMPLE_YAML[:start] + insert + EXAMPLE_YAML[start + length:]
    assert_diagnostics_only(text, parse_yaml)
