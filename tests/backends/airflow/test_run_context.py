"""The run context on Airflow: the DAG of a pipeline that reads `run.*` gives its runs data
intervals that start at their logical date, the tasks take the values from the DAG run, and a
`dag.test()` run for a logical date writes what `pipec run --run-date` writes for it."""
from __future__ import annotations

import datetime as dt
import shutil
import types

import pytest
from run_context_case import PIPELINE, outputs, write_partitions

from pipec import plan
from pipec.backends.airflow.run import run_dag_file
from pipec.backends.airflow.task_io import run_paths, run_values
from pipec.backends.local.runner import run_plan
from pipec.compiler.check import check_source
from pipec.runtime_contract import ParamError, run_context

UTC = dt.timezone.utc


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def context(logical: str | None, start: str | None, end: str | None, run_after: str = "2013-01-05T00:00:00"):
    return {"logical_date": logical and moment(logical), "data_interval_start": start and moment(start),
            "data_interval_end": end and moment(end), "dag_run": types.SimpleNamespace(run_after=moment(run_after))}


def test_a_scheduled_run_or_a_backfill_keeps_its_interval():
    values = run_values(context("2013-01-02T00:00:00", "2013-01-02T00:00:00", "2013-01-03T00:00:00"))
    assert values == run_context("2013-01-02")


def test_a_manual_run_covers_the_period_that_starts_at_its_logical_date():
    """Airflow infers the period that ends there; a run for a date means the same everywhere."""
    values = run_values(context("2013-01-02T00:00:00", "2013-01-01T00:00:00", "2013-01-02T00:00:00"))
    assert values == run_context("2013-01-02")


def test_a_manual_run_of_a_monthly_dag_covers_its_month_not_the_previous_months_length():
    """Airflow gives the manual run for February [January 1, February 1): 31 days, which shifted
    to start at February 1 ran into March."""
    monthly = {**context("2013-02-01T00:00:00", "2013-01-01T00:00:00", "2013-02-01T00:00:00"),
               "dag": types.SimpleNamespace(timetable=types.SimpleNamespace(expression="0 0 1 * *"))}
    assert run_values(monthly) == run_context("2013-02-01", "2013-02-01", "2013-03-01")


def test_an_unscheduled_run_covers_its_logical_dates_day_and_a_run_without_one_its_run_after():
    assert run_values(context("2013-01-02T06:00:00", "2013-01-02T06:00:00", "2013-01-02T06:00:00")) == \
        run_context("2013-01-02T06:00:00Z", "2013-01-02", "2013-01-03")
    assert run_values(context(None, None, None))["run.date"] == "2013-01-05"


def test_an_interval_that_ends_before_it_starts_fails_the_task_as_a_param_error():
    with pytest.raises(ParamError, match="the run's dates"):
        run_values(context("2013-01-02T00:00:00", "2013-01-02T00:00:00", "2013-01-01T00:00:00"))


def test_only_a_pipeline_that_reads_run_values_gets_a_data_interval_timetable(compile_pipe):
    (dag_file,) = compile_pipe(PIPELINE).values()
    text = dag_file.read_text()
    assert "from airflow.sdk import Asset, AssetAlias, CronDataIntervalTimetable, Param, dag, task" in text
    assert "schedule=CronDataIntervalTimetable('@daily', timezone='UTC')," in text
    (plain,) = compile_pipe(PIPELINE.replace("daily_events", "plain").replace("${run.date}", "2013-01-01")
                            .replace("run.interval_start", '"2013-01-01"').replace("run.interval_end", '"2013-01-02"')
                            .replace("run.logical_date", "time_hour").replace("run.date", "day")).values()
    assert "CronDataIntervalTimetable" not in plain.read_text()
    assert "schedule='@daily'," in plain.read_text()


def test_a_sink_whose_path_holds_a_run_value_is_an_asset_alias_each_run_adds_its_own_file_to(compile_pipe):
    """One Asset per written file: the event of run D names out/events_D.csv, not a path with
    `${run.date}` in it (the scheduler test checks the events a real run emits)."""
    (dag_file,) = compile_pipe(PIPELINE).values()
    text = dag_file.read_text()
    assert "AssetAlias(asset_uri('out/events_${run.date}.csv'))," in text
    assert "Asset(asset_uri('out/totals.csv'))," in text
    assert "publish_run_assets(context)" in text
    (spark_dag,) = compile_pipe(PIPELINE, engine="spark").values()  # its one task publishes them
    assert "AssetAlias(asset_uri('out/events_${run.date}.csv'))" in spark_dag.read_text()
    assert "        run_spark_job(context)\n        publish_run_assets(context)\n" in spark_dag.read_text()
    assert run_paths(["out/events_${run.date}.csv"], context("2013-01-02T00:00:00", "2013-01-02T00:00:00",
                                                             "2013-01-03T00:00:00")) == \
        [("out/events_${run.date}.csv", "out/events_2013-01-02.csv")]


def test_a_dag_run_for_a_logical_date_writes_what_the_local_run_for_that_date_writes(
        compile_pipe, airflow_home, tmp_path):
    work = tmp_path / "work"
    write_partitions(work)
    program = check_source(PIPELINE, str(work / "daily.pipe"))
    run_plan(plan(program.pipelines["daily_events"], backend="local", workdir=work), run_context("2013-01-02"), work)
    local = outputs(work)
    shutil.rmtree(work / "out")

    (dag_file,) = compile_pipe(PIPELINE).values()
    result = run_dag_file(dag_file, airflow_home=airflow_home, logical_date="2013-01-02")
    assert result.ok, result.error
    assert outputs(work) == local
    assert b"2013-01-02T06:00:00Z" in local["events_2013-01-02.csv"]
