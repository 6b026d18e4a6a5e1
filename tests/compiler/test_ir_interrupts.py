"""A Ctrl-C while the IR is written (`IR.to_json`, recorded by every `pipec run`) or fingerprinted
(`signature`, for CSE and the statistics and cache keys) reaches the caller as a KeyboardInterrupt,
wherever it lands. pydantic used to call a Python function to write each span, and lost an
interrupt raised inside it or turned it into a PydanticSerializationError (exit 3)."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipec.compiler.check import check_file
from pipec.compiler.passes.fingerprint import structural_hashes
from tests.support.interrupts import calls_made_by, interrupted_at_call

# Joins, models, aggregates and sorts: spans in every kind of argument.
PIPELINE = Path(__file__).parents[2] / "examples" / "flights" / "flight_delays.pipe"


@pytest.fixture(scope="module")
def ir():
    return check_file(PIPELINE).pipelines["flight_delays"]


@pytest.mark.parametrize("work", ["to_json", "structural_hashes"])
def test_a_ctrl_c_while_writing_or_fingerprinting_the_ir_is_never_lost(ir, work):
    call = ir.to_json if work == "to_json" else lambda: structural_hashes(ir)
    calls = calls_made_by(call)
    assert calls > 1
    lost = [n for n in range(1, calls + 1) if not interrupted_at_call(call, n)]
    assert lost == []
