"""projection_pushdown: each source reads exactly the columns something downstream needs."""
from __future__ import annotations

from optimizer_helpers import checked

from pipec.compiler.passes import projection_pushdown


def columns(body: str) -> dict[str, list[str] | None]:
    out = projection_pushdown(checked(body))
    return {n.id: n.args.columns for n in out.nodes() if n.is_source}


def test_columns_needed_through_select_join_and_aggregate():
    assert columns("""
      t = read_csv("t.csv", schema=T)
      u = read_csv("u.csv", schema=U)
      r = t | filter(x > 0.0) | join(u, on=[a == k]) | aggregate(by=[c], m = mean(d))
      r | write_csv("o.csv")
    """) == {"t": ["a", "c", "x"], "u": ["k", "d"]}


def test_columns_read_by_arguments_stay_even_when_their_result_is_dropped():
    # derive computes y from b although nothing uses y: b must still be there for it
    assert columns("""
      t = read_csv("t.csv", schema=T)
      r = t | derive(y = b + 1) | select(a)
      r | write_csv("o.csv")
    """) == {"t": ["a", "b"]}


def test_rename_maps_names_back_and_semi_join_reads_only_keys_on_the_right():
    assert columns("""
      t = read_csv("t.csv", schema=T)
      u = read_csv("u.csv", schema=U)
      r = t | rename(z = c) | join(u, on=[a == k], how="semi") | select(z)
      r | write_csv("o.csv")
    """) == {"t": ["a", "c"], "u": ["k"]}


def test_whole_row_steps_need_every_column():
    assert columns("""
      t = read_csv("t.csv", schema=T)
      r = t | sample(0.5, seed=1) | select(a)
      r | write_csv("o.csv")
    """) == {"t": None}


def test_union_of_two_reads_is_taken_in_full_and_a_sink_needs_all_it_writes():
    assert columns("""
      t = read_csv("t.csv", schema=T)
      t2 = read_csv("t2.csv", schema=T)
      t | union(t2) | write_csv("o.csv")
    """) == {"t": None, "t2": None}


def test_a_count_still_reads_one_column():
    assert columns("""
      t = read_csv("t.csv", schema=T)
      r = t | aggregate(n = count())
      r | write_csv("o.csv")
    """) == {"t": ["a"]}


def test_fit_reads_features_and_label_only():
    assert columns("""
      t = read_csv("t.csv", schema={a: int, b: float, c: str, y: bool})
      m = t | fit(logistic_regression(), features=[a, b], label=y)
      m | save_model("m")
    """) == {"t": ["a", "b", "y"]}
