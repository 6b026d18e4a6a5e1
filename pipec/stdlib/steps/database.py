"""The PostgreSQL steps: the sources `read_table` and `read_query` and the sink `write_table`.

A database value is typed by its declared schema, as a file source is, so everything downstream
type-checks without a database; the run start (and `pipec check --connect`) compares that schema
with the live database. The connection is a NAME, never a URL: the runtimes resolve it where they
run (pipec/backends/postgres.py), so no secret reaches the IR, generated code or a record.
"""
from __future__ import annotations

import re
from typing import Literal

from pipec.backends.postgres import address
from pipec.compiler import ast
from pipec.compiler.model import Model
from pipec.compiler.types import Schema, TableType
from pipec.stdlib.steps.checking import column_names, literal_of, list_items, schema_arg, string_arg, value_arg
from pipec.stdlib.steps.spec import BoundArgs, Choices, Result, Step, StepContext

WRITE_MODES = ("replace", "append", "upsert")
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
_CONNECTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ReadTableArgs(Model):
    """`key`: the columns a read is ordered by first (then every other declared column), and the
    upsert key; `partition_column`/`partitions`: how the Spark backend splits its JDBC read."""

    step: Literal["read_table"] = "read_table"
    table: str
    schema_: Schema
    connection: str
    key: list[str] = []
    partition_column: str | None = None
    partitions: int = 1
    columns: list[str] | None = None  # projection pushdown

    @property
    def path(self) -> str:
        return address(self.connection, self.table)


class ReadQueryArgs(Model):
    step: Literal["read_query"] = "read_query"
    query: str
    schema_: Schema
    connection: str
    columns: list[str] | None = None  # projection pushdown

    @property
    def path(self) -> str:
        return address(self.connection, "query")


class WriteTableArgs(Model):
    step: Literal["write_table"] = "write_table"
    table: str
    connection: str
    mode: Literal["replace", "append", "upsert"] = "replace"
    key: list[str] = []

    @property
    def path(self) -> str:
        return address(self.connection, self.table)


def _table_name(ctx: StepContext, e: ast.Expr | None) -> str | None:
    name = string_arg(ctx, e, "the table") if e is not None else None
    if name is not None and not _TABLE_NAME.match(name):
        ctx.error("E0700", f"`{name}` is not a table name", e.span,
                  help='write `table` or `schema.table` (letters, digits and `_`), e.g. "public.flights"')
        return None
    return name


def _connection(ctx: StepContext, b: BoundArgs) -> str | None:
    e = b.get("connection")
    name = string_arg(ctx, e, "`connection`")
    if name is not None and not _CONNECTION_NAME.match(name):
        ctx.error("E0701", "`connection` must be the NAME of a connection, not a URL", e.span,
                  help='e.g. connection="warehouse": a local run reads the URL from the environment variable '
                       "PIPEC_CONN_WAREHOUSE, an Airflow task from the Airflow Connection `warehouse`")
        return None
    return name


def _key(ctx: StepContext, b: BoundArgs, schema: Schema) -> list[str] | None:
    e = b.get("key")
    return [] if e is None else column_names(ctx, list_items(e), "`key`", schema)


def _read_table(ctx: StepContext, b: BoundArgs) -> Result | None:
    table = _table_name(ctx, b.get("table"))
    schema = schema_arg(ctx, b.get("schema"))
    connection = _connection(ctx, b)
    if schema is None:
        return None
    key = _key(ctx, b, schema)
    partition_column, partitions = None, 1
    if (e := b.get("partition_column")) is not None:
        names = column_names(ctx, [e], "`partition_column`", schema)
        if names and schema.get(names[0]).base not in ("int", "float", "date", "timestamp"):
            ctx.error("E0702", f"`partition_column` `{names[0]}` must be numeric, a date or a timestamp", e.span,
                      help="Spark splits the read into ranges of this column")
            names = None
        partition_column = names[0] if names else None
        if partition_column is None:
            return None
    if (e := b.get("partitions")) is not None:
        value = literal_of(value_arg(ctx, e, "int", "`partitions`") or e)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1024:
            ctx.error("E0702", "`partitions` must be an integer literal from 1 to 1024", e.span)
            return None
        partitions = value
    if table is None or connection is None or key is None:
        return None
    return ReadTableArgs(table=table, schema_=schema, connection=connection, key=key,
                         partition_column=partition_column, partitions=partitions), TableType(schema_=schema)


def _read_query(ctx: StepContext, b: BoundArgs) -> Result | None:
    query = string_arg(ctx, b.get("query"), "the query")
    schema = schema_arg(ctx, b.get("schema"))
    connection = _connection(ctx, b)
    if query is not None and not query.strip():
        ctx.error("E0700", "the query is empty", b.get("query").span)
        query = None
    if query is None or schema is None or connection is None:
        return None
    return ReadQueryArgs(query=query, schema_=schema, connection=connection), TableType(schema_=schema)


def _write_table(ctx: StepContext, b: BoundArgs) -> Result | None:
    table = _table_name(ctx, b.get("table"))
    connection = _connection(ctx, b)
    mode = "replace"
    if (e := b.get("mode")) is not None:
        mode = string_arg(ctx, e, "`mode`")
        if mode is not None and mode not in WRITE_MODES:
            ctx.error("E0703", f"unknown write mode `{mode}`", e.span, help=f"use one of: {', '.join(WRITE_MODES)}")
            mode = None
    key = _key(ctx, b, ctx.schema)
    if mode == "upsert" and key == []:
        ctx.error("E0704", "`mode=\"upsert\"` needs the `key` it matches rows on", ctx.call.span,
                  help="e.g. write_table(\"daily\", connection=\"warehouse\", mode=\"upsert\", key=[day])")
        return None
    if table is None or connection is None or mode is None or key is None:
        return None
    return WriteTableArgs(table=table, connection=connection, mode=mode, key=key), None


def _table_row_bytes(schema: Schema, row_width) -> float:
    return row_width(schema) * 1.2  # binary COPY, about the width in memory


_CONNECTION_DOC = "the NAME of a connection (PIPEC_CONN_<NAME> locally, an Airflow Connection id on Airflow)"
STEPS = [
    Step("read_table", rule=_read_table, input="none", positional=("table",),
         keywords=("schema", "connection", "key", "partition_column", "partitions"),
         required=("table", "schema", "connection"), args=ReadTableArgs, external=True,
         signature='read_table(table, schema=S, connection="name", key=[], partition_column=col?, partitions=1)',
         doc=f"Read a PostgreSQL table whose columns the schema declares; `connection` is {_CONNECTION_DOC}.",
         seconds_per_byte=1e-8, disk_row_bytes=_table_row_bytes,
         argument_values={"schema": "schema", "key": "column", "partition_column": "column"}),
    Step("read_query", rule=_read_query, input="none", positional=("query",), keywords=("schema", "connection"),
         required=("query", "schema", "connection"), args=ReadQueryArgs, external=True,
         signature='read_query(sql, schema=S, connection="name")',
         doc="Read the result of a PostgreSQL query whose columns the schema declares (in the query's ORDER BY).",
         seconds_per_byte=1e-8, disk_row_bytes=_table_row_bytes, argument_values={"schema": "schema"}),
    Step("write_table", rule=_write_table, input="table", positional=("table",), keywords=("connection", "mode", "key"),
         required=("table", "connection"), args=WriteTableArgs, sink=True, external=True,
         signature='write_table(table, connection="name", mode="replace", key=[])',
         doc="Write the table to a PostgreSQL table, atomically: replace it, append to it, or upsert on `key`.",
         seconds_per_byte=1e-8,
         argument_values={"mode": Choices(WRITE_MODES, "write mode"), "key": "column"}),
]
READS, WRITES = STEPS[:2], STEPS[2:]  # listed among the sources and among the sinks


def run_items(ir) -> list[dict]:
    """The `run_item` of each database step of `ir`, in plan order."""
    return [run_item(ir, node) for node in ir.nodes() if node.spec.external]


def run_item(ir, node) -> dict:
    """What the runtimes need of a database step: its step, where it is written (for messages),
    connection name, table or query, declared (or written) schema, key and mode. Plain values,
    embedded in generated code: never a URL."""
    a = node.args
    schema = a.schema_ if node.is_source else ir.node(node.inputs[0]).schema_
    item = {"node": node.id, "step": node.step,
            "where": f"{node.step} at {node.span.file}:{node.span.line}:{node.span.column}",
            "connection": a.connection,
            "schema": [(f.name, f.type.base, f.type.nullable) for f in schema.fields]}
    if node.step == "read_query":
        item["query"] = a.query
    else:
        item.update(table=a.table, key=list(a.key))
    if node.is_sink:
        item["mode"] = a.mode
    return item
