"""The examples run end to end on the local backend, and their reports agree with pandas.

Expected values are computed here with pandas straight from the CSV files, independently of pipec.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pipec
from drift_reference import expected_drift

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

pytestmark = pytest.mark.slow


def run_example(example: str, data: Path, out: Path) -> None:
    pipec.run(EXAMPLES / example, params={"data_dir": str(data), "out_dir": str(out)}, workdir=REPO)


def test_carrier_report(data_dir, tmp_path):
    run_example("flights/carrier_report.pipe", data_dir / "nycflights13", tmp_path)

    flights = pd.read_csv(data_dir / "nycflights13/flights.csv")
    airlines = pd.read_csv(data_dir / "nycflights13/airlines.csv").rename(columns={"name": "carrier_name"})
    expected = (flights.assign(cancelled=flights.dep_time.isna(),
                               on_time=(flights.arr_delay <= 15))
                .groupby("carrier")
                .agg(n_flights=("carrier", "size"), n_cancelled=("cancelled", "sum"),
                     on_time_rate=("on_time", "mean"), mean_arr_delay=("arr_delay", "mean"),
                     median_arr_delay=("arr_delay", "median"), n_destinations=("dest", "nunique"))
                .reset_index())
    expected = (expected[expected.n_flights >= 1000].merge(airlines, on="carrier", how="left")
                .sort_values(["on_time_rate", "carrier"], ascending=[False, True]))
    expected = expected[["carrier", "carrier_name", "n_flights", "n_cancelled", "on_time_rate",
                         "mean_arr_delay", "median_arr_delay", "n_destinations"]].reset_index(drop=True)
    actual = pd.read_csv(tmp_path / "carriers.csv")
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False)

    routes = pd.read_csv(tmp_path / "top_routes.csv")
    arrived = flights[flights.arr_delay.notna()]
    counts = arrived.groupby(["origin", "dest"]).size().sort_values(ascending=False)
    assert len(routes) == 25
    assert routes.n_flights.tolist() == counts.iloc[:25].tolist()
    assert routes.route.iloc[0] == "-".join(counts.index[0])


def test_weather_delays(data_dir, tmp_path):
    run_example("flights/weather_delays.pipe", data_dir / "nycflights13", tmp_path)

    flights = pd.read_csv(data_dir / "nycflights13/flights.csv")
    weather = pd.read_csv(data_dir / "nycflights13/weather.csv")
    departures = flights[flights.dep_delay.notna()].merge(
        weather[["origin", "time_hour", "temp", "wind_speed", "precip", "visib"]],
        on=["origin", "time_hour"])
    expected = (departures.assign(delayed=departures.dep_delay > 15)
                .groupby(["origin", "month"])
                .agg(n_departures=("delayed", "size"), delayed_rate=("delayed", "mean"))
                .reset_index())
    monthly = pd.read_csv(tmp_path / "monthly.csv")
    pd.testing.assert_frame_equal(monthly[["origin", "month", "n_departures", "delayed_rate"]],
                                  expected, check_dtype=False)
    by_condition = pd.read_csv(tmp_path / "by_condition.csv")
    assert (by_condition.n_departures >= 30).all()


def test_penguin_species(data_dir, tmp_path):
    run_example("penguins/species.pipe", data_dir / "penguins", tmp_path)

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) == {"accuracy", "precision", "recall", "f1"}
    assert metrics["accuracy"] >= 0.9
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    confusion = pd.read_csv(tmp_path / "confusion.csv")
    assert confusion.n.sum() == len(predictions)
    assert metrics["accuracy"] == pytest.approx((predictions.species == predictions.prediction).mean())
    assert (tmp_path / "model").exists()


def test_flight_delays(data_dir, tmp_path):
    run_example("flights/flight_delays.pipe", data_dir / "nycflights13", tmp_path)

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) == {"accuracy", "roc_auc"}
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    flights = pd.read_csv(data_dir / "nycflights13/flights.csv")
    features = flights[flights.arr_delay.notna() & (flights.distance >= 200)]
    assert 0.15 < len(scored) / len(features) < 0.25
    assert metrics["accuracy"] == pytest.approx((scored.late == scored.prediction).mean())
    by_carrier = pd.read_csv(tmp_path / "by_carrier.csv")
    assert by_carrier.flights.sum() == len(scored)
    assert by_carrier.late_rate.is_monotonic_decreasing


def test_tune_delays_then_score_delays(data_dir, tmp_path):
    """score_delays loads the model tune_delays keeps (one run of the slow tuning for both)."""
    run_example("flights/tune_delays.pipe", data_dir / "nycflights13", tmp_path)

    trials = pd.read_csv(tmp_path / "trials.csv")
    assert trials.candidate.tolist() == [1, 2, 3, 4, 5, 6]
    assert trials.estimator.tolist() == ["logistic_regression"] * 2 + ["random_forest_classifier"] * 4
    assert trials.reg.isna().tolist() == [False] * 2 + [True] * 4
    sidecar = json.loads(next((tmp_path / "model").glob("*.json")).read_text())
    assert sidecar["selection"]["candidate"] == int(trials.roc_auc.idxmax()) + 1
    assert sidecar["selection"]["score"] == pytest.approx(trials.roc_auc.max())
    assert set(json.loads((tmp_path / "metrics.json").read_text())) == {"accuracy", "roc_auc"}

    scoring = tmp_path / "scoring"
    pipec.run(EXAMPLES / "flights/score_delays.pipe", workdir=REPO,
              params={"data_dir": str(data_dir / "nycflights13"), "out_dir": str(scoring),
                      "model_dir": str(tmp_path / "model")})
    flights = pd.read_csv(data_dir / "nycflights13" / "flights.csv")
    scored = pd.read_csv(scoring / "scored.csv")
    assert len(scored) == (flights.month == 2).sum() and set(scored.prediction) <= {True, False}
    january = flights[(flights.month == 1) & flights.arr_delay.notna()]
    february = flights[flights.month == 2]
    features = {"carrier": (february.carrier, january.carrier, False),
                "origin": (february.origin, january.origin, False),
                "log_distance": (np.log(february.distance), np.log(january.distance), True),
                "dep_hour": (february.hour, january.hour, True)}
    expected = expected_drift({name: (a.tolist(), b.tolist(), numeric) for name, (a, b, numeric) in features.items()})
    assert json.loads((scoring / "drift.json").read_text()) == pytest.approx(expected, rel=1e-12, abs=1e-15)
