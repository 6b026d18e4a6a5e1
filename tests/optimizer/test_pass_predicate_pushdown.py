"""predicate_pushdown: each case states the exact graph a small program becomes."""
from __future__ import annotations

import pytest
from optimizer_helpers import checked, shape

from pipec.compiler.passes import predicate_pushdown
from pipec.compiler.passes.invariants import check_ir


def pushed(body: str) -> list[str]:
    ir = checked(body)
    out = predicate_pushdown(ir)
    check_ir("predicate_pushdown", ir, out)  # every sink still sees the schema it saw
    return shape(out)


def test_moves_through_derive_sort_and_rename_to_the_source():
    assert pushed("""
      t = read_csv("t.csv", schema=T)
      r = t | derive(y = x * 2.0) | sort(a) | rename(z = a) | filter(z > 1)
      r | write_csv("o.csv")
    """) == [
        "t = read_csv()",
        "r = filter(t) [a > 1]",
        "r__0_derive = derive(r)",
        "r__1_sort = sort(r__0_derive)",
        "r__2_rename = rename(r__1_sort)",
        "sink1_write_csv = write_csv(r__2_rename)",
    ]


def test_splits_conjunctions_and_keeps_the_part_on_a_derived_column():
    assert pushed("""
      t = read_csv("t.csv", schema=T)
      r = t | derive(y = x * 2.0) | filter(y > 4.0 and c == "k")
      r | write_csv("o.csv")
    """) == [
        "t = read_csv()",
        "r_1 = filter(t) [c == \"k\"]",
        "r__0_derive = derive(r_1)",
        "r = filter(r__0_derive) [y > 4.0]",
        "sink1_write_csv = write_csv(r)",
    ]


def test_select_aliases_are_rewritten_and_computed_items_block():
    assert pushed("""
      t = read_csv("t.csv", schema=T)
      r = t | select(n = a, m = x + 1.0) | filter(n > 1 and m > 2.0)
      r | write_csv("o.csv")
    """) == [
        "t = read_csv()",
        "r_1 = filter(t) [a > 1]",
        "r__0_select = select(r_1)",
        "r = filter(r__0_select) [m > 2.0]",
        "sink1_write_csv = write_csv(r)",
    ]


@pytest.mark.parametrize("how, expected", [
    ("inner", ["j_1 = filter(t) [b > 0]", "j_2 = filter(u) [d > 1.0]", "j__0_join = join(j_1, j_2)"]),
    ("left", ["j_1 = filter(t) [b > 0]", "j__0_join = join(j_1, u)", "j = filter(j__0_join) [d > 1.0]"]),
    ("right", ["j_1 = filter(u) [d > 1.0]", "j__0_join = join(t, j_1)", "j = filter(j__0_join) [b > 0]"]),
    ("full", ["j__0_join = join(t, u)", "j = filter(j__0_join) [b > 0 and d > 1.0]"]),
])
def test_join_sides_follow_the_join_type(how, expected):
    shape_ = pushed(f"""
      t = read_csv("t.csv", schema=T)
      u = read_csv("u.csv", schema=U)
      j = t | join(u, on=[a == k], how="{how}") | filter(b > 0 and d > 1.0)
      j | write_csv("o.csv")
    """)
    assert [line for line in shape_ if not line.startswith(("t =", "u =", "sink"))] == expected


def test_a_key_predicate_reaches_both_sides_of_an_inner_join_with_the_right_name():
    shape_ = pushed("""
      t = read_csv("t.csv", schema=T)
      u = read_csv("u.csv", schema=U)
      j = t | join(u, on=[a == k]) | filter(a == 3)
      j | write_csv("o.csv")
    """)
    assert "j_1 = filter(t) [a == 3]" in shape_ and "j_2 = filter(u) [k == 3]" in shape_


def test_semi_join_takes_it_on_the_left_and_filters_merge():
    assert pushed("""
      t = read_csv("t.csv", schema=T)
      u = read_csv("u.csv", schema=U)
      s = t | filter(c != "z") | join(u, on=[a == k], how="semi") | filter(a > 1)
      s | write_csv("o.csv")
    """) == [
        "t = read_csv()",
        "s__0_filter = filter(t) [c != \"z\" and a > 1]",
        "u = read_csv()",
        "s__1_join = join(s__0_filter, u)",
        "sink1_write_csv = write_csv(s__1_join)",
    ]


def test_aggregate_lets_through_only_predicates_on_by_columns():
    assert pushed("""
      t = read_csv("t.csv", schema=T)
      g = t | aggregate(by=[c], n = count()) | filter(c == "k" and n > 2)
      g | write_csv("o.csv")
    """) == [
        "t = read_csv()",
        "g_1 = filter(t) [c == \"k\"]",
        "g__0_aggregate = aggregate(g_1)",
        "g = filter(g__0_aggregate) [n > 2]",
        "sink1_write_csv = write_csv(g)",
    ]


@pytest.mark.parametrize("step", ["limit(5)", "sample(0.5, seed=1)", "distinct(a)", "aggregate(n = count())"])
def test_blocking_steps_keep_the_filter_above(step):
    ir = checked(f"""
      t = read_csv("t.csv", schema=T)
      r = t | {step} | filter(n > 1)
      r | write_csv("o.csv")
    """.replace("n > 1", "n > 1" if "count" in step else "a > 1"))
    assert shape(predicate_pushdown(ir)) == shape(ir)


def test_a_step_read_by_another_consumer_keeps_the_filter_above():
    ir = checked("""
      t = read_csv("t.csv", schema=T)
      s = t | sort(a)
      r = s | filter(a > 1)
      r | write_csv("r.csv")
      s | write_csv("s.csv")
    """)
    out = predicate_pushdown(ir)
    assert shape(out) == shape(ir)


def test_is_not_null_keeps_the_narrowed_type_downstream():
    ir = checked("""
      t = read_csv("t.csv", schema=T)
      r = t | sort(a) | filter(b is not null)
      r | write_csv("o.csv")
    """)
    out = predicate_pushdown(ir)
    assert shape(out)[:3] == ["t = read_csv()", "r = filter(t) [b is not null]", "r__0_sort = sort(r)"]
    assert str(out.node("r__0_sort").output) == str(ir.node("r").output) == "table<{a: int, b: int, c: str, x: float?}>"
    assert str(ir.node("r__0_sort").output) == "table<{a: int, b: int?, c: str, x: float?}>"  # input untouched


@pytest.mark.parametrize("name, args", [("derive", "y = a * 2"), ("select", "a, c, y = a + 1"),
                                        ("fill_null", "b = a - 1"), ("aggregate", "by=[c], total = sum(a)")])
def test_no_filter_moves_below_a_step_that_can_overflow(name, args):
    """Integer overflow is an error: the step must compute on exactly the rows it sees at -O0."""
    assert pushed(f"""
      t = read_csv("t.csv", schema=T)
      r = t | {name}({args}) | filter(c == "k")
      r | write_csv("o.csv")
    """)[1:3] == [f"r__0_{name} = {name}(t)", f'r = filter(r__0_{name}) [c == "k"]']


def test_a_conjunct_that_can_overflow_neither_moves_nor_merges():
    assert pushed("""
      t = read_csv("t.csv", schema=T)
      r = t | filter(a > 0) | sort(a) | filter(a * 1000 > 5 and c == "k")
      r | write_csv("o.csv")
    """) == [
        "t = read_csv()",
        "r__0_filter = filter(t) [a > 0 and c == \"k\"]",
        "r__1_sort = sort(r__0_filter)",
        "r = filter(r__1_sort) [a * 1000 > 5]",
        "sink1_write_csv = write_csv(r)",
    ]


def test_a_filter_on_run_values_moves_like_a_param_filter():
    assert pushed("""
      t = read_csv("t_${run.date}.csv", schema={a: int, d: date, ts: timestamp})
      r = t | derive(y = a > 2) | sort(a) | filter(ts >= run.interval_start and d == run.date)
      r | write_csv("o.csv")
    """) == [
        "t = read_csv()",
        "r = filter(t) [ts >= run.interval_start and d == run.date]",
        "r__0_derive = derive(r)",
        "r__1_sort = sort(r__0_derive)",
        "sink1_write_csv = write_csv(r__1_sort)",
    ]
