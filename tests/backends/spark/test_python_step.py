"""`python` steps through mapInPandas: the declared schema is enforced on the user's result.
`pandas:DataFrame` serves as an importable user function that returns its input unchanged."""
from __future__ import annotations

import pandas as pd
import pytest

from pipec.backends.spark import runtime as rt


@pytest.fixture
def people(spark):
    return rt.numbered(spark.createDataFrame([(1, "a"), (2, None)], "id long, name string"))


def failure(spark, action) -> str:
    with pytest.raises(Exception) as info:
        action()
    message = rt.job_error_message(info.value, spark)
    assert message is not None, info.value
    return message


def test_result_with_the_declared_schema_passes(spark, people):
    out = rt.apply_python(people, "pandas:DataFrame", [("name", "str", True), ("id", "int", False)], {})
    assert rt.data_columns(out) == ["name", "id"]
    assert [tuple(r) for r in out.select("name", "id").collect()] == [("a", 1), (None, 2)]


def test_missing_column_and_nulls_are_reported(spark, people):
    missing = rt.apply_python(people, "pandas:DataFrame", [("id", "int", False), ("age", "int", True)], {})
    assert failure(spark, missing.collect) == "python step pandas:DataFrame: result has no column 'age' (it has: id, name)"
    nulls = rt.apply_python(people, "pandas:DataFrame", [("name", "str", False)], {})
    assert failure(spark, nulls.collect) == "python step pandas:DataFrame: column 'name' holds nulls but is declared str"


def test_user_errors_and_bad_imports_are_clear(spark, people):
    crashing = rt.apply_python(people, "pandas:to_numeric", [("id", "int", False)], {})
    assert failure(spark, crashing.collect).startswith("a python step failed: ")
    with pytest.raises(rt.PipelineRunError, match="python step: cannot import 'no_such_module:f'"):
        rt.apply_python(people, "no_such_module:f", [("id", "int", False)], {})


def test_dtype_check_without_spark():
    with pytest.raises(rt.PipelineRunError, match=r"column 'n' has dtype (object|str), but is declared int"):
        rt.check_python_result(pd.DataFrame({"n": ["x"]}), [("n", "int", False)], "m:f")
