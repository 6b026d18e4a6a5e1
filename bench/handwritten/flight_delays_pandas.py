"""bench/pipelines/flight_delays.pipe written by hand with pandas + scikit-learn, for
bench/bench_local.py.

Usage: python flight_delays_pandas.py DATA_DIR OUT_DIR
"""
import json
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score

data, out = Path(sys.argv[1]), Path(sys.argv[2])
MIN_DISTANCE, SEED, P = 200.0, 42, 1_000_003
FEATURES = ["log_distance", "temp", "wind_speed"]

flights = pd.read_csv(data / "flights.csv",
                      usecols=["arr_delay", "carrier", "flight", "origin", "distance", "time_hour"])
weather = pd.read_csv(data / "weather.csv", usecols=["origin", "time_hour", "temp", "wind_speed"])
for frame in (flights, weather):
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], format="%Y-%m-%dT%H:%M:%SZ", utc=True)

df = flights[flights["arr_delay"].notna() & (flights["distance"] >= MIN_DISTANCE)]
df = df.merge(weather, on=["origin", "time_hour"], how="left")
df = df.fillna({"temp": 55.0, "wind_speed": 0.0})
df["late"] = df["arr_delay"] > 15
df["log_distance"] = np.log(df["distance"])
features = df[["carrier", "origin", "flight", "log_distance", "temp", "wind_speed", "late"]]

# the split of docs/semantics.md: u < fraction goes to train
u = ((features["flight"] % P) * 7919 + (SEED % P) * 104729 + 1) % P / P
train = features[u < 0.8]
test = features[u >= 0.8].copy()

model = LogisticRegression(C=np.inf, max_iter=200)
model.fit(train[FEATURES].to_numpy(), train["late"].to_numpy())

X_test = test[FEATURES].to_numpy()
test["prediction"] = model.predict(X_test)
test["probability"] = model.predict_proba(X_test)[:, 1]
report = {"accuracy": accuracy_score(test["late"], test["prediction"]),
          "roc_auc": roc_auc_score(test["late"], test["probability"])}
by_carrier = (test.groupby("carrier")
              .agg(flights=("late", "size"), late_rate=("late", "mean"))
              .reset_index()
              .sort_values("late_rate", ascending=False))

out.mkdir(parents=True, exist_ok=True)
test.to_parquet(out / "scored.parquet", index=False)
by_carrier.to_csv(out / "by_carrier.csv", index=False)
(out / "metrics.json").write_text(json.dumps(report, indent=2))
joblib.dump(model, out / "model.joblib")
