"""How the cross-backend suite runs one pipeline file on each backend, in a working directory
whose `data/` holds the inputs and where relative sink paths land (`out/...`)."""
from __future__ import annotations

import os
import sys
import types
from contextlib import contextmanager
from pathlib import Path

from pipec import plan
from pipec.compiler.check import check_file


def load_ir(pipe_file: Path, pipeline: str):
    program = check_file(pipe_file)
    assert program.ok, [d.message for d in program.diagnostics]
    return program.pipelines[pipeline]


def run_local(pipe_file: Path, pipeline: str, workdir: Path) -> None:
    from pipec.backends.local.runner import run_plan

    ir = load_ir(pipe_file, pipeline)
    run_plan(plan(ir, backend="local", workdir=workdir), {}, workdir)


@contextmanager
def _working_directory(path: Path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run_spark(spark, pipe_file: Path, pipeline: str, workdir: Path) -> None:
    """The generated job's own `pipeline()` and `Outputs`, on the session's SparkSession (a job
    process per pipeline would cost a JVM start each); paths resolve against `workdir` as they
    do against a job's working directory."""
    from pipec.backends.spark.codegen import generate_job

    ir = load_ir(pipe_file, pipeline)
    source = generate_job(plan(ir, backend="spark", workdir=workdir))
    from pyspark import cloudpickle

    module = types.ModuleType(f"conformance_job_{pipeline}")
    sys.modules[module.__name__] = module
    cloudpickle.register_pickle_by_value(module)  # workers cannot import a module made here
    exec(compile(source, f"<spark job {pipeline}>", "exec"), module.__dict__)
    ns = module.__dict__
    params = {name: ns["job_param"](kind, default) for name, (kind, default) in ns["PARAMS"].items()}
    outputs = ns["Outputs"](spark)
    with _working_directory(workdir):
        try:
            ns["pipeline"](spark, params, outputs)
            outputs.commit()
        except BaseException:
            outputs.discard()
            raise


def run_airflow(airflow_home: Path, pipe_file: Path, pipeline: str, workdir: Path) -> None:
    """Compile the DAG and run it once with `dag.test()` against the session's metadata DB."""
    from pipec.backends.airflow import AirflowBackend
    from pipec.backends.airflow.run import run_dag_file

    ir = load_ir(pipe_file, pipeline)
    backend = AirflowBackend(base_dir=workdir, storage_root=str(workdir / "storage"))
    dag_file = backend.compile(plan(ir, backend="airflow", workdir=workdir), workdir / "dags")[0]
    result = run_dag_file(dag_file, {}, workdir, airflow_home=airflow_home)
    assert result.ok, f"dag.test() of {pipeline} failed: {result.error}\n{result.log[-3000:]}"
