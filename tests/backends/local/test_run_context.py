"""`pipec run --run-date/--interval` locally: each run date reads its own partition folder and
keeps its own interval's rows, at every optimisation level, and a bad date is a usage error."""
from __future__ import annotations

import polars as pl
import pytest
from run_context_case import EXPECTED_IDS, PIPELINE, outputs, write_partitions

from pipec.cli import main


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    write_partitions(tmp_path)
    (tmp_path / "daily.pipe").write_text(PIPELINE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*argv: str) -> int:
    try:
        return main(["run", "daily.pipe", "--runs-db", "sqlite:///runs.db", *argv])
    except SystemExit as exc:
        return exc.code


def ids(path) -> list[int]:
    return pl.read_csv(path)["id"].to_list()


def test_each_run_date_reads_its_partition_and_keeps_its_interval(workdir):
    for day, expected in EXPECTED_IDS.items():
        assert run("--run-date", day) == 0
        written = pl.read_csv(workdir / "out" / f"events_{day}.csv")
        assert written["id"].to_list() == expected
        assert set(written["logical"]) == {f"{day}T00:00:00Z"}
        assert set(written["starts"]) == {f"{day}T00:00:00Z"}
    totals = pl.read_csv(workdir / "out" / "totals.csv")  # of the last run, 2013-01-03
    assert totals.rows() == [(True, 1, 64.0)]


def test_every_optimisation_level_writes_the_same_bytes(workdir):
    written = []
    for level in ("-O0", "-O1"):
        assert run("--run-date", "2013-01-02", level) == 0
        written.append(outputs(workdir))
    assert written[0] == written[1]
    assert pl.read_csv(workdir / "out" / "totals.csv").rows() == [(False, 1, 0.5), (True, 1, 16.0)]


def test_an_interval_given_alone_sets_the_run_date_to_its_start(workdir):
    assert run("--interval", "2013-01-02T06:30:00Z/2013-01-03") == 0
    assert ids(workdir / "out" / "events_2013-01-02.csv") == [6]


def test_an_interval_narrows_the_run_dates_day(workdir):
    assert run("--run-date", "2013-01-01", "--interval", "2013-01-01T12:00:00Z/2013-01-02") == 0
    assert ids(workdir / "out" / "events_2013-01-01.csv") == [3]


@pytest.mark.parametrize("argv, words", [
    (["--run-date", "01/02/2013"], "is not a date or a timestamp"),
    (["--interval", "2013-01-02"], "is not an interval START/END"),
    (["--interval", "2013-01-03/2013-01-02"], "before it starts"),
])
def test_a_bad_run_date_is_a_usage_error(workdir, capsys, argv, words):
    assert run(*argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (workdir / "out").exists()


def test_the_library_api_takes_the_run_date_and_a_run_without_one_is_for_now(workdir):
    import pipec

    pipec.run(workdir / "daily.pipe", workdir=workdir, run_date="2013-01-03")
    assert ids(workdir / "out" / "events_2013-01-03.csv") == [8]
    pipec.run(workdir / "daily.pipe", workdir=workdir, interval=("2013-01-01T12:00:00Z", "2013-01-02"))
    assert ids(workdir / "out" / "events_2013-01-01.csv") == [3]
    with pytest.raises(pipec.RunError, match="part.csv"):  # today's partition is not there
        pipec.run(workdir / "daily.pipe", workdir=workdir)


def test_without_an_interval_an_hourly_pipeline_covers_the_hour_of_its_run_date(workdir):
    """The default interval is the schedule's period from the run date, as Airflow's scheduled run
    for that date has; it was the day whatever the schedule."""
    (workdir / "daily.pipe").write_text(PIPELINE.replace('schedule="@daily"', 'schedule="@hourly"'))
    assert run("--run-date", "2013-01-02T06:00:00Z") == 0
    written = pl.read_csv(workdir / "out" / "events_2013-01-02.csv")
    assert written["id"].to_list() == [5]  # 06:00; the 07:00 row is the next hour's
    assert set(written["starts"]) == {"2013-01-02T06:00:00Z"}
    import pipec

    pipec.run(workdir / "daily.pipe", workdir=workdir, run_date="2013-01-02T07:00:00Z")
    assert ids(workdir / "out" / "events_2013-01-02.csv") == [6]


def test_a_schedule_that_is_not_cron_is_a_usage_error_when_the_pipeline_reads_the_run(workdir, capsys):
    (workdir / "daily.pipe").write_text(PIPELINE.replace('schedule="@daily"', 'schedule="every day"'))
    assert run("--run-date", "2013-01-02") == 2
    assert "schedule `every day` is not a preset" in capsys.readouterr().err
