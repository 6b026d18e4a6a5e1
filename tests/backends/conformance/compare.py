"""Comparing the outputs of two backends: exactly for relational results (values, types, nulls;
order where the pipeline sorts), within stated tolerances for model outputs and metrics."""
from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl

# Stated tolerances for model outputs (absolute, on metrics in [0, 1] unless said otherwise).
# Unpenalised logistic and least-squares regressions have one optimum, so backends agree closely;
# tree ensembles and k-means use each backend's own algorithm and random streams.
METRIC_TOLERANCE = {
    "logistic_metrics.json": 0.02,
    "linear_metrics.json": 0.02,     # r2; rmse and mae are compared relatively, see below
    "forest_metrics.json": 0.10,
    "forest_regressor_metrics.json": 0.10,
    "boosted_metrics.json": 0.10,
    "multiclass_logistic_metrics.json": 0.02,
    "multiclass_forest_metrics.json": 0.10,
}
RELATIVE_METRICS = ("rmse", "mae", "log_loss")

POLARS_TYPES = {"int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean, "str": pl.String,
                "date": pl.Date, "timestamp": pl.Datetime("us", "UTC")}


def read_table(path: Path, schema) -> pl.DataFrame:
    """A sink's file read back with the schema the checker gave its input."""
    if path.suffix == ".parquet":
        df = pl.read_parquet(path)
    elif path.suffix == ".json":
        df = pl.read_ndjson(path, infer_schema_length=None)
    else:
        df = pl.read_csv(path, infer_schema=False)
    columns = []
    for f in schema.fields:
        col = pl.col(f.name)
        target = POLARS_TYPES[f.type.base]
        if df.schema[f.name] == pl.String and f.type.base == "timestamp":
            col = col.str.to_datetime(time_zone="UTC", time_unit="us")
        elif df.schema[f.name] == pl.String and f.type.base == "bool":
            col = col.str.to_lowercase() == "true"
        elif df.schema[f.name] == pl.String and f.type.base == "date":
            col = col.str.to_date()
        elif df.schema[f.name] != target:
            col = col.cast(target)
        columns.append(col.alias(f.name))
    assert df.columns == [f.name for f in schema.fields], f"{path.name}: columns {df.columns}"
    return df.select(columns)


def assert_tables_equal(name: str, got: pl.DataFrame, want: pl.DataFrame, ordered: bool) -> None:
    assert got.schema == want.schema, f"{name}: schema {got.schema} != {want.schema}"
    assert got.height == want.height, f"{name}: {got.height} rows != {want.height}"
    if not ordered:
        got, want = got.sort(got.columns, nulls_last=True), want.sort(want.columns, nulls_last=True)
    for column in got.columns:
        a, b = got[column].to_list(), want[column].to_list()
        for row, (x, y) in enumerate(zip(a, b)):
            if isinstance(x, float) and isinstance(y, float):
                same = (math.isnan(x) and math.isnan(y)) or x == y or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
            else:
                same = x == y
            assert same, f"{name}: column {column}, row {row}: {x!r} != {y!r}"


def assert_metrics_close(name: str, got: dict, want: dict, tolerance: float | None = None) -> None:
    assert set(got) == set(want), f"{name}: metrics {sorted(got)} != {sorted(want)}"
    tolerance = METRIC_TOLERANCE.get(name, 1e-9) if tolerance is None else tolerance
    for metric in want:
        if metric in RELATIVE_METRICS:
            assert math.isclose(got[metric], want[metric], rel_tol=max(tolerance, 0.02) * 2), \
                f"{name}: {metric} {got[metric]} vs {want[metric]}"
        else:
            assert abs(got[metric] - want[metric]) <= tolerance, \
                f"{name}: {metric} {got[metric]} vs {want[metric]} (tolerance {tolerance})"


def read_metrics(path: Path) -> dict:
    return json.loads(path.read_text())


def assert_predictions_close(name: str, got: pl.DataFrame, want: pl.DataFrame) -> None:
    """Model outputs: the same rows, predictions that (nearly) agree, close probabilities."""
    got, want = got.sort("id"), want.sort("id")
    assert got["id"].to_list() == want["id"].to_list(), f"{name}: different rows scored"
    if name == "clusters.csv":  # cluster ids are arbitrary: compare the partitions
        pairs = set(zip(got["prediction"].to_list(), want["prediction"].to_list()))
        assert len(pairs) == got["prediction"].n_unique() == want["prediction"].n_unique(), \
            f"{name}: the clusters differ: {sorted(pairs)}"
        return
    if want.schema["prediction"] == pl.Float64:
        worst = (got["prediction"] - want["prediction"]).abs().max()
        scale = want["prediction"].abs().max()
        assert worst <= 1e-3 * max(scale, 1.0), f"{name}: predictions differ by up to {worst}"
        return
    agreement = (got["prediction"] == want["prediction"]).mean()
    assert agreement >= 0.95, f"{name}: predictions agree on only {agreement:.1%} of rows"
    if "probability" in want.columns:
        gap = (got["probability"] - want["probability"]).abs().mean()
        assert gap <= 0.03, f"{name}: probabilities differ by {gap:.3f} on average"


MODEL_OUTPUTS = frozenset({"logistic_scored.csv", "linear_scored.csv", "clusters.csv", "multiclass_scored.csv",
                           "band_scored.csv", "tuned_scored.csv"})
TRIALS_OUTPUTS = {"tune_trials.csv": "rmse", "tune_holdout_trials.csv": "accuracy"}  # file -> its metric column


# a trials row's metric, by estimator: those with one optimum agree closely; a tree ensemble's
# is each backend's own algorithm's (Spark's forests subsample features and bin values), so for
# those only the grid is compared
TRIALS_TOLERANCE = {"linear_regression": 0.02, "logistic_regression": 0.02}


def assert_trials_close(name: str, got: pl.DataFrame, want: pl.DataFrame) -> None:
    """A trials table: the same candidates, row for row, and metrics within TRIALS_TOLERANCE."""
    metric = TRIALS_OUTPUTS[name]
    assert_tables_equal(name, got.drop(metric), want.drop(metric), ordered=True)
    for row, (estimator, x, y) in enumerate(zip(want["estimator"], got[metric], want[metric])):
        if estimator in TRIALS_TOLERANCE:
            assert_metrics_close(f"{name} row {row}", {metric: x}, {metric: y}, tolerance=TRIALS_TOLERANCE[estimator])


def assert_sample_of(name: str, sample: pl.DataFrame, population: pl.DataFrame, fraction: float = 0.5) -> None:
    """`sample` draws rows differently on each backend (docs/semantics.md): check that it keeps
    whole rows of its input, each at most once, and about `fraction` of them."""
    assert sample.join(population, on=sample.columns, how="anti", nulls_equal=True).height == 0, \
        f"{name}: rows that are not in the input"
    assert sample["id"].n_unique() == sample.height, f"{name}: a row was drawn twice"
    expected = fraction * population.height
    assert abs(sample.height - expected) <= 0.25 * population.height, \
        f"{name}: {sample.height} rows of {population.height} for fraction {fraction}"
