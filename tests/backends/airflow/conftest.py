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
