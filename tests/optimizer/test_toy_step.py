"""A step added in one module (toy_step.py) goes through the checker, the IR's JSON, every
optimizer pass and `explain` without any change to pipec: each asks the step's spec."""
from __future__ import annotations

import pytest
from optimizer_helpers import checked, shape
from toy_step import DoubleArgs, registered

from pipec.compiler.check import check_source
from pipec.compiler.explain import explain_text
from pipec.compiler.ir import IR
from pipec.compiler.passes import optimize
from pipec.stdlib.steps import STEPS

BODY = """
  t = read_csv("t.csv", schema=T)
  r = t | double(a) | filter(a > 2 and c == "k") | select(a, c)
  r | write_csv("o.csv")
"""


@pytest.fixture
def double():
    with registered() as step:
        yield step


def test_the_checker_types_it_and_the_ir_round_trips(double):
    ir = checked(BODY)
    node = next(n for n in ir.nodes() if n.step == "double")
    assert node.args == DoubleArgs(columns=["a"])
    assert IR.from_json(ir.to_json()).dumps() == ir.dumps()


def test_the_passes_route_filters_and_columns_through_its_hooks(double):
    plan = optimize(checked(BODY), level=2)
    # `c == "k"` reads no column it computes, so it moves below it; `a > 2` stays above it, and
    # the source reads only what `double` and the steps after it need.
    assert shape(plan.ir) == [
        "t = read_csv() [a, c]",
        "r__1_filter_1 = filter(t) [c == \"k\"]",
        "r__0_double = double(r__1_filter_1)",
        "r__1_filter = filter(r__0_double) [a > 2]",
        "r = select(r__1_filter)",
        "sink1_write_csv = write_csv(r)",
    ]
    assert "double" in explain_text(plan)


def test_unregistered_it_is_an_unknown_step():
    assert "double" not in STEPS
    program = check_source("schema T { a: int }\npipeline p {\n  t = read_csv(\"t.csv\", schema=T) | double(a)\n"
                           "  t | write_csv(\"o.csv\")\n}\n", "test.pipe")
    assert [d.code for d in program.diagnostics] == ["E0301"]
