"""prune removes what reaches no sink; cse merges equal nodes to a fixpoint, never sinks."""
from __future__ import annotations

from optimizer_helpers import checked, shape

from pipec.compiler.passes import cse, prune
from pipec.compiler.plan import PassRecord


def test_prune_removes_unused_chains_and_records_them():
    ir = checked("""
      t = read_csv("t.csv", schema=T)
      unused = t | filter(a > 1) | limit(3)
      t | write_csv("o.csv")
    """)
    records: list[PassRecord] = []
    out = prune(ir, records)
    assert shape(out) == ["t = read_csv()", "sink1_write_csv = write_csv(t)"]
    assert {tuple(r.nodes) for r in records} == {("unused",), ("unused__0_filter",)}
    assert "unused" in ir  # the input is never mutated


def test_cse_merges_equal_sources_then_their_equal_consumers():
    ir = checked("""
      t1 = read_csv("t.csv", schema=T)
      t2 = read_csv("t.csv", schema=T)
      a = t1 | filter(a > 1)
      b = t2 | filter(a > 1)
      a | write_csv("a.csv")
      b | write_csv("b.csv")
    """)
    records: list[PassRecord] = []
    out = cse(ir, records)
    assert shape(out) == [
        "t1 = read_csv()",
        "a = filter(t1) [a > 1]",
        "sink1_write_csv = write_csv(a)",
        "sink2_write_csv = write_csv(a)",
    ]
    assert [r.nodes for r in records] == [["t2", "t1"], ["b", "a"]]


def test_cse_keeps_nodes_that_differ_in_arguments_or_inputs_and_never_merges_sinks():
    ir = checked("""
      t = read_csv("t.csv", schema=T)
      a = t | filter(a > 1)
      b = t | filter(a > 2)
      a | write_csv("o.csv")
      b | write_csv("p.csv")
    """)
    assert shape(cse(ir)) == shape(ir)


def test_cse_ignores_source_positions():
    ir = checked("""
      t = read_csv("t.csv", schema=T)
      a = t | limit(5)
      b = t
        | limit(  5 )
      a | write_csv("a.csv")
      b | write_csv("b.csv")
    """)
    assert ir.node("a").args.n.span != ir.node("b").args.n.span
    assert "b" not in cse(ir)
