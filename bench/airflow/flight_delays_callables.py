"""Task bodies of the hand-written flight-delays DAGs (TaskFlow and dag-factory) in bench/airflow/.

Written the way an engineer would by hand: plain functions, heavy imports inside them, values
handed over as Parquet files in a folder per run. Only the parse cost of the DAG files that use
them is benchmarked; both DAG files import this module lazily (dag-factory at parse time).
"""
from __future__ import annotations

import json
import os
import pickle


def _folder(context) -> str:
    folder = os.path.join(context["params"]["storage_root"], context["dag"].dag_id,
                          context["run_id"].replace(":", "_").replace("+", "_"))
    os.makedirs(folder, exist_ok=True)
    return folder


def _path(context, name: str) -> str:
    return os.path.join(_folder(context), name)


def _out(context, name: str) -> str:
    params = context["params"]
    folder = os.path.join(params["base_dir"], params["out_dir"])
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, name)


def flights(**context) -> str:
    import polars as pl

    params = context["params"]
    frame = pl.read_csv(os.path.join(params["base_dir"], params["data_dir"], "flights.csv"),
                        null_values=["NA"], infer_schema_length=None)
    frame = frame.filter(pl.col("arr_delay").is_not_null() & (pl.col("distance") >= params["min_distance"]))
    frame.write_parquet(_path(context, "flights.parquet"))
    return _path(context, "flights.parquet")


def weather(**context) -> str:
    import polars as pl

    params = context["params"]
    frame = pl.read_csv(os.path.join(params["base_dir"], params["data_dir"], "weather.csv"),
                        columns=["origin", "time_hour", "temp", "wind_speed"], null_values=["NA"],
                        infer_schema_length=None)
    frame.write_parquet(_path(context, "weather.parquet"))
    return _path(context, "weather.parquet")


def features(flights_path: str, weather_path: str, **context) -> str:
    import polars as pl

    frame = (pl.read_parquet(flights_path).join(pl.read_parquet(weather_path), on=["origin", "time_hour"], how="left")
             .with_columns(pl.col("temp").fill_null(55.0), pl.col("wind_speed").fill_null(0.0))
             .with_columns(late=pl.col("arr_delay") > 15, log_distance=pl.col("distance").log())
             .select("carrier", "origin", "log_distance", "temp", "wind_speed", "late"))
    frame.write_parquet(_path(context, "features.parquet"))
    return _path(context, "features.parquet")


def _split(path: str, seed: int, train: bool):
    import polars as pl

    frame = pl.read_parquet(path).with_row_index("row")
    draw = (pl.col("row").hash(seed) % 1_000_000) / 1_000_000 < 0.8
    return frame.filter(draw if train else ~draw).drop("row")


FEATURES = ["log_distance", "temp", "wind_speed"]


def model(features_path: str, **context) -> str:
    from sklearn.linear_model import LogisticRegression

    train = _split(features_path, context["params"]["seed"], train=True)
    fitted = LogisticRegression(max_iter=200).fit(train.select(FEATURES).to_numpy(), train["late"].to_numpy())
    with open(_out(context, "model.pkl"), "wb") as handle:
        pickle.dump(fitted, handle)
    return _out(context, "model.pkl")


def scored(features_path: str, model_path: str, **context) -> str:
    import polars as pl

    test = _split(features_path, context["params"]["seed"], train=False)
    with open(model_path, "rb") as handle:
        fitted = pickle.load(handle)
    x = test.select(FEATURES).to_numpy()
    test = test.with_columns(prediction=pl.Series(fitted.predict(x)),
                             probability=pl.Series(fitted.predict_proba(x)[:, 1]))
    test.write_parquet(_out(context, "scored.parquet"))
    return _out(context, "scored.parquet")


def carrier_rates(scored_path: str, **context) -> str:
    import polars as pl

    (pl.read_parquet(scored_path).group_by("carrier")
     .agg(flights=pl.len(), late_rate=pl.col("late").cast(pl.Float64).mean())
     .write_parquet(_path(context, "carrier_rates.parquet")))
    return _path(context, "carrier_rates.parquet")


def by_carrier(rates_path: str, **context) -> None:
    import polars as pl

    pl.read_parquet(rates_path).sort("late_rate", descending=True).write_csv(_out(context, "by_carrier.csv"))


def report(scored_path: str, **context) -> None:
    import polars as pl
    from sklearn import metrics

    frame = pl.read_parquet(scored_path)
    result = {"accuracy": metrics.accuracy_score(frame["late"], frame["prediction"]),
              "roc_auc": metrics.roc_auc_score(frame["late"], frame["probability"])}
    with open(_out(context, "metrics.json"), "w") as handle:
        json.dump(result, handle, indent=2)
