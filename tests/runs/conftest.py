"""The run store's tests run on SQLite and on a real PostgreSQL server (tests/support/postgres.py)."""
from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def runs_db(request, tmp_path: Path) -> str:
    """A run store URL as a user gives it to `--runs-db`: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'runs.db'}"
    return request.getfixturevalue("postgres_url")


def new_run(**fields) -> dict:
    """The columns `RunStore.start` needs, for a run of this process."""
    from pipec.runs.record import now_iso
    from pipec.runs.store import process_identity

    run = {"run_id": uuid.uuid4().hex, "pipeline": "p", "pipeline_file": "/x/p.pipe", "source_digest": "sha256:s",
           "ir_digest": "sha256:i", "target": "local", "engine": "polars", "opt_level": 1, "started_at": now_iso(),
           "workdir": "/x", "host": socket.gethostname(), "pid": os.getpid(), "pid_started": process_identity(),
           "pipec_version": "0.1.0", "versions": '{"polars": "2.1.0"}', "argv": '["pipec", "run", "p.pipe"]'}
    run.update(fields)
    return run


@pytest.fixture
def make_run():
    return new_run
