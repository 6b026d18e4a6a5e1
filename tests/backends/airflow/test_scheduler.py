"""A pipec DAG under a real Airflow: scheduler, DAG processor and API server with the LocalExecutor
and a PostgreSQL metadata database (tests/support/airflow_cluster.py), one deployment for the
module. Concurrent runs with different params and dates, a task killed mid-stage and retried, a
backfill, and a DAG scheduled on the pipeline's Assets: every run writes exactly what
`pipec run` writes locally with the same params and `--run-date`.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
from pathlib import Path

import pytest
from airflow_cluster import AirflowCluster
from run_context_case import write_partitions

from pipec import plan
from pipec.backends.airflow import AirflowBackend, task_io
from pipec.cli import main as pipec_main
from pipec.compiler.check import check_source

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_ID = "scheduled_events"
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
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
    for days in (3, 6):  # 2013-01-04 to 2013-01-09: each DAG run needs a logical date of its own
        shift_partitions(work, days)
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


def shift_partitions(work: Path, days: int) -> None:
    """Copies of the case's partitions `days` later, every date in them moved as well."""
    def later(match: re.Match[str]) -> str:
        return (dt.date.fromisoformat(match.group()) + dt.timedelta(days=days)).isoformat()
    for part in sorted((work / "data" / "events").glob("date=2013-01-0[123]/part.csv")):
        target = work / "data" / "events" / DATE.sub(later, part.parent.name) / "part.csv"
        target.parent.mkdir()
        target.write_text(DATE.sub(later, part.read_text()))


def scheduled_dates() -> list[str]:
    """The dates the scheduler may start a run for by itself (catchup is off: the latest complete
    interval, around now), each given an empty partition so that its run succeeds."""
    today = dt.datetime.now(dt.timezone.utc).date()
    return [(today + dt.timedelta(days=offset)).isoformat() for offset in (-2, -1, 0)]


def local_outputs(work: Path, tmp_path: Path, run_date: str, params: dict[str, object]) -> Path:
    """`pipec run --run-date` with these params in a copy of the work folder; returns the copy."""
    reference = tmp_path / f"local-{run_date}-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(work / "data", reference / "data")
    shutil.copy(work / "pause_once.py", reference)
    arguments = ["run", str(work / "events.pipe"), "--workdir", str(reference), "--run-date", run_date]
    for name, value in params.items():
        arguments += ["-p", f"{name}={value}"]
    assert pipec_main(arguments) == 0
    return reference


def dated_outputs(work: Path, run_date: str) -> dict[str, bytes]:
    return {name: (work / "out" / name).read_bytes()
            for name in (f"events_{run_date}.csv", f"totals_{run_date}.csv")}


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def run_folder(root: Path, run_id: str) -> Path:
    return Path(task_io.run_folder(str(root / "storage"), DAG_ID, run_id))


def test_concurrent_runs_with_different_params_and_dates_each_write_their_own_outputs(cluster, tmp_path):
    cluster, work, root = cluster
    runs = {"2013-01-01": {"min_amount": 2.0}, "2013-01-02": {"min_amount": 0.0}, "2013-01-03": {"min_amount": 1.0}}
    ids = {day: cluster.trigger(DAG_ID, logical_date=f"{day}T00:00:00Z", conf=conf, run_id=f"concurrent_{day}")
           for day, conf in runs.items()}
    finished = cluster.wait_for_runs(DAG_ID, list(ids.values()))
    assert {run["state"] for run in finished.values()} == {"success"}, finished
    starts = sorted(moment(run["start_date"]) for run in finished.values())
    ends = sorted(moment(run["end_date"]) for run in finished.values())
    assert starts[-1] < ends[0], "the three runs were not running at the same time"

    last_counts = []
    for day, conf in runs.items():
        local = local_outputs(work, tmp_path, day, conf)
        assert dated_outputs(work, day) == dated_outputs(local, day)
        last_counts.append((local / "out" / "last_count.csv").read_bytes())
    for run in cluster.runs(DAG_ID):  # the scheduler's own run writes the fixed-path sink too
        if run["run_type"] == "scheduled":
            local = local_outputs(work, tmp_path, run["logical_date"][:10], {})
            last_counts.append((local / "out" / "last_count.csv").read_bytes())
    # The fixed-path sink holds the complete output of one of the runs (the last to commit).
    assert (work / "out" / "last_count.csv").read_bytes() in last_counts
    assert not any(run_folder(root, run_id).exists() for run_id in ids.values())


def test_a_task_killed_mid_stage_is_retried_and_writes_what_an_uninterrupted_run_writes(cluster, tmp_path):
    cluster, work, root = cluster
    marker = tmp_path / "attempt.pid"
    conf = {"min_amount": 0.5, "pause_marker": str(marker)}
    run_id = cluster.trigger(DAG_ID, logical_date="2013-01-08T00:00:00Z", conf=conf, run_id="killed_2013-01-08")
    pid = int(cluster.wait(lambda: marker.exists() and marker.read_text(), 180, "the stage to start"))
    os.kill(pid, signal.SIGKILL)  # the task's own process, in the middle of its stage

    (run,) = cluster.wait_for_runs(DAG_ID, [run_id]).values()
    assert run["state"] == "success"
    tries = {task: ti["try_number"] for task, ti in cluster.task_instances(DAG_ID, run_id).items()}
    assert max(tries.values()) == 2 and sorted(tries.values())[:-1] == [1] * (len(tries) - 1), tries
    # the marker exists now, so the local run does not pause
    assert dated_outputs(work, "2013-01-08") == dated_outputs(local_outputs(work, tmp_path, "2013-01-08", conf),
                                                             "2013-01-08")
    assert not run_folder(root, run_id).exists()


def test_a_backfill_over_three_intervals_writes_what_the_local_runs_for_those_dates_write(cluster, tmp_path):
    cluster, work, root = cluster
    conf = {"min_amount": 1.5}
    backfill = cluster.api("POST", "backfills", {
        "dag_id": DAG_ID, "from_date": "2013-01-04T00:00:00Z", "to_date": "2013-01-06T00:00:00Z",
        "dag_run_conf": conf, "max_active_runs": 3})

    def backfill_runs():
        runs = [r for r in cluster.runs(DAG_ID) if r["run_type"] == "backfill"]
        return runs if len(runs) == 3 else None
    runs = cluster.wait(backfill_runs, 60, f"the runs of backfill {backfill['id']}")
    finished = cluster.wait_for_runs(DAG_ID, [r["dag_run_id"] for r in runs])
    assert {r["state"] for r in finished.values()} == {"success"}, finished
    assert sorted((r["logical_date"], r["data_interval_start"], r["data_interval_end"]) for r in finished.values()) == [
        (f"2013-01-0{d}T00:00:00Z", f"2013-01-0{d}T00:00:00Z", f"2013-01-0{d + 1}T00:00:00Z") for d in (4, 5, 6)]
    for day in ("2013-01-04", "2013-01-05", "2013-01-06"):
        assert dated_outputs(work, day) == dated_outputs(local_outputs(work, tmp_path, day, conf), day)
    assert not any(run_folder(root, run_id).exists() for run_id in finished)


def test_a_dag_scheduled_on_the_pipelines_asset_starts_after_the_run_that_published_it(cluster):
    cluster, work, root = cluster
    run_id = cluster.trigger(DAG_ID, logical_date="2013-01-09T00:00:00Z", run_id="published_2013-01-09")
    (run,) = cluster.wait_for_runs(DAG_ID, [run_id]).values()
    assert run["state"] == "success"
    committed = cluster.task_instances(DAG_ID, run_id)["commit_outputs"]["end_date"]

    def consumer_run():
        for candidate in cluster.runs(CONSUMER_ID):
            events = cluster.api("GET", f"dags/{CONSUMER_ID}/dagRuns/{candidate['dag_run_id']}/upstreamAssetEvents")
            if any(e["source_run_id"] == run_id for e in events["asset_events"]):
                return candidate
        return None
    consumer = cluster.wait(consumer_run, 120, f"a run of {CONSUMER_ID} triggered by {run_id}")
    (consumer,) = cluster.wait_for_runs(CONSUMER_ID, [consumer["dag_run_id"]]).values()
    assert consumer["state"] == "success" and consumer["run_type"] == "asset_triggered"
    assert moment(consumer["start_date"]) > moment(committed)
    # a sink whose path holds `${run.date}` has an Asset per run: the file this run wrote
    events = cluster.api("GET", f"assets/events?source_dag_id={DAG_ID}&source_run_id={run_id}")["asset_events"]
    assert sorted(e["uri"] for e in events) == sorted(
        (work / "out" / name).as_uri() for name in ("events_2013-01-09.csv", "totals_2013-01-09.csv", "last_count.csv"))


def test_every_run_the_scheduler_started_itself_succeeded_and_left_no_intermediates(cluster, tmp_path):
    cluster, work, root = cluster
    scheduled = [r for r in cluster.runs(DAG_ID) if r["run_type"] == "scheduled"]
    finished = cluster.wait_for_runs(DAG_ID, [r["dag_run_id"] for r in scheduled])
    assert {r["state"] for r in finished.values()} <= {"success"}, finished
    assert list((root / "storage").glob(f"{DAG_ID}/*")) == []
    # no staged file, backup or journal of any run (the killed attempt's included) is left behind
    assert sorted(p.name for p in (work / "out").iterdir() if p.name.startswith(".")) == []
    assert list((work / ".pipec" / "commits").glob("*.json")) == []
