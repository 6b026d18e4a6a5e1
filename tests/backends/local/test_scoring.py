"""Batch scoring on the local backend: `load_model` gives the model a training pipeline saved
(typed by its sidecar, or by a declared type checked at run start), refuses a changed model
before unpickling it, and `drift` numbers equal numpy / scipy, with a failing gate writing nothing."""
from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from drift_reference import expected_drift
from pipec.backends.local import runtime as rt
from pipec.backends.local.runner import run_plan
from pipec.compiler.check import check_source
from pipec.compiler.passes import optimize
from pipec.runtime_contract import ExpectationFailed, PipelineRunError

SCHEMA = "schema Obs { x: float, color: str, n: int?, late: bool }\n"
TRAIN = SCHEMA + """
pipeline train() {
  obs = read_csv("train.csv", schema=Obs)
  model = obs | fit(logistic_regression(), features=[x, color], label=late)
  obs | predict(model) | write_csv("out/train_scored.csv")
  model | save_model("out/model")
}
"""
SCORE = SCHEMA + """
pipeline score() {
  obs = read_csv("train.csv", schema=Obs)
  new = read_csv("new.csv", schema=Obs)
  model = load_model("out/model"%s)
  report = new | drift(obs, columns=[x, color, n])
  report | expect(max_psi < %s) | write_json("out/drift.json")
  new | predict(model) | write_csv("out/scored.csv")
}
"""
DECLARED = ', schema={x: float, color: str, late: bool}, label=late, kind="classifier"'


def frame(n: int, seed: int, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    color = rng.choice(["red", "green", "blue"], n)
    counts = [None if v < 0.1 else int(v * 10) for v in rng.random(n)]
    return pl.DataFrame({"x": x, "color": color, "n": counts, "late": x + rng.normal(0, 1, n) > 0},
                        schema={"x": pl.Float64, "color": pl.String, "n": pl.Int64, "late": pl.Boolean})


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A working directory that is also the current one (the checker reads sidecars relative to it)."""
    monkeypatch.chdir(tmp_path)
    frame(300, 1).write_csv(tmp_path / "train.csv")
    frame(200, 2, shift=0.3).write_csv(tmp_path / "new.csv")
    return tmp_path


def program(source: str):
    return check_source(source, "test.pipe")


def run(source: str, work, level: int = 1):
    result = program(source)
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    (ir,) = result.pipelines.values()
    return run_plan(optimize(ir, backend="local", level=level, workdir=work), {}, work)


def score_source(declared: str = "", max_psi: float = 100.0) -> str:
    return SCORE % (declared, max_psi)


@pytest.mark.parametrize("declared", ["", DECLARED], ids=["from_sidecar", "declared"])
def test_scoring_predicts_what_the_training_run_predicted_and_drift_equals_numpy(work, declared):
    run(TRAIN, work)
    frame(300, 1).write_csv(work / "new.csv")  # the training rows again: the same predictions
    run(score_source(declared), work)
    trained = pl.read_csv(work / "out/train_scored.csv")
    scored = pl.read_csv(work / "out/scored.csv")
    assert scored.select("prediction", "probability").equals(trained.select("prediction", "probability"))

    frame(200, 2, shift=0.3).write_csv(work / "new.csv")
    run(score_source(declared), work)
    new, obs = pl.read_csv(work / "new.csv"), pl.read_csv(work / "train.csv")
    expected = expected_drift({c: (new[c].to_list(), obs[c].to_list(), c != "color") for c in ("x", "color", "n")})
    metrics = json.loads((work / "out/drift.json").read_text())
    assert list(metrics) == sorted(expected)  # metrics JSON has sorted keys
    assert metrics == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert metrics["ks_x"] == expected["ks_x"]


def test_predict_on_a_loaded_model_is_checked_at_the_step(work):
    run(TRAIN, work)
    source = SCHEMA + """
pipeline score() {
  model = load_model("out/model")
  read_csv("new.csv", schema={x: float, late: bool}) | predict(model) | write_csv("out/a.csv")
  read_csv("new.csv", schema={x: str, color: str}) | predict(model) | write_csv("out/b.csv")
}
"""
    errors = [(d.code, d.span.line, d.span.column, d.message) for d in program(source).diagnostics if d.is_error]
    assert errors == [
        ("E0405", 5, 56, "the model needs the feature `color`, which the result of `read_csv` lacks"),
        ("E0405", 6, 54, "feature `x` is str here but the model was fitted on float"),
    ]


def test_a_declared_type_must_match_the_saved_model(work):
    run(TRAIN, work)
    source = score_source(', schema={x: float, late: bool}, label=late, kind="classifier"')
    (error,) = [d for d in program(source).diagnostics if d.is_error]
    assert (error.code, error.span.line) == ("E0412", 6)
    assert "model<classifier, [x, color], label late: bool>" in error.message


def test_without_a_model_or_a_declared_type_the_call_is_an_error(work):
    (error,) = [d for d in program(score_source()).diagnostics if d.is_error]
    assert (error.code, error.span.line, error.span.column) == ("E0410", 6, 11)


def test_a_model_that_differs_from_the_checked_type_fails_at_run_start_and_writes_nothing(work, monkeypatch):
    result = program(score_source(DECLARED))  # checked before the model exists: the declared type
    assert result.ok
    (ir,) = result.pipelines.values()
    run(TRAIN.replace("features=[x, color]", "features=[x]"), work)  # a model of other features
    read = []
    monkeypatch.setattr(rt, "read_csv", lambda *args, **kw: read.append(args) or pytest.fail("read a source"))
    with pytest.raises(PipelineRunError, match=r"load_model at test.pipe:6:11: the model at .* is not the one the "
                                               r"pipeline was checked against: its features"):
        run_plan(optimize(ir, backend="local", workdir=work), {}, work)
    assert not (work / "out/scored.csv").exists() and not (work / "out/drift.json").exists()


@pytest.mark.parametrize("change", ["pickle", "sidecar"])
def test_a_changed_model_is_not_unpickled(work, monkeypatch, change):
    run(TRAIN, work)
    if change == "pickle":
        with open(work / "out/model/model.joblib", "ab") as f:
            f.write(b"\0")
    else:  # the sidecar says the digest of other files
        sidecar = json.loads((work / "out/model/model.json").read_text())
        sidecar["sha256"] = "sha256:" + "0" * 64
        (work / "out/model/model.json").write_text(json.dumps(sidecar))
    import joblib
    monkeypatch.setattr(joblib, "load", lambda *a, **kw: pytest.fail("unpickled a changed model"))
    with pytest.raises(PipelineRunError, match=r"load_model at test.pipe:6:11: the files of the model at .* do not "
                                               "have the digest its sidecar records"):
        run(score_source(), work)
    assert not (work / "out/scored.csv").exists()


def test_a_failing_drift_gate_stops_the_run_and_writes_nothing(work):
    run(TRAIN, work)
    with pytest.raises(ExpectationFailed, match=r"max_psi < 0.001"):
        run(score_source(max_psi=0.001), work)
    assert not (work / "out/drift.json").exists() and not (work / "out/scored.csv").exists()


def test_a_new_model_reruns_the_stages_that_use_it(work):
    run(TRAIN, work)
    run(score_source(), work)
    first = pl.read_csv(work / "out/scored.csv")
    run(TRAIN.replace("logistic_regression()", "logistic_regression(reg=0.5)"), work)
    result = run(score_source(), work)
    assert not result.kept, "a stage reading the model was reused after the model changed"
    assert not pl.read_csv(work / "out/scored.csv").equals(first)


def test_a_model_saved_by_spark_is_refused_by_the_local_backend(work):
    from pipec.backends.base import get_backend

    run(TRAIN, work)
    (work / "out/model/model.json").rename(work / "out/model/pipec-model.json")
    (ir,) = program(score_source()).pipelines.values()
    (problem,) = get_backend("local").check_supported(ir)
    assert (problem.code, problem.span.line) == ("E0413", 6)
    assert "saved by the spark engine" in problem.message
