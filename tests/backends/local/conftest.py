"""Run small `.pipe` programs through check → plan → run_plan, unoptimised and optimised."""
from __future__ import annotations

import pytest

from local_irkit import plan_for
from pipec.backends.local.runner import run_plan
from pipec.backends.local.summary import RunResult


@pytest.fixture(params=["O0", "O1"])
def run_pipe(request, tmp_path):
    """`run_pipe(source, params={}, files={"in.csv": text})` -> (RunResult, workdir)."""
    def run(source: str, params: dict | None = None, files: dict[str, str] | None = None) -> RunResult:
        for name, text in (files or {}).items():
            (tmp_path / name).write_text(text)
        plan = plan_for(source, tmp_path, optimized=request.param == "O1")
        return run_plan(plan, params or {}, tmp_path)

    run.workdir = tmp_path
    return run
