"""The PostgreSQL steps on the local backend, against a real server: the read, join and write
back equal an independent pandas computation; the declared schema is checked before any work;
writes are atomic (a SIGKILL inside the commit transaction leaves the old table); bad
connections are clear errors; and the password appears in no file and no message."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pg_case import PASSWORD, SCHEMAS, expected_report, no_secret_in, rows

from pipec.backends.postgres import TABLE_COMMIT_PAUSE_VARIABLE, redact

ROOT = Path(__file__).resolve().parents[3]


def pipec(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipec.cli", *args], cwd=workdir, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=300)


def report_rows(url: str) -> list[tuple]:
    return rows(url, "SELECT carrier, name, flights, total_delay, rate FROM report ORDER BY carrier")


def test_read_join_write_back_equals_pandas(warehouse, project):
    done = pipec(project, "run", "report.pipe")
    assert done.returncode == 0, done.stderr
    assert report_rows(warehouse) == expected_report()
    # the table read is ordered by its key (the rows were inserted out of order)
    ids = [int(line.split(",")[0]) for line in (project / "out" / "flights.csv").read_text().splitlines()[1:]]
    assert ids == [1, 2, 3, 4, 5, 6]
    assert "postgresql+pipec://warehouse/report (4 rows)" in done.stdout
    # the declared key became the new table's primary key; no staged table is left
    assert rows(warehouse, "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'pipec_stage_%'") == [(0,)]
    assert rows(warehouse, "SELECT constraint_type FROM information_schema.table_constraints "
                           "WHERE table_name = 'report' AND constraint_type = 'PRIMARY KEY'") == [("PRIMARY KEY",)]


def test_append_and_upsert(warehouse, project):
    (project / "w.pipe").write_text(SCHEMAS + '''
pipeline modes() {
  param mode: str = "append"
  flights = read_table("flights", schema=Flight, connection="warehouse", key=[id])
  flights | filter(id <= 2) | select(id, carrier, dep_delay) | write_table("log", connection="warehouse", mode="append")
  flights | derive(dep_delay = coalesce(dep_delay, 0.0) + 100.0) | select(id, carrier, dep_delay)
    | write_table("latest", connection="warehouse", mode="upsert", key=[id])
}
''')
    for _ in range(2):
        done = pipec(project, "run", "w.pipe")
        assert done.returncode == 0, done.stderr
    assert rows(warehouse, "SELECT id, carrier FROM log ORDER BY id") == [(1, "AA"), (1, "AA"), (2, "AA"), (2, "AA")]
    assert rows(warehouse, "SELECT id, dep_delay FROM latest ORDER BY id") == [
        (1, 110.0), (2, 100.0), (3, 105.5), (4, 101.25), (5, 97.0), (6, 120.0)]
    # an upsert updates matching keys and keeps the others
    rows_before = rows(warehouse, "SELECT count(*) FROM latest")
    import psycopg

    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute("INSERT INTO latest VALUES (99, 'ZZ', 0.0)")
        conn.execute("UPDATE flights SET dep_delay = 1.0 WHERE id = 1")
    assert pipec(project, "run", "w.pipe").returncode == 0
    assert rows(warehouse, "SELECT id, dep_delay FROM latest WHERE id IN (1, 99) ORDER BY id") == [(1, 101.0), (99, 0.0)]
    assert rows_before == [(6,)]


def test_schema_mismatch_is_located_before_any_work(warehouse, project):
    (project / "bad.pipe").write_text('''pipeline bad() {
  flights = read_table("flights", schema={id: int, carrier: int, gone: str?}, connection="warehouse")
  names = read_query("select code from airlines", schema={code: str, name: str}, connection="warehouse")
  flights | write_csv("out/flights.csv")
  names | write_table("names_copy", connection="warehouse")
  flights | write_table("flights", connection="warehouse", mode="upsert", key=[id])
}
''')
    for command in (["run", "bad.pipe"], ["check", "--connect", "bad.pipe"]):
        done = pipec(project, *command)
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        assert "read_table at bad.pipe:2:13: table `flights`: column `carrier` is `text` in the database but declared `int`" in done.stderr
        assert "read_table at bad.pipe:2:13: table `flights` has no column `gone`" in done.stderr
        assert "read_query at bad.pipe:3:11: the query has no column `name`" in done.stderr
        assert not (project / "out").exists()  # nothing was read, computed or written
    assert rows(warehouse, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'names_copy'") == [(0,)]


def test_upsert_needs_a_unique_key_in_the_table(warehouse, project):
    import psycopg

    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute("CREATE TABLE loose (id bigint, carrier text)")
    (project / "u.pipe").write_text(SCHEMAS + '''
pipeline u() {
  read_table("flights", schema=Flight, connection="warehouse") | select(id, carrier)
    | write_table("loose", connection="warehouse", mode="upsert", key=[id])
}
''')
    done = pipec(project, "check", "--connect", "u.pipe")
    assert done.returncode == 1
    assert "write_table at u.pipe:6:7: table `loose` has no primary key or unique constraint on (id)" in done.stderr


def test_missing_table_bad_password_unreachable_server(warehouse, project):
    (project / "m.pipe").write_text(SCHEMAS + '''
pipeline m() {
  read_table("no_such_table", schema=Flight, connection="warehouse") | write_csv("out/x.csv")
}
''')
    done = pipec(project, "run", "m.pipe")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "read_table at m.pipe:5:3: table `no_such_table` does not exist in connection `warehouse`" in done.stderr
    wrong = warehouse.replace(PASSWORD, "not-the-password")
    done = pipec(project, "run", "report.pipe", env={"PIPEC_CONN_WAREHOUSE": wrong})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "cannot connect to connection `warehouse`" in done.stderr and "password authentication failed" in done.stderr
    assert "not-the-password" not in done.stderr and ":***@" in done.stderr
    unreachable = warehouse.rsplit("@", 1)[0] + "@127.0.0.1:9/x"
    done = pipec(project, "run", "report.pipe", env={"PIPEC_CONN_WAREHOUSE": unreachable})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "cannot connect to connection `warehouse`" in done.stderr and PASSWORD not in done.stderr
    done = pipec(project, "run", "report.pipe", env={"PIPEC_CONN_WAREHOUSE": ""})
    assert done.returncode == 1
    assert "connection `warehouse` is not configured: set the environment variable PIPEC_CONN_WAREHOUSE" in done.stderr


def test_killed_commit_leaves_the_previous_table(warehouse, project):
    assert pipec(project, "run", "report.pipe").returncode == 0
    before = report_rows(warehouse)
    import psycopg

    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute("UPDATE flights SET carrier = 'XX'")  # the next run would replace every row
    env = {**os.environ, "PYTHONPATH": str(ROOT), TABLE_COMMIT_PAUSE_VARIABLE: "60"}
    process = subprocess.Popen([sys.executable, "-m", "pipec.cli", "run", "report.pipe"], cwd=project, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        # inside the commit transaction (its last statements rename the staged table): the old
        # table is dropped and the new one in its place, uncommitted
        while rows(warehouse, "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' "
                              "AND datname = current_database() AND query LIKE 'ALTER TABLE %pipec_stage_%'") == [(0,)]:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    deadline = time.monotonic() + 30  # the server notices the closed connection and rolls back
    while report_rows(warehouse) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert report_rows(warehouse) == before
    assert len(rows(warehouse, "SELECT table_name FROM information_schema.tables "
                               "WHERE table_name LIKE 'pipec_stage_%'")) == 1  # the dead run's staged rows
    done = pipec(project, "run", "report.pipe")  # the next run drops them, and writes
    assert done.returncode == 0, done.stderr
    assert "staged by a run that did not finish" in done.stderr + done.stdout
    assert rows(warehouse, "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'pipec_stage_%'") == [(0,)]
    assert [r[0] for r in report_rows(warehouse)] == ["XX"]


def test_no_secret_anywhere(warehouse, project):
    outputs = []
    for command in (["run", "report.pipe"], ["check", "--connect", "report.pipe"], ["explain", "report.pipe"],
                    ["explain", "report.pipe", "--format", "json"], ["compile", "report.pipe", "--target", "ir"],
                    ["compile", "report.pipe", "--target", "airflow", "-o", "out/airflow"],
                    ["compile", "report.pipe", "--target", "spark", "-o", "out/spark"], ["runs"],
                    ["lineage", "report.pipe"]):
        done = pipec(project, *command)
        assert done.returncode == 0, (command, done.stderr)
        outputs += [done.stdout, done.stderr]
    assert (project / ".pipec").is_dir() and (project / "out" / "airflow").is_dir()
    assert no_secret_in(project, *outputs) == []
    assert PASSWORD in warehouse  # the connection really had one


def test_redact_hides_passwords_in_urls_and_keywords():
    assert redact("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("host=h password=hunter2 user=u") == "host=h password=*** user=u"
    assert redact("failed for hunter2", "postgresql://u:hunter2@h/db") == "failed for ***"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"


@pytest.mark.parametrize("source, message", [
    ('read_table("a b", schema={x: int}, connection="w")', "is not a table name"),
    ('read_table("t", schema={x: int}, connection="postgresql://u:p@h/d")', "must be the NAME of a connection"),
])
def test_checker_rejects_bad_arguments(tmp_path, source, message):
    (tmp_path / "p.pipe").write_text(f"pipeline p() {{\n  {source} | write_csv(\"o.csv\")\n}}\n")
    done = pipec(tmp_path, "check", "p.pipe")
    assert done.returncode == 1 and message in done.stderr
