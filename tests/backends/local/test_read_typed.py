"""read_csv parses int, float and str columns with polars' own CSV parser and falls back to reading
text when that parser rejects a value: each cell must read the same either way, as stated here."""
from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from pipec.backends.local import runtime as rt

ERROR = object()  # the cell is not a valid value of the column type

CELLS = [
    ("int", "12", 12), ("int", " 12", 12), ("int", "12 ", 12), ("int", "+3", 3), ("int", "-0", 0),
    ("int", "007", 7), ("int", "", None), ("int", "1e3", ERROR), ("int", "3.0", ERROR),
    ("int", "9223372036854775808", ERROR), ("int", "0x1F", ERROR), ("int", "1_000", ERROR),
    ("float", "1.5", 1.5), ("float", " 1.5", 1.5), ("float", "1e3", 1000.0), ("float", ".5", 0.5),
    ("float", "5.", 5.0), ("float", "+2.5", 2.5), ("float", "inf", math.inf), ("float", "-inf", -math.inf),
    ("float", "1e400", math.inf), ("float", "", None), ("float", "abc", ERROR),
    ("str", " a ", " a "), ('str', '"q,x"', "q,x"), ("str", "", None),
    ("timestamp", "2013-01-01T10:00:00Z", datetime(2013, 1, 1, 10, tzinfo=timezone.utc)),
    ("timestamp", "2013-01-01T10:00:00.5Z", datetime(2013, 1, 1, 10, 0, 0, 500000, tzinfo=timezone.utc)),
    ("timestamp", "2013-01-01 10:00:00", datetime(2013, 1, 1, 10, tzinfo=timezone.utc)),
    ("timestamp", "2013-01-01", datetime(2013, 1, 1, tzinfo=timezone.utc)),
    ("timestamp", "yesterday", ERROR),
    ("bool", "true", True), ("bool", " FALSE", False), ("bool", "1", True), ("bool", "yes", ERROR),
    ("date", "2013-02-28", datetime(2013, 2, 28).date()), ("date", "2013-02-29", ERROR),
]


@pytest.mark.parametrize("base, cell, expected", CELLS)
def test_cell_reads_as_declared(tmp_path, base, cell, expected):
    # the second row is valid for every type, so the cell under test decides the outcome
    second = {"int": "7", "float": "7", "str": "x", "timestamp": "2013-01-02T00:00:00Z", "bool": "false",
              "date": "2013-01-02"}[base]
    (tmp_path / "in.csv").write_text(f"id,x\n1,{cell}\n2,{second}\n")
    ctx = rt.RunContext({}, tmp_path)
    schema = [("id", "int", False), ("x", base, True)]
    if expected is ERROR:
        with pytest.raises(rt.PipelineRunError) as info:
            rt.read_csv(ctx, "n", "in.csv", schema)
        assert (info.value.column, info.value.row) == ("x", 1)
        return
    got = rt.read_csv(ctx, "n", "in.csv", schema).collect()
    assert got.get_column("id").to_list() == [1, 2]
    assert got.get_column("x").to_list()[0] == expected
    assert got.schema["x"] == rt.dtype(base)


def test_null_in_a_non_nullable_parsed_column_names_its_row(tmp_path):
    (tmp_path / "in.csv").write_text("id,x\n1,2.5\n2,\n3,NA\n")
    ctx = rt.RunContext({}, tmp_path)
    with pytest.raises(rt.PipelineRunError) as info:
        rt.read_csv(ctx, "n", "in.csv", [("id", "int", False), ("x", "float", False)], null_values=["NA"])
    assert (info.value.column, info.value.row) == ("x", 2)
    assert "null in a column declared `float`" in info.value.message


def test_empty_lines_of_a_one_column_file_are_null_rows(tmp_path):
    # pyarrow's row count (the shape check) skipped them and the read failed without a place
    (tmp_path / "in.csv").write_text('v\na\n\n"b,""c"""\n""\nd\n\n')
    got = rt.read_csv(rt.RunContext({}, tmp_path), "n", "in.csv", [("v", "str", True)]).collect()
    assert got.get_column("v").to_list() == ["a", None, 'b,"c"', "", "d", None]


def test_an_empty_line_in_a_file_of_two_columns_is_still_an_error(tmp_path):
    (tmp_path / "in.csv").write_text("v,w\na,1\n\nd,2\n")
    with pytest.raises(rt.PipelineRunError) as info:
        rt.read_csv(rt.RunContext({}, tmp_path), "n", "in.csv", [("v", "str", True), ("w", "int", True)])
    assert "line 3 (row 2): empty line, but the header has 2 fields" in info.value.message
