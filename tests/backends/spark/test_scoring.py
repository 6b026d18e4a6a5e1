"""Batch scoring on Spark: `drift` numbers equal numpy / scipy (and so the local backend's), a
model a Spark job saved loads in a Spark job with the same predictions, and a changed or foreign
model is refused before MLlib reads it."""
from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from drift_reference import expected_drift
from pipec.backends.local import runtime as local
from pipec.backends.spark import runtime as rt
from spark_kit import frame, run_generated

SCHEMA = [("x", "float", False), ("color", "str", False), ("n", "int", True), ("late", "bool", False)]


def rows(n: int, seed: int, shift: float = 0.0) -> list[tuple]:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n).round(3)
    color = rng.choice(["red", "green", "blue"], n)
    counts = [None if v < 0.1 else int(v * 10) for v in rng.random(n)]
    return [(float(a), str(b), c, bool(a + e > 0)) for a, b, c, e in zip(x, color, counts, rng.normal(0, 1, n))]


def test_drift_on_spark_equals_numpy_scipy_and_the_local_backend(spark):
    table, reference = rows(150, 3, shift=0.4), rows(220, 4)
    columns = [("x", True), ("color", False), ("n", True), ("late", False)]
    on_spark = rt.drift(frame(spark, table, SCHEMA).repartition(3), frame(spark, reference, SCHEMA), columns,
                        "drift at t.pipe:1:1")
    as_lists = {name: ([r[i] for r in table], [r[i] for r in reference], numeric)
                for i, (name, numeric) in enumerate(columns)}
    assert on_spark == pytest.approx(expected_drift(as_lists), rel=1e-12, abs=1e-15)
    names = [n for n, _, _ in SCHEMA]
    on_local = local.drift(None, "d", pl.DataFrame(table, schema=names, orient="row"),
                           pl.DataFrame(reference, schema=names, orient="row"), columns=columns, where="w")
    assert on_spark == on_local  # one contract: the same bits


TRAIN = """
schema Obs { x: float, color: str, n: int?, late: bool }
pipeline train() {
  obs = read_csv("train.csv", schema=Obs)
  model = obs | fit(logistic_regression(), features=[x, color], label=late)
  obs | predict(model) | write_csv("out/train_scored.csv")
  model | save_model("out/model")
}
"""
SCORE = """
schema Obs { x: float, color: str, n: int?, late: bool }
pipeline score() {
  obs = read_csv("train.csv", schema=Obs)
  model = load_model("out/model", schema={x: float, color: str, late: bool}, label=late, kind="classifier")
  report = obs | drift(obs, columns=[x, n])
  report | expect(max_psi < %s) | write_json("out/drift.json")
  obs | predict(model) | write_csv("out/scored.csv")
}
"""


def job_error(match: str):
    """The run error a generated job raises (its own class: the job embeds the runtime contract)."""
    return pytest.raises(Exception, match=match)


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pl.DataFrame(rows(120, 5), schema=[n for n, _, _ in SCHEMA], orient="row").write_csv(tmp_path / "train.csv")
    return tmp_path


def test_a_model_saved_by_spark_scores_as_it_did_when_trained(spark, work):
    run_generated(spark, TRAIN)
    sidecar = json.loads((work / "out/model/pipec-model.json").read_text())
    assert sidecar["sha256"].startswith("sha256:")
    run_generated(spark, SCORE % "1.0")
    trained = pl.read_csv(work / "out/train_scored.csv")
    scored = pl.read_csv(work / "out/scored.csv")
    assert scored.select("prediction", "probability").equals(trained.select("prediction", "probability"))
    assert json.loads((work / "out/drift.json").read_text())["max_psi"] == 0.0

    # a failing gate writes nothing
    (work / "out/scored.csv").unlink()
    with job_error("expectation failed: `max_psi < -1`"):
        run_generated(spark, SCORE % "-1")
    assert not (work / "out/scored.csv").exists()

    # a changed MLlib file is refused before MLlib reads the folder
    data = next((work / "out/model/stages").rglob("*.parquet"))
    data.write_bytes(data.read_bytes() + b"\0")
    with job_error(r"load_model at test.pipe:5:11: the files of the model at .* do not "
                                               "have the digest"):
        run_generated(spark, SCORE % "1.0")


def test_a_model_saved_by_the_local_backend_is_refused_on_spark(spark, work):
    local_model = work / "out/model"
    local_model.mkdir(parents=True)
    (local_model / "model.joblib").write_bytes(b"")
    (local_model / "model.json").write_text(json.dumps({
        "kind": "classifier", "features": [{"name": "x", "type": "float"}, {"name": "color", "type": "str"}],
        "label": {"name": "late", "type": "bool"}, "sha256": "sha256:"}))
    with job_error(r"load_model at test.pipe:5:11: the model at .* was saved by the "
                                               r"scikit-learn engine, but this run uses spark"):
        run_generated(spark, SCORE % "1.0")
