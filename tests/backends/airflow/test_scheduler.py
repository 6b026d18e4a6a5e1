"""A pipec DAG under a real Airflow: scheduler, DAG processor and API server with the LocalExecutor
and a PostgreSQL metadata database (tests/support/airflow_cluster.py), one deployment for the
module. Concurrent runs with different params and dates, a task killed mid-stage and retried, a
backfill, and a DAG scheduled on the pipeline's Assets: every run writes exactly what
`pipec run` writes locally with the same params and `--run-date`.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from airflow_cluster import AirflowCluster
from run_context_case import write_partitions

from pipec import plan
from pipec.backends.airflow import AirflowBackend
from pipec.cli import main as pipec_main
from pipec.compiler.check import check_source

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_ID = "scheduled_events"
# Runs before `start` would have no tasks (Airflow creates none for a logical date before a task's
# start_date); the scheduler also starts the latest interval's run itself (`scheduled_dates`).
PIPELINE = """
pipeline scheduled_events(schedule="@daily", start="2013-01-01", retries=2, retry_delay=1s) {
  param min_amount: float = 0.0
  param pause_marker: str = ""
  events = read_csv("data/events/date=${run.date}/part.csv",
                    schema={id: int, time_hour: timestamp, day: date, amount: float})
    | filter(time_hour >= run.interval_start and time_hour < run.interval_end and amount >= $min_amount)
    | select(id, time_hour, amount)
    | python("pause_once:pause_once", schema={id: int, time_hour: timestamp, amount: float}, marker=$pause_marker)
    | derive(day = date(time_hour), logical = run.logical_date, starts = run.interval_start)
  events | write_csv("out/events_${run.date}.csv")
  events | aggregate(by=[day], n = count(), total = sum(amount)) | write_csv("out/totals_${run.date}.csv")
  events | aggregate(n = count()) | write_csv("out/last_count.csv")
}
"""

# The python() step of the pipeline: with a marker path, the first attempt writes its pid there and
# waits to be killed; a later attempt (the marker exists) passes the rows through, as every run
# without a marker does.
PAUSE_ONCE = '''
import os
import time


def pause_once(frame, marker):
    if marker and not os.path.exists(marker):
        with open(marker + ".tmp", "w") as handle:
            handle.write(str(os.getpid()))
        os.rename(marker + ".tmp", marker)
        time.sleep(600)
    return frame
'''

CONSUMER_ID = "events_consumer"
# A DAG scheduled on the Asset of the pipeline's fixed-path sink.
CONSUMER = '''
import datetime
import pathlib

from airflow.sdk import Asset, dag, task


@dag(dag_id="events_consumer", schedule=[Asset(pathlib.Path({last_count!r}).as_uri())],
     start_date=datetime.datetime(2013, 1, 1, tzinfo=datetime.timezone.utc), catchup=False)
def events_consumer():
    @task
    def read_count():
        return pathlib.Path({last_count!r}).read_text()

    read_count()


events_consumer()
'''


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, postgres_server):
    """The compiled DAG folder, its work folder (data, outputs) and a running Airflow on them."""
    root = tmp_path_factory.mktemp("scheduler")
    work, dags = root / "work", root / "dags"
    work.mkdir()
    write_partitions(work)
    for day in scheduled_dates():
        folder = work / "data" / "events" / f"date={day}"
        folder.mkdir(parents=True)
        (folder / "part.csv").write_text("id,time_hour,day,amount\n")
    (work / "pause_once.py").write_text(PAUSE_ONCE)
    (work / "events.pipe").write_text(PIPELINE)
    program = check_source(PIPELINE, str(work / "events.pipe"))
    assert program.ok, [d.message for d in program.diagnostics]
    AirflowBackend(base_dir=work, storage_root=str(root / "storage")).compile(
        plan(program.pipelines[DAG_ID], level=1, backend="airflow"), dags)
    (dags / "events_consumer.py").write_text(CONSUMER.format(last_count=str(work / "out" / "last_count.csv")))
    cluster = AirflowCluster(root / "airflow", dags, postgres_server.create_database("airflow"))
    try:
        cluster.start()
        cluster.wait_for_dags([DAG_ID, CONSUMER_ID])
        yield cluster, work, root
    except BaseException:
        print(cluster.report())
        raise
    finally:
        cluster.stop()


@pytest.fixture
def cluster(deployment, request):
    """The module's deployment; a failed test prints its processes' and tasks' logs."""
    yield deployment
    report = getattr(request.node, "rep_call", None)
    if report is None or report.failed:
        print(deployment[0].report())


def scheduled_dates() -> list[str]:
    """The dates the scheduler may start a run for by itself (catchup is off: the latest complete
    interval, around now), each given an empty partition so that its run succeeds."""
    today = dt.datetime.now(dt.timezone.utc).date()
    return [(today + dt.timedelta(days=offset)).isoformat() for offset in (-2, -1, 0)]


def local_outputs(work: Path, tmp_path: Path, run_date: str, params: dict[str, str]) -> dict[str, bytes]:
    """What `pipec run --run-date` writes for these params, in a copy of the work folder."""
    reference = tmp_path / f"local-{run_date}-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(work / "data", reference / "data")
    shutil.copy(work / "pause_once.py", reference)
    arguments = ["run", str(work / "events.pipe"), "--workdir", str(reference), "--run-date", run_date]
    for name, value in params.items():
        arguments += ["-p", f"{name}={value}"]
    assert pipec_main(arguments) == 0
    return {f.name: f.read_bytes() for f in (reference / "out").iterdir()}


def dated_outputs(work: Path, run_date: str) -> dict[str, bytes]:
    return {name: (work / "out" / name).read_bytes()
            for name in (f"events_{run_date}.csv", f"totals_{run_date}.csv")}


def run_folders(root: Path) -> list[Path]:
    folder = root / "storage"
    return sorted(p for p in folder.glob("*/*") if p.is_dir()) if folder.exists() else []


def test_concurrent_runs_with_different_params_and_dates_each_write_their_own_outputs(cluster, tmp_path):
    cluster, work, root = cluster
    runs = {"2013-01-01": {"min_amount": 2.0}, "2013-01-02": {"min_amount": 0.0}, "2013-01-03": {"min_amount": 1.0}}
    ids = {day: cluster.trigger(DAG_ID, logical_date=f"{day}T00:00:00Z", conf=conf, run_id=f"concurrent_{day}")
           for day, conf in runs.items()}
    finished = {r["dag_run_id"]: r for r in cluster.wait_for_runs(DAG_ID, len(ids))}
    assert {finished[i]["state"] for i in ids.values()} == {"success"}, finished
    starts = sorted(finished[i]["start_date"] for i in ids.values())
    ends = sorted(finished[i]["end_date"] for i in ids.values())
    assert starts[-1] < ends[0], "the three runs were not running at the same time"

    last_counts = []
    for day, conf in runs.items():
        local = local_outputs(work, tmp_path, day, {k: str(v) for k, v in conf.items()})
        assert dated_outputs(work, day) == {k: v for k, v in local.items() if k != "last_count.csv"}
        last_counts.append(local["last_count.csv"])
    # The fixed-path sink holds the complete output of one of the runs (the last to commit).
    assert (work / "out" / "last_count.csv").read_bytes() in last_counts
    assert run_folders(root) == []  # every successful run removed its intermediates
