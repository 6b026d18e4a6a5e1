"""bench/pipelines/flight_delays.pipe written by hand with polars + scikit-learn, for
bench/bench_local.py.

Usage: python flight_delays_polars.py DATA_DIR OUT_DIR
"""
import json
import sys
from pathlib import Path

import joblib
import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score

data, out = Path(sys.argv[1]), Path(sys.argv[2])
MIN_DISTANCE, SEED, P = 200.0, 42, 1_000_003
FEATURES = ["log_distance", "temp", "wind_speed"]
utc = pl.Datetime("us", "UTC")

flights = pl.scan_csv(data / "flights.csv", null_values="NA", schema_overrides={
    "arr_delay": pl.Int64, "carrier": pl.String, "flight": pl.Int64, "origin": pl.String,
    "distance": pl.Int64, "time_hour": pl.String})
weather = pl.scan_csv(data / "weather.csv", null_values="NA", schema_overrides={
    "origin": pl.String, "temp": pl.Float64, "wind_speed": pl.Float64, "time_hour": pl.String})
weather = weather.select("origin", "time_hour", "temp", "wind_speed")


def parse_time_hour(frame):
    return frame.with_columns(pl.col("time_hour").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC"))


features = (
    parse_time_hour(flights)
    .filter(pl.col("arr_delay").is_not_null() & (pl.col("distance") >= MIN_DISTANCE))
    .join(parse_time_hour(weather), on=["origin", "time_hour"], how="left")
    .with_columns(pl.col("temp").fill_null(55.0), pl.col("wind_speed").fill_null(0.0))
    .select("carrier", "origin", "flight", pl.col("distance").log().alias("log_distance"),
            "temp", "wind_speed", late=pl.col("arr_delay") > 15)
    .collect()
)

# the split of docs/semantics.md: u < fraction goes to train
u = ((pl.col("flight") % P) * 7919 + (SEED % P) * 104729 + 1) % P / P
train = features.filter(u < 0.8)
test = features.filter(u >= 0.8)

model = LogisticRegression(C=np.inf, max_iter=200)
model.fit(train.select(FEATURES).to_numpy(), train["late"].to_numpy())

X_test = test.select(FEATURES).to_numpy()
scored = test.with_columns(prediction=pl.Series(model.predict(X_test)),
                           probability=pl.Series(model.predict_proba(X_test)[:, 1]))
report = {"accuracy": accuracy_score(scored["late"], scored["prediction"]),
          "roc_auc": roc_auc_score(scored["late"], scored["probability"])}
by_carrier = (scored.group_by("carrier")
              .agg(flights=pl.len(), late_rate=pl.col("late").cast(pl.Float64).mean())
              .sort("late_rate", descending=True))

out.mkdir(parents=True, exist_ok=True)
scored.write_parquet(out / "scored.parquet")
by_carrier.write_csv(out / "by_carrier.csv")
(out / "metrics.json").write_text(json.dumps(report, indent=2))
joblib.dump(model, out / "model.joblib")
