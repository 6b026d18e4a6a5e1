"""Shared helpers for the optimizer tests: check a small `.pipe` program, and print a graph's
structure as plain lines that a test can compare with the plan it expects."""
from __future__ import annotations

from pipec.compiler.check import check_source
from pipec.compiler.ir import IR
from pipec.compiler.passes.exprs import expr_text

SCHEMAS = """
schema T { a: int, b: int?, c: str, x: float? }
schema U { k: int, d: float?, e: str }
"""


def checked(body: str, schemas: str = SCHEMAS) -> IR:
    """The IR of `pipeline p { body }`, which must check without errors."""
    program = check_source(f"{schemas}\npipeline p {{\n{body}\n}}\n", "test.pipe")
    assert program.ok, [d.message for d in program.diagnostics]
    return program.pipelines["p"]


def shape(ir: IR) -> list[str]:
    """`id = step(inputs)` per node in topological order, with a filter's predicate and the
    columns a source reads, so that a test states the exact structure it expects."""
    lines = []
    for node in ir.nodes():
        detail = ""
        if node.step == "filter":
            detail = f" [{expr_text(node.args.predicate)}]"
        elif node.is_source and node.args.columns is not None:
            detail = f" [{', '.join(node.args.columns)}]"
        lines.append(f"{node.id} = {node.step}({', '.join(node.inputs)}){detail}")
    return lines
