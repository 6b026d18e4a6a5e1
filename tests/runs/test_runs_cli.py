"""`pipec run` records runs; `pipec runs`, `runs show` and `runs diff` read them back, as text and
as JSON whose field names tools rely on (docs/runs.md); store errors are messages, not tracebacks."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipec.cli import main

PIPELINE = '''schema Obs { id: int, x: float, late: bool }
pipeline scored() {
  param min_x: float = -10.0
  param seed: int = 3
  obs = read_csv("obs.csv", schema=Obs)
  kept = obs | filter(x >= $min_x)
  train, test = kept | split(fraction=0.7, seed=$seed, by=id)
  model = train | fit(logistic_regression(max_iter=200), features=[x], label=late)
  report = test | predict(model) | evaluate(label=late, metrics=["accuracy", "roc_auc"])
  report | expect(accuracy >= 0.0) | write_json("out/metrics.json")
  kept | write_csv("out/kept.csv")
}
'''


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIPEC_RUNS_DB", raising=False)
    xs = [(i * 37 % 101) / 10 - 5 for i in range(200)]
    rows = ["id,x,late"] + [f"{i},{x:.1f},{'true' if x + (i % 7) - 3 > 0.5 else 'false'}" for i, x in enumerate(xs)]
    (tmp_path / "obs.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "scored.pipe").write_text(PIPELINE)
    return tmp_path


def show(capsys, *argv: str) -> dict:
    code, out, err = run(capsys, "runs", "show", *argv, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_a_local_run_is_recorded_with_its_nodes_params_files_and_metrics(capsys, project, runs_db):
    code, _, err = run(capsys, "run", "scored.pipe", "-p", "seed=5", "--runs-db", runs_db)
    assert code == 0, err
    record = show(capsys, "last", "--runs-db", runs_db)
    assert {"run_id", "status", "params", "metrics", "nodes"} <= record.keys()
    assert record["status"] == "succeeded" and record["exit_code"] == 0 and record["target"] == "local"
    assert record["params"] == {"min_x": {"value": -10.0, "origin": "default"}, "seed": {"value": 5, "origin": "-p"}}
    assert set(record["metrics"]["report"]) == {"accuracy", "roc_auc"}
    for node in record["nodes"]:
        assert set(node) >= {"node", "binding", "step", "outcome", "reasons"}
        assert node["outcome"] == "ran" and all(isinstance(r, str) for r in node["reasons"])
    by_binding = {n["binding"]: n for n in record["nodes"] if n["binding"]}
    assert by_binding["obs"]["step"] == "read_csv" and by_binding["obs"]["rows"] == 200
    assert by_binding["model"]["step"] == "fit" and by_binding["model"]["seconds"] is not None
    assert [(f["path"], f["size"]) for f in record["inputs"]] == [("obs.csv", (project / "obs.csv").stat().st_size)]
    assert {Path(f["path"]).name for f in record["outputs"]} == {"metrics.json", "kept.csv"}
    assert all(f["digest"].startswith("sha256:") for f in record["inputs"] + record["outputs"])
    assert record["expectations"][0]["passed"] is True
    assert record["argv"] == ["pipec", "run", "scored.pipe", "-p", "seed=5", "--runs-db", runs_db]
    assert {"pipec", "polars", "scikit-learn", "python"} <= record["versions"].keys()


def test_runs_diff_names_exactly_the_changed_params_and_metrics(capsys, project, runs_db):
    assert run(capsys, "run", "scored.pipe", "--runs-db", runs_db)[0] == 0
    assert run(capsys, "run", "scored.pipe", "-p", "min_x=0.5", "--runs-db", runs_db)[0] == 0
    code, out, _ = run(capsys, "runs", "diff", "last~1", "last", "--format", "json", "--runs-db", runs_db)
    assert code == 0
    diff = json.loads(out)
    assert diff["params"] == {"min_x": {"a": -10.0, "b": 0.5}}
    assert diff["fields"] == {} and diff["inputs"] == {} and diff["versions"] == {}
    assert set(diff["metrics"]) == {"report.accuracy", "report.roc_auc"}
    for change in diff["metrics"].values():
        assert change["change"] == pytest.approx(change["b"] - change["a"])
    assert set(diff["outputs"]) == {"out/kept.csv", "out/metrics.json"}
    code, text, _ = run(capsys, "runs", "diff", "last~1", "last", "--runs-db", runs_db)
    assert "param min_x: -10 -> 0.5" in text and "metric report.accuracy:" in text
    assert "input" not in text and "code" not in text


def test_an_unchanged_rerun_differs_in_nothing(capsys, project):
    for _ in range(2):
        assert run(capsys, "run", "scored.pipe")[0] == 0
    code, out, _ = run(capsys, "runs", "diff", "last~1", "last")
    assert code == 0 and "no differences in code, params, data or metrics" in out


def test_a_code_change_shows_as_a_code_difference(capsys, project):
    assert run(capsys, "run", "scored.pipe")[0] == 0
    (project / "scored.pipe").write_text(PIPELINE.replace("max_iter=200", "max_iter=300"))
    assert run(capsys, "run", "scored.pipe")[0] == 0
    code, out, _ = run(capsys, "runs", "diff", "last~1", "last", "--format", "json")
    assert set(json.loads(out)["fields"]) == {"source_digest", "ir_digest"}


def test_a_failed_run_is_recorded_with_the_failing_node_and_expectation(capsys, project):
    (project / "scored.pipe").write_text(PIPELINE.replace("accuracy >= 0.0", "accuracy >= 1.5"))
    code, _, err = run(capsys, "run", "scored.pipe")
    assert code == 1 and "expectation failed" in err
    record = show(capsys, "last")
    assert record["status"] == "failed" and record["exit_code"] == 1 and "expectation failed" in record["error"]
    [expect] = [n for n in record["nodes"] if n["step"] == "expect"]
    assert expect["outcome"] == "failed" and "expectation failed" in expect["reasons"][0]
    assert record["expectations"] == [{"node": expect["node"], "binding": None, "passed": False,
                                       "detail": record["error"]}]
    assert {n["outcome"] for n in record["nodes"] if n["step"] == "read_csv"} == {"ran"}
    assert record["outputs"] == [] and record["metrics"] == {}


def test_runs_lists_newest_first_as_text_and_json(capsys, project):
    code, out, _ = run(capsys, "runs")
    assert code == 0 and "no runs recorded" in out
    code, _, err = run(capsys, "runs", "show", "last")
    assert code == 2 and "no runs recorded" in err
    assert not (project / ".pipec").exists()  # reading never creates a store
    assert run(capsys, "run", "scored.pipe")[0] == 0
    assert run(capsys, "run", "scored.pipe", "-p", "seed=4")[0] == 0
    code, out, _ = run(capsys, "runs", "--format", "json")
    listed = json.loads(out)
    assert [r["status"] for r in listed] == ["succeeded", "succeeded"]
    assert listed[0]["started_at"] > listed[1]["started_at"]
    code, out, _ = run(capsys, "runs")
    assert out.splitlines()[1].startswith(listed[0]["run_id"][:12])
    code, out, _ = run(capsys, "runs", "show", listed[1]["run_id"][:8])
    assert code == 0 and out.startswith(f"run {listed[1]['run_id']}: scored succeeded")


def test_store_errors_are_messages_with_exit_codes(capsys, project):
    from pipec.runs.store import open_store, store_url

    open_store(store_url(None, project)).close()  # an empty store
    code, _, err = run(capsys, "runs", "show", "0123")
    assert code == 2 and "error: no run `0123`" in err
    code, _, err = run(capsys, "runs", "--runs-db", "mysql://x/y")
    assert code == 2 and "unsupported run store URL" in err
    code, _, err = run(capsys, "runs", "--runs-db", "postgresql://nobody@127.0.0.1:1/runs")
    assert code == 1 and "cannot open the run store at postgresql+psycopg://nobody@127.0.0.1:1/runs" in err
    code, _, err = run(capsys, "run", "scored.pipe", "--runs-db", "mysql://x/y")
    assert code == 2 and "--runs-db" in err


def test_a_run_whose_store_is_unreachable_still_runs_and_warns(capsys, project):
    code, _, err = run(capsys, "run", "scored.pipe", "--runs-db", "postgresql://nobody@127.0.0.1:1/runs")
    assert code == 0 and (project / "out/kept.csv").exists()
    assert "warning: run not recorded: cannot open the run store" in err


def test_recording_can_be_turned_off(capsys, project, monkeypatch):
    monkeypatch.setenv("PIPEC_RUNS_DB", "off")
    assert run(capsys, "run", "scored.pipe")[0] == 0
    assert not (project / ".pipec" / "runs.db").exists()
    code, _, err = run(capsys, "runs")
    assert code == 2 and "recording runs is off" in err


def test_a_spark_run_is_recorded_as_a_whole_with_the_metrics_it_wrote(capsys, project, monkeypatch):
    """`--target spark|airflow` runs in a child process: the CLI records the run's status, params,
    files and the metrics files it wrote (the job itself is replaced here by one that writes them)."""
    from pipec.backends.spark.backend import SparkBackend

    def job(backend, plan, params, workdir, record, options):
        (workdir / "out").mkdir()
        (workdir / "out/metrics.json").write_text('{"accuracy": 0.5, "roc_auc": 0.625}')
        (workdir / "out/kept.csv").write_text("id,x,late\n")
        return 0

    monkeypatch.setattr(SparkBackend, "run", job)
    assert run(capsys, "run", "scored.pipe", "--target", "spark", "-p", "seed=9")[0] == 0
    record = show(capsys, "last")
    assert (record["target"], record["engine"], record["status"]) == ("spark", "spark", "succeeded")
    assert record["metrics"] == {"report": {"accuracy": 0.5, "roc_auc": 0.625}}
    assert record["nodes"] == [] and record["params"]["seed"] == {"value": 9, "origin": "-p"}
    assert {Path(f["path"]).name for f in record["outputs"]} == {"metrics.json", "kept.csv"}
    monkeypatch.setattr(SparkBackend, "run", lambda *a: 1)
    assert run(capsys, "run", "scored.pipe", "--target", "spark")[0] == 1
    failed = show(capsys, "last")
    assert failed["status"] == "failed" and failed["exit_code"] == 1 and failed["outputs"] == []


def test_params_given_to_an_airflow_run_are_recorded_as_airflow_conf(capsys, project, monkeypatch):
    """`pipec run --target airflow -p ...` hands the values to the DAG run as its conf."""
    from pipec.backends.airflow.backend import AirflowBackend

    monkeypatch.setattr(AirflowBackend, "run", lambda *args: 0)
    assert run(capsys, "run", "scored.pipe", "--target", "airflow", "-p", "seed=9")[0] == 0
    record = show(capsys, "last")
    assert record["params"]["seed"] == {"value": 9, "origin": "airflow conf"}
    assert {p["origin"] for name, p in record["params"].items() if name != "seed"} == {"default"}


def test_an_interrupted_run_is_recorded_as_interrupted(capsys, project, monkeypatch):
    from pipec.backends.spark.backend import SparkBackend

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(SparkBackend, "run", interrupted)
    assert run(capsys, "run", "scored.pipe", "--target", "spark")[0] == 130
    record = show(capsys, "last")
    assert record["status"] == "interrupted" and record["exit_code"] == 130


PYTHON_STEP = """
pipeline shaped() {
  rows = read_csv("obs.csv", schema={id: int, x: float, late: bool})
  rows | python("steps.shape:double", schema={id: int, x: float, late: bool}) | write_csv("out/shaped.csv")
}
"""


def test_a_python_steps_project_modules_are_recorded_and_an_edit_shows_in_the_diff(capsys, project):
    (project / "steps").mkdir()
    (project / "steps/__init__.py").write_text("")
    (project / "steps/shape.py").write_text("from .helpers import factor\n\ndef double(df):\n"
                                            "    return df.assign(x=df.x * factor())\n")
    (project / "steps/helpers.py").write_text("def factor():\n    return 2.0\n")
    (project / "shaped.pipe").write_text(PYTHON_STEP)
    assert run(capsys, "run", "shaped.pipe")[0] == 0
    record = show(capsys, "last")
    assert [m["path"] for m in record["modules"]] == ["steps/__init__.py", "steps/helpers.py", "steps/shape.py"]
    (project / "steps/helpers.py").write_text("def factor():\n    return 3.0\n")
    assert run(capsys, "run", "shaped.pipe")[0] == 0
    code, out, _ = run(capsys, "runs", "diff", "last~1", "last", "--format", "json")
    diff = json.loads(out)
    assert list(diff["modules"]) == ["steps/helpers.py"] and diff["fields"] == {} and diff["params"] == {}
    code, out, _ = run(capsys, "runs", "diff", "last~1", "last")
    assert "python module steps/helpers.py: sha256:" in out
