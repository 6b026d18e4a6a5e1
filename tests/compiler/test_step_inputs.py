"""`check_parsed(step_inputs=...)`: the editor's record of each step's input changes nothing else."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipec.compiler.check import check_parsed, check_source
from pipec.compiler.types import TableType
from pipec.grammar import parse_source

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/*.pipe"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recording_step_inputs_keeps_diagnostics_and_ir(path: Path):
    text = path.read_text()
    plain = check_source(text, str(path))
    module, syntax = parse_source(text, str(path))
    step_inputs = {}
    recorded = check_parsed(module, syntax, text, str(path), step_inputs=step_inputs)
    assert recorded.diagnostics == plain.diagnostics
    assert {n: ir.to_json() for n, ir in recorded.pipelines.items()} == \
        {n: ir.to_json() for n, ir in plain.pipelines.items()}
    # every step after the first of a chain has its input recorded, under its own span
    for ir in recorded.pipelines.values():
        for node in ir.nodes():
            if node.inputs and node.span is not None:
                assert step_inputs[node.span] == ir.node(node.inputs[0]).output


def test_partial_checks_the_statements_that_parse():
    text = ('pipeline p {\n  a = read_csv("a.csv", schema={x: int})\n  b = a | filter(x >)\n'
            '  c = a | filter(y > 1)\n  c | write_csv("c.csv")\n}\n')
    module, syntax = parse_source(text, "t.pipe")
    step_inputs = {}
    program = check_parsed(module, syntax, text, "t.pipe", partial=True, step_inputs=step_inputs)
    assert [(d.code, d.span.line) for d in program.diagnostics] == [("E0001", 3), ("E0201", 4)]
    assert [(d.code, d.span.line) for d in check_source(text, "t.pipe").diagnostics] == [("E0001", 3)]
    assert all(isinstance(v, TableType) and v.schema_.names == ["x"] for v in step_inputs.values())
