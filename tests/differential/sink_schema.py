"""Does a written file match the schema the checker gave its sink? Column names and order, each
value's type, and no null in a non-nullable column, for CSV, Parquet and JSON-lines tables."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json

import polars as pl

PARQUET_TYPES = {"int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean, "str": pl.String,
                 "date": pl.Date, "timestamp": pl.Datetime("us", "UTC")}


def check_written_table(name: str, content: bytes, schema) -> str | None:
    """The first way `content` contradicts `schema`, or None."""
    if name.endswith(".parquet"):
        return _check_parquet(content, schema)
    if name.endswith(".json"):
        return _check_json_lines(content, schema)
    return _check_csv(content, schema)


def _check_parquet(content: bytes, schema) -> str | None:
    frame = pl.read_parquet(io.BytesIO(content))
    if frame.columns != schema.names:
        return f"columns {frame.columns}, schema {schema.names}"
    for f in schema.fields:
        if frame.schema[f.name] != PARQUET_TYPES[f.type.base]:
            return f"column {f.name} is {frame.schema[f.name]}, schema says {f.type.base}"
        if not f.type.nullable and frame[f.name].null_count():
            return f"column {f.name} holds null, schema says non-nullable {f.type.base}"
    return None


def _check_csv(content: bytes, schema) -> str | None:
    rows = list(csv.reader(io.StringIO(content.decode())))
    if not rows or rows[0] != schema.names:
        return f"header {rows[:1]}, schema {schema.names}"
    for number, row in enumerate(rows[1:], 2):
        for f, text in zip(schema.fields, row or [""], strict=True):  # one null column: an empty line
            # polars writes null as an empty field; the generated data has no empty strings
            problem = _check_value(f, None if text == "" else text, from_text=True)
            if problem:
                return f"line {number}: {problem}"
    return None


def _check_json_lines(content: bytes, schema) -> str | None:
    for number, line in enumerate(content.decode().splitlines(), 1):
        record = json.loads(line)
        if list(record) != schema.names:
            return f"line {number}: keys {list(record)}, schema {schema.names}"
        for f in schema.fields:
            problem = _check_value(f, record[f.name], from_text=False)
            if problem:
                return f"line {number}: {problem}"
    return None


def _check_value(f, value, from_text: bool) -> str | None:
    base = f.type.base
    if value is None:
        return None if f.type.nullable else f"null in non-nullable {base} column {f.name}"
    try:
        if base == "int":
            ok = int(value) is not None if from_text else type(value) is int
        elif base == "float":
            ok = float(value) is not None if from_text else type(value) in (int, float)
        elif base == "bool":
            ok = value in ("true", "false") if from_text else type(value) is bool
        elif base == "str":
            ok = isinstance(value, str)
        elif base == "date":
            ok = dt.date.fromisoformat(value) is not None
        else:
            ok = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    except (TypeError, ValueError):
        ok = False
    return None if ok else f"value {value!r} in column {f.name} is not a {base}"
