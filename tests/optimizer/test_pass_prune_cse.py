"""prune removes what reaches no sink; cse merges equal nodes to a fixpoint, never sinks."""
from __future__ import annotations

from optimizer_helpers import checked, shape

from pipec.compiler.passes import cse, projection_pushdown, prune
from pipec.compiler.passes.fingerprint import structural_hashes
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


def test_cse_keeps_steps_whose_columns_argument_differs():
    """`columns` is the whole argument of derive, drop, drop_nulls and distinct (issue 9)."""
    ir = checked("""
      t = read_csv("t.csv", schema=T)
      t | derive(late = a > 15) | write_csv("d1.csv")
      t | derive(late = a > 60) | write_csv("d2.csv")
      t | drop(a) | write_csv("x1.csv")
      t | drop(c) | write_csv("x2.csv")
      t | drop_nulls(b) | write_csv("n1.csv")
      t | drop_nulls(x) | write_csv("n2.csv")
      t | distinct(a) | write_csv("u1.csv")
      t | distinct(c) | write_csv("u2.csv")
    """)
    assert shape(cse(ir)) == shape(ir)


def test_structural_hashes_tell_apart_steps_with_different_columns_but_not_a_source_reading_fewer():
    ir = checked("""
      t = read_csv("t.csv", schema=T)
      t | select(a, b) | drop(a) | write_csv("x1.csv")
      t | select(a, b) | drop(b) | write_csv("x2.csv")
    """)
    hashes = structural_hashes(ir)
    drops = [n.id for n in ir.nodes() if n.step == "drop"]
    assert hashes[drops[0]] != hashes[drops[1]]
    narrowed = projection_pushdown(ir)
    assert narrowed.node("t").args.columns != ir.node("t").args.columns
    assert structural_hashes(narrowed) == hashes


def test_cse_merges_equal_run_values_and_keeps_different_ones_apart():
    ir = checked("""
      t = read_csv("t_${run.date}.csv", schema={a: int, d: date, ts: timestamp})
      u = read_csv("t_${run.date}.csv", schema={a: int, d: date, ts: timestamp})
      v = read_csv("t_${run.logical_date}.csv", schema={a: int, d: date, ts: timestamp})
      t | filter(ts >= run.interval_start) | write_csv("s.csv")
      u | filter(ts >= run.interval_start) | write_csv("e.csv")
      t | filter(ts >= run.interval_end) | write_csv("f.csv")
      v | write_csv("v.csv")
    """, schemas="")
    out = cse(ir)
    assert "u" not in out and "v" in out
    filters = [n for n in out.nodes() if n.step == "filter"]
    assert sorted(n.args.predicate.right.field for n in filters) == ["interval_end", "interval_start"]
