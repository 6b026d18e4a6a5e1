"""The `pipec` command: exit codes (0 ok, 1 user errors, 2 usage), every subcommand's output, and
no Python traceback for a user mistake."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipec import __version__
from pipec.cli import main

ROOT = Path(__file__).parents[2]
EXAMPLE = str(ROOT / "examples" / "flights" / "flight_delays.pipe")
TINY = '''pipeline tiny() {
  param factor: int = 2
  rows = read_csv("in.csv", schema={a: int, b: str?})
  rows | derive(c = a * $factor) | sort(a) | write_csv("out/tiny.csv")
}
'''


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text("a,b\n2,x\n1,\n3,z\n")
    (tmp_path / "tiny.pipe").write_text(TINY)
    return tmp_path / "tiny.pipe"


def test_version_and_help_everywhere(capsys):
    assert run(capsys, "--version")[:2] == (0, f"pipec {__version__}\n")
    for command in ("check", "compile", "run", "explain", "graph", "fmt", "debug"):
        code, out, _ = run(capsys, command, "--help")
        assert code == 0 and out.startswith("usage: pipec " + command)


def test_check_exit_codes_and_json(capsys, tmp_path):
    assert run(capsys, "check", EXAMPLE)[0] == 0
    bad = tmp_path / "bad.pipe"
    bad.write_text('pipeline p() {\n  x = read_csv("f.csv", schema={a: int}) | filter(b > 1)\n'
                   '  x | write_csv("o.csv")\n}\n')
    code, _, err = run(capsys, "check", str(bad))
    assert code == 1 and "error[E0201]: unknown column `b`" in err and "bad.pipe:2:" in err
    code, out, _ = run(capsys, "check", "--format", "json", str(bad))
    assert code == 1 and [d["code"] for d in json.loads(out)] == ["E0201"]


def test_usage_errors_exit_2(capsys, tiny):
    assert run(capsys, "check")[0] == 2
    assert run(capsys, "run", str(tiny), "-p", "factor")[0] == 2  # not name=value
    code, _, err = run(capsys, "run", str(tiny), "--disable", "fusionn")
    assert code == 2 and "fusion" in err
    assert run(capsys, "compile", str(tiny), "--target", "nowhere")[0] == 2


def test_bad_param_override_is_a_bad_command_line(capsys, tiny):
    code, _, err = run(capsys, "run", str(tiny), "-p", "factor=two")
    assert code == 2 and "E0124" in err and "`two` is not an integer" in err
    code, _, err = run(capsys, "run", str(tiny), "-p", "seed=abc")
    assert code == 2 and "no parameter `seed`" in err and "factor" in err
    code, _, err = run(capsys, "check", str(tiny), "-p", "factor=two")
    assert code == 2 and "E0124" in err


def test_out_of_range_override_names_the_param_and_the_argument_line(capsys, tiny):
    tiny.write_text(TINY.replace("| sort(a)", "| limit($factor) | sort(a)"))
    code, _, err = run(capsys, "run", str(tiny), "-p", "factor=-1")
    assert code == 2 and "E0124" in err and "`$factor`" in err and "tiny.pipe:4:" in err
    assert not (tiny.parent / "out").exists()


def test_run_writes_outputs_and_summary(capsys, tiny):
    code, out, _ = run(capsys, "run", str(tiny), "-p", "factor=10")
    assert code == 0 and "wrote out/tiny.csv (3 rows)" in out
    assert (tiny.parent / "out/tiny.csv").read_text() == "a,b,c\n1,,10\n2,x,20\n3,z,30\n"


def test_run_on_bad_data_names_file_column_and_row(capsys, tiny):
    (tiny.parent / "in.csv").write_text("a,b\n1,x\nlots,y\n")
    code, _, err = run(capsys, "run", str(tiny))
    assert code == 1 and "in.csv" in err and "`a`" in err and "row 2" in err
    assert not (tiny.parent / "out").exists() or not any((tiny.parent / "out").iterdir())


def test_compile_ir_graph_debug_explain(capsys, tiny, tmp_path):
    code, out, _ = run(capsys, "compile", str(tiny))
    assert code == 0 and json.loads(out)["version"] == "pipec-ir/1"
    assert run(capsys, "compile", str(tiny), "-o", str(tmp_path / "ir.json"))[0] == 0
    assert json.loads((tmp_path / "ir.json").read_text())["pipeline"] == "tiny"
    code, out, _ = run(capsys, "graph", str(tiny))
    assert code == 0 and out.startswith("flowchart TD") and "-->" in out
    code, out, _ = run(capsys, "graph", str(tiny), "--format", "dot")
    assert code == 0 and out.startswith('digraph "tiny"')
    for stage in ("ast", "ir", "plan"):
        code, out, _ = run(capsys, "debug", str(tiny), "--stage", stage)
        assert code == 0 and json.loads(out)
    code, out, _ = run(capsys, "explain", str(tiny))
    assert code == 0 and "pipeline tiny" in out
    code, out, _ = run(capsys, "explain", str(tiny), "-O0")
    assert code == 0 and "stage" in out


def test_compile_spark_and_airflow_write_files(capsys, tiny, tmp_path):
    code, out, _ = run(capsys, "compile", str(tiny), "--target", "spark", "-o", str(tmp_path / "jobs"))
    assert code == 0 and (tmp_path / "jobs/tiny.py").exists()
    code, out, _ = run(capsys, "compile", str(tiny), "--target", "airflow", "-o", str(tmp_path / "dags"))
    assert code == 0 and "airflow" in (tmp_path / "dags/tiny.py").read_text()


def test_airflow_with_the_spark_engine_plans_and_compiles_as_spark_does(capsys, tiny, tmp_path):
    code, out, _ = run(capsys, "explain", str(tiny), "--target", "airflow", "--engine", "spark")
    assert code == 0 and "needs a shuffle on spark" in out and "on airflow" not in out
    assert out == run(capsys, "explain", str(tiny), "--target", "spark")[1]
    assert "fused 4 nodes into 1 stages for airflow" in run(capsys, "explain", str(tiny), "--target", "airflow")[1]
    run(capsys, "compile", str(tiny), "--target", "spark", "-o", str(tmp_path / "jobs"))
    run(capsys, "compile", str(tiny), "--target", "airflow", "--engine", "spark", "-o", str(tmp_path / "dags"))
    job = (tmp_path / "dags/pipec_support/tiny_spark_job.py").read_text()
    assert job == (tmp_path / "jobs/tiny.py").read_text()


def test_fmt_check_and_rewrite(capsys, tmp_path):
    messy = tmp_path / "messy.pipe"
    messy.write_text('pipeline p(){\n  x=read_csv("f.csv",schema={a:int})|filter(a>1)\n'
                     '  x|write_csv("o.csv")\n}\n')
    assert run(capsys, "fmt", "--check", str(messy))[0] == 1
    assert run(capsys, "fmt", str(messy))[0] == 0
    assert run(capsys, "fmt", "--check", str(messy))[0] == 0
    assert run(capsys, "check", str(messy))[0] == 0


@pytest.mark.parametrize("target", ["spark", "airflow"])
def test_run_on_other_targets_gives_the_local_answer(capsys, tiny, target):
    """`pipec run --target spark|airflow` compiles and runs for real (a Spark job process; a
    throwaway Airflow with dag.test()) and writes what the local run writes."""
    code, _, err = run(capsys, "run", str(tiny), "--target", target, "-p", "factor=3")
    assert code == 0, err
    assert (tiny.parent / "out/tiny.csv").read_text() == "a,b,c\n1,,3\n2,x,6\n3,z,9\n"
