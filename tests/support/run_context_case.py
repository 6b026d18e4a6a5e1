"""One pipeline that reads a date-partitioned folder for its run's date and keeps the rows of its
run's data interval, with the data of three days: shared by the run-context tests of every backend
(local, Spark, Airflow), which must all write the same bytes for the same run date."""
from __future__ import annotations

from pathlib import Path

PIPELINE = """
pipeline daily_events(schedule="@daily", start="2013-01-01") {
  events = read_csv("data/events/date=${run.date}/part.csv",
                    schema={id: int, time_hour: timestamp, day: date, amount: float})
    | filter(time_hour >= run.interval_start and time_hour < run.interval_end)
    | derive(same_day = day == run.date, logical = run.logical_date, starts = run.interval_start)
  events | write_csv("out/events_${run.date}.csv")
  events | aggregate(by=[same_day], n = count(), total = sum(amount))
         | sort(same_day)
         | write_csv("out/totals.csv")
}
"""

# Each partition holds a late row of the day before and an early row of the day after, which
# the interval filter drops.
PARTITIONS = {
    "2013-01-01": [(1, "2012-12-31T23:30:00Z", "2012-12-31", 1.5), (2, "2013-01-01T00:00:00Z", "2013-01-01", 2.25),
                   (3, "2013-01-01T23:59:59.5Z", "2013-01-01", 4.0), (4, "2013-01-02T00:00:00Z", "2013-01-02", 8.0)],
    "2013-01-02": [(5, "2013-01-02T06:00:00Z", "2013-01-02", 16.0), (6, "2013-01-02T07:00:00Z", "2013-01-01", 0.5),
                   (7, "2013-01-03T00:00:00Z", "2013-01-03", 32.0)],
    "2013-01-03": [(8, "2013-01-03T12:00:00Z", "2013-01-03", 64.0)],
}

# What a run for each date writes into out/events_<date>.csv: the partition's rows inside the day.
EXPECTED_IDS = {"2013-01-01": [2, 3], "2013-01-02": [5, 6], "2013-01-03": [8]}


def write_partitions(workdir: Path) -> None:
    for day, rows in PARTITIONS.items():
        folder = workdir / "data" / "events" / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = ["id,time_hour,day,amount"] + [",".join(map(str, row)) for row in rows]
        (folder / "part.csv").write_text("\n".join(lines) + "\n")


def outputs(workdir: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted((workdir / "out").iterdir()) if f.is_file()}
