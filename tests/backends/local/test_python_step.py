"""The python(...) step: imported from the working directory, called with pandas, result checked."""
from __future__ import annotations

import pandas as pd
import pytest

from pipec.backends.local.runtime import PipelineRunError

UDF = '''
def scale(df, factor):
    out = df.copy()
    out["scaled"] = out["v"] * factor
    return out

def wrong_type(df):
    return df.assign(scaled=df["v"].astype(str))

def missing(df):
    return df[["id"]]
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
