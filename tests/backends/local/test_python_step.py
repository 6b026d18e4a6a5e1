"""The python(...) step: imported from the working directory, called with pandas, result checked."""
from __future__ import annotations

import pandas as pd
import pytest

from pipec.backends.local.runtime import PipelineRunError

UDF = '''
import pandas as pd

def scale(df, factor):
    out = df.copy()
    out["scaled"] = out["v"] * factor
    return out

def wrong_type(df):
    return df.assign(scaled=df["v"].astype(str))

def missing(df):
    return df[["id"]]

def timestamps(df):
    return df.assign(scaled=df["v"], day=pd.to_datetime(["2020-01-01"] * len(df)))
'''

# Every language type with nulls; `same` fails unless it gets the dtypes docs/semantics.md names.
TYPED_CSV = """i,f,b,s,d,t
1,1.5,true,a,2013-01-07,2013-01-01T10:00:00Z
,,,,,
-7,-0.0,false,,2020-02-29,2013-06-30T23:59:59.25Z
"""
TYPED_SCHEMA = "{i: int?, f: float?, b: bool?, s: str?, d: date?, t: timestamp?, nan: float?}"
TYPED_UDF = '''
import pandas as pd

DTYPES = {"i": "int64[pyarrow]", "f": "double[pyarrow]", "b": "bool[pyarrow]", "s": "large_string[pyarrow]",
          "d": "date32[day][pyarrow]", "t": "timestamp[us, tz=UTC][pyarrow]", "nan": "double[pyarrow]"}

def same(df):
    assert {c: str(t) for c, t in df.dtypes.items()} == DTYPES, df.dtypes
    return df

def derived(df):
    return pd.DataFrame({
        "next_day": (df["d"] + pd.Timedelta(days=1)).dt.date, "year": df["d"].dt.year,
        "day_text": df["d"].dt.strftime("%d/%m/%Y"), "later": df["t"] + pd.Timedelta(hours=1),
        "pm": df["t"].dt.hour >= 12, "i2": df["i"] * 2, "half": df["i"] / 2, "not_b": ~df["b"],
        "upper": df["s"].str.upper(), "f_is_nan": df["nan"].isna(),
    })
'''


def source(function: str) -> str:
    return f"""
pipeline t() {{
  param factor: float = 2.5
  rows = read_csv("in.csv", schema={{id: int, v: float}})
  out = rows | python("{function}", schema={{id: int, v: float, scaled: float}}, factor=$factor)
  out | write_csv("out/r.csv")
}}
"""


def test_python_step_result_matches_pandas(run_pipe):
    run_pipe(source("udf_mod:scale"), params={"factor": 3.0},
             files={"in.csv": "id,v\n1,1.5\n2,-2.0\n", "udf_mod.py": UDF})
    got = pd.read_csv(run_pipe.workdir / "out/r.csv")
    assert got.scaled.tolist() == [4.5, -6.0]


@pytest.mark.parametrize("function, words", [
    ("udf_mod:wrong_type", "column `scaled` has type str but the schema says float"),
    ("udf_mod:missing", "returned no column `v`, `scaled`"),
    ("udf_mod:nothing", "has no function `nothing`"),
    ("no_such_module:f", "cannot import module `no_such_module`"),
])
def test_python_step_errors_name_the_problem(run_pipe, function, words):
    source_text = source(function).replace(", factor=$factor", "")
    with pytest.raises(PipelineRunError, match=words.replace("(", r"\(")):
        run_pipe(source_text, files={"in.csv": "id,v\n1,1.5\n", "udf_mod.py": UDF})
    assert not (run_pipe.workdir / "out").exists() or not any((run_pipe.workdir / "out").iterdir())


def test_timestamps_for_a_date_column_are_refused_with_a_hint(run_pipe):
    source_text = source("udf_mod:timestamps").replace("scaled: float}", "scaled: float, day: date}")
    with pytest.raises(PipelineRunError, match=r"column `day` has type timestamp but the schema says date "
                                               r"\(`\.dt\.date` makes dates of timestamps\)"):
        run_pipe(source_text.replace(", factor=$factor", ""), files={"in.csv": "id,v\n1,1.5\n", "udf_mod.py": UDF})


def typed_source(function: str, schema: str) -> str:
    return f"""
pipeline t() {{
  rows = read_csv("typed.csv", schema={{i: int?, f: float?, b: bool?, s: str?, d: date?, t: timestamp?}})
    | derive(nan = f - f + (f - f) / 0.0)
  rows | write_csv("out/direct.csv")
  rows | python("udf_types:{function}", schema={schema}) | write_csv("out/python.csv")
}}
"""


def test_python_identity_keeps_every_type_and_null(run_pipe):
    """Dates stay dates, ints with nulls ints, NaN apart from null: the bytes do not change."""
    run_pipe(typed_source("same", TYPED_SCHEMA), files={"typed.csv": TYPED_CSV, "udf_types.py": TYPED_UDF})
    out = run_pipe.workdir / "out"
    assert (out / "python.csv").read_bytes() == (out / "direct.csv").read_bytes()
    assert "NaN" in (out / "python.csv").read_text()


def test_python_derives_from_every_type(run_pipe):
    schema = ("{next_day: date?, year: int?, day_text: str?, later: timestamp?, pm: bool?, i2: int?, half: float?,"
              " not_b: bool?, upper: str?, f_is_nan: bool}")
    run_pipe(typed_source("derived", schema), files={"typed.csv": TYPED_CSV, "udf_types.py": TYPED_UDF})
    assert (run_pipe.workdir / "out/python.csv").read_text() == (
        "next_day,year,day_text,later,pm,i2,half,not_b,upper,f_is_nan\n"
        "2013-01-08,2013,07/01/2013,2013-01-01T11:00:00Z,false,2,0.5,false,A,false\n"
        ",,,,,,,,,true\n"
        "2020-03-01,2020,29/02/2020,2013-07-01T00:59:59.250Z,true,-14,-3.5,true,,false\n")
