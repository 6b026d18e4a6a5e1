"""`pipec lineage`: the static lineage of a pipeline file from the command line, and the run that
wrote an output file, matched by its content digest through the run store."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipec.cli import main

PIPELINE = '''schema Obs { id: int, x: float, late: bool }
pipeline scored() {
  param min_x: float = -10.0
  obs = read_csv("obs.csv", schema=Obs)
  kept = obs | filter(x >= $min_x)
  kept | write_csv("out/kept.csv")
}
'''

SUMMARY = '''schema Obs { id: int, x: float, late: bool }
pipeline summary() {
  kept = read_csv("out/kept.csv", schema=Obs)
  kept | aggregate(by=[late], n = count(), mean_x = mean(x)) | sort(late) | write_csv("out/summary.csv")
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
    rows = ["id,x,late"] + [f"{i},{(i * 37 % 101) / 10 - 5:.1f},{'true' if i % 3 else 'false'}" for i in range(50)]
    (tmp_path / "obs.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "p.pipe").write_text(PIPELINE)
    (tmp_path / "s.pipe").write_text(SUMMARY)
    return tmp_path


def test_static_lineage_of_one_column_as_json(capsys, project):
    code, out, err = run(capsys, "lineage", "s.pipe", "--column", "summary.csv.mean_x",
                         "--format", "json")
    assert code == 0, err
    (pipeline,) = json.loads(out)
    (sink,) = pipeline["sinks"]
    assert [c["name"] for c in sink["columns"]] == ["mean_x"]
    assert sink["columns"][0]["inputs"] == [{"source": "out/kept.csv", "node": "kept", "binding": "kept",
                                             "column": "x", "transformations": [
                                                 {"type": "DIRECT", "subtype": "AGGREGATION"}]}]


def test_command_line_mistakes_exit_2(capsys, project):
    assert run(capsys, "lineage", "p.pipe", "--column", "kept.csv.nope")[0] == 2
    assert run(capsys, "lineage", "p.pipe", "--column", "nothing")[0] == 2
    assert run(capsys, "lineage", "missing.csv")[0] == 2
    assert run(capsys, "lineage", "obs.csv", "--column", "a.b")[0] == 2


def test_an_output_names_the_run_that_wrote_it_its_params_inputs_and_upstream_run(capsys, project):
    assert run(capsys, "run", "p.pipe", "-p", "min_x=0")[0] == 0
    first = json.loads(run(capsys, "runs", "show", "last", "--format", "json")[1])
    assert run(capsys, "run", "s.pipe")[0] == 0
    second = json.loads(run(capsys, "runs", "show", "last", "--format", "json")[1])

    code, out, err = run(capsys, "lineage", "out/summary.csv", "--format", "json")
    assert code == 0, err
    found = json.loads(out)
    assert found["produced_by_pipec"] and found["run"]["run_id"] == second["run_id"]
    assert found["run"]["source_digest"] == second["source_digest"]
    assert [(f["path"], f["digest"]) for f in found["inputs"]] == \
        [(f["path"], f["digest"]) for f in second["inputs"]]
    # out/kept.csv, which summary read, was written by the first run
    (upstream,) = found["upstream"]
    assert upstream["run_id"] == first["run_id"] and upstream["pipeline"] == "scored"

    code, out, err = run(capsys, "lineage", "out/kept.csv")
    assert code == 0, err
    assert f"written by run {first['run_id']} of pipeline scored" in out
    assert "min_x = 0.0  (-p)" in out and first["inputs"][0]["digest"] in out


def test_a_hand_edited_output_is_not_produced_by_pipec(capsys, project):
    assert run(capsys, "run", "p.pipe")[0] == 0
    with open("out/kept.csv", "a") as f:
        f.write("999,1.0,true\n")
    code, out, err = run(capsys, "lineage", "out/kept.csv")
    assert code == 1
    assert "not produced by pipec" in out and "the file was changed since" in out
    Path("notes.txt").write_text("by hand\n")
    code, out, _ = run(capsys, "lineage", "notes.txt", "--format", "json")
    assert code == 1 and json.loads(out)["produced_by_pipec"] is False
