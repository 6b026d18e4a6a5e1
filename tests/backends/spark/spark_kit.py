"""Helpers for the Spark tests: typed expressions from small `.pipe` programs, and evaluating
generated Column source text the way a generated job does (same names in scope)."""
from __future__ import annotations

import sys
import types
from typing import Any

from pyspark import cloudpickle

from pipec.backends.spark import runtime
from pipec.backends.spark.expressions import column
from pipec.compiler.check import check_source


def check(source: str, file: str = "test.pipe"):
    """The IR of the only pipeline in `source`; fails the test on any error."""
    program = check_source(source, file)
    errors = [f"{d.code} {d.message}" for d in program.diagnostics if d.is_error]
    assert not errors, errors
    (ir,) = program.pipelines.values()
    return ir


def derive_exprs(schema: str, exprs: dict[str, str], params: str = "") -> dict[str, Any]:
    """Typed expressions: `derive(name = text, ...)` over a source with `schema`, checked."""
    ir = check(f"""
pipeline p() {{
  {params}
  t = read_csv("in.csv", schema={{{schema}}}) | derive({", ".join(f"{k} = {v}" for k, v in exprs.items())})
  t | write_csv("out.csv")
}}""")
    (node,) = [n for n in ir.nodes() if n.step == "derive"]
    return {c.name: c.expr for c in node.args.columns}


def aggregate_exprs(schema: str, aggs: dict[str, str]) -> dict[str, Any]:
    ir = check(f"""
pipeline p() {{
  t = read_csv("in.csv", schema={{{schema}}}) | aggregate({", ".join(f"{k} = {v}" for k, v in aggs.items())})
  t | write_csv("out.csv")
}}""")
    (node,) = [n for n in ir.nodes() if n.step == "aggregate"]
    return {a.name: a.expr for a in node.args.aggregates}


def spark_column(expr, params: dict[str, Any] | None = None):
    """Evaluate the generated source text of `expr` with a job's names in scope."""
    namespace = {**vars(runtime), "params": params or {}}
    return eval(column(expr), namespace)  # noqa: S307 - our own generated code


def frame(spark, rows: list[tuple], schema: list[tuple[str, str, bool]]):
    return spark.createDataFrame(rows, runtime.struct_type(schema))


def run_generated(spark, source: str, params: dict[str, Any] | None = None, plan=None) -> None:
    """Generate the job for `source` and run its `pipeline()` in this process on the test session
    (relative paths resolve against the current directory, as in a job). Commits on success."""
    from pipec.backends.spark.codegen import generate_job
    from pipec.compiler.plan import unoptimized_plan

    ir = check(source)
    module = types.ModuleType(f"generated_job_{ir.pipeline}")
    sys.modules[module.__name__] = module  # dataclasses look their module up while being defined
    # workers cannot import it: its functions go to them by value, as a real job's (`__main__`) do
    cloudpickle.register_pickle_by_value(module)
    namespace = module.__dict__
    exec(compile(generate_job(plan or unoptimized_plan(ir)), f"<job {ir.pipeline}>", "exec"), namespace)
    values = {name: namespace["job_param"](kind, default) for name, (kind, default) in namespace["PARAMS"].items()}
    outputs = namespace["Outputs"](spark)
    try:
        namespace["pipeline"](spark, {**values, **(params or {})}, outputs)
        outputs.commit()
    except BaseException:
        outputs.discard()
        raise
