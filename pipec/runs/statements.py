"""The run store's writes as SQL text, and the two drivers that execute it.

`pipec run` writes its record through these statements: plain SQL with `:name` parameters, built
from a table's name and the keys of the rows written, which stdlib `sqlite3` and SQLAlchemy's
`text()` both accept. On a SQLite file they go through `sqlite3`, so that a run whose store is
already at the latest schema never imports SQLAlchemy (whose import alone took a third of an
unchanged rerun's time); on PostgreSQL (or an in-memory SQLite) through the SQLAlchemy engine.
This module imports nothing beyond the standard library.
"""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Mapping

LATEST = 1  # the schema version this pipec writes: schema.MIGRATIONS has this many steps
BUSY_SECONDS = 30

SCHEMA_VERSION = "pipec_schema"
RUNS = "runs"
PARAMS = "run_params"
NODES = "run_nodes"
FILES = "run_files"
METRICS = "run_metrics"
EXPECTATIONS = "run_expectations"

READ_VERSION = f"SELECT version FROM {SCHEMA_VERSION}"
RUNNING_ON_HOST = f"SELECT run_id, pid, pid_started FROM {RUNS} WHERE status = :running AND host = :host"
MARK_KILLED = f"UPDATE {RUNS} SET status = 'killed', error = :error WHERE run_id = :run_id AND status = :running"

Execute = Callable[[str, Any], object]  # (statement, one row's parameters or a list of rows)


def insert(table: str, columns: Iterable) -> str:
    """INSERT of one row whose values are the parameters of the same names as its columns."""
    names = list(columns)
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"


def update_run(columns: Iterable) -> str:
    """UPDATE of the run `:run_id`, setting each column to the parameter of its name."""
    return f"UPDATE {RUNS} SET {', '.join(f'{n} = :{n}' for n in columns)} WHERE run_id = :run_id"


def prepare_sqlite(connection: sqlite3.Connection) -> None:
    """What every connection to a SQLite store sets (the stdlib one here, and SQLAlchemy's in its
    `connect` event): no implicit transactions (the caller issues `BEGIN IMMEDIATE` itself, so
    writers queue on the lock instead of failing half way), the busy wait, WAL (readers never wait
    for writers) and foreign keys."""
    connection.isolation_level = None
    connection.execute(f"PRAGMA busy_timeout = {BUSY_SECONDS * 1000}")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA foreign_keys = ON")


class SqliteDriver:
    """The statements on a SQLite file through stdlib `sqlite3`. Opened by the thread that opens
    the record and used by the one that closes it, one after the other."""

    errors = sqlite3.Error

    def __init__(self, path: str):
        self.connection = sqlite3.connect(path, timeout=BUSY_SECONDS, check_same_thread=False)
        try:
            prepare_sqlite(self.connection)
        except sqlite3.Error:
            self.connection.close()
            raise

    def read(self, statement: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        """The rows of one query, outside any transaction (WAL: it takes no lock)."""
        return self.connection.execute(statement, params or {}).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[Execute]:
        """One write transaction holding the database's write lock from its start."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self._execute
            self.connection.execute("COMMIT")
        except BaseException:
            if self.connection.in_transaction:  # SQLite rolls back by itself after some errors
                self.connection.execute("ROLLBACK")
            raise

    def _execute(self, statement: str, params) -> None:
        (self.connection.executemany if isinstance(params, list) else self.connection.execute)(statement, params)

    def close(self) -> None:
        self.connection.close()


class EngineDriver:
    """The same statements through a SQLAlchemy engine (PostgreSQL, in-memory SQLite)."""

    def __init__(self, engine):
        from sqlalchemy.exc import SQLAlchemyError

        self.engine = engine
        self.errors = SQLAlchemyError

    def read(self, statement: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(statement), params or {})]

    @contextmanager
    def transaction(self) -> Iterator[Execute]:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            yield lambda statement, params: conn.execute(text(statement), params)

    def close(self) -> None:
        self.engine.dispose()
