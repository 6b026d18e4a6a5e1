"""Failures the differential tester (or a user) found, minimised, kept as programs with their data:
each must write the same bytes at -O0, optimised, with recorded statistics and with each pass
disabled, and match its sinks' schemas. A case is a folder under `cases/` with `program.pipe`
(reading `${data}`, writing under `${out}`) and `data/`. The cases under `known_issue_cases/`,
one per KNOWN_ISSUES switch, join them as soon as their switch is turned off."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness import compare_settings
from known_issues import KNOWN_ISSUES

HERE = Path(__file__).parent
CASES = sorted(p.parent for p in (HERE / "cases").glob("*/program.pipe")) + sorted(
    p.parent for p in (HERE / "known_issue_cases").glob("*/program.pipe") if p.parent.name not in KNOWN_ISSUES)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_every_setting_writes_the_same_bytes(case, tmp_path):
    problems = compare_settings((case / "program.pipe").read_text(), case / "data", tmp_path)
    assert not problems, "\n".join(problems)
