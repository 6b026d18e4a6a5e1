"""`tune` on the local backend: the chosen candidate and its validation metric equal scikit-learn
used directly on the same folds, the trials table has one typed row per candidate, and the run
is deterministic (the fits run in worker processes, in whatever order)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn import metrics as sk
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

from local_irkit import plan_for
from pipec.backends.local.runner import run_plan
from pipec.backends.local.runtime import load_model
from pipec.runtime_contract import PipelineRunError


def make_data(n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "color": rng.choice(["red", "green", "blue"], size=n)})
    signal = 1.2 * df.x1 - df.x2 + (df.color == "red") * 0.8
    df["late"] = (signal + rng.normal(scale=1.0, size=n)) > 0
    df["y"] = 2.0 * df.x1 - 3.0 * df.x2 + rng.normal(scale=0.7, size=n)
    return df


def encode(df: pd.DataFrame) -> np.ndarray:
    """Sorted one-hot categories first, then the numbers (docs/semantics.md)."""
    return np.column_stack([(df.color == c).astype(float) for c in ("blue", "green", "red")] + [df.x1, df.x2])


def folds_of(n: int, k: int, seed: int) -> np.ndarray:
    """docs/semantics.md: row order[j] belongs to fold j mod k."""
    fold = np.empty(n, dtype=int)
    fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % k
    return fold


CLASSIFIER_GRID = [("logistic_regression", {"reg": 0.0}), ("logistic_regression", {"reg": 0.5}),
                   ("random_forest_classifier", {"n_trees": 5, "max_depth": 2}),
                   ("random_forest_classifier", {"n_trees": 5, "max_depth": 6})]


def classifier(name: str, params: dict, rows: int):
    if name == "logistic_regression":
        return LogisticRegression(C=1 / (params["reg"] * rows) if params["reg"] else np.inf, max_iter=300)
    return RandomForestClassifier(n_estimators=params["n_trees"], max_depth=params["max_depth"], random_state=0)


def regressor(name: str, params: dict, rows: int):
    if name == "linear_regression":
        return Ridge(alpha=params["reg"] * rows) if params["reg"] else LinearRegression()
    return RandomForestRegressor(n_estimators=params["n_trees"], max_depth=params["max_depth"], random_state=0)


CLASSIFIER_SOURCE = """
schema Obs { x1: float, x2: float, color: str, late: bool, y: float }
pipeline tuned() {
  obs = read_csv("obs.csv", schema=Obs)
  best, trials = obs
    | tune([logistic_regression(max_iter=300, reg=[0.0, 0.5]),
            random_forest_classifier(n_trees=5, max_depth=[2, 6])],
           features=[color, x1, x2], label=late, metric="roc_auc", folds=4, seed=11)
  trials | drop(seconds) | write_csv("out/trials.csv")
  trials | select(seconds) | write_parquet("out/seconds.parquet")
  obs | predict(best) | write_csv("out/scored.csv")
  best | save_model("out/model")
}
"""


def write_data(workdir, df: pd.DataFrame) -> None:
    workdir.joinpath("obs.csv").write_text(df.to_csv(index=False).replace("True", "true").replace("False", "false"))


def cross_validated(df, grid, make, score, k: int, seed: int) -> list[float]:
    fold = folds_of(len(df), k, seed)
    means = []
    for name, params in grid:
        values = []
        for f in range(k):
            train, valid = df[fold != f], df[fold == f]
            model = make(name, params, len(train)).fit(encode(train), train[LABEL[make]])
            values.append(score(model, valid))
        means.append(sum(values) / k)
    return means


LABEL = {classifier: "late", regressor: "y"}


def test_the_chosen_classifier_and_its_metric_equal_scikit_learn_on_the_same_folds(run_pipe):
    df = make_data()
    write_data(run_pipe.workdir, df)
    run_pipe(CLASSIFIER_SOURCE)
    expected = cross_validated(df, CLASSIFIER_GRID, classifier,
                               lambda m, v: sk.roc_auc_score(v.late, m.predict_proba(encode(v))[:, 1]), 4, 11)
    trials = pl.read_csv(run_pipe.workdir / "out/trials.csv")
    assert trials.get_column("roc_auc").to_list() == pytest.approx(expected, rel=1e-9)
    best = int(np.argmax(expected))  # the first of equal means
    model = load_model(run_pipe.workdir / "out/model")
    assert (model.meta["estimator"], model.meta["selection"]["candidate"]) == (CLASSIFIER_GRID[best][0], best + 1)
    assert model.meta["selection"]["score"] == pytest.approx(expected[best], rel=1e-9)
    # refitted on all the rows
    name, params = CLASSIFIER_GRID[best]
    reference = classifier(name, params, len(df)).fit(encode(df), df.late)
    scored = pl.read_csv(run_pipe.workdir / "out/scored.csv")
    np.testing.assert_allclose(scored.get_column("probability").to_numpy(),
                               reference.predict_proba(encode(df))[:, 1], rtol=1e-9)


def test_the_trials_table_has_a_typed_row_per_candidate(run_pipe):
    write_data(run_pipe.workdir, make_data())
    run_pipe(CLASSIFIER_SOURCE)
    trials = pl.read_csv(run_pipe.workdir / "out/trials.csv")
    assert trials.columns == ["candidate", "estimator", "max_iter", "reg", "n_trees", "max_depth", "seed", "roc_auc"]
    assert trials.select("candidate", "estimator", "max_iter", "reg", "n_trees", "max_depth", "seed").rows() == [
        (1, "logistic_regression", 300, 0.0, None, None, None),
        (2, "logistic_regression", 300, 0.5, None, None, None),
        (3, "random_forest_classifier", None, None, 5, 2, 0),
        (4, "random_forest_classifier", None, None, 5, 6, 0)]
    seconds = pl.read_parquet(run_pipe.workdir / "out/seconds.parquet").get_column("seconds")
    assert seconds.dtype == pl.Float64 and seconds.len() == 4 and (seconds > 0).all()


def test_a_regressor_with_a_holdout_minimises_rmse(run_pipe):
    df = make_data()
    write_data(run_pipe.workdir, df)
    run_pipe("""
schema Obs { x1: float, x2: float, color: str, late: bool, y: float }
pipeline tuned() {
  obs = read_csv("obs.csv", schema=Obs)
  best, trials = obs
    | tune([linear_regression(reg=[0.0, 1.0]), random_forest_regressor(n_trees=[3], max_depth=3)],
           features=[color, x1, x2], label=y, metric="rmse", holdout=0.25, seed=3)
  trials | drop(seconds) | write_csv("out/trials.csv")
  best | save_model("out/model")
}
""")
    n = len(df)
    validates = np.zeros(n, dtype=bool)
    validates[np.random.default_rng(3).permutation(n)[:round(0.25 * n)]] = True
    train, valid = df[~validates], df[validates]
    grid = [("linear_regression", {"reg": 0.0}), ("linear_regression", {"reg": 1.0}),
            ("random_forest_regressor", {"n_trees": 3, "max_depth": 3})]
    expected = [math.sqrt(sk.mean_squared_error(valid.y, regressor(name, p, len(train)).fit(
        encode(train), train.y).predict(encode(valid)))) for name, p in grid]
    trials = pl.read_csv(run_pipe.workdir / "out/trials.csv")
    assert trials.get_column("rmse").to_list() == pytest.approx(expected, rel=1e-9)
    model = load_model(run_pipe.workdir / "out/model")
    assert model.meta["selection"]["candidate"] == int(np.argmin(expected)) + 1


def test_two_runs_write_the_same_bytes(run_pipe):
    write_data(run_pipe.workdir, make_data())
    run_pipe(CLASSIFIER_SOURCE)
    first = {name: (run_pipe.workdir / "out" / name).read_bytes() for name in ("trials.csv", "scored.csv")}
    run_pipe(CLASSIFIER_SOURCE)
    assert {name: (run_pipe.workdir / "out" / name).read_bytes() for name in first} == first


def test_too_few_rows_for_the_folds_is_a_run_error(run_pipe):
    write_data(run_pipe.workdir, make_data(3))
    with pytest.raises(PipelineRunError, match="too few for 4 folds"):
        run_pipe(CLASSIFIER_SOURCE)



def run_uncached(source: str, workdir) -> None:
    run_plan(plan_for(source, workdir, optimized=True), {}, workdir, use_cache=False)


def test_fits_in_worker_processes_give_the_bytes_of_fits_in_this_process(tmp_path, monkeypatch):
    import joblib

    from pipec.backends.local import runtime

    write_data(tmp_path, make_data())
    run_uncached(CLASSIFIER_SOURCE, tmp_path)
    in_process = {name: (tmp_path / "out" / name).read_bytes() for name in ("trials.csv", "scored.csv")}
    pools = []

    class CountedPool(joblib.Parallel):
        def __init__(self, *args, **kwargs):
            pools.append(kwargs["n_jobs"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(joblib, "Parallel", CountedPool)
    monkeypatch.setattr(runtime, "PROCESS_POOL_MIN_WORK", 0)
    monkeypatch.setattr(runtime.os, "cpu_count", lambda: 2)
    run_uncached(CLASSIFIER_SOURCE, tmp_path)
    assert pools == [2]
    assert {name: (tmp_path / "out" / name).read_bytes() for name in in_process} == in_process


def test_a_fit_that_fails_in_a_worker_process_is_a_run_error(tmp_path, monkeypatch):
    from pipec.backends.local import runtime

    df = make_data()
    df["late"] = True  # no training fold has two classes
    write_data(tmp_path, df)
    monkeypatch.setattr(runtime, "PROCESS_POOL_MIN_WORK", 0)
    monkeypatch.setattr(runtime.os, "cpu_count", lambda: 2)
    with pytest.raises(PipelineRunError, match="has only the value True"):
        run_uncached(CLASSIFIER_SOURCE, tmp_path)
