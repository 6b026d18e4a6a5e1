"""The exact bytes of CSV, JSON lines and metrics files (docs/semantics.md "Files"): the writer
functions every backend shares."""
from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from pipec.runtime_contract import metrics_json_text, write_table_csv, write_table_json

UTC = dt.timezone.utc


def table(zone: str | None = "UTC") -> pl.DataFrame:
    stamps = pl.Series("t", [dt.datetime(2013, 1, 1), dt.datetime(2013, 1, 1, 1, 2, 3, 250000),
                             dt.datetime(2013, 1, 1, 1, 2, 3, 123456), None, None], dtype=pl.Datetime("us"))
    if zone is not None:
        stamps = stamps.dt.replace_time_zone("UTC").dt.convert_time_zone(zone)
    return pl.DataFrame({
        "f": [1.5, math.inf, -math.inf, math.nan, None],
        "g": [-0.0, 1e20, 1e-7, 0.1 + 0.2, 2.0],
        "i": [1, -2, 0, None, 2 ** 62],
        "b": [True, False, None, True, False],
        "s": ["a,b", 'q"x', "", None, "two\nlines"],
        "d": [dt.date(2013, 1, 2), None, dt.date(2020, 2, 29), None, None],
        "t": stamps,
    })


CSV = (
    "f,g,i,b,s,d,t\n"
    '1.5,-0.0,1,true,"a,b",2013-01-02,2013-01-01T00:00:00Z\n'
    'inf,1e+20,-2,false,"q""x",,2013-01-01T01:02:03.250Z\n'
    '-inf,1e-7,0,,"",2020-02-29,2013-01-01T01:02:03.123456Z\n'
    "NaN,0.30000000000000004,,true,,,\n"
    ',2.0,4611686018427387904,false,"two\nlines",,\n'
)
JSON = (
    '{"f":1.5,"g":-0.0,"i":1,"b":true,"s":"a,b","d":"2013-01-02","t":"2013-01-01T00:00:00Z"}\n'
    '{"f":null,"g":1e+20,"i":-2,"b":false,"s":"q\\"x","d":null,"t":"2013-01-01T01:02:03.250Z"}\n'
    '{"f":null,"g":1e-7,"i":0,"b":null,"s":"","d":"2020-02-29","t":"2013-01-01T01:02:03.123456Z"}\n'
    '{"f":null,"g":0.30000000000000004,"i":null,"b":true,"s":null,"d":null,"t":null}\n'
    '{"f":null,"g":2.0,"i":4611686018427387904,"b":false,"s":"two\\nlines","d":null,"t":null}\n'
)


@pytest.mark.parametrize("zone", ["UTC", None, "America/New_York"])
def test_csv_and_json_lines_bytes(tmp_path, zone):
    write_table_csv(table(zone), tmp_path / "t.csv")
    write_table_json(table(zone), tmp_path / "t.jsonl")
    assert (tmp_path / "t.csv").read_bytes() == CSV.encode()
    assert (tmp_path / "t.jsonl").read_bytes() == JSON.encode()


def test_metrics_json_text():
    text = metrics_json_text({"rmse": 0.1 + 0.2, "accuracy": 0.5, "log_loss": math.inf})
    assert text == '{\n  "accuracy": 0.5,\n  "log_loss": Infinity,\n  "rmse": 0.30000000000000004\n}\n'
