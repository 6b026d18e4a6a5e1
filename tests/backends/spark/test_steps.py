"""Table steps through generated job code (run in-process on the shared session), against pandas."""
from __future__ import annotations

import pandas as pd
import pytest
from spark_kit import check, run_generated

from pipec import plan

PEOPLE = """id,name,dept,salary,boss
1,Ann,eng,100.5,
2,Bob,eng,,1
3,Cid,ops,80.0,1
4,Dee,,70.0,3
5,Eve,ops,95.0,3
6,Fay,eng,100.5,2
"""
DEPTS = """code,title,floor
eng,Engineering,3
ops,Operations,1
hr,People,2
"""
SCHEMAS = """
schema Person { id: int, name: str, dept: str?, salary: float?, boss: int? }
schema Dept { code: str, title: str, floor: int }
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "people.csv").write_text(PEOPLE)
    (tmp_path / "depts.csv").write_text(DEPTS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def people() -> pd.DataFrame:
    return pd.read_csv(pd.io.common.StringIO(PEOPLE), dtype={"dept": object})


def run(spark, body: str, params=None) -> pd.DataFrame:
    run_generated(spark, SCHEMAS + "pipeline p() {\n" + body + "\n}", params)
    return pd.read_csv("out.csv", keep_default_na=True)


def test_filter_derive_select_drop_rename(spark, workdir):
    out = run(spark, """
  p = read_csv("people.csv", schema=Person)
  t = p | filter(salary > 75.0 or dept is null) | derive(bonus = salary * 0.1, tag = concat(name, "!"))
      | rename(who = name) | drop(boss) | select(id, who, tag, bonus)
  t | sort(id) | write_csv("out.csv")""")
    df = people()
    expected = df[(df.salary > 75.0) | df.dept.isna()].copy()
    assert list(out.columns) == ["id", "who", "tag", "bonus"]
    assert out.id.tolist() == sorted(expected.id)
    assert out.tag.tolist() == [n + "!" for n in expected.sort_values("id").name]
    pd.testing.assert_series_equal(out.bonus, (expected.sort_values("id").salary * 0.1).reset_index(drop=True),
                                   check_names=False)


def test_sort_puts_nulls_last_both_ways(spark, workdir):
    out = run(spark, """
  p = read_csv("people.csv", schema=Person)
  p | sort(-salary, id) | select(id, salary) | write_csv("out.csv")""")
    assert out.id.tolist() == [1, 6, 5, 3, 4, 2]
    up = run(spark, """
  p = read_csv("people.csv", schema=Person)
  p | sort(salary, -id) | select(id) | write_csv("out.csv")""")
    assert up.id.tolist() == [4, 3, 5, 6, 1, 2]


def test_fill_null_drop_nulls_distinct_limit(spark, workdir):
    out = run(spark, """
  p = read_csv("people.csv", schema=Person)
  p | fill_null(dept = "none", salary = 0.0) | drop_nulls(boss) | distinct(dept) | sort(dept) | limit(2)
    | write_csv("out.csv")""")
    df = people().fillna({"dept": "none", "salary": 0.0}).dropna(subset=["boss"])
    assert out.dept.tolist() == sorted(df.dept.unique())[:2]


@pytest.mark.parametrize("how", ["inner", "left", "right", "full", "semi", "anti"])
def test_join_matches_pandas(spark, workdir, how):
    out = run(spark, f"""
  p = read_csv("people.csv", schema=Person)
  d = read_csv("depts.csv", schema=Dept)
  p | join(d, on=[dept == code], how="{how}") | write_csv("out.csv")""")
    left, right = people(), pd.read_csv(pd.io.common.StringIO(DEPTS))
    if how in ("semi", "anti"):
        matched = left.dept.isin(right.code)
        expected = left[matched if how == "semi" else ~matched]
    else:
        merged = left.merge(right, left_on="dept", right_on="code", how={"full": "outer"}.get(how, how))
        merged["dept"] = merged.dept.fillna(merged.code)  # the key under the left name, both sides
        expected = merged.drop(columns="code")
    key = ["dept", "id"] if "id" in out else ["dept"]
    assert list(out.columns) == list(expected.columns)
    got = out.sort_values(key, na_position="last").reset_index(drop=True)
    want = expected.sort_values(key, na_position="last").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_join_of_sources_narrowed_by_projection_pushdown(spark, workdir):
    """At -O1 the sources read only the columns used; the join must not name the others."""
    source = SCHEMAS + """pipeline p() {
  p = read_csv("people.csv", schema=Person)
  d = read_csv("depts.csv", schema=Dept)
  p | derive(pay = salary * 2.0) | join(d, on=[dept == code], how="left")
    | aggregate(by=[title], n=count(), total=sum(pay)) | sort(title) | write_csv("out.csv")
}"""
    optimized = plan(check(source), backend="spark", level=1)
    assert optimized.ir.node("p").args.columns == ["dept", "salary"]  # else this test proves nothing
    run_generated(spark, source, plan=optimized)
    out = pd.read_csv("out.csv")
    merged = people().merge(pd.read_csv(pd.io.common.StringIO(DEPTS)), left_on="dept", right_on="code", how="left")
    expected = (merged.assign(pay=merged.salary * 2.0).groupby("title", dropna=False)
                .agg(n=("id", "size"), total=("pay", "sum")).reset_index()
                .sort_values("title", na_position="last").reset_index(drop=True))
    pd.testing.assert_frame_equal(out, expected, check_dtype=False)


def test_union_and_aggregate_with_null_group(spark, workdir):
    out = run(spark, """
  p = read_csv("people.csv", schema=Person)
  both = p | union(p)
  both | aggregate(by=[dept], n=count(), paid=count(salary), total=sum(salary), top=max(id))
       | sort(dept) | write_csv("out.csv")""")
    df = pd.concat([people(), people()])
    expected = (df.groupby("dept", dropna=False)
                .agg(n=("id", "size"), paid=("salary", "count"), total=("salary", "sum"), top=("id", "max"))
                .reset_index().sort_values("dept", na_position="last").reset_index(drop=True))
    pd.testing.assert_frame_equal(out, expected, check_dtype=False)


def test_split_by_column_follows_the_exact_formula(spark, workdir):
    out = run(spark, """
  param seed: int = 11
  p = read_csv("people.csv", schema=Person)
  a, b = p | split(fraction=0.5, seed=$seed, by=boss)
  a | write_csv("out.csv")
  b | write_csv("rest.csv")""", params={"seed": 123})
    P = 1000003

    def first(by):
        key = 0 if pd.isna(by) else int(by)
        return ((key % P) * 7919 + (123 % P) * 104729 + 1) % P / P < 0.5

    df = people()
    expected = df[df.boss.map(first)]
    assert sorted(out.id) == sorted(expected.id)
    rest = pd.read_csv("rest.csv")
    assert sorted(rest.id) == sorted(set(df.id) - set(expected.id))


def test_sample_is_deterministic_for_a_seed(spark, workdir):
    body = """
  p = read_csv("people.csv", schema=Person)
  p | sample(0.5, seed=3) | sort(id) | write_csv("out.csv")"""
    first, again = run(spark, body).id.tolist(), run(spark, body).id.tolist()
    assert first == again and set(first) <= set(people().id)
