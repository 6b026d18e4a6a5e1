"""Test helpers: hand-built typed IR (independent of the parser and checker) and `plan_for`.

Expressions are built with their types filled in, as the checker would leave them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from pipec.backends.local.runner import run_plan
from pipec.backends.local.summary import RunResult
from pipec.compiler import ast
from pipec.compiler.ir import IR, IRNode, NamedExpr, ParamSpec, SinkArgs, SourceArgs
from pipec.compiler.plan import unoptimized_plan
from pipec.compiler.span import UNKNOWN_SPAN as S
from pipec.compiler.types import ColumnType, ParamType, Schema, TableType, col


def t(spec: str) -> ColumnType:
    """`"int?"` -> the nullable int column type."""
    return col(spec.rstrip("?"), spec.endswith("?"))


def schema(**fields: str) -> Schema:
    return Schema.of([(name, t(spec)) for name, spec in fields.items()])


def c(name: str, spec: str) -> ast.ColumnRef:
    return ast.ColumnRef(span=S, name=name, type=t(spec))


def lit(value: Any, spec: str | None = None) -> ast.Literal_:
    kind = "null" if value is None else {bool: "bool", int: "int", float: "float", str: "str"}[type(value)]
    return ast.Literal_(span=S, value=value, literal_type=kind,
                        type=t(spec) if spec else (None if value is None else col(kind)))


def param(name: str, spec: str) -> ast.ParamRef:
    return ast.ParamRef(span=S, name=name, type=t(spec))


def binary(op: str, left: ast.Expr, right: ast.Expr, spec: str) -> ast.Binary:
    return ast.Binary(span=S, op=op, left=left, right=right, type=t(spec))


def call(name: str, *args: ast.Expr, spec: str) -> ast.Call:
    return ast.Call(span=S, name=name, name_span=S, args=[ast.Arg(span=S, value=a) for a in args],
                    type=t(spec))


def cast(x: ast.Expr, target: str) -> ast.Call:
    return ast.Call(span=S, name="cast", name_span=S, type=t(target + ("?" if x.type.nullable else "")),
                    args=[ast.Arg(span=S, value=x), ast.Arg(span=S, value=ast.ColumnRef(span=S, name=target))])


def named(name: str, expr: ast.Expr) -> NamedExpr:
    return NamedExpr(name=name, expr=expr)


class Pipeline:
    """Add nodes in order; each table node gets the schema given (only the parts codegen reads matter)."""

    def __init__(self, name: str = "p", params: dict[str, tuple[str, Any]] | None = None):
        self.ir = IR(name, params=[ParamSpec(name=k, type=ParamType(name=typ), default=v)
                                   for k, (typ, v) in (params or {}).items()])
        self.count = 0

    def add(self, step: str, args, inputs: list[str] = (), output=None, binding: str | None = None) -> str:
        self.count += 1
        node_id = f"n{self.count}"
        if isinstance(output, Schema):
            output = TableType(schema_=output)
        self.ir.add(IRNode(id=node_id, step=step, args=args, inputs=list(inputs), output=output,
                           binding=binding))
        return node_id

    def read_csv(self, path: str, sch: Schema, **kw) -> str:
        return self.add("read_csv", SourceArgs(step="read_csv", path=path, schema_=sch, **kw), output=sch)

    def sink(self, step: str, source: str, path: str) -> str:
        return self.add(step, SinkArgs(step=step, path=path), [source])

    def run(self, workdir: Path, params: dict | None = None) -> RunResult:
        return run_plan(unoptimized_plan(self.ir), params or {}, workdir)


def plan_for(source: str, workdir: Path, optimized: bool):
    """The plan of the one pipeline in `source`, through the real front end (and optimizer)."""
    from pipec.compiler.check import check_source
    from pipec.compiler.passes import optimize

    program = check_source(source, str(workdir / "test.pipe"))
    errors = [f"{d.code} {d.message}" for d in program.diagnostics if d.is_error]
    assert not errors, errors
    (ir,) = program.pipelines.values()
    return optimize(ir, backend="local", workdir=workdir) if optimized else unoptimized_plan(ir)


def read_back(path: Path) -> pl.DataFrame:
    return pl.read_parquet(path)


def run_csv_chain(run_pipe, schema: str, csv_text: str, chain: str) -> pl.DataFrame:
    """Run `read_csv("in.csv", schema={schema}) | {chain} | write_parquet(...)` through `pipec run`
    (the `run_pipe` fixture) and read the result back."""
    source = f"""
schema T {{ {schema} }}
pipeline t() {{
  t = read_csv("in.csv", schema=T)
  t | {chain} | write_parquet("out.parquet")
}}
"""
    run_pipe(source, files={"in.csv": csv_text})
    return pl.read_parquet(run_pipe.workdir / "out.parquet")
