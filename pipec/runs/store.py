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
from pathlib import Path
from typing import Any, Iterable

from pipec.compiler.diagnostics import PipecError

ENV_VAR = "PIPEC_RUNS_DB"
OFF = "off"
DEFAULT_PATH = Path(".pipec") / "runs.db"
BUSY_SECONDS = 30
_MIGRATION_LOCK = 0x70697065  # "pipe": the advisory lock id that serialises schema changes on PostgreSQL
RUNNING = "running"
FINISHED = ("succeeded", "failed", "interrupted", "killed")


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
    With `create=False` a missing SQLite file raises NoStore instead of being created."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from pipec.runs import schema

    try:
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[1] if ":///" in url else ""
            if path and path != ":memory:":
                if not create and not Path(path).exists():
                    raise NoStore(f"no runs recorded in {path}")
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": BUSY_SECONDS, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_connected)
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        else:
            engine = create_engine(url, pool_pre_ping=False, connect_args={"connect_timeout": 10})
    except (ArgumentError, ImportError, ValueError) as exc:
        raise RunStoreError(f"bad run store URL `{redact(url)}`: {exc}", usage=True) from None
    except OSError as exc:
        raise RunStoreError(f"cannot create the run store at {redact(url)}: {exc}") from None
    store = RunStore(engine, redact(url))
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            schema.migrate(conn)
        store.mark_killed()
    except schema.NewerSchema as exc:
        engine.dispose()
        raise RunStoreError(f"{store.where}: {exc}") from None
    except SQLAlchemyError as exc:
        engine.dispose()
        raise RunStoreError(f"cannot open the run store at {store.where}: {_reason(exc)}") from None
    return store


def _sqlite_connected(dbapi_connection, _record) -> None:
    # let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE itself (pysqlite would defer it)
    dbapi_connection.isolation_level = None
    dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_SECONDS * 1000}")
    dbapi_connection.execute("PRAGMA journal_mode = WAL")
    dbapi_connection.execute("PRAGMA foreign_keys = ON")


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
    """Reads and writes run records; every method is one transaction."""

    def __init__(self, engine, where: str):
        self.engine = engine
        self.where = where

    def close(self) -> None:
        self.engine.dispose()

    # -- writing
    def start(self, run: dict[str, Any], params: dict[str, tuple[Any, str]]) -> None:
        """Record a run as `running` before it does anything; `params` maps name -> (value, origin)."""
        from sqlalchemy import insert

        from pipec.runs import schema

        with self.engine.begin() as conn:
            conn.execute(insert(schema.runs).values(**run, status=RUNNING))
            if params:
                conn.execute(insert(schema.params), [
                    {"run_id": run["run_id"], "name": name, "value": _json(value), "origin": origin}
                    for name, (value, origin) in params.items()])

    def finish(self, run_id: str, *, status: str, nodes: Iterable[dict] = (), files: Iterable[dict] = (),
               metrics: Iterable[dict] = (), expectations: Iterable[dict] = (), **fields: Any) -> None:
        """Record how the run ended and what it did, all at once."""
        from sqlalchemy import insert, update

        from pipec.runs import schema

        assert status in FINISHED, status
        tagged = lambda rows: [{"run_id": run_id, **row} for row in rows]  # noqa: E731
        with self.engine.begin() as conn:
            for table, rows in ((schema.nodes, [{**n, "reasons": _json(n["reasons"])} for n in nodes]),
                                (schema.files, list(files)), (schema.metrics, list(metrics)),
                                (schema.expectations, list(expectations))):
                if rows:
                    conn.execute(insert(table), tagged(rows))
            conn.execute(update(schema.runs).where(schema.runs.c.run_id == run_id).values(status=status, **fields))

    def mark_killed(self) -> list[str]:
        """Mark as `killed` the runs of this host still `running` whose process is gone (killed,
        crashed, machine restarted); returns their ids. Runs of other hosts are left alone: only
        their own host can tell whether they still run."""
        from sqlalchemy import select, update

        from pipec.runs import schema

        r = schema.runs
        host = socket.gethostname()
        with self.engine.connect() as conn:
            rows = conn.execute(select(r.c.run_id, r.c.pid, r.c.pid_started)
                                .where(r.c.status == RUNNING, r.c.host == host)).all()
        dead = [row.run_id for row in rows if not process_alive(row.pid, row.pid_started)]
        if dead:
            with self.engine.begin() as conn:
                conn.execute(update(r).where(r.c.run_id.in_(dead), r.c.status == RUNNING).values(
                    status="killed", error="the process ended without finishing the run (killed or crashed); "
                                           "found by a later pipec on the same host"))
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
