"""`python` steps through mapInArrow: the declared schema is enforced on the user's result.
`pandas:DataFrame` serves as an importable user function that returns its input unchanged."""
from __future__ import annotations

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
    assert failure(spark, missing.collect) == ('python("pandas:DataFrame") returned no column `age` declared in its '
                                               'schema (it returned: id, name)')
    nulls = rt.apply_python(people, "pandas:DataFrame", [("name", "str", False)], {})
    assert failure(spark, nulls.collect) == ('python("pandas:DataFrame"): column `name`, row 2: null in a column '
                                             'declared `str` (not nullable); declare it `str?`')


def test_user_errors_and_bad_imports_are_clear(spark, people):
    crashing = rt.apply_python(people, "pandas:to_numeric", [("id", "int", False)], {})
    assert failure(spark, crashing.collect).startswith("a python step failed: ")
    with pytest.raises(rt.PipelineRunError, match="python step: cannot import 'no_such_module:f'"):
        rt.apply_python(people, "no_such_module:f", [("id", "int", False)], {})


def test_wrong_dtype_is_reported(spark, people):
    wrong = rt.apply_python(people, "pandas:DataFrame", [("name", "int", True)], {})
    assert failure(spark, wrong.collect) == 'python("pandas:DataFrame"): column `name` has type str but the schema says int'
