"""Helpers for checker tests: small programs over two known schemas."""
from __future__ import annotations

import pytest

from pipec.compiler.check import Program, check_source

PRELUDE = '''schema Flight {
  year: int, month: int, day: int, dep_delay: float?, arr_delay: float?, carrier: str,
  origin: str, dest: str, distance: float, time_hour: timestamp, tailnum: str?
}
schema Weather { origin: str, time_hour: timestamp, temp: float?, wind_speed: float? }
'''

PRELUDE_LINES = PRELUDE.count("\n")


def program(body: str, params: dict[str, str] | None = None, header: str = "pipeline p()") -> Program:
    """Check `body` as the statements of one pipeline, after the prelude schemas."""
    return check_source(PRELUDE + header + " {\n" + body + "\n}\n", "test.pipe", params)


@pytest.fixture(name="program")
def program_fixture():
    return program


@pytest.fixture
def prelude_lines() -> int:
    return PRELUDE_LINES


@pytest.fixture
def flights_source() -> str:
    return ('flights = read_csv("f.csv", schema=Flight, null_values=["NA"])\n'
            'weather = read_csv("w.csv", schema=Weather)\n')
