"""Airflow reads its configuration when it is first imported, so this conftest points it at a
throwaway home (SQLite metadata DB, no example DAGs) at import time, before any test imports it.
The DB is migrated once per test session, only if a test needs it."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="pipec-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"



@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """A migrated metadata DB, shared by every `dag.test()` run of the session."""
    from pipec.backends.airflow.run import migrate_metadata_db

    migrate_metadata_db(AIRFLOW_HOME)
    return AIRFLOW_HOME


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
