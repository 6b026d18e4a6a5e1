"""The run store's tables and the migrations that create and evolve them.

`pipec_schema` holds one row, the schema version the store is at. Opening a store applies the
migration steps it has not seen yet, each in its own transaction, so a store is always at one
known version; a store written by a newer pipec (a version above `LATEST`) is refused rather than
misread. Values that are not plain columns (reasons, versions, argv) are JSON text, so that the
same tables work on SQLite and PostgreSQL.
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy import (Column, Connection, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text,
                        insert, text, update)

from pipec.runs.statements import (EXPECTATIONS, FILES, LATEST, METRICS, NODES, PARAMS, READ_VERSION, RUNS,
                                   SCHEMA_VERSION)

metadata = MetaData()

schema_version = Table(
    SCHEMA_VERSION, metadata,
    Column("version", Integer, nullable=False),
)

runs = Table(
    RUNS, metadata,
    Column("run_id", String(32), primary_key=True),
    Column("pipeline", Text, nullable=False),
    Column("pipeline_file", Text, nullable=False),
    Column("source_digest", Text),  # of the .pipe file and every file it imports
    Column("ir_digest", Text),  # of the checked IR (params resolved), before optimization
    Column("target", Text, nullable=False),  # local | spark | airflow
    Column("engine", Text, nullable=False),  # polars | spark
    Column("opt_level", Integer),
    Column("status", Text, nullable=False),  # running | succeeded | failed | interrupted | killed
    Column("error", Text),
    Column("exit_code", Integer),
    Column("started_at", Text, nullable=False),  # ISO 8601 UTC: sorts as text on every database
    Column("ended_at", Text),
    Column("seconds", Float),
    Column("workdir", Text, nullable=False),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("pid_started", Text),  # the process's start time, so a reused pid is not taken for it
    Column("pipec_version", Text, nullable=False),
    Column("versions", Text, nullable=False),  # JSON {library: version}
    Column("argv", Text, nullable=False),  # JSON list
    Index("runs_by_start", "started_at"),
    Index("runs_by_status", "status"),
)

params = Table(
    PARAMS, metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("name", Text, primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    Column("origin", Text, nullable=False),  # default | -p | conf
)

nodes = Table(
    NODES, metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("node", Text, primary_key=True),
    Column("position", Integer, nullable=False),  # plan order
    Column("binding", Text),
    Column("step", Text, nullable=False),
    Column("stage", Text),
    Column("outcome", Text, nullable=False),  # ran | reused | failed
    Column("reasons", Text, nullable=False),  # JSON list of sentences
    Column("seconds", Float),
    Column("rows", Integer),
    Column("bytes", Integer),
    Column("output_digest", Text),
    Column("cache_key", Text),  # the key of the node's cached output, once outputs are cached
)

files = Table(
    FILES, metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("role", Text, primary_key=True),  # input | output | module (a python() step's project file)
    Column("path", Text, primary_key=True),
    Column("node", Text),
    Column("digest", Text),  # None when the file could not be read
    Column("size", Integer),
)

metrics = Table(
    METRICS, metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("node", Text, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("binding", Text),
    Column("value", Float),
)

expectations = Table(
    EXPECTATIONS, metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("node", Text, primary_key=True),
    Column("binding", Text),
    Column("passed", Integer, nullable=False),  # 1 or 0
    Column("detail", Text),
)


def _create_v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[runs, params, nodes, files, metrics, expectations])


# Step k brings a store from version k-1 to version k. Append; never edit a released step; and
# raise statements.LATEST with it (`pipec run` reads the version without importing this module).
MIGRATIONS: list[Callable[[Connection], None]] = [_create_v1]


class NewerSchema(Exception):
    """The store was written by a newer pipec; this one cannot read it safely."""

    def __init__(self, found: int):
        super().__init__(f"the run store is at schema version {found}, newer than this pipec knows "
                         f"({LATEST}); upgrade pipec to read it")
        self.found = found


def current_version(conn: Connection) -> int:
    """The store's version (0 for an empty store); creates the version table if missing."""
    metadata.create_all(conn, tables=[schema_version])
    found = conn.execute(text(READ_VERSION)).scalar()
    if found is None:
        conn.execute(insert(schema_version).values(version=0))
        return 0
    return found


def migrate(conn: Connection, steps: list[Callable[[Connection], None]] = MIGRATIONS) -> int:
    """Bring the store to the last of `steps` inside the caller's transaction (which must hold the
    store's write lock, so two processes never migrate at once); returns the version reached."""
    found = current_version(conn)
    if found > len(steps):
        raise NewerSchema(found)
    for version in range(found + 1, len(steps) + 1):
        steps[version - 1](conn)
        conn.execute(update(schema_version).values(version=version))
    return len(steps)
