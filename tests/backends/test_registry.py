"""The backend registry: each backend supports exactly the steps it registers an emitter for (so
E0601 and the support matrix follow from the emitters), and its capabilities are read without
loading the backend."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipec.backends import local, spark
from pipec.backends.base import BACKENDS, capabilities_of, get_backend
from pipec.backends.local import codegen as local_codegen
from pipec.compiler.check import check_source

ROOT = Path(__file__).parents[2]


def test_a_backend_supports_exactly_the_steps_it_has_emitters_for():
    from pipec.backends.spark import codegen as spark_codegen

    assert get_backend("local").supported_steps == frozenset(local_codegen.EMITTERS)
    assert get_backend("spark").supported_steps == frozenset(spark_codegen.EMITTERS)
    assert get_backend("airflow").supported_steps == frozenset(local_codegen.EMITTERS)


def test_a_step_without_an_emitter_is_e0601_naming_the_step_and_the_backend(monkeypatch):
    ir = check_source('pipeline p { read_csv("t.csv", schema={a: int}) | sample(0.5, seed=1) '
                      '| write_csv("o.csv") }', "p.pipe").pipelines["p"]
    assert get_backend("local").check_supported(ir) == []
    monkeypatch.delitem(local_codegen.EMITTERS, "sample")
    [problem] = get_backend("local").check_supported(ir)
    assert problem.code == "E0601" and "`sample`" in problem.message and "local" in problem.message


def test_each_backend_registers_its_capabilities_with_its_package():
    assert set(BACKENDS) == {"local", "spark", "airflow"}
    assert capabilities_of("local") is local.CAPABILITIES is get_backend("local").capabilities
    assert capabilities_of("spark") is spark.CAPABILITIES
    assert get_backend("airflow").capabilities is capabilities_of("airflow")
    with pytest.raises(KeyError, match="unknown backend `sparc`"):
        capabilities_of("sparc")


def test_planning_and_explaining_for_spark_or_airflow_load_neither_pyspark_nor_airflow():
    example = ROOT / "examples" / "flights" / "flight_delays.pipe"
    script = ("import contextlib, io, sys; from pipec.cli import main\n"
              "with contextlib.redirect_stdout(io.StringIO()):\n"
              f"    for target in (['spark'], ['airflow'], ['airflow', '--engine', 'spark']):\n"
              f"        assert main(['explain', {str(example)!r}, '--target', *target]) == 0\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'airflow')))")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_pipec_run_dispatches_through_the_registry(tmp_path, monkeypatch, capsys):
    """A backend added as a registry line is what `pipec run --target` runs, with no change to the
    command line: it gets the plan made with its capabilities, the params and the working directory."""
    import types

    from pipec.backends.capabilities import Capabilities
    from pipec.cli import main

    ran = []

    class EchoBackend:
        name = "echo"
        capabilities = Capabilities(name="echo")
        supported_steps = get_backend("local").supported_steps

        def run(self, plan, params, workdir, record, options):
            ran.append((plan.ir.pipeline, params, Path(workdir), plan.stages[0].boundary))
            print("echo ran")
            return 1

    package = types.ModuleType("echo_backend")
    package.CAPABILITIES, package.BACKEND = EchoBackend.capabilities, EchoBackend()
    monkeypatch.setitem(sys.modules, "echo_backend", package)
    monkeypatch.setitem(BACKENDS, "echo", "echo_backend")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.pipe").write_text('pipeline p() {\n  param n: int = 2\n'
                                     '  read_csv("in.csv", schema={a: int}) | limit($n) | write_csv("o.csv")\n}\n')
    assert main(["run", "p.pipe", "--target", "echo", "-p", "n=3", "-O0"]) == 1
    assert ran == [("p", {"n": 3}, Path("."), "optimisation off")] and "echo ran" in capsys.readouterr().out
