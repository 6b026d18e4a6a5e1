"""The generated job as text: standalone, ordered, cached where the plan says, injection-safe."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from spark_kit import check

from pipec.backends.spark import BACKEND
from pipec.backends.spark.codegen import generate_job
from pipec.cli import main
from pipec.compiler.check import check_file
from pipec.compiler.plan import CacheDecision, unoptimized_plan

EXAMPLES = sorted(Path(__file__).parents[3].joinpath("examples").rglob("*.pipe"))

PIPE = """
pipeline p(schedule=null) {
  param cut: float = 1.0
  t = read_csv("in.csv", schema={a: int, b: float, late: bool})
  base = t | filter(b > $cut)
  train, test = base | split(fraction=0.5, seed=1, by=a)
  m = train | fit(logistic_regression(), features=[b], label=late)
  scored = test | predict(m)
  report = scored | evaluate(label=late, metrics=["accuracy"])
  scored | write_csv("scored.csv")
  report | write_json("report.json")
  base | aggregate(n=count()) | write_csv("n.csv")
}
"""


def imported_modules(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_jobs_are_standalone_python(path):
    program = check_file(path)
    for ir in program.pipelines.values():
        source = generate_job(unoptimized_plan(ir))
        compile(source, f"{ir.pipeline}.py", "exec")
        assert imported_modules(source) <= {"__future__", "argparse", "bisect", "concurrent", "contextlib", "csv", "dataclasses",
                                            "datetime", "errno", "fcntl", "hashlib", "importlib", "io", "json", "math", "os",
                                            "posixpath", "re", "shutil", "signal", "sys", "threading", "time", "typing",
                                            "urllib", "uuid", "functools", "pyspark", "polars", "numpy",
                                            # imported only inside the functions that need them
                                            "pandas", "pyarrow", "fsspec", "psycopg", "adbc_driver_postgresql"}
        assert "pipec" not in imported_modules(source)
        assert max(len(line) for line in source.splitlines()) <= 120


def lines_of(source: str) -> list[str]:
    body = source[source.index("def pipeline("):]
    return [line.strip() for line in body.splitlines()]


def position(lines: list[str], prefix: str) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(prefix))


def cached(ir, *nodes: str):
    return unoptimized_plan(ir).model_copy(update={"cached": [
        CacheDecision(node=n, runs=2, seconds_saved=1.0, bytes=10) for n in nodes]})


def test_cached_nodes_persist_and_unpersist_after_their_last_action():
    ir = check(PIPE)
    lines = lines_of(generate_job(cached(ir, "base", "scored")))
    assert position(lines, "base = base.persist(StorageLevel.MEMORY_AND_DISK)") > position(lines, "base = ")
    # scored feeds its sink and the evaluation: it goes after both
    assert position(lines, "scored.unpersist()") > max(position(lines, "outputs.write_table(scored"),
                                                        position(lines, "report = evaluate("))
    # base feeds the count and (through scored, kept by the first action that reads it) the
    # evaluation: it goes after both, before the scored sink that reads the kept scored
    assert position(lines, "base.unpersist()") > max(position(lines, "report = evaluate("),
                                                      position(lines, "outputs.write_table("))
    assert position(lines, "base.unpersist()") < position(lines, "outputs.write_table(scored")


def test_a_table_only_fit_reads_is_persisted_only_when_it_is_costly_to_recompute():
    ir = check(PIPE)
    # train is a split of the kept base: MLlib caches its training vectors, so train is not kept too
    assert "train.persist(" not in generate_job(cached(ir, "base", "train"))
    # without base kept, recomputing train means reading the file again: it is kept until fit has run
    lines = lines_of(generate_job(cached(ir, "train")))
    assert position(lines, "train = train.persist(") < position(lines, "m = fit_model(")
    assert position(lines, "m = fit_model(") < position(lines, "train.unpersist()") < position(lines, "scored = ")


def test_stages_are_emitted_after_the_stages_they_read():
    ir = check(PIPE)
    order = [n.id for n in ir.nodes()]
    # a plan that lists its stages in a misleading order must still give a valid program
    plan = unoptimized_plan(ir)
    plan = plan.model_copy(update={"stages": list(reversed(plan.stages))})
    source = generate_job(plan)
    lines = lines_of(source)
    assert position(lines, "m = fit_model(") < position(lines, "scored = predict(")
    assert order  # the IR is not empty
    compile(source, "p.py", "exec")


def test_hostile_names_and_strings_stay_data():
    ir = check('''
pipeline p() {
  t = read_csv("in\\"); import os #.csv", schema={`we"ird col`: int, `a.b`: str, predict: int})
  t | derive(z = `we"ird col` + predict, w = concat(`a.b`, "\\")\\n")) | write_csv("o\\"ut.csv")
}''')
    source = generate_job(unoptimized_plan(ir))
    tree = ast.parse(source)
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert {'in"); import os #.csv', '")\n', 'o"ut.csv', '`we"ird col`', "`a.b`"} <= strings
    imports_of_os = [n for n in ast.walk(tree) if isinstance(n, ast.Import) and n.names[0].name == "os"]
    assert len(imports_of_os) == 1  # the runtime's own


def test_bindings_never_shadow_runtime_names():
    ir = check("""
pipeline p() {
  predict = read_csv("in.csv", schema={a: int, label: bool})
  F = predict | filter(a > 1)
  m = F | fit(logistic_regression(), features=[a], label=label)
  F | predict(m) | write_csv("out.csv")
}""")
    tree = ast.parse(generate_job(unoptimized_plan(ir)))
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "pipeline")
    assigned = {n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    assert {"predict_", "F_", "m"} <= assigned and not {"predict", "F"} & assigned


def test_backend_reports_unsupported_expressions_and_compiles(tmp_path):
    ir = check(PIPE)
    assert BACKEND.check_supported(ir) == []
    (path,) = BACKEND.compile(unoptimized_plan(ir), tmp_path)
    assert path == tmp_path / "p.py" and path.read_text().startswith('"""Spark job for the pipeline `p`')


BLOCK_PYSPARK = '''import sys


class NoPyspark:
    """Makes `import pyspark` fail, as on a machine without it."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "pyspark":
            raise ImportError(f"No module named {name!r}")
        return None


sys.meta_path.insert(0, NoPyspark())
'''


def test_compiling_needs_no_pyspark(tmp_path):
    """`pipec compile --target spark` (and airflow with the Spark engine) only writes text: in a
    process where pyspark cannot be imported it writes the same job as here."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(BLOCK_PYSPARK)
    source = str(EXAMPLES[0])
    compiles = {"spark": ["--target", "spark"], "airflow": ["--target", "airflow", "--engine", "spark",
                                                          "--base-dir", "/srv/x"]}
    for name, flags in compiles.items():
        argv = ["compile", *flags, "-o", str(tmp_path / f"{name}-without"), source]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), str(Path(__file__).parents[3])]))
        code = ("import sys\ntry:\n    import pyspark\nexcept ImportError:\n    pass\nelse:\n    sys.exit(9)\n"
                "from pipec.cli import main\nsys.exit(main(sys.argv[1:]))")
        done = subprocess.run([sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert main(["compile", *flags, "-o", str(tmp_path / f"{name}-with"), source]) == 0
        without = {p.relative_to(tmp_path / f"{name}-without"): p.read_bytes()
                   for p in sorted((tmp_path / f"{name}-without").rglob("*")) if p.is_file()}
        with_pyspark = {p.relative_to(tmp_path / f"{name}-with"): p.read_bytes()
                        for p in sorted((tmp_path / f"{name}-with").rglob("*")) if p.is_file()}
        assert without and without == with_pyspark
