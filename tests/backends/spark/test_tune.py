"""`tune` on Spark: the same validation rounds as the local runtime (over the rows' defined
order), MLlib fits on a thread pool, and the same choice as the local backend."""
from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from pipec.backends.local import runtime as local
from pipec.backends.spark import runtime as rt

FEATURES = [("color", "str", False), ("x1", "float", False), ("x2", "float", False)]
TRIALS = [("candidate", "int", False), ("estimator", "str", False), ("reg", "float", True),
          ("n_trees", "int", True), ("max_depth", "int", True), ("seed", "int", True),
          ("rmse", "float", False), ("seconds", "float", False)]
CANDIDATES = [("linear_regression", {"reg": 0.0}), ("linear_regression", {"reg": 2.0}),
              ("random_forest_regressor", {"n_trees": 3, "max_depth": 2, "seed": 0})]


def make_data(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(9)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "color": rng.choice(["red", "green", "blue"], size=n)})
    df["y"] = 2.0 * df.x1 - 3.0 * df.x2 + (df.color == "red") * 1.0 + rng.normal(scale=0.5, size=n)
    return df


def tune_arguments(**validation):
    return dict(kind="regressor", candidates=CANDIDATES, features=[(n, t) for n, t, _ in FEATURES],
                label=("y", "float"), metric="rmse", lower_is_better=True, seed=4, trials=TRIALS, **validation)


def test_spark_chooses_the_candidate_the_local_backend_chooses(spark, tmp_path):
    validation = {"folds": 2, "holdout": None}  # a hold-out is the same code with one round
    df = make_data()
    ordered = rt.numbered(spark.createDataFrame(df).repartition(3))  # the defined order: the numbering
    arguments = tune_arguments(**validation)
    on_spark = rt.tune_model(ordered, arguments["candidates"], "regressor", FEATURES, ("y", "float"), "rmse", True,
                             validation["folds"], validation["holdout"], 4, TRIALS)
    rows = ordered.orderBy(rt.ORDER).drop(rt.ORDER).toPandas()
    on_local = local.tune(local.RunContext({}, tmp_path), "best", pl.from_pandas(rows), **arguments)
    spark_trials = rt.tune_trials(on_spark).orderBy(rt.ORDER).drop(rt.ORDER).toPandas()
    local_trials = on_local.trials.to_pandas()
    assert list(spark_trials.columns) == [name for name, _, _ in TRIALS]
    assert spark_trials.candidate.tolist() == [1, 2, 3]
    assert on_spark.estimator == on_local.meta["estimator"] == "linear_regression"
    assert spark_trials.rmse.idxmin() == local_trials.rmse.idxmin() == 0
    # the least squares and the ridge fit are the same models on both engines, on the same rows
    assert spark_trials.rmse[:2].tolist() == pytest.approx(local_trials.rmse[:2].tolist(), rel=1e-6)
    assert spark_trials.drop(columns=["rmse", "seconds"]).astype(object).where(spark_trials.notna(), None).values.tolist() \
        == local_trials.drop(columns=["rmse", "seconds"]).astype(object).where(local_trials.notna(), None).values.tolist()
