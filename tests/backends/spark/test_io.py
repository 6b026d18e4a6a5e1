"""Schema-enforcing reads and atomic sinks of the Spark runtime, called directly."""
from __future__ import annotations

import datetime as dt
import json
import os

import pandas as pd
import pytest

from pipec.backends.spark import runtime as rt

UTC = dt.timezone.utc
SCHEMA = [("id", "int", False), ("when", "timestamp", False), ("day", "date", True),
          ("score", "float", True), ("ok", "bool", True), ("note", "str", True)]


def failure(spark, action) -> str:
    """Run `action`, which must fail with a user-facing error; return that message."""
    with pytest.raises(Exception) as info:
        action()
    message = rt.job_error_message(info.value, spark)
    assert message is not None, f"not a user-facing error: {info.value}"
    return message


def test_csv_types_timestamp_formats_and_null_values(spark, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,when,day,score,ok,note,extra\n"
                    "1,2013-01-01T10:00:00Z,2013-01-02,1.5,true,hi,x\n"
                    "2,2013-01-01 10:00:00,NA,NA,false,,y\n"
                    '3,2013-06-30T23:59:59.5Z,,-0.25,,"a, b",z\n')
    df = rt.read_table(spark, "s1", "csv", str(path), SCHEMA, null_values=["NA"])
    rows = [tuple(r) for r in df.collect()]
    assert df.columns == [n for n, _, _ in SCHEMA]
    assert rows == [
        (1, dt.datetime(2013, 1, 1, 10), dt.date(2013, 1, 2), 1.5, True, "hi"),
        (2, dt.datetime(2013, 1, 1, 10), None, None, False, None),
        (3, dt.datetime(2013, 6, 30, 23, 59, 59, 500000), None, -0.25, None, "a, b"),
    ]


def test_csv_without_header_and_with_delimiter(spark, tmp_path):
    path = tmp_path / "in.tsv"
    path.write_text("1;x\n2;y\n")
    df = rt.read_table(spark, "s2", "csv", str(path), [("n", "int", False), ("s", "str", False)],
                       header=False, delimiter=";")
    assert [tuple(r) for r in df.collect()] == [(1, "x"), (2, "y")]


def test_an_analysis_error_is_not_read_as_a_data_error(spark, tmp_path):
    """The plan printed in an AnalysisException contains the reader's `raise_error` text; that is
    a bug in the job to re-raise, not a bad row to report."""
    path = tmp_path / "in.csv"
    path.write_text("id,score\n1,1.0\n")
    df = rt.read_table(spark, "s9", "csv", str(path), [("id", "int", False), ("score", "float", True)])
    with pytest.raises(Exception) as info:
        df.select("unknown").collect()
    assert rt.ERROR_MARK in str(info.value)
    assert rt.job_error_message(info.value, spark) is None


@pytest.mark.parametrize("where", ["bad.csv", "my data/bad.csv", "folder/"])
def test_bad_value_names_file_column_and_first_bad_row(spark, tmp_path, where):
    file = tmp_path / (where + "part.csv" if where.endswith("/") else where)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("id,score\n1,1.0\n2,oops\n3,nope\n")
    read_path = file.parent if where.endswith("/") else file  # a directory of files, or one file
    df = rt.read_table(spark, "s3", "csv", str(read_path), [("id", "int", False), ("score", "float", True)])
    message = failure(spark, df.collect)
    assert message == f"{file}: column `score`, row 2: value 'oops' is not a valid float"


def test_null_in_non_nullable_column_is_an_error(spark, tmp_path):
    path = tmp_path / "nulls.csv"
    path.write_text("id,name\n1,a\n2,\n")
    df = rt.read_table(spark, "s4", "csv", str(path), [("id", "int", False), ("name", "str", False)])
    message = failure(spark, df.collect)
    assert message.startswith(f"{path}: column `name`, row 2: null in a column declared `str`")


def test_missing_column_and_missing_file(spark, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id\n1\n")
    message = failure(spark, lambda: rt.read_table(spark, "s5", "csv", str(path), [("id", "int", False),
                                                                                    ("x", "float", True)]))
    assert message == f"{path}: missing column `x` (the file has: `id`)"
    message = failure(spark, lambda: rt.read_table(spark, "s6", "csv", str(tmp_path / "nope.csv"), SCHEMA))
    assert message == f"{tmp_path / 'nope.csv'}: no such file"


def test_json_lines_with_declared_schema_and_bad_line(spark, tmp_path):
    path = tmp_path / "in.json"
    path.write_text('{"id": 1, "score": 2.5, "when": "2013-01-01T10:00:00Z"}\n{"id": 2, "when": "2013-01-02 00:00:00"}\n')
    schema = [("id", "int", False), ("score", "float", True), ("when", "timestamp", False)]
    rows = [tuple(r) for r in rt.read_table(spark, "j1", "json", str(path), schema).collect()]
    assert rows == [(1, 2.5, dt.datetime(2013, 1, 1, 10)), (2, None, dt.datetime(2013, 1, 2))]
    path.write_text('{"id": 1, "when": "2013-01-01T10:00:00Z"}\n{"id": 2, "when": \n')
    message = failure(spark, rt.read_table(spark, "j2", "json", str(path), schema).collect)
    assert message == f"{path}: row 2 is not valid JSON"


def test_parquet_types_are_checked(spark, tmp_path):
    path = tmp_path / "in.parquet"
    pd.DataFrame({"id": pd.array([1, 2], dtype="int32"), "name": ["a", None]}).to_parquet(path)
    df = rt.read_table(spark, "p1", "parquet", str(path), [("id", "int", False), ("name", "str", True)])
    assert [tuple(r) for r in df.collect()] == [(1, "a"), (2, None)]
    assert dict(df.dtypes)["id"] == "bigint"
    message = failure(spark, lambda: rt.read_table(spark, "p2", "parquet", str(path), [("name", "int", True)]))
    assert message == f"{path}: column `name` holds string values, but the schema declares int"
    message = failure(spark, rt.read_table(spark, "p3", "parquet", str(path), [("name", "str", False)]).collect)
    assert "column `name`, row 2: null in a column declared `str`" in message


def visible_files(directory) -> list[str]:
    return sorted(os.listdir(directory))


def test_sinks_write_one_file_each_and_only_on_commit(spark, tmp_path):
    df = rt.numbered(spark.createDataFrame([(1, "a", dt.datetime(2013, 1, 1, 10, tzinfo=UTC)), (2, None, None)],
                                           "id long, s string, t timestamp"))
    schema = [("id", "int", False), ("s", "str", True), ("t", "timestamp", True)]
    outputs = rt.Outputs(spark)
    for fmt in ("csv", "json", "parquet"):
        outputs.write_table(df, fmt, str(tmp_path / f"out.{fmt}"), schema)
    outputs.write_metrics({"accuracy": 0.75, "f1": 0.5}, "json", str(tmp_path / "metrics.json"))
    assert not [f for f in visible_files(tmp_path) if not f.startswith(".")], "nothing visible before commit"
    outputs.commit()
    assert visible_files(tmp_path) == ["metrics.json", "out.csv", "out.json", "out.parquet"]
    assert (tmp_path / "out.csv").read_text() == "id,s,t\n1,a,2013-01-01T10:00:00Z\n2,,\n"
    assert [json.loads(line) for line in (tmp_path / "out.json").read_text().splitlines()] == [
        {"id": 1, "s": "a", "t": "2013-01-01T10:00:00Z"}, {"id": 2, "s": None, "t": None}]
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"accuracy": 0.75, "f1": 0.5}
    back = pd.read_parquet(tmp_path / "out.parquet")
    assert back.id.tolist() == [1, 2] and str(back.t.dtype).startswith("datetime64[us")


def test_discard_leaves_earlier_outputs_untouched(spark, tmp_path):
    (tmp_path / "out.csv").write_text("old\n")
    outputs = rt.Outputs(spark)
    outputs.write_table(rt.numbered(spark.createDataFrame([(1,)], "id long")), "csv", str(tmp_path / "out.csv"),
                        [("id", "int", False)])
    outputs.discard()
    assert visible_files(tmp_path) == ["out.csv"]
    assert (tmp_path / "out.csv").read_text() == "old\n"


def test_failing_write_leaves_no_temp_dir(spark, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id\nx\n")
    df = rt.numbered(rt.read_table(spark, "w1", "csv", str(path), [("id", "int", False)]))
    outputs = rt.Outputs(spark)
    with pytest.raises(Exception):
        outputs.write_table(df, "csv", str(tmp_path / "out.csv"), [("id", "int", False)])
    outputs.discard()
    assert visible_files(tmp_path) == ["bad.csv"]


@pytest.mark.parametrize("type_name, text, value", [
    ("int", "42", 42), ("float", "1e-3", 0.001), ("bool", "TRUE", True), ("date", "2013-02-03", dt.date(2013, 2, 3)),
    ("duration", "5m", 300), ("duration", "90", 90), ("list[int]", "1,2,3", [1, 2, 3]),
    ("list[str]", '["a", "b,c"]', ["a", "b,c"]), ("str", " x ", " x "),
])
def test_param_conversion(type_name, text, value):
    assert rt.job_param(type_name, text) == value


def test_bad_param_exits_2_with_a_message(capsys):
    with pytest.raises(SystemExit) as info:
        rt.parse_params({"n": ("int", 1)}, ["--param", "n=abc"], "job")
    assert info.value.code == 2
    assert "param n: `abc` is not an integer (it is int)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        rt.parse_params({"n": ("int", 1)}, ["--param", "m=1"], "job")
    assert "unknown param 'm'" in capsys.readouterr().err


def test_paths_interpolate_params_and_resolve_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = {"day": dt.date(2013, 1, 2), "dir": "data"}
    assert rt.resolve_path("${dir}/x_${day}.csv", params) == str(tmp_path / "data" / "x_2013-01-02.csv")
    assert rt.resolve_path("s3a://bucket/${dir}", params) == "s3a://bucket/data"


def test_bytes_that_are_not_utf8_are_an_error_naming_line_and_column(spark, tmp_path):
    # Spark's reader decodes them as U+FFFD: a str column took them silently
    path = tmp_path / "in.csv"
    path.write_bytes(b"x,y\n1,a\n2,b\xff\xfec\n3,d\n")
    message = failure(spark, lambda: rt.read_table(spark, "s1", "csv", str(path),
                                                   [("x", "int", False), ("y", "str", True)]).collect())
    assert message == f"{path}: line 3, byte 4 (column `y`): invalid UTF-8 (byte 0xff); save the file as UTF-8"


def test_one_column_csv_keeps_empty_lines_as_null_rows(spark, tmp_path):
    path = tmp_path / "one.csv"
    path.write_text('v\na\n\n"b,""c"""\n""\nd\n\n')
    rows = rt.read_table(spark, "s1", "csv", str(path), [("v", "str", True)]).collect()
    assert [r[0] for r in rows] == ["a", None, 'b,"c"', "", "d", None]
    path.write_text('v\n"a\nb"\n\nc\n')   # Spark's reader cannot keep both: an error, not a loss
    assert failure(spark, lambda: rt.read_table(spark, "s2", "csv", str(path), [("v", "str", True)])) == \
        f"{path}: a file of one column with empty lines (null values) and quoted values holding line breaks cannot be read exactly on Spark"
