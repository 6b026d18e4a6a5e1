"""The run store on SQLite and PostgreSQL: records round-trip, runs resolve by `last` and prefix,
the schema is versioned and migrated, killed runs are marked, concurrent writers are safe."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import text

from pipec.runs import schema
from pipec.runs.store import RunStoreError, UnknownRun, open_store, store_url

ROOT = Path(__file__).parents[2]


def opened(url: str):
    return open_store(store_url(url, "."))


def test_a_finished_run_reads_back_whole(runs_db, make_run):
    store = opened(runs_db)
    run = make_run()
    store.start(run, {"seed": (42, "default"), "min_distance": (300.0, "-p")})
    assert store.load(run["run_id"])["status"] == "running"
    store.finish(run["run_id"], status="succeeded", exit_code=0, ended_at="2026-01-01T00:00:01Z", seconds=1.5,
                 nodes=[{"node": "n1", "position": 0, "binding": "flights", "step": "read_csv", "stage": "s1",
                         "outcome": "ran", "reasons": ["never run"], "seconds": 0.5, "rows": 10, "bytes": 80,
                         "output_digest": None},
                        {"node": "n2", "position": 1, "binding": None, "step": "write_csv", "stage": "s1",
                         "outcome": "ran", "reasons": [], "seconds": None, "rows": 10, "bytes": None,
                         "output_digest": "sha256:o"}],
                 files=[{"role": "input", "path": "in.csv", "node": "n1", "digest": "sha256:a", "size": 3},
                        {"role": "output", "path": "out.csv", "node": "n2", "digest": "sha256:o", "size": 5}],
                 metrics=[{"node": "n3", "binding": "report", "name": "accuracy", "value": 0.75}],
                 expectations=[{"node": "n4", "binding": None, "passed": 1, "detail": None}])
    got = store.load(run["run_id"])
    assert got["status"] == "succeeded" and got["seconds"] == 1.5 and got["exit_code"] == 0
    assert got["params"] == {"min_distance": {"value": 300.0, "origin": "-p"},
                             "seed": {"value": 42, "origin": "default"}}
    assert [(n["node"], n["binding"], n["outcome"], n["reasons"]) for n in got["nodes"]] == [
        ("n1", "flights", "ran", ["never run"]), ("n2", None, "ran", [])]
    assert got["inputs"] == [{"path": "in.csv", "node": "n1", "digest": "sha256:a", "size": 3}]
    assert got["outputs"][0]["digest"] == "sha256:o"
    assert got["metrics"] == {"report": {"accuracy": 0.75}}
    assert got["expectations"] == [{"node": "n4", "binding": None, "passed": True, "detail": None}]
    assert got["versions"] == {"polars": "2.1.0"} and got["argv"] == ["pipec", "run", "p.pipe"]
    store.close()


def test_runs_resolve_by_last_and_by_unique_prefix(runs_db, make_run):
    store = opened(runs_db)
    first = make_run(run_id="ab" + "0" * 30, started_at="2026-01-01T00:00:00.000000Z")
    second = make_run(run_id="ac" + "0" * 30, started_at="2026-01-01T00:00:01.000000Z")
    for run in (first, second):
        store.start(run, {})
    assert [r["run_id"] for r in store.list_runs()] == [second["run_id"], first["run_id"]]
    assert store.resolve("last") == second["run_id"]
    assert store.resolve("last~1") == first["run_id"]
    assert store.resolve("ab") == first["run_id"]
    with pytest.raises(UnknownRun, match="ambiguous"):
        store.resolve("a")
    with pytest.raises(UnknownRun, match="no run `ff`"):
        store.resolve("ff")
    with pytest.raises(UnknownRun, match="no run `last~2`"):
        store.resolve("last~2")
    with pytest.raises(UnknownRun, match="not a run"):
        store.resolve("yesterday")
    store.close()


def test_a_new_store_is_at_the_latest_schema_version(runs_db):
    store = opened(runs_db)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM pipec_schema")).scalars().all() == [schema.LATEST]
    store.close()


def test_a_store_from_a_newer_pipec_is_refused(runs_db):
    store = opened(runs_db)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE pipec_schema SET version = :v"), {"v": schema.LATEST + 1})
    store.close()
    with pytest.raises(RunStoreError, match=f"schema version {schema.LATEST + 1}, newer than this pipec knows"):
        opened(runs_db)


def test_migration_steps_run_once_in_order_and_keep_the_data(runs_db, make_run):
    store = opened(runs_db)
    run = make_run()
    store.start(run, {})

    def add_note(conn):
        conn.execute(text("ALTER TABLE runs ADD COLUMN note TEXT"))
        conn.execute(text("UPDATE runs SET note = 'migrated'"))

    steps = [*schema.MIGRATIONS, add_note]
    with store.engine.begin() as conn:
        assert schema.migrate(conn, steps) == schema.LATEST + 1
    with store.engine.begin() as conn:
        assert schema.migrate(conn, steps) == schema.LATEST + 1  # nothing left to do: no second ALTER
        assert conn.execute(text("SELECT note FROM runs")).scalars().all() == ["migrated"]
    assert store.load(run["run_id"])["status"] == "running"
    store.close()


def test_a_running_run_of_a_live_process_is_left_running(runs_db, make_run):
    store = opened(runs_db)
    run = make_run()
    store.start(run, {})
    assert store.mark_killed() == []
    store.close()
    assert opened(runs_db).load(run["run_id"])["status"] == "running"


SLOW_PIPELINE = """
pipeline slow() {
  rows = read_csv("in.csv", schema={id: int, v: float})
  rows | python("sleepy:wait", schema={id: int, v: float}) | write_csv("out/r.csv")
}
"""
SLEEPY = """
import time
from contextlib import closing
from pathlib import Path

def wait(df):
    Path("in_stage").write_text("yes")
    time.sleep(120)
    return df
"""


def test_a_sigkilled_run_is_marked_killed_by_the_next_pipec(runs_db, tmp_path):
    """A real `pipec run` killed with SIGKILL inside a stage: the next command marks it killed,
    the store stays readable and the next run is recorded normally."""
    (tmp_path / "in.csv").write_text("id,v\n1,1.5\n")
    (tmp_path / "slow.pipe").write_text(SLOW_PIPELINE)
    (tmp_path / "sleepy.py").write_text(SLEEPY)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-m", "pipec.cli", "run", "slow.pipe", "--runs-db", runs_db],
                             cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (tmp_path / "in_stage").exists():
        assert child.poll() is None, child.stderr.read().decode()
        assert time.monotonic() < deadline, "the run never reached its python step"
        time.sleep(0.05)
    store = opened(runs_db)
    assert [r["status"] for r in store.list_runs()] == ["running"]  # its record is open while it runs
    store.close()
    child.send_signal(signal.SIGKILL)
    child.wait()
    store = opened(runs_db)  # what every pipec command does first
    [killed] = store.list_runs()
    assert killed["status"] == "killed" and killed["pid"] == child.pid
    assert "killed or crashed" in killed["error"]
    store.close()
    (tmp_path / "sleepy.py").write_text("def wait(df):\n    return df\n")
    done = subprocess.run([sys.executable, "-m", "pipec.cli", "run", "slow.pipe", "--runs-db", runs_db],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [r["status"] for r in opened(runs_db).list_runs()] == ["succeeded", "killed"]


def test_a_store_that_lost_its_tables_is_a_clear_error(runs_db):
    """A store at the latest version whose tables are gone: the driver's words, not a traceback."""
    store = opened(runs_db)
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE runs RENAME TO runs_old"))
    store.close()
    missing = "no such table: runs" if runs_db.startswith("sqlite") else 'relation "runs" does not exist'
    with pytest.raises(RunStoreError, match=f"cannot open the run store at .*: {missing}"):
        opened(runs_db)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    (tmp_path / "runs.db").write_bytes(b"not a database, " * 512)
    with pytest.raises(RunStoreError, match=f"cannot open the run store at sqlite:///{tmp_path}/runs.db: "
                                            "file is not a database"):
        opened(str(tmp_path / "runs.db"))


TINY_PIPELINE = 'pipeline tiny() {\n  read_csv("in.csv", schema={id: int}) | write_csv("out/r.csv")\n}\n'
RUN_AND_REPORT_IMPORTS = """
import json, sys
from pipec.cli import main
code = main(["run", "tiny.pipe"])
print(json.dumps({"exit": code, "sqlalchemy": "sqlalchemy" in sys.modules}))
"""


def pipec_run_in_a_new_process(workdir: Path) -> dict:
    """`pipec run tiny.pipe` in a fresh interpreter: its exit status, its warnings, and whether
    it imported SQLAlchemy."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PIPEC_RUNS_DB", None)
    done = subprocess.run([sys.executable, "-c", RUN_AND_REPORT_IMPORTS], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return {**json.loads(done.stdout.splitlines()[-1]), "stderr": done.stderr}


def test_pipec_run_on_an_up_to_date_sqlite_store_does_not_import_sqlalchemy(tmp_path):
    """Importing SQLAlchemy costs more than the rest of an unchanged rerun: `pipec run` writes its
    record with stdlib sqlite3, and needs SQLAlchemy only to create or migrate the store."""
    (tmp_path / "in.csv").write_text("id\n1\n2\n")
    (tmp_path / "tiny.pipe").write_text(TINY_PIPELINE)
    first = pipec_run_in_a_new_process(tmp_path)
    assert first["exit"] == 0 and first["sqlalchemy"], "a new store is created by the migration"
    again = pipec_run_in_a_new_process(tmp_path)
    assert again["exit"] == 0 and "warning" not in again["stderr"], again["stderr"]
    assert not again["sqlalchemy"]
    store = opened(str(tmp_path / ".pipec" / "runs.db"))
    runs = store.list_runs()
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert [n["outcome"] for n in store.load(runs[0]["run_id"])["nodes"]] == ["reused", "reused"]
    store.close()


def test_pipec_run_migrates_a_store_at_an_older_schema_and_records(tmp_path):
    """A store created by an older pipec (here version 0: the version table alone) is migrated by
    the next `pipec run`, which then records the run in it."""
    (tmp_path / "in.csv").write_text("id\n1\n")
    (tmp_path / "tiny.pipe").write_text(TINY_PIPELINE)
    (tmp_path / ".pipec").mkdir()
    with closing(sqlite3.connect(tmp_path / ".pipec" / "runs.db")) as old:
        old.executescript("CREATE TABLE pipec_schema (version INTEGER NOT NULL); INSERT INTO pipec_schema VALUES (0);")
    done = pipec_run_in_a_new_process(tmp_path)
    assert done["exit"] == 0 and "warning" not in done["stderr"], done["stderr"]
    store = opened(str(tmp_path / ".pipec" / "runs.db"))
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM pipec_schema")).scalars().all() == [schema.LATEST]
    [run] = store.list_runs()
    assert run["status"] == "succeeded" and len(store.load(run["run_id"])["nodes"]) == 2
    store.close()


WRITER = """
import sys
sys.path.insert(0, {tests!r})
from conftest import new_run
from pipec.runs.store import open_store, store_url

url, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    store = open_store(store_url(url, "."))
    run = new_run()
    store.start(run, {{"i": (i, "-p")}})
    store.finish(run["run_id"], status="succeeded", exit_code=0, seconds=0.0,
                 nodes=[{{"node": f"n{{k}}", "position": k, "binding": None, "step": "filter", "stage": "s1",
                          "outcome": "ran", "reasons": [], "seconds": 0.0, "rows": k, "bytes": None,
                          "output_digest": None}} for k in range(5)])
    store.close()
"""


def test_concurrent_writers_never_corrupt_the_store(runs_db, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(tests=str(Path(__file__).parent)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [subprocess.Popen([sys.executable, str(script), runs_db, "12"], env=env, stderr=subprocess.PIPE)
               for _ in range(4)]
    for writer in writers:
        assert writer.wait(timeout=300) == 0, writer.stderr.read().decode()
    store = opened(runs_db)
    runs = store.list_runs()
    assert len(runs) == 48 and {r["status"] for r in runs} == {"succeeded"}
    assert all(len(store.load(r["run_id"])["nodes"]) == 5 for r in runs)
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    store.close()


@pytest.mark.parametrize("url, words", [
    ("mysql://db/runs", "unsupported run store URL `mysql://db/runs`"),
    ("postgresql://user:secret@127.0.0.1:1/runs", "cannot open the run store at postgresql+psycopg://user:***@"),
])
def test_bad_or_unreachable_stores_are_clear_errors(url, words):
    with pytest.raises(RunStoreError, match=words.replace("*", r"\*").replace("+", r"\+")) as caught:
        opened(url)
    assert "secret" not in str(caught.value)


def test_the_default_store_is_sqlite_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("PIPEC_RUNS_DB", raising=False)
    assert store_url(None, tmp_path) == f"sqlite:///{tmp_path.resolve() / '.pipec' / 'runs.db'}"
    monkeypatch.setenv("PIPEC_RUNS_DB", "postgresql://team@db/runs")
    assert store_url(None, tmp_path) == "postgresql+psycopg://team@db/runs"
    assert store_url("elsewhere.db", tmp_path) == f"sqlite:///{Path('elsewhere.db').resolve()}"


def test_store_urls_in_messages_hide_passwords():
    from pipec.runs.store import redact

    assert redact("postgresql+psycopg://me:pw@host:5432/db") == "postgresql+psycopg://me:***@host:5432/db"
    assert redact("postgresql://me@host/db") == "postgresql://me@host/db"
