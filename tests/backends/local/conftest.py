"""Run small `.pipe` programs through check → plan → run_plan, unoptimised and optimised."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipec.backends.local.runner import RunResult, run_plan
from pipec.compiler.check import check_source
from pipec.compiler.plan import unoptimized_plan


def plan_for(source: str, workdir: Path, optimized: bool):
    program = check_source(source, str(workdir / "test.pipe"))
    errors = [f"{d.code} {d.message}" for d in program.diagnostics if d.is_error]
    assert not errors, errors
    (ir,) = program.pipelines.values()
    if not optimized:
        return unoptimized_plan(ir)
    from pipec.compiler.passes import optimize

    return optimize(ir, backend="local", workdir=workdir)


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
