"""fit / predict / evaluate / save_model against scikit-learn used directly in the test."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn import metrics as sk

from pipec.backends.local.runtime import load_model

P = 1_000_003


def make_data() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"id": np.arange(n), "x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "color": rng.choice(["red", "green", "blue"], size=n), "flag": rng.random(n) < 0.3})
    signal = 1.5 * df.x1 - df.x2 + (df.color == "red") * 1.0 + df.flag * 0.5
    df["late"] = (signal + rng.normal(scale=0.8, size=n)) > 0
    df["y"] = 2.0 * df.x1 - 3.0 * df.x2 + df.flag * 1.0 + rng.normal(scale=0.5, size=n)
    df["kind"] = np.where(signal > 1, "c", np.where(signal > -1, "b", "a"))
    return df


def in_first_part(ids, fraction=0.7, seed=3):
    return np.array([((i % P) * 7919 + (seed % P) * 104729 + 1) % P / P < fraction for i in ids])


def encode(df: pd.DataFrame) -> np.ndarray:
    """Sorted one-hot categories, then the numbers, bool as 0/1 (docs/semantics.md)."""
    onehot = [(df.color == c).astype(float) for c in sorted(["red", "green", "blue"])]
    return np.column_stack(onehot + [df.x1, df.x2, df.flag.astype(float)])


SOURCE = """
schema Obs { id: int, x1: float, x2: float, color: str, flag: bool, late: bool, y: float, kind: str }
pipeline ml() {
  obs = read_csv("obs.csv", schema=Obs)
  train, test = obs | split(fraction=0.7, seed=3, by=id)
  model = train | fit(logistic_regression(max_iter=500), features=[color, x1, x2, flag], label=late)
  scored = test | predict(model)
  report = scored | evaluate(label=late, metrics=["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"])
  reg = train | fit(linear_regression(), features=[x1, x2, flag], label=y)
  fitted = test | predict(reg)
  errors = fitted | evaluate(label=y, metrics=["rmse", "mae", "r2"])
  multi = train | fit(logistic_regression(max_iter=500), features=[x1, x2], label=kind)
  kinds = test | predict(multi)
    | evaluate(label=kind, metrics=["accuracy", "f1", "precision", "roc_auc", "log_loss"])
  report | expect(accuracy >= 0.6) | write_json("out/metrics.json")
  errors | write_json("out/errors.json")
  kinds | write_json("out/kinds.json")
  scored | write_parquet("out/scored.parquet")
  model | save_model("out/model")
}
"""


@pytest.fixture
def ml_run(run_pipe):
    data = make_data()
    run_pipe.workdir.joinpath("obs.csv").write_text(data.to_csv(index=False).replace("True", "true").replace("False", "false"))
    result = run_pipe(SOURCE)
    first = in_first_part(data.id)
    return result, run_pipe.workdir, data[first], data[~first]


def test_classifier_metrics_equal_scikit_learn(ml_run):
    result, work, train, test = ml_run
    clf = LogisticRegression(C=np.inf, max_iter=500).fit(encode(train), train.late)
    proba = clf.predict_proba(encode(test))[:, 1]
    pred = clf.predict(encode(test))
    expected = {"accuracy": sk.accuracy_score(test.late, pred), "precision": sk.precision_score(test.late, pred),
                "recall": sk.recall_score(test.late, pred), "f1": sk.f1_score(test.late, pred),
                "roc_auc": sk.roc_auc_score(test.late, proba), "log_loss": sk.log_loss(test.late, proba)}
    got = json.loads((work / "out/metrics.json").read_text())
    assert got == pytest.approx(expected, rel=1e-6)
    (report,) = [m for node, m in result.metrics.items() if result.bindings.get(node) == "report"]
    assert report == pytest.approx(expected, rel=1e-6)


def test_regression_and_multiclass_metrics(ml_run):
    _, work, train, test = ml_run
    X = lambda d: np.column_stack([d.x1, d.x2, d.flag.astype(float)])  # noqa: E731
    pred = LinearRegression().fit(X(train), train.y).predict(X(test))
    got = json.loads((work / "out/errors.json").read_text())
    assert got == pytest.approx({"rmse": np.sqrt(sk.mean_squared_error(test.y, pred)),
                                 "mae": sk.mean_absolute_error(test.y, pred), "r2": sk.r2_score(test.y, pred)})
    X2 = lambda d: np.column_stack([d.x1, d.x2])  # noqa: E731
    multi = LogisticRegression(C=np.inf, max_iter=500).fit(X2(train), train.kind)
    kinds, proba = multi.predict(X2(test)), multi.predict_proba(X2(test))
    assert list(multi.classes_) == ["a", "b", "c"]
    got = json.loads((work / "out/kinds.json").read_text())
    assert got == pytest.approx({"accuracy": sk.accuracy_score(test.kind, kinds),
                                 "f1": sk.f1_score(test.kind, kinds, average="macro"),
                                 "precision": sk.precision_score(test.kind, kinds, average="macro"),
                                 "roc_auc": np.mean([sk.roc_auc_score(test.kind == c, proba[:, j])
                                                     for j, c in enumerate(multi.classes_)]),
                                 "log_loss": -np.mean(np.log(proba[np.arange(len(test)),
                                                                   np.searchsorted(multi.classes_, test.kind)]))},
                                rel=1e-6)


def test_predictions_have_label_type_and_saved_model_reloads(ml_run):
    import polars as pl

    _, work, _, test = ml_run
    scored = pl.read_parquet(work / "out/scored.parquet")
    assert scored.schema["prediction"] == pl.Boolean and scored.schema["probability"] == pl.Float64
    model = load_model(work / "out/model")
    meta = json.loads((work / "out/model/model.json").read_text())
    assert meta["kind"] == "classifier" and meta["label"] == {"name": "late", "type": "bool"}
    assert [f["name"] for f in meta["features"]] == ["color", "x1", "x2", "flag"]
    ordered = scored.sort("id")
    X = test.sort_values("id")[["color", "x1", "x2", "flag"]].assign(flag=lambda d: d.flag.astype(float))
    assert np.allclose(model.pipeline.predict_proba(X)[:, 1], ordered["probability"].to_numpy())


def test_kmeans_predicts_int_clusters(run_pipe):
    source = """
pipeline k() {
  pts = read_csv("pts.csv", schema={a: float, b: float})
  m = pts | fit(kmeans(k=2, seed=1), features=[a, b])
  pts | predict(m) | write_csv("out/clusters.csv")
}
"""
    rows = "a,b\n0,0\n0.1,0\n10,10\n10.1,10\n"
    run_pipe(source, files={"pts.csv": rows})
    clusters = pd.read_csv(run_pipe.workdir / "out/clusters.csv")
    assert clusters.prediction.dtype == np.int64
    assert clusters.prediction[0] == clusters.prediction[1] != clusters.prediction[2] == clusters.prediction[3]


INT_LABELS = """
schema Obs { id: int, x1: float, x2: float, units: int }
pipeline ints() {
  obs = read_csv("obs.csv", schema=Obs)
  train, test = obs | split(fraction=0.7, seed=3, by=id)
  reg = train | fit(linear_regression(), features=[x1, x2], label=units)
  fitted = test | predict(reg)
  fitted | write_parquet("out/fitted.parquet")
  fitted | evaluate(label=units, metrics=["rmse"]) | write_json("out/rmse.json")
  classes = train | fit(logistic_regression(max_iter=500), features=[x1, x2], label=units)
  test | predict(classes) | evaluate(label=units, metrics=["roc_auc", "log_loss"]) | write_json("out/ovr.json")
}
"""


def test_int_labels_regressor_predicts_float_and_multiclass_ovr(run_pipe):
    """An int label: a regressor's prediction is its unrounded float estimate; as three classes,
    roc_auc and log_loss are one-vs-rest macro and cross-entropy over every class."""
    import polars as pl

    data = make_data()
    data["units"] = np.where(data.x1 > 0.5, 3, np.where(data.x1 > -0.5, 2, 1)) + (data.x2 > 1.2)
    run_pipe(INT_LABELS, files={"obs.csv": data[["id", "x1", "x2", "units"]].to_csv(index=False)})
    first = in_first_part(data.id)
    train, test = data[first], data[~first]
    X = lambda d: np.column_stack([d.x1, d.x2])  # noqa: E731
    fitted = pl.read_parquet(run_pipe.workdir / "out/fitted.parquet").sort("id")
    assert fitted.schema["prediction"] == pl.Float64
    expected = LinearRegression().fit(X(train), train.units).predict(X(test.sort_values("id")))
    assert np.allclose(fitted["prediction"].to_numpy(), expected)
    assert json.loads((run_pipe.workdir / "out/rmse.json").read_text()) == pytest.approx(
        {"rmse": np.sqrt(sk.mean_squared_error(test.sort_values("id").units, expected))})
    clf = LogisticRegression(C=np.inf, max_iter=500).fit(X(train), train.units)
    proba = clf.predict_proba(X(test))
    assert len(clf.classes_) == 4
    got = json.loads((run_pipe.workdir / "out/ovr.json").read_text())
    assert got == pytest.approx({
        "roc_auc": sk.roc_auc_score(test.units, proba, multi_class="ovr", average="macro"),
        "log_loss": sk.log_loss(test.units, proba)}, rel=1e-6)


def test_multiclass_roc_auc_without_the_features_is_caught_before_running():
    """The model recomputes every class's probability from its features, so the checker refuses
    an evaluated table that dropped them (E0405) instead of failing at run time."""
    from pipec.compiler.check import check_source

    source = SOURCE.split("pipeline")[0] + """pipeline p() {
  obs = read_csv("obs.csv", schema=Obs)
  multi = obs | fit(logistic_regression(max_iter=500), features=[x1, x2], label=kind)
  obs | predict(multi) | select(kind, prediction, probability)
    | evaluate(label=kind, metrics=["roc_auc"]) | write_json("out/m.json")
}
"""
    program = check_source(source, "t.pipe")
    assert [(d.code, "`x1`, `x2`" in d.message) for d in program.errors] == [("E0405", True)]
