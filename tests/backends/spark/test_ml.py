"""MLlib fit/predict and the metrics, against scikit-learn computed independently."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression, LogisticRegression

from pipec.backends.spark import runtime as rt


def noisy_binary(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    city = rng.choice(["b", "a", "c"], size=n)
    logit = 1.5 * x1 - x2 + (city == "a") * 1.0
    late = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"x1": x1, "x2": x2, "city": city, "flag": rng.random(n) < 0.5, "late": late})


FEATURES = [("x1", "float", False), ("x2", "float", False), ("city", "str", False), ("flag", "bool", False)]


def design(df: pd.DataFrame, categories=("a", "b", "c")) -> np.ndarray:
    onehot = np.stack([(df.city == c).to_numpy(float) for c in categories], axis=1)
    return np.column_stack([df.x1, df.x2, onehot, df.flag.astype(float)])


def test_logistic_regression_matches_sklearn_and_reports_positive_class(spark):
    train, test = noisy_binary(300, 1), noisy_binary(100, 2)
    model = rt.fit_model(spark.createDataFrame(train), "logistic_regression", {"max_iter": 200, "reg": 0.0},
                         kind="classifier", features=FEATURES, label=("late", "bool"))
    scored = rt.predict(spark.createDataFrame(test), model).toPandas()
    reference = LogisticRegression(penalty=None, max_iter=5000, tol=1e-10).fit(design(train), train.late)
    expected = reference.predict_proba(design(test))[:, list(reference.classes_).index(True)]
    assert model.classes == [False, True]
    np.testing.assert_allclose(scored.probability, expected, atol=1e-3)
    assert (scored.prediction == (scored.probability > 0.5)).all()
    assert list(scored.columns) == list(test.columns) + ["prediction", "probability"]


def test_str_features_one_hot_with_sorted_categories_and_unseen_as_zeros(spark):
    train = noisy_binary(200, 3)
    model = rt.fit_model(spark.createDataFrame(train), "logistic_regression", {"max_iter": 100},
                         kind="classifier", features=FEATURES, label=("late", "bool"))
    rows = pd.DataFrame({"x1": [0.5] * 4, "x2": [-1.0] * 4, "city": ["a", "b", "c", "zzz"], "flag": [True] * 4})
    vectors = [r["__features"].toArray().tolist()
               for r in model.pipeline.transform(spark.createDataFrame(rows)).collect()]
    assert vectors == [[0.5, -1.0, 1, 0, 0, 1], [0.5, -1.0, 0, 1, 0, 1], [0.5, -1.0, 0, 0, 1, 1],
                       [0.5, -1.0, 0, 0, 0, 1]]


def test_int_labels_are_sorted_numerically_and_predicted_in_their_type(spark):
    df = pd.DataFrame({"x": [0.0, 0.1, 0.2, 5.0, 5.1, 5.2] * 5, "label": [2, 2, 2, 10, 10, 10] * 5})
    model = rt.fit_model(spark.createDataFrame(df), "random_forest_classifier", {"n_trees": 5, "seed": 1},
                         kind="classifier", features=[("x", "float", False)], label=("label", "int"))
    assert model.classes == [2, 10]  # not "10" < "2"
    scored = rt.predict(spark.createDataFrame(df), model).toPandas()
    assert scored.prediction.tolist() == df.label.tolist()
    assert ((scored.probability > 0.5) == (scored.prediction == 10)).all()


def test_linear_regression_and_kmeans(spark):
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"x": rng.normal(size=50), "z": rng.normal(size=50)})
    df["y"] = 3 * df.x - 2 * df.z + 1 + rng.normal(scale=0.1, size=50)
    model = rt.fit_model(spark.createDataFrame(df), "linear_regression", {"reg": 0.0}, kind="regressor",
                         features=[("x", "float", False), ("z", "float", False)], label=("y", "float"))
    scored = rt.predict(spark.createDataFrame(df), model).toPandas()
    reference = LinearRegression().fit(df[["x", "z"]], df.y)
    np.testing.assert_allclose(scored.prediction, reference.predict(df[["x", "z"]]), atol=1e-6)
    clusters = rt.fit_model(spark.createDataFrame(pd.DataFrame({"v": [0.0, 0.1, 10.0, 10.1]})), "kmeans",
                            {"k": 2, "seed": 1}, kind="clusterer", features=[("v", "float", False)])
    got = rt.predict(spark.createDataFrame(pd.DataFrame({"v": [0.05, 10.05]})), clusters)
    assert dict(got.dtypes)["prediction"] == "bigint"
    assert len({r.prediction for r in got.collect()}) == 2


def model_of_classes(classes: list) -> rt.FittedModel:
    """What these metrics read of the model that predicted: its classes (no rescoring is needed)."""
    return rt.FittedModel(pipeline=None, kind="classifier" if classes else "regressor", estimator="-",
                          features=[], label=("y", "str"), classes=classes)


def three_classes(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    signal = x1 - 0.5 * x2 + rng.normal(scale=0.7, size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "kind": np.where(signal > 0.6, "c", np.where(signal > -0.6, "b", "a")),
                         "units": np.where(signal > 0.6, 30, np.where(signal > -0.6, 20, 10))})


def test_multiclass_roc_auc_and_log_loss_use_every_class_probability(spark):
    train, test = three_classes(300, 6), three_classes(120, 7)
    features = [("x1", "float", False), ("x2", "float", False)]
    model = rt.fit_model(spark.createDataFrame(train), "logistic_regression", {"max_iter": 100}, kind="classifier",
                         features=features, label=("kind", "str"))
    scored = rt.predict(spark.createDataFrame(test), model)
    got = rt.evaluate(scored, model, "kind", "classification", ["roc_auc", "log_loss", "accuracy"])
    rows = model.pipeline.transform(spark.createDataFrame(test)).select("kind", "__probability").toPandas()
    proba = np.stack(rows["__probability"].map(lambda v: v.toArray()))
    assert got["roc_auc"] == pytest.approx(
        skm.roc_auc_score(rows.kind, proba, multi_class="ovr", average="macro", labels=["a", "b", "c"]), rel=1e-9)
    assert got["log_loss"] == pytest.approx(skm.log_loss(rows.kind, proba, labels=["a", "b", "c"]), rel=1e-9)
    # the model is scikit-learn's unpenalised multinomial logistic regression, so its metrics agree too
    reference = LogisticRegression(C=np.inf, max_iter=5000, tol=1e-10).fit(train[["x1", "x2"]], train.kind)
    expected = reference.predict_proba(test[["x1", "x2"]])
    assert got["log_loss"] == pytest.approx(skm.log_loss(test.kind, expected), rel=1e-3)
    without_features = scored.select("kind", "prediction", "probability")
    with pytest.raises(rt.PipelineRunError, match="lacks 'x1', 'x2'"):
        rt.evaluate(without_features, model, "kind", "classification", ["log_loss"])


def test_int_label_regressor_predicts_unrounded_doubles(spark):
    df = three_classes(60, 8)
    model = rt.fit_model(spark.createDataFrame(df), "linear_regression", {"reg": 0.0}, kind="regressor",
                         features=[("x1", "float", False), ("x2", "float", False)], label=("units", "int"))
    scored = rt.predict(spark.createDataFrame(df), model)
    assert dict(scored.dtypes)["prediction"] == "double"
    expected = LinearRegression().fit(df[["x1", "x2"]], df.units).predict(df[["x1", "x2"]])
    np.testing.assert_allclose(scored.toPandas().prediction, expected, atol=1e-6)


def test_binary_metrics_match_sklearn(spark):
    rng = np.random.default_rng(5)
    y = rng.random(80) < 0.4
    p = np.clip(y * 0.3 + rng.random(80) * 0.7, 0, 1).round(2)  # ties on purpose
    df = pd.DataFrame({"y": y, "prediction": p > 0.5, "probability": p})
    got = rt.evaluate(spark.createDataFrame(df), model_of_classes([False, True]), "y", "classification",
                      ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"])
    expected = {
        "accuracy": skm.accuracy_score(y, p > 0.5), "precision": skm.precision_score(y, p > 0.5),
        "recall": skm.recall_score(y, p > 0.5), "f1": skm.f1_score(y, p > 0.5),
        "roc_auc": skm.roc_auc_score(y, p), "log_loss": skm.log_loss(y, p),
    }
    assert got == pytest.approx(expected, rel=1e-9)


def test_multiclass_macro_metrics_and_regression_metrics(spark):
    y = ["a", "b", "c", "a", "b", "c", "a", "a"]
    pred = ["a", "c", "c", "a", "b", "b", "b", "a"]
    got = rt.evaluate(spark.createDataFrame(pd.DataFrame({"y": y, "prediction": pred})), model_of_classes(["a", "b", "c"]),
                      "y", "classification", ["accuracy", "precision", "recall", "f1"])
    assert got == pytest.approx({
        "accuracy": skm.accuracy_score(y, pred), "precision": skm.precision_score(y, pred, average="macro"),
        "recall": skm.recall_score(y, pred, average="macro"), "f1": skm.f1_score(y, pred, average="macro")})
    yt, yp = [1.0, 2.0, 4.0, 8.0], [1.5, 2.0, 3.0, 9.0]
    got = rt.evaluate(spark.createDataFrame(pd.DataFrame({"y": yt, "prediction": yp})), model_of_classes([]),
                      "y", "regression", ["rmse", "mae", "r2"])
    assert got == pytest.approx({"rmse": skm.root_mean_squared_error(yt, yp),
                                 "mae": skm.mean_absolute_error(yt, yp), "r2": skm.r2_score(yt, yp)})


def test_expectations_name_the_condition_and_observed_values(spark):
    from pyspark.sql import functions as F

    df = spark.createDataFrame([(1,), (2,)], "a long")
    passing = rt.Expectation("row_count() > 1", F.count(F.lit(1)) > 1, [("row_count()", F.count(F.lit(1)))])
    rt.check_expectations(df, [passing], spark)
    failing = rt.Expectation("max(a) >= 5", F.max("a") >= 5, [("max(a)", F.max("a"))])
    with pytest.raises(rt.PipelineRunError, match=r"expectation failed: `max\(a\) >= 5` \(observed: max\(a\) = 2\)"):
        rt.check_expectations(df, [passing, failing], spark)
    with pytest.raises(rt.PipelineRunError, match=r"`accuracy >= 0.9` \(observed: accuracy = 0.5\)"):
        rt.check_expectations({"accuracy": 0.5}, [rt.Expectation(
            "accuracy >= 0.9", F.col("accuracy") >= 0.9, [("accuracy", F.col("accuracy"))])], spark)


def spread_out_rows(n: int, seed: int) -> pd.DataFrame:
    """Rows whose float label spreads far from 1 (σ ≈ 50) and a binary label, with a str feature."""
    rng = np.random.default_rng(seed + 1000)  # not noisy_binary's draws
    df = noisy_binary(n, seed)
    df["y"] = 40 * df.x1 - 25 * df.x2 + 30 * (df.city == "a") + 7 + rng.normal(scale=15, size=n)
    return df


PENALISED_FEATURES = [("city", "str", False), ("x1", "float", False), ("x2", "float", False),
                      ("flag", "bool", False)]  # str first: both backends then order the columns alike


def assert_close_to_scale(got, want, tolerance: float) -> None:
    """Every entry within `tolerance` times the largest |entry| of `want`."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    gap, scale = np.max(np.abs(got - want)), np.max(np.abs(want))
    assert gap <= tolerance * scale, f"differ by {gap:.3g}, {gap / scale:.3g} of the scale {scale:.3g}"


@pytest.mark.parametrize("reg", [0.0, 0.5, 5.0])
@pytest.mark.parametrize("estimator, kind, label, tolerance", [
    ("linear_regression", "regressor", ("y", "float"), 1e-6),
    # the same objective, but scikit-learn's lbfgs stops at tol=1e-4 (about 2e-4 of the largest
    # coefficient from the optimum), MLlib's about 1e-6
    ("logistic_regression", "classifier", ("late", "bool"), 1e-3),
])
def test_penalised_linear_models_are_the_local_backends(spark, reg, estimator, kind, label, tolerance):
    """`reg` is λ of 1/n·Σ loss + λ/2·||w||² on both backends; MLlib's LinearRegression divides its
    regParam by the label's standard deviation, which the Spark job undoes."""
    import polars as pl

    from pipec.backends.local import runtime as local

    train, test = spread_out_rows(150, 11), spread_out_rows(40, 12)
    arguments = {"reg": reg, "max_iter": 100} if estimator == "logistic_regression" else {"reg": reg}
    features = [(name, kind_) for name, kind_, _ in PENALISED_FEATURES]
    ours = local.fit(None, "fit", pl.from_pandas(train), estimator=estimator, kind=kind, params=arguments,
                     features=features, label=label)
    theirs = rt.fit_model(spark.createDataFrame(train), estimator, arguments, kind=kind,
                          features=PENALISED_FEATURES, label=label)
    if reg > 0:  # unpenalised, the one-hot columns and the intercept have many optima
        assert_close_to_scale(theirs.pipeline.stages[-1].coefficients.toArray(),
                              np.ravel(ours.pipeline.named_steps["model"].coef_), tolerance)
    column = "probability" if kind == "classifier" else "prediction"
    expected = local.predict(None, "predict", pl.from_pandas(test), ours).collect().get_column(column)
    assert_close_to_scale(rt.predict(spark.createDataFrame(test), theirs).toPandas()[column], expected, tolerance)
