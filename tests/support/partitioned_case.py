"""One pipeline over a Hive-style partitioned folder (`data/events/day=.../n=.../*.csv`): this
run's partition, read with pruning, and a partitioned sink, with the data of three days. Shared by
the partitioned-dataset tests of every backend, which must write the same files and bytes."""
from __future__ import annotations

from pathlib import Path

PIPELINE = """
schema Event { day: date, n: int, id: int, amount: float? }

pipeline daily_partitions(schedule="@daily", start="2013-01-01") {
  events = read_csv("data/events", schema=Event, partition_by=[day, n])
  today = events | filter(day == run.date)
  today | write_csv("out/today.csv")
  today | derive(big = amount > 10.0) | write_parquet("out/by_size", partition_by=[big, n])
  all = read_json("data/events_json", schema=Event, partition_by=[day, n])
  all | write_json("out/copy", partition_by=[n])
}
"""

DAYS = ("2013-01-03", "2013-01-01", "2013-01-02")


def write_dataset(workdir: Path) -> None:
    """Per day, `n=10` and `n=9` (the typed order puts 9 first), two files each; the same rows
    as JSON lines under data/events_json."""
    for k, day in enumerate(DAYS):
        for n in (10, 9):
            for file, (ident, amount) in (("b.csv", (k * 100 + n, 12.5)), ("a.csv", (k * 100 + n + 50, ""))):
                folder = workdir / "data/events" / f"day={day}" / f"n={n}"
                folder.mkdir(parents=True, exist_ok=True)
                (folder / file).write_text(f"id,amount\n{ident},{amount}\n{ident + 1},{k + 0.25}\n")
                json_folder = workdir / "data/events_json" / f"day={day}" / f"n={n}"
                json_folder.mkdir(parents=True, exist_ok=True)
                value = "null" if amount == "" else amount
                (json_folder / file.replace(".csv", ".json")).write_text(
                    f'{{"id": {ident}, "amount": {value}}}\n{{"id": {ident + 1}, "amount": {k + 0.25}}}\n')
    (workdir / "data/events/_SUCCESS").write_text("")


def outputs(workdir: Path) -> dict[str, bytes]:
    """Every data file under out/ by its relative path (pipec's markers left out)."""
    out = workdir / "out"
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}
