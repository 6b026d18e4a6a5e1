"""Every table step of LANGUAGE.md §7, as a tiny .pipe program, against pandas computed in the test."""
from __future__ import annotations

import json

import pandas as pd
import polars as pl
import pytest

PEOPLE = """id,name,dept,age,score
1,ann,eng,34,7.5
2,bob,ops,,3.0
3,cid,eng,28,
4,dee,,45,9.0
5,eve,ops,34,3.0
6,bob,ops,,3.0
"""
DEPTS = """dept,floor
eng,1
ops,2
hr,3
"""
SCHEMAS = """
schema Person { id: int, name: str, dept: str?, age: int?, score: float? }
schema Dept { dept: str, floor: int }
"""


def people() -> pd.DataFrame:
    return pd.read_csv(pd.io.common.StringIO(PEOPLE), dtype={"age": "Int64"})


def program(body: str, sink: str = "out/r.parquet", extra: str = "") -> str:
    return SCHEMAS + f"""
pipeline t() {{
  param cutoff: int = 30
  people = read_csv("people.csv", schema=Person)
  depts = read_csv("depts.csv", schema=Dept)
  {extra}
  result = {body}
  result | write_parquet("{sink}")
}}
"""


def run_table(run_pipe, body: str, params=None, extra: str = "") -> pl.DataFrame:
    run_pipe(program(body, extra=extra), params=params, files={"people.csv": PEOPLE, "depts.csv": DEPTS})
    return pl.read_parquet(run_pipe.workdir / "out" / "r.parquet")


def rows(df) -> list[tuple]:
    """Rows as tuples with NaN/NA turned into None, sorted (row order is free without sort)."""
    if isinstance(df, pl.DataFrame):
        values = df.rows()
    else:
        values = [tuple(None if pd.isna(v) else v for v in r) for r in df.itertuples(index=False)]
    return sorted(values, key=repr)


def test_filter_with_param_and_nulls(run_pipe):
    got = run_table(run_pipe, "people | filter(age > $cutoff or dept == \"eng\")", params={"cutoff": 33})
    p = people()
    expected = p[((p.age > 33).fillna(False)) | (p.dept == "eng")]
    assert rows(got) == rows(expected)


def test_select_derive_drop_rename(run_pipe):
    got = run_table(run_pipe, "people | select(id, name, older = age + 1) | derive(tag = upper(name)) "
                              "| drop(name) | rename(who = tag)")
    p = people()
    expected = pd.DataFrame({"id": p.id, "older": p.age + 1, "who": p.name.str.upper()})
    assert got.columns == ["id", "older", "who"]
    assert rows(got) == rows(expected)


def test_fill_null_and_drop_nulls(run_pipe):
    got = run_table(run_pipe, "people | fill_null(age=0, dept=\"none\") | drop_nulls(score)")
    p = people().fillna({"age": 0, "dept": "none"}).dropna(subset=["score"])
    assert rows(got) == rows(p)
    assert got.schema["age"] == pl.Int64


def test_drop_nulls_of_all_columns(run_pipe):
    got = run_table(run_pipe, "people | drop_nulls()")
    assert rows(got) == rows(people().dropna())


def test_distinct_columns_and_rows(run_pipe):
    got = run_table(run_pipe, "people | distinct(name, dept)")
    assert rows(got) == rows(people()[["name", "dept"]].drop_duplicates())
    got = run_table(run_pipe, "people | drop(id) | distinct()")
    assert rows(got) == rows(people().drop(columns="id").drop_duplicates())


def test_sort_descending_nulls_last_and_limit(run_pipe):
    got = run_table(run_pipe, "people | sort(-age, id) | limit(4)")
    assert got["id"].to_list() == [4, 1, 5, 3]
    got = run_table(run_pipe, "people | sort(age, -id)")
    assert got["id"].to_list() == [3, 5, 1, 4, 6, 2]  # nulls last also when ascending


def test_union_keeps_duplicates(run_pipe):
    got = run_table(run_pipe, "people | union(ops)", extra="ops = people | filter(dept == \"ops\")")
    p = people()
    assert rows(got) == rows(pd.concat([p, p[p.dept == "ops"]]))


@pytest.mark.parametrize("how", ["inner", "left", "right", "full", "semi", "anti"])
def test_join(run_pipe, how):
    got = run_table(run_pipe, f"people | join(depts, on=[dept], how=\"{how}\")")
    p = people()
    d = pd.read_csv(pd.io.common.StringIO(DEPTS))
    if how == "semi":
        expected = p[p.dept.isin(d.dept)]
    elif how == "anti":
        expected = p[~p.dept.isin(d.dept)]
    else:
        pandas_how = {"full": "outer"}.get(how, how)
        # null keys never match: join the non-null keys, then add the null-key rows back
        expected = p[p.dept.notna()].merge(d, on="dept", how=pandas_how)
        if how in ("left", "full"):
            expected = pd.concat([expected, p[p.dept.isna()]])
        expected = expected[got.columns]
    assert rows(got) == rows(expected)


def test_join_with_different_key_names(run_pipe):
    got = run_table(run_pipe, "people | join(renamed, on=[dept == d], how=\"right\")",
                    extra="renamed = depts | rename(d = dept)")
    assert "d" not in got.columns
    assert sorted(got["dept"].to_list()) == ["eng", "eng", "hr", "ops", "ops", "ops"]


def test_aggregate_null_rules(run_pipe):
    got = run_table(run_pipe, "people | aggregate(by=[dept], n=count(), n_age=count(age), "
                              "names=count_distinct(name), total=sum(age), avg=mean(score), lo=min(age), "
                              "hi=max(name), sd=std(score), v=var(age), med=median(score))")
    p = people()
    g = p.groupby("dept", dropna=False)
    expected = pd.DataFrame({
        "n": g.size(), "n_age": g.age.count(), "names": g.name.nunique(),
        "total": g.age.sum(min_count=1), "avg": g.score.mean(), "lo": g.age.min(), "hi": g.name.max(),
        "sd": g.score.std(ddof=1), "v": g.age.var(ddof=1), "med": g.score.median(),
    }).reset_index()
    assert got.columns == list(expected.columns)
    assert got.schema["total"] == pl.Int64 and got.schema["n"] == pl.Int64
    got_rows, expected_rows = rows(got), rows(expected)
    for g_row, e_row in zip(got_rows, expected_rows):
        assert g_row == pytest.approx(e_row, nan_ok=True), (g_row, e_row)
    assert len(got_rows) == len(expected_rows)


def test_aggregate_without_by_gives_one_row(run_pipe):
    got = run_table(run_pipe, "people | filter(age > 100) | aggregate(n=count(), total=sum(age))")
    assert got.rows() == [(0, None)]


def test_split_by_column_uses_the_exact_formula(run_pipe):
    source = SCHEMAS + """
pipeline t() {
  people = read_csv("people.csv", schema=Person)
  a, b = people | split(fraction=0.5, seed=7, by=id)
  a | write_csv("out/a.csv")
  b | write_csv("out/b.csv")
}
"""
    run_pipe(source, files={"people.csv": PEOPLE})
    P = 1_000_003
    first = [i for i in people().id if ((i % P) * 7919 + (7 % P) * 104729 + 1) % P / P < 0.5]
    a = pd.read_csv(run_pipe.workdir / "out/a.csv")
    b = pd.read_csv(run_pipe.workdir / "out/b.csv")
    assert sorted(a.id) == sorted(first)
    assert sorted(b.id) == sorted(set(people().id) - set(first))


def test_split_without_by_partitions_rows_deterministically(run_pipe):
    source = SCHEMAS + """
pipeline t() {
  people = read_csv("people.csv", schema=Person)
  a, b = people | split(fraction=0.5, seed=1)
  s = people | sample(0.5, seed=3)
  a | write_csv("out/a.csv")
  b | write_csv("out/b.csv")
  s | write_csv("out/s.csv")
}
"""
    run_pipe(source, files={"people.csv": PEOPLE})
    a = pd.read_csv(run_pipe.workdir / "out/a.csv")
    b = pd.read_csv(run_pipe.workdir / "out/b.csv")
    assert sorted(list(a.id) + list(b.id)) == [1, 2, 3, 4, 5, 6]
    first = pd.read_csv(run_pipe.workdir / "out/s.csv")
    run_pipe(source, files={"people.csv": PEOPLE})
    assert first.equals(pd.read_csv(run_pipe.workdir / "out/s.csv"))
    assert set(first.id) <= {1, 2, 3, 4, 5, 6}


def test_write_json_lines_and_csv_format(run_pipe):
    source = SCHEMAS + """
pipeline t() {
  people = read_csv("people.csv", schema=Person)
  people | write_json("out/p.jsonl")
  people | write_csv("out/p.csv")
}
"""
    run_pipe(source, files={"people.csv": PEOPLE})
    lines = (run_pipe.workdir / "out/p.jsonl").read_text().splitlines()
    assert json.loads(lines[1]) == {"id": 2, "name": "bob", "dept": "ops", "age": None, "score": 3.0}
    csv_lines = (run_pipe.workdir / "out/p.csv").read_text().splitlines()
    assert csv_lines[0] == "id,name,dept,age,score"
    assert csv_lines[4] == "4,dee,,45,9.0"  # null as the empty field


@pytest.mark.parametrize("cutoff, expected_rows", [(0, 6), (100, 0)])
def test_select_of_constants_has_one_row_per_input_row(run_pipe, cutoff, expected_rows):
    body = "people | filter(id > $cutoff) | select(one = 1, tag = \"x\", p = $cutoff)"
    out = run_table(run_pipe, body, params={"cutoff": cutoff})
    assert out.rows() == [(1, "x", cutoff)] * expected_rows
    mixed = run_table(run_pipe, "people | filter(id > $cutoff) | select(one = 1, id) | derive(two = 2)",
                      params={"cutoff": cutoff})
    assert mixed.rows() == [(1, i, 2) for i in range(1, 7)][:expected_rows]
