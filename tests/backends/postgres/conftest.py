"""Fixtures of the PostgreSQL steps' tests: one server per session (tests/conftest.py), a role
that must give its password, and a seeded database per test whose URL (with that password) is in
PIPEC_CONN_WAREHOUSE."""
from __future__ import annotations

import pytest
from pg_case import PASSWORD, RATES_CSV, PIPELINE, ROLE, seed


@pytest.fixture(scope="module")
def secret_role(postgres_server):
    """A role that must give its password (created once per session)."""
    if not getattr(postgres_server, "_pipec_tester", False):
        postgres_server.require_password(ROLE, PASSWORD)
        postgres_server._pipec_tester = True
    return ROLE, PASSWORD


@pytest.fixture
def warehouse(postgres_server, secret_role, monkeypatch, request) -> str:
    """A new seeded database; PIPEC_CONN_WAREHOUSE holds its URL WITH the role's password."""
    url = postgres_server.create_database(request.node.name)
    seed(url)
    secret_url = url.replace("postgres@", f"{ROLE}:{PASSWORD}@")
    monkeypatch.setenv("PIPEC_CONN_WAREHOUSE", secret_url)
    return secret_url


@pytest.fixture
def project(tmp_path):
    """A working folder holding the pipeline and its CSV file."""
    (tmp_path / "report.pipe").write_text(PIPELINE)
    (tmp_path / "rates.csv").write_text(RATES_CSV)
    return tmp_path
