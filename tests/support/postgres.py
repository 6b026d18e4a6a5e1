"""A real PostgreSQL server for the tests that need one (the run store, Airflow's metadata DB,
PostgreSQL sources): `initdb` into a temporary folder, `pg_ctl start` on a unix socket folder and
a free TCP port of 127.0.0.1, `CREATE DATABASE` per test, `pg_ctl stop` at the end of the session.

The server refuses to run as root, so under root (CI, this machine) every server command runs
as the `postgres` user (`runuser -u postgres --`) with the folder handed to it; otherwise as the
current user. It never skips: a server that cannot start fails the test with the server's log.

tests/conftest.py offers it as the session fixture `postgres_server` (started by the first test
that asks for it) and `postgres_url` (a new database per test). A database per module:

    @pytest.fixture(scope="module")
    def metadata_db(postgres_server) -> str:
        return postgres_server.create_database("airflow")
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

SERVER_USER = "postgres"  # the OS account the server runs as when the tests run as root
SUPERUSER = "postgres"  # the database superuser initdb creates (trust authentication, local only)


class PostgresServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pipec-postgres-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "server.log"
        self.port = 0
        self._as_root = os.geteuid() == 0

    # -- life cycle
    def start(self) -> "PostgresServer":
        self.sockets.mkdir()
        if self._as_root:
            account = pwd.getpwnam(SERVER_USER)
            for path in (self.root, self.sockets):
                os.chown(path, account.pw_uid, account.pw_gid)
        self._server_command(["initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                              "--encoding=UTF8", "--no-sync", "--no-instructions"])
        last_error = ""
        for _ in range(3):  # another process may take the free port before the server does
            self.port = _free_port()
            options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
            try:
                self._server_command(["pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                                      "-o", options, "start"])
                return self
            except RuntimeError as exc:
                last_error = str(exc)
        raise RuntimeError(f"PostgreSQL did not start: {last_error}")

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(self._as_server(["pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"]),
                           capture_output=True, text=True)
        shutil.rmtree(self.root, ignore_errors=True)

    # -- databases
    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy / libpq URL (`postgresql://`) of a database on this server."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, hint: str = "test") -> str:
        """A new empty database (named after `hint`, made unique); returns its URL."""
        import psycopg

        name = (re.sub(r"[^a-z0-9_]+", "_", hint.lower())[:40] + "_" + uuid.uuid4().hex[:8]).strip("_")
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def require_password(self, role: str, password: str) -> None:
        """Create the login role `role`, which (unlike the trusted superuser) must give
        `password` over TCP: what a test of bad credentials needs."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE ROLE \"{role}\" LOGIN SUPERUSER PASSWORD '{password}'")
        hba = self.data / "pg_hba.conf"
        hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        self._server_command(["pg_ctl", "-D", str(self.data), "reload"])

    # -- helpers
    def _as_server(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", SERVER_USER, "--", *command] if self._as_root else command

    def _server_command(self, command: list[str]) -> None:
        done = subprocess.run(self._as_server(command), capture_output=True, text=True, cwd=self.root)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
            raise RuntimeError(f"`{' '.join(command)}` failed ({done.returncode}):\n{done.stdout}{done.stderr}{log}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
