"""Fixtures of the Airflow backend tests (the throwaway Airflow home is in tests/backends/conftest.py)."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def compile_pipe(tmp_path):
    """`compile_pipe(source, level=1, engine="polars") -> {pipeline: dag_file}`: check, optimise and
    compile a `.pipe` program into `tmp_path/dags`, with `tmp_path/work` as the base_dir and
    `tmp_path/storage` as the storage root."""
    from pipec import plan
    from pipec.backends.airflow import AirflowBackend
    from pipec.compiler.check import check_source

    def compile_(source: str, level: int = 1, engine: str = "polars") -> dict[str, Path]:
        program = check_source(source, str(tmp_path / "work" / "test.pipe"))
        assert program.ok, [d.message for d in program.diagnostics]
        backend = AirflowBackend(base_dir=tmp_path / "work", storage_root=str(tmp_path / "storage"),
                                 engine=engine)
        return {name: backend.compile(plan(ir, level=level, backend="airflow"), tmp_path / "dags")[0]
                for name, ir in program.pipelines.items()}

    (tmp_path / "work").mkdir()
    return compile_


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item (`item.rep_call`), so that a fixture can tell
    in its teardown whether the test failed (test_scheduler.py prints Airflow's logs then)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
