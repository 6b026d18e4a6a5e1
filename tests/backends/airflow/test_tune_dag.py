"""`tune` on Airflow: one mapped task instance per candidate (dynamic task mapping, labelled in the
grid view), then the stage's task chooses with the contract's rule and refits; a `dag.test()` run
chooses the candidate and writes the trials table, bytes for bytes, that a local run does."""
from __future__ import annotations

import ast

import numpy as np
import pandas as pd

from pipec.backends.airflow.run import run_dag_file

TUNED = """
schema Obs { x1: float, x2: float, color: str, late: bool }
pipeline tuned() {
  param reg: float = 0.5
  obs = read_csv("obs.csv", schema=Obs)
  best, trials = obs
    | tune([logistic_regression(max_iter=300, reg=[0.0, $reg]),
            random_forest_classifier(n_trees=5, max_depth=[2, 6])],
           features=[color, x1, x2], label=late, metric="roc_auc", folds=3, seed=11)
  trials | drop(seconds) | write_csv("out/trials.csv")
  obs | predict(best) | write_csv("out/scored.csv")
}
"""
LABELS = ["1: logistic_regression(max_iter=300, reg=0.0)", "2: logistic_regression(max_iter=300, reg=$reg)",
          "3: random_forest_classifier(n_trees=5, max_depth=2, seed=0)",
          "4: random_forest_classifier(n_trees=5, max_depth=6, seed=0)"]


def write_obs(folder, n: int = 150) -> None:
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "color": rng.choice(["red", "green", "blue"], size=n)})
    df["late"] = (df.x1 - df.x2 + (df.color == "red") + rng.normal(size=n)) > 0
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "obs.csv").write_text(df.to_csv(index=False).replace("True", "true").replace("False", "false"))


def test_the_dag_maps_one_task_per_candidate_and_stays_light_to_parse(compile_pipe):
    dag_file = compile_pipe(TUNED)["tuned"]
    tree = ast.parse(dag_file.read_text())
    calls = {node.func.attr: node for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
    items = ast.literal_eval(calls["expand_kwargs"].args[0])
    assert [item["item"] for item in items] == [0, 1, 2, 3]
    assert [item["label"] for item in items] == LABELS
    assert {n.names[0].name for n in ast.walk(tree) if isinstance(n, ast.Import)} <= {"datetime", "os", "pathlib",
                                                                                    "importlib", "importlib.util",
                                                                                    "json", "sys"}


def test_a_dag_run_chooses_and_writes_what_a_local_run_does(compile_pipe, airflow_home, tmp_path):
    import pipec

    work = tmp_path / "work"
    write_obs(work)
    result = run_dag_file(compile_pipe(TUNED)["tuned"], {"reg": 0.5}, airflow_home=airflow_home)
    assert result.ok, result.error
    assert set(result.task_states.values()) == {"success"}
    assert result.mapped_states == {"s2_best_candidates": [(label, "success") for label in LABELS]}

    local = tmp_path / "local"
    write_obs(local)
    (local / "tuned.pipe").write_text(TUNED)
    pipec.run(local / "tuned.pipe", workdir=local)
    for name in ("trials.csv", "scored.csv"):
        assert (work / "out" / name).read_bytes() == (local / "out" / name).read_bytes(), name


def test_a_candidate_that_fails_fails_its_mapped_task_and_publishes_nothing(compile_pipe, airflow_home, tmp_path):
    work = tmp_path / "work"
    write_obs(work)
    (work / "obs.csv").write_text((work / "obs.csv").read_text().replace("false", "true"))  # one class only
    result = run_dag_file(compile_pipe(TUNED)["tuned"], airflow_home=airflow_home)
    assert not result.ok
    assert "s2_best_candidates" in result.failed_tasks
    assert "has only the value True" in (result.error or "")
    assert not (work / "out").exists()
    assert result.mapped_states == {"s2_best_candidates": [(label, "failed") for label in LABELS]}
