"""Fuzzing the checker: programs that parse but are mutated in meaning (names swapped for other
names, arguments dropped or duplicated, steps reordered) only ever produce diagnostics, never an
exception; the ones that still check also optimize with every invariant holding."""
from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipec.compiler.check import check_source
from pipec.compiler.passes import optimize

ROOT = Path(__file__).parents[2]
SOURCES = [p.read_text() for p in sorted(ROOT.glob("tests/backends/conformance/pipelines/*.pipe"))
           if p.name != "schemas.pipe"]
SCHEMAS = (ROOT / "tests/backends/conformance/pipelines/schemas.pipe").read_text()
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NAMES = sorted({w for s in SOURCES + [SCHEMAS] for w in WORD.findall(s)}) + [
    "null", "true", "str", "float", "int?", "filtr", "arr_delayy", "kmeans", "predict", "model"]
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated(draw):
    """A conformance pipeline (schemas inlined) with a few words replaced, lines dropped or swapped."""
    lines = (SCHEMAS + draw(st.sampled_from(SOURCES)).replace('import "schemas.pipe"', "")).split("\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["word", "word", "drop", "swap", "duplicate"]))
        if action == "word":
            words = list(WORD.finditer(lines[i]))
            if words:
                m = draw(st.sampled_from(words))
                lines[i] = lines[i][:m.start()] + draw(st.sampled_from(NAMES)) + lines[i][m.end():]
        elif action == "drop":
            del lines[i]
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines.insert(i, lines[i])
    return "\n".join(lines)


@FUZZ
@given(mutated())
def test_mutated_programs_give_diagnostics_never_exceptions(text):
    program = check_source(text, "fuzz.pipe")
    for d in program.diagnostics:
        assert re.fullmatch(r"[EW]\d{4}", d.code) and d.message
        assert d.span is not None or d.code in ("E0006", "E0124"), d
    for ir in program.pipelines.values():
        for backend in ("local", "spark", "airflow"):
            optimize(ir, backend=backend)  # invariants are checked after every pass
