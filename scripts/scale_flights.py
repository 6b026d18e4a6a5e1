"""Make an N-times larger copy of nycflights13 for benchmarks: data/nycflights13_xN/.

Copy k (0 .. N-1) of `flights` and `weather` has its `year` and `time_hour` shifted by k years, so
that joins on `(origin, time_hour)` still match one weather row per flight, as in the original, and
every copy stays distinguishable. nycflights13 covers 2013, which has no 29 February, so every
shifted date exists. The small dimension tables are copied as they are.

Usage: python scripts/scale_flights.py N [--source data/nycflights13]
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from get_data import write_atomically

REPLICATED = ("flights", "weather")
COPIED = ("airlines", "airports", "planes")


def shift_row(line: str, year_at: int, time_hour_at: int, years: int) -> str:
    """Shift the `year` field and the year of the ISO `time_hour` field of one CSV line."""
    fields = line.rstrip("\n").split(",")
    fields[year_at] = str(int(fields[year_at]) + years)
    stamp = fields[time_hour_at]
    fields[time_hour_at] = f"{int(stamp[:4]) + years:04d}{stamp[4:]}"
    return ",".join(fields) + "\n"


def replicate(source: Path, target: Path, copies: int) -> None:
    with open(source) as f:
        header = f.readline()
        rows = f.readlines()
    names = header.rstrip("\n").split(",")
    year_at, time_hour_at = names.index("year"), names.index("time_hour")

    def fill(tmp: Path) -> None:
        with open(tmp, "w") as out:
            out.write(header)
            for k in range(copies):
                out.writelines(shift_row(row, year_at, time_hour_at, k) if k else row for row in rows)

    write_atomically(target, fill)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="how many copies of the data (>= 1)")
    parser.add_argument("--source", type=Path, default=Path("data/nycflights13"))
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("N must be at least 1")
    if not (args.source / "flights.csv").exists():
        sys.exit(f"error: {args.source}/flights.csv is missing: run scripts/get_data.py first")

    dest = args.source.with_name(f"{args.source.name}_x{args.n}")
    for table in REPLICATED + COPIED:
        target = dest / f"{table}.csv"
        if target.exists():
            print(f"up to date  {target}")
            continue
        if table in REPLICATED:
            replicate(args.source / f"{table}.csv", target, args.n)
        else:
            write_atomically(target, lambda tmp, t=table: shutil.copyfile(args.source / f"{t}.csv", tmp))
        print(f"   written  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
