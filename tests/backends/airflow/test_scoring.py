"""Batch scoring on Airflow: the scoring DAG is scheduled on the training DAG's model Asset, and a
`dag.test()` run of it loads the model the training DAG saved, with `drift` numbers equal to
numpy / scipy's."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from drift_reference import expected_drift
from pipec.backends.airflow.run import run_dag_file

PIPELINES = """
schema Obs { x: float, color: str, late: bool }

pipeline train() {
  obs = read_csv("train.csv", schema=Obs)
  model = obs | fit(logistic_regression(), features=[x, color], label=late)
  obs | predict(model) | write_csv("out/train_scored.csv")
  model | save_model("out/model")
}

pipeline score(schedule="asset:out/model") {
  obs = read_csv("train.csv", schema=Obs)
  new = read_csv("new.csv", schema=Obs)
  model = load_model("out/model", schema={x: float, color: str, late: bool}, label=late, kind="classifier")
  report = new | drift(obs)
  report | expect(max_psi < 5.0) | write_json("out/drift.json")
  obs | predict(model) | write_csv("out/scored.csv")
}
"""


def observations(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n).round(3)
    return pd.DataFrame({"x": x, "color": rng.choice(["red", "green", "blue"], n),
                         "late": x + rng.normal(0, 1, n) > 0})


@pytest.fixture
def dags(compile_pipe, tmp_path, monkeypatch):
    work = tmp_path / "work"
    monkeypatch.chdir(work)  # where the checker would find a saved model (none yet: the declared type)
    for name, frame in (("train.csv", observations(150, 1)), ("new.csv", observations(90, 2, shift=0.5))):
        frame.to_csv(work / name, index=False)
    return compile_pipe(PIPELINES), work


def test_the_scoring_dag_runs_when_the_training_dag_publishes_its_model(dags):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import Asset

    files, work = dags
    bag = DagBag(str(files["score"].parent))
    assert bag.import_errors == {}
    # outlets also hold the OpenLineage datasets the tasks declare: only Assets are published
    published = {asset.uri for task in bag.dags["train"].tasks for asset in task.outlets if isinstance(asset, Asset)}
    scheduled_on = {asset.uri for asset in bag.dags["score"].timetable.asset_condition.objects}
    assert scheduled_on == {(work / "out" / "model").as_uri()} and scheduled_on <= published


def test_a_dag_run_scores_with_the_model_the_training_dag_saved(dags, airflow_home):
    files, work = dags
    trained = run_dag_file(files["train"], airflow_home=airflow_home)
    assert trained.ok, trained.error
    scored = run_dag_file(files["score"], airflow_home=airflow_home)
    assert scored.ok, scored.error

    before = pd.read_csv(work / "out/train_scored.csv")
    after = pd.read_csv(work / "out/scored.csv")
    assert after[["prediction", "probability"]].equals(before[["prediction", "probability"]])
    new, obs = pd.read_csv(work / "new.csv"), pd.read_csv(work / "train.csv")
    expected = expected_drift({c: (new[c].tolist(), obs[c].tolist(), c == "x") for c in ("x", "color", "late")})
    assert json.loads((work / "out/drift.json").read_text()) == pytest.approx(expected, rel=1e-12, abs=1e-15)
