"""Open a run store and read and write its records.

Every write is one short transaction, so concurrent runs never see each other's half-written
records: on SQLite the database is in WAL mode (readers never wait for writers), each transaction
starts with `BEGIN IMMEDIATE` (writers queue on the database lock instead of failing half way)
and waits up to `BUSY_SECONDS` for it; on PostgreSQL the schema check takes an advisory lock so
that two first runs do not both create the tables.
"""
from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
from pathlib import Path
from typing import Any, Iterable

from pipec.errors import PipecError
from pipec.runs import statements
from pipec.runs.statements import BUSY_SECONDS, EngineDriver, SqliteDriver, prepare_sqlite

ENV_VAR = "PIPEC_RUNS_DB"
OFF = "off"
DEFAULT_PATH = Path(".pipec") / "runs.db"
_MIGRATION_LOCK = 0x70697065  # "pipe": the advisory lock id that serialises schema changes on PostgreSQL
RUNNING = "running"
FINISHED = ("succeeded", "failed", "interrupted", "killed")
KILLED_ERROR = ("the process ended without finishing the run (killed or crashed); "
                "found by a later pipec on the same host")


class RunStoreError(PipecError):
    """The store cannot be opened or read (a bad URL, an unreachable server, a newer schema).
    `usage` is true when the command line is at fault (exit 2)."""

    def __init__(self, message: str, *, usage: bool = False):
        super().__init__([], message)
        self.usage = usage


class UnknownRun(RunStoreError):
    def __init__(self, message: str):
        super().__init__(message, usage=True)


def store_url(explicit: str | None, workdir: Path | str) -> str | None:
    """The store to use: `--runs-db`, else `$PIPEC_RUNS_DB`, else SQLite under the working
    directory; None for `off` (runs are not recorded). `postgresql://` URLs use the psycopg 3
    driver; a plain path means a SQLite file."""
    url = explicit or os.environ.get(ENV_VAR) or ""
    if url == OFF:
        return None
    if not url:
        return "sqlite:///" + str(Path(workdir).resolve() / DEFAULT_PATH)
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "sqlite:///" + str(Path(url).resolve())
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return "postgresql+psycopg://" + rest
    if scheme == "sqlite":
        return url
    raise RunStoreError(f"unsupported run store URL `{redact(url)}`: expected sqlite:///PATH or "
                        "postgresql://USER@HOST/DATABASE", usage=True)


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


class NoStore(RunStoreError):
    """A command that only reads found no SQLite store: nothing was recorded there yet."""


def open_store(url: str, *, create: bool = True) -> "RunStore":
    """Connect, bring the schema up to date and mark the runs whose process died as killed.
    With `create=False` a missing SQLite file raises NoStore instead of being created.

    A SQLite file already at the latest schema is opened with stdlib `sqlite3` alone; anything
    else (a new file, an older or newer schema, a file that does not open) goes through the
    SQLAlchemy migration, which also gives every failure its message."""
    path = _sqlite_path(url)
    if path is None:
        engine = _migrated(url, path)
        return _opened(RunStore(url, EngineDriver(engine), engine))
    if not create and not Path(path).exists():
        raise NoStore(f"no runs recorded in {path}")
    driver = _sqlite_at_latest(path)
    if driver is not None:
        return _opened(RunStore(url, driver))
    engine = _migrated(url, path)
    try:
        driver = SqliteDriver(path)
    except sqlite3.Error as exc:
        engine.dispose()
        raise RunStoreError(f"cannot open the run store at {redact(url)}: {_reason(exc)}") from None
    return _opened(RunStore(url, driver, engine))


def _sqlite_path(url: str) -> str | None:
    """The file of a SQLite store URL; None for other databases, an in-memory SQLite and a URL
    with SQLAlchemy options (`?...`), which stay with SQLAlchemy throughout."""
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1] if ":///" in url else ""
    return path if path and path != ":memory:" and "?" not in path else None


def _sqlite_at_latest(path: str) -> "SqliteDriver | None":
    """A connection to the store at `path` if it exists and is at the latest schema, else None."""
    if not Path(path).exists():
        return None
    try:
        driver = SqliteDriver(path)
    except sqlite3.Error:
        return None
    try:
        if driver.read(statements.READ_VERSION) == [(statements.LATEST,)]:
            return driver
    except sqlite3.Error:
        pass
    driver.close()
    return None


def _migrated(url: str, path: str | None):
    """A SQLAlchemy engine on the store, its schema brought to the latest version."""
    from sqlalchemy.exc import SQLAlchemyError

    from pipec.runs import schema

    engine = _engine(url, path)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            schema.migrate(conn)
    except schema.NewerSchema as exc:
        engine.dispose()
        raise RunStoreError(f"{redact(url)}: {exc}") from None
    except SQLAlchemyError as exc:
        engine.dispose()
        raise RunStoreError(f"cannot open the run store at {redact(url)}: {_reason(exc)}") from None
    return engine


def _engine(url: str, path: str | None):
    """A SQLAlchemy engine on the store (SQLite: with the same connection settings as `sqlite3`'s)."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.exc import ArgumentError

    try:
        if url.startswith("sqlite"):
            if path is not None:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": BUSY_SECONDS, "check_same_thread": False})
            event.listen(engine, "connect", lambda dbapi_connection, _record: prepare_sqlite(dbapi_connection))
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
            return engine
        return create_engine(url, pool_pre_ping=False, connect_args={"connect_timeout": 10})
    except (ArgumentError, ImportError, ValueError) as exc:
        raise RunStoreError(f"bad run store URL `{redact(url)}`: {exc}", usage=True) from None
    except OSError as exc:
        raise RunStoreError(f"cannot create the run store at {redact(url)}: {exc}") from None


def _opened(store: "RunStore") -> "RunStore":
    """The store, once the runs of dead processes are marked killed."""
    try:
        store.mark_killed()
    except store.driver.errors as exc:
        store.close()
        raise RunStoreError(f"cannot open the run store at {store.where}: {_reason(exc)}") from None
    return store


def _reason(exc: Exception) -> str:
    """The driver's own words, first line, without SQLAlchemy's background link."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (Linux), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_identity(pid: int | None = None) -> str | None:
    """What tells a process apart from a later one that got the same pid: the boot and the
    process's start time (Linux); None where that cannot be read."""
    fields = _proc_stat(os.getpid() if pid is None else pid)
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    return f"{boot}:{fields[19]}" if fields else None  # field 22 of stat: start time after boot


def process_alive(pid: int, identity: str | None) -> bool:
    """Whether the process that recorded (pid, identity) on this host still runs: not when the
    pid is free, a zombie (killed, not yet reaped) or now another process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _proc_stat(pid)
    if fields is not None and fields[0] == "Z":
        return False
    return identity is None or process_identity(pid) in (identity, None)


class RunStore:
    """Reads and writes run records; every method is one transaction. The writes (those of
    `pipec run`) go through `driver` (see statements.py); the reading methods use SQLAlchemy Core
    through `engine`, created when first needed."""

    def __init__(self, url: str, driver, engine=None):
        self.url = url
        self.where = redact(url)
        self.driver = driver
        self._engine = engine

    @property
    def engine(self):
        if self._engine is None:
            self._engine = _engine(self.url, _sqlite_path(self.url))
        return self._engine

    def close(self) -> None:
        self.driver.close()
        if self._engine is not None:
            self._engine.dispose()

    # -- writing
    def start(self, run: dict[str, Any], params: dict[str, tuple[Any, str]]) -> None:
        """Record a run as `running` before it does anything; `params` maps name -> (value, origin)."""
        row = {**run, "status": RUNNING}
        values = [{"run_id": run["run_id"], "name": name, "value": _json(value), "origin": origin}
                  for name, (value, origin) in params.items()]
        with self.driver.transaction() as execute:
            execute(statements.insert(statements.RUNS, row), row)
            if values:
                execute(statements.insert(statements.PARAMS, values[0]), values)

    def finish(self, run_id: str, *, status: str, nodes: Iterable[dict] = (), files: Iterable[dict] = (),
               metrics: Iterable[dict] = (), expectations: Iterable[dict] = (), **fields: Any) -> None:
        """Record how the run ended and what it did, all at once."""
        assert status in FINISHED, status
        tagged = lambda rows: [{"run_id": run_id, **row} for row in rows]  # noqa: E731
        changes = {"status": status, **fields}
        with self.driver.transaction() as execute:
            for table, rows in ((statements.NODES, [{**n, "reasons": _json(n["reasons"])} for n in nodes]),
                                (statements.FILES, files), (statements.METRICS, metrics),
                                (statements.EXPECTATIONS, expectations)):
                rows = tagged(rows)
                if rows:
                    execute(statements.insert(table, rows[0]), rows)
            execute(statements.update_run(changes), {**changes, "run_id": run_id})

    def mark_killed(self) -> list[str]:
        """Mark as `killed` the runs of this host still `running` whose process is gone (killed,
        crashed, machine restarted); returns their ids. Runs of other hosts are left alone: only
        their own host can tell whether they still run."""
        rows = self.driver.read(statements.RUNNING_ON_HOST, {"running": RUNNING, "host": socket.gethostname()})
        dead = [run_id for run_id, pid, pid_started in rows if not process_alive(pid, pid_started)]
        if dead:
            with self.driver.transaction() as execute:
                execute(statements.MARK_KILLED,
                        [{"run_id": run_id, "running": RUNNING, "error": KILLED_ERROR} for run_id in dead])
        return dead

    # -- reading
    def list_runs(self, pipeline: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Runs, newest first."""
        from sqlalchemy import select

        from pipec.runs import schema

        r = schema.runs
        query = select(r).order_by(r.c.started_at.desc(), r.c.run_id)
        if pipeline:
            query = query.where(r.c.pipeline == pipeline)
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_run_row(row._mapping) for row in conn.execute(query)]

    def resolve(self, ref: str) -> str:
        """A run id from `last`, `last~N` (the N-th before the last) or a unique prefix of an id."""
        from sqlalchemy import func, select

        from pipec.runs import schema

        r = schema.runs
        back = re.fullmatch(r"last(?:~(\d+))?", ref)
        with self.engine.connect() as conn:
            if back:
                skip = int(back.group(1) or 0)
                found = conn.execute(select(r.c.run_id).order_by(r.c.started_at.desc(), r.c.run_id)
                                     .offset(skip).limit(1)).scalar()
                if found is None:
                    empty = "" if skip else " (nothing was recorded yet)"
                    raise UnknownRun(f"no run `{ref}` in {self.where}{empty}")
                return found
            if not re.fullmatch(r"[0-9a-f]+", ref):
                raise UnknownRun(f"`{ref}` is not a run: give `last`, `last~N` or (a prefix of) a run id "
                                 "from `pipec runs`")
            matches = conn.execute(select(r.c.run_id).where(func.substr(r.c.run_id, 1, len(ref)) == ref)
                                   .limit(2)).scalars().all()
        if not matches:
            raise UnknownRun(f"no run `{ref}` in {self.where}")
        if len(matches) > 1:
            raise UnknownRun(f"run prefix `{ref}` is ambiguous: give more characters")
        return matches[0]

    def load(self, run_id: str) -> dict[str, Any]:
        """Everything recorded about one run, as the JSON of `pipec runs show`."""
        from sqlalchemy import select

        from pipec.runs import schema

        with self.engine.connect() as conn:
            row = conn.execute(select(schema.runs).where(schema.runs.c.run_id == run_id)).first()
            if row is None:
                raise UnknownRun(f"no run `{run_id}` in {self.where}")
            children = {t.name: conn.execute(select(t).where(t.c.run_id == run_id)).all()
                        for t in (schema.params, schema.nodes, schema.files, schema.metrics, schema.expectations)}
        run = _run_row(row._mapping)
        run["params"] = {p.name: {"value": json.loads(p.value), "origin": p.origin}
                         for p in sorted(children["run_params"], key=lambda p: p.name)}
        run["metrics"] = {}
        for m in sorted(children["run_metrics"], key=lambda m: (m.binding or m.node, m.name)):
            run["metrics"].setdefault(m.binding or m.node, {})[m.name] = m.value
        run["nodes"] = [{"node": n.node, "binding": n.binding, "step": n.step, "stage": n.stage,
                         "outcome": n.outcome, "reasons": json.loads(n.reasons), "seconds": n.seconds,
                         "rows": n.rows, "bytes": n.bytes, "output_digest": n.output_digest,
                         "cache_key": n.cache_key}
                        for n in sorted(children["run_nodes"], key=lambda n: n.position)]
        for role in ("input", "output", "module"):
            run[role + "s"] = [{"path": f.path, "node": f.node, "digest": f.digest, "size": f.size}
                               for f in sorted(children["run_files"], key=lambda f: f.path) if f.role == role]
        run["expectations"] = [{"node": e.node, "binding": e.binding, "passed": bool(e.passed), "detail": e.detail}
                               for e in sorted(children["run_expectations"], key=lambda e: e.node)]
        return run

    def files_recorded(self, role: str, digest: str, name: str) -> list[dict[str, Any]]:
        """The files of `role` that runs recorded with this digest or under this file name, newest
        run first, each with its run's id, status, start and working directory (a recorded path is
        relative to it): how `pipec lineage` finds the run that wrote a file."""
        from sqlalchemy import or_, select

        from pipec.runs import schema

        f, r = schema.files, schema.runs
        query = (select(f.c.run_id, f.c.path, f.c.node, f.c.digest, f.c.size, r.c.status, r.c.started_at,
                        r.c.pipeline, r.c.workdir).join(r, r.c.run_id == f.c.run_id)
                 .where(f.c.role == role, or_(f.c.digest == digest, f.c.path == name,
                                              f.c.path.endswith("/" + name, autoescape=True)))
                 .order_by(r.c.started_at.desc(), f.c.run_id))
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]


def _run_row(row) -> dict[str, Any]:
    run = dict(row)
    run["versions"] = json.loads(run["versions"])
    run["argv"] = json.loads(run["argv"])
    return run


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
