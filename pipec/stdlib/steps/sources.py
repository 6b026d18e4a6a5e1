"""The sources `read_csv`, `read_parquet` and `read_json`: a file whose columns the schema declares,
or (`partition_by`) a Hive-style partitioned folder whose partition columns the schema types."""
from __future__ import annotations

from typing import Callable, Literal

from pipec.compiler.model import Model
from pipec.compiler.types import Schema, TableType
from pipec.stdlib.steps.checking import list_items, literal_of, partition_columns, schema_arg, string_arg, value_arg
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext


class SourceArgs(Model):
    """`columns` is filled by projection pushdown: the only columns any sink needs. `partition_by`:
    the path is a folder of `name=value/` folders, one level per column, in this order."""

    step: Literal["read_csv", "read_parquet", "read_json"]
    path: str
    schema_: Schema
    header: bool = True
    delimiter: str = ","
    null_values: list[str] = []
    columns: list[str] | None = None
    partition_by: list[str] | None = None


def _source(ctx: StepContext, b: BoundArgs) -> Result | None:
    path = string_arg(ctx, b.get("path"), "the path")
    schema = schema_arg(ctx, b.get("schema"))
    header, delimiter, nulls = True, ",", []
    if (e := b.get("header")) is not None:
        header = literal_of(value_arg(ctx, e, "bool", "`header`") or e)
    if (e := b.get("delimiter")) is not None:
        delimiter = string_arg(ctx, e, "`delimiter`")
        if delimiter is not None and len(delimiter) != 1:
            ctx.error("E0304", "`delimiter` must be one character", e.span)
            delimiter = None
    if (e := b.get("null_values")) is not None:
        nulls = []
        for item in list_items(e):
            s = string_arg(ctx, item, "each of `null_values`")
            nulls.append(s)
    partitions = None
    if (e := b.get("partition_by")) is not None and schema is not None:
        partitions = partition_columns(ctx, e, schema)
        if partitions is None:
            return None
    if path is None or schema is None or delimiter is None or None in nulls:
        return None
    args = SourceArgs(step=ctx.call.name, path=path, schema_=schema, header=bool(header), delimiter=delimiter,
                      null_values=nulls, partition_by=partitions or None)
    return args, TableType(schema_=schema)


# -- the bytes of one row in each file format, from the width of its values (cost.row_width)
_PARQUET_COMPRESSION = 3.0


def _text_row_bytes(schema: Schema, row_width: Callable[..., int]) -> float:
    return row_width(schema, text=True) + len(schema.fields)  # separators


def _json_row_bytes(schema: Schema, row_width: Callable[..., int]) -> float:
    return _text_row_bytes(schema, row_width) + sum(len(f.name) + 4 for f in schema.fields)  # "name": per value


def _parquet_row_bytes(schema: Schema, row_width: Callable[..., int]) -> float:
    return row_width(schema) / _PARQUET_COMPRESSION


_SOURCE = dict(rule=_source, input="none", positional=("path",), required=("path", "schema"), args=SourceArgs,
               argument_values={"schema": "schema", "partition_by": "column"})
STEPS = [
    Step("read_csv", keywords=("schema", "header", "delimiter", "null_values", "partition_by"),
         signature='read_csv(path, schema=S, header=true, delimiter=",", null_values=[], partition_by=[])',
         doc="Read a CSV file whose columns the schema declares.",
         seconds_per_byte=1e-8, disk_row_bytes=_text_row_bytes, **_SOURCE),
    Step("read_parquet", keywords=("schema", "partition_by"),
         signature="read_parquet(path, schema=S, partition_by=[])",
         doc="Read a Parquet file whose columns the schema declares.",
         seconds_per_byte=2e-9, disk_row_bytes=_parquet_row_bytes, **_SOURCE),
    Step("read_json", keywords=("schema", "partition_by"),
         signature="read_json(path, schema=S, partition_by=[])",
         doc="Read a JSON-lines file whose columns the schema declares.",
         seconds_per_byte=2e-8, disk_row_bytes=_json_row_bytes, **_SOURCE),
]
