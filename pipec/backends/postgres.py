"""PostgreSQL at run time, for every backend: connections by name, the run-start schema check,
the ordered read, and the atomic write (stage, then commit with the other sinks).

- A connection is a NAME. `environment_url` resolves it from `PIPEC_CONN_<NAME>` (a
  `postgresql://` URL); an orchestrator's task resolves it from its Connection of that id. A URL
  is never written anywhere: every message goes through `redact`, and errors name the connection.
- `check_item` compares a declared schema with `information_schema` (a table) or with the columns the
  server reports for a query, before any work.
- A table read is ordered by its `key`, then every other declared column (docs/semantics.md).
- A write stages its rows in a table `pipec_stage_<run id>_<n>` beside the target (binary COPY
  through ADBC); `commit_tables` then swaps it in (replace: drop and rename), or appends or
  upserts from it, in ONE transaction per connection, so a killed run leaves the old table. Staged tables
  of dead runs are dropped by `drop_stale_stages`.

Only the standard library is imported at module level (psycopg, ADBC and pyarrow inside the
functions): this module is copied beside generated workflow files (as `pipec_postgres`) and embedded into
generated Spark jobs, and it imports nothing from pipec; its errors are `DatabaseError`s.
"""
from __future__ import annotations

import os
import re
import time
from typing import Any, Callable, Iterable

ENV_PREFIX = "PIPEC_CONN_"
ADDRESS_SCHEME = "postgresql+pipec"  # how plans, records and lineage name a table: connection NAME and table
STAGE_PREFIX = "pipec_stage_"
TABLE_COMMIT_PAUSE_VARIABLE = "PIPEC_TEST_TABLE_COMMIT_PAUSE"  # tests: seconds inside the commit transaction
CONNECT_TIMEOUT = 10  # seconds: an unreachable server is an error, not a hang

# The PostgreSQL types (information_schema `data_type`) each language type reads from, and writes to.
READ_TYPES = {
    "int": ("bigint", "integer", "smallint"),
    "float": ("double precision", "real"),
    "bool": ("boolean",),
    "str": ("text", "character varying", "character"),
    "date": ("date",),
    "timestamp": ("timestamp with time zone", "timestamp without time zone"),
}
WRITE_TYPES = {"int": "bigint", "float": "double precision", "bool": "boolean", "str": "text", "date": "date",
               "timestamp": "timestamp with time zone"}

Schema = list[tuple[str, str, bool]]  # (name, language type, nullable), as the runtimes pass it


class DatabaseError(Exception):
    """A database problem, its message complete and free of secrets."""


def address(connection: str, what: str) -> str:
    """The secret-free address of a database value (`what`: a table, or `query`)."""
    return f"{ADDRESS_SCHEME}://{connection}/{what}"


# ------------------------------------------------------------------ secrets
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s]*)@")
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<secret>'[^']*'|\S+)", re.I)


def redact(text: str, url: str | None = None) -> str:
    """`text` with every password hidden: in URLs, in `password=` keywords, and (when `url` is
    given) the raw password of `url` wherever it appears. Everything pipec prints about a
    connection goes through here."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + "***@", str(text))
    text = _KEYWORD_PASSWORD.sub(lambda m: m.group("head") + "***", text)
    password = _password_of(url) if url else None
    return text.replace(password, "***") if password else text


def _password_of(url: str) -> str | None:
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


def environment_variable(name: str) -> str:
    return ENV_PREFIX + re.sub(r"\W", "_", name).upper()


def environment_url(name: str) -> str:
    """The URL of connection `name` for a local run: the environment variable
    PIPEC_CONN_<NAME>."""
    url = os.environ.get(environment_variable(name))
    if not url:
        raise DatabaseError(f"connection `{name}` is not configured: set the environment variable "
                            f"{environment_variable(name)} to its URL (postgresql://user:password@host:port/database)")
    return url


# ------------------------------------------------------------------ names and connections
def quote_name(name: str) -> str:
    """A (possibly schema-qualified) identifier, quoted: names are taken as written."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def split_table(table: str) -> tuple[str, str]:
    """(schema, table) of `schema.table`, or of `table` in `public`."""
    return tuple(table.split(".", 1)) if "." in table else ("public", table)  # type: ignore[return-value]


def connect(name: str, url: str, what: str):
    """A psycopg connection (autocommit off), or a DatabaseError naming `what` and the connection."""
    import psycopg

    try:
        return psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - psycopg and libpq: any failure to connect
        raise DatabaseError(f"{what}: cannot connect to connection `{name}` ({redact(url)}): "
                            f"{_first_line(exc, url)}") from None


def _first_line(exc: BaseException, url: str | None = None) -> str:
    text = redact(str(exc).strip(), url)
    return next((line for line in text.splitlines() if line.strip()), type(exc).__name__)


# ------------------------------------------------------------------ the run-start check
def table_columns(conn, table: str) -> dict[str, tuple[str, bool]] | None:
    """{column: (data_type, nullable)} of a table or view, or None when there is none."""
    schema, name = split_table(table)
    rows = conn.execute(
        "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position", (schema, name)).fetchall()
    return {column: (data_type, nullable) for column, data_type, nullable in rows} or None


def query_columns(conn, query: str) -> dict[str, tuple[str, bool]]:
    """{column: (type, nullable=True)} of a query's result, from the server's description of it."""
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT * FROM ({query}) AS pipec_query LIMIT 0")
        described = [(c.name, c.type_code) for c in cursor.description]
    names = dict(conn.execute("SELECT oid, format_type(oid, NULL) FROM pg_type WHERE oid = ANY(%s)",
                              ([oid for _, oid in described],)).fetchall())
    return {name: (names.get(oid, str(oid)), True) for name, oid in described}


def schema_problems(declared: Schema, found: dict[str, tuple[str, bool]], what: str,
                    writing: bool = False) -> list[str]:
    """What does not fit between the declared columns and the database's (empty: all fits).
    Reading, a column may have any type the language type reads from; writing, the table's
    column must hold every value (the type pipec creates, and NOT NULL only for non-null data)."""
    problems = []
    for name, base, nullable in declared:
        if name not in found:
            problems.append(f"{what} has no column `{name}` (it has: {', '.join(found)})")
            continue
        data_type, column_nullable = found[name]
        fits = data_type == WRITE_TYPES[base] or (base == "str" and data_type in READ_TYPES["str"]) \
            if writing else data_type in READ_TYPES[base]
        if not fits:
            wanted = WRITE_TYPES[base] if writing else " or ".join(READ_TYPES[base])
            problems.append(f"{what}: column `{name}` is `{data_type}` in the database but declared `{base}` "
                            f"(which {'writes' if writing else 'reads'} {wanted})")
        elif writing and nullable and not column_nullable:
            problems.append(f"{what}: column `{name}` is NOT NULL in the database but the pipeline's `{name}` "
                            f"may be null")
    return problems


def key_constraint(conn, table: str, key: list[str]) -> bool:
    """Whether `table` has a primary key or unique constraint on exactly the columns `key`."""
    schema, name = split_table(table)
    rows = conn.execute(
        "SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) "
        "WHERE n.nspname = %s AND c.relname = %s AND i.indisunique AND i.indpred IS NULL "
        "GROUP BY i.indexrelid", (schema, name)).fetchall()
    return any(sorted(row[0]) == sorted(key) for row in rows)


def check_item(item: dict[str, Any], url: str) -> list[str]:
    """The problems of one database step (a `tables` item of the plan, see `plan_items`)
    against the live database; raises DatabaseError when it cannot even look."""
    where = item["where"]
    conn = connect(item["connection"], url, where)
    try:
        with conn:
            if "query" in item:
                try:
                    found = query_columns(conn, item["query"])
                except Exception as exc:  # noqa: BLE001 - the server rejected the query
                    return [f"{where}: the query fails: {_first_line(exc, url)}"]
                return schema_problems(item["schema"], found, f"{where}: the query")
            table = item["table"]
            found = table_columns(conn, table)
            if "mode" not in item:  # a table read
                if found is None:
                    return [f"{where}: table `{table}` does not exist in connection `{item['connection']}`"]
                return schema_problems(item["schema"], found, f"{where}: table `{table}`")
            if found is None:
                return []  # written: the commit creates it
            problems = [] if item["mode"] == "replace" else schema_problems(
                item["schema"], found, f"{where}: table `{table}`", writing=True)
            if item["mode"] == "upsert" and not key_constraint(conn, table, item["key"]):
                problems.append(f"{where}: table `{table}` has no primary key or unique constraint on "
                                f"({', '.join(item['key'])}), which an upsert matches rows on; add one "
                                f"(ALTER TABLE ... ADD PRIMARY KEY ...) or write with mode=\"replace\"")
            return problems
    finally:
        conn.close()


# ------------------------------------------------------------------ reading
def select_sql(item: dict[str, Any], columns: list[str] | None) -> str:
    """The SQL of a read. A table is ordered by its key, then every other declared column (the
    order does not depend on which columns are read); a query keeps its own ORDER BY."""
    if "query" in item:
        return item["query"]
    declared = [name for name, _, _ in item["schema"]]
    wanted = columns if columns is not None else declared
    return (f"SELECT {', '.join(quote_name(c) for c in wanted)} FROM {quote_name(item['table'])} "
            f"ORDER BY {', '.join(order_terms(item))}")


def order_terms(item: dict[str, Any]) -> list[str]:
    """A table read's ORDER BY: its key, then every other declared column, ascending, nulls
    last; text by code point (COLLATE "C", as Spark and polars compare strings), not by the
    database's locale."""
    types = {name: base for name, base, _ in item["schema"]}
    return [quote_name(c) + (' COLLATE "C"' if types[c] == "str" else "") + " ASC NULLS LAST"
            for c in order_columns(item)]


def order_columns(item: dict[str, Any]) -> list[str]:
    """The columns of `order_terms`, in order (for engines that sort after reading)."""
    return [*item["key"], *[name for name, _, _ in item["schema"] if name not in item["key"]]]


def jdbc_connection(url: str) -> tuple[str, dict[str, str]]:
    """A `postgresql://` URL as a JDBC URL (no credentials in it) and the properties holding them."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    jdbc = f"jdbc:postgresql://{host}{f':{parts.port}' if parts.port else ''}{parts.path or '/'}"
    properties = {"driver": "org.postgresql.Driver", **dict(parse_qsl(parts.query))}
    if parts.username:
        properties["user"] = unquote(parts.username)
    if parts.password:
        properties["password"] = unquote(parts.password)
    return jdbc, properties


def column_bounds(name: str, url: str, item: dict[str, Any], column: str) -> tuple[Any, Any]:
    """(min, max) of a table's column: the range a partitioned read splits."""
    conn = connect(name, url, item["where"])
    try:
        with conn:
            return conn.execute(f"SELECT min({quote_name(column)}), max({quote_name(column)}) "
                                f"FROM {quote_name(item['table'])}").fetchone()
    finally:
        conn.close()


def read_arrow(name: str, url: str, sql: str, where: str):
    """The rows of `sql` as a pyarrow Table, through ADBC's binary COPY (no Python row loop)."""
    import adbc_driver_postgresql.dbapi as adbc

    try:
        with adbc.connect(url) as conn, conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetch_arrow_table()
    except Exception as exc:  # noqa: BLE001 - the driver's errors
        raise DatabaseError(f"{where}: reading from connection `{name}` failed: {_first_line(exc, url)}") from None


# ------------------------------------------------------------------ writing: stage, then commit
def stage_name(run_id: str, number: int) -> str:
    return f"{STAGE_PREFIX}{run_id}_{number}"


def create_sql(table: str, schema: Schema, key: list[str]) -> str:
    columns = [f"{quote_name(name)} {WRITE_TYPES[base]}{'' if nullable else ' NOT NULL'}"
               for name, base, nullable in schema]
    if key:
        columns.append(f"PRIMARY KEY ({', '.join(quote_name(k) for k in key)})")
    return f"CREATE TABLE {quote_name(table)} ({', '.join(columns)})"


def stage_sql(item: dict[str, Any], staged_table: str) -> str:
    """The staged table of a write: for `replace`, already the target's definition (its key the
    primary key), so that the commit swaps it in by renaming it; otherwise just the columns."""
    schema_name, _ = split_table(item["table"])
    return create_sql(f"{schema_name}.{staged_table}", item["schema"], item["key"] if item["mode"] == "replace" else [])


def stage_rows(item: dict[str, Any], url: str, data, staged_table: str) -> None:
    """Write `data` (a pyarrow Table with the step's columns) into the new table `staged_table`
    beside the target, committed: the commit phase moves it into the target."""
    import adbc_driver_postgresql.dbapi as adbc

    where = item["where"]
    schema_name, _ = split_table(item["table"])
    conn = connect(item["connection"], url, where)
    try:
        with conn:
            conn.execute(stage_sql(item, staged_table))
    except DatabaseError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise DatabaseError(f"{where}: cannot create the staging table: {_first_line(exc, url)}") from None
    finally:
        conn.close()
    try:
        with adbc.connect(url) as conn:
            with conn.cursor() as cursor:
                cursor.adbc_ingest(staged_table, data, mode="append", db_schema_name=schema_name)
            conn.commit()
    except Exception as exc:  # noqa: BLE001
        raise DatabaseError(f"{where}: writing the rows failed: {_first_line(exc, url)}") from None


def _apply_sql(item: dict[str, Any], staged_table: str, exists: bool) -> list[str]:
    """The statements that move a staged table into its target, in the commit transaction."""
    table, key = item["table"], item["key"]
    schema_name, _ = split_table(table)
    staged = quote_name(f"{schema_name}.{staged_table}")
    columns = ", ".join(quote_name(name) for name, _, _ in item["schema"])
    if item["mode"] == "replace":  # a swap: metadata only, however many rows
        name = split_table(table)[1]
        swap = [f"DROP TABLE IF EXISTS {quote_name(table)}", f"ALTER TABLE {staged} RENAME TO {quote_name(name)}"]
        if key:
            swap.append(f"ALTER TABLE {quote_name(table)} RENAME CONSTRAINT {quote_name(staged_table + '_pkey')} "
                        f"TO {quote_name(name + '_pkey')}")
        return swap
    statements = [] if exists else [create_sql(table, item["schema"], key)]
    insert = f"INSERT INTO {quote_name(table)} ({columns}) SELECT {columns} FROM {staged}"
    if item["mode"] == "upsert" and exists:
        others = [name for name, _, _ in item["schema"] if name not in key]
        action = (f"DO UPDATE SET {', '.join(f'{quote_name(n)} = EXCLUDED.{quote_name(n)}' for n in others)}"
                  if others else "DO NOTHING")
        insert += f" ON CONFLICT ({', '.join(quote_name(k) for k in key)}) {action}"
    return [*statements, insert, f"DROP TABLE {staged}"]


def commit_tables(entries: list[dict[str, Any]], resolve: Callable[[str], str]) -> None:
    """Move every staged table into its target: per connection ONE transaction doing all of its
    tables' statements; the transactions are committed once every one of them has succeeded.
    `entries` are {"item": ..., "staged": table name}."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        groups.setdefault(entry["item"]["connection"], []).append(entry)
    open_connections = []
    try:
        for name, group in groups.items():
            url = resolve(name)
            conn = connect(name, url, group[0]["item"]["where"])
            open_connections.append(conn)
            for entry in group:
                item = entry["item"]
                try:
                    exists = table_columns(conn, item["table"]) is not None
                    for statement in _apply_sql(item, entry["staged"], exists):
                        conn.execute(statement)
                except Exception as exc:  # noqa: BLE001 - e.g. a duplicate key of an upsert
                    raise DatabaseError(f"{item['where']}: writing table `{item['table']}` failed, nothing was "
                                        f"changed: {_first_line(exc, url)}") from None
        time.sleep(float(os.environ.get(TABLE_COMMIT_PAUSE_VARIABLE) or 0))
        for conn in open_connections:
            conn.commit()
    finally:
        for conn in open_connections:
            conn.close()  # an uncommitted transaction is rolled back


def drop_stages(entries: list[dict[str, Any]], resolve: Callable[[str], str]) -> None:
    """Drop the staged tables of a run that will not commit (best effort: a staged table left
    behind is dropped by a later run, `drop_stale_stages`)."""
    for entry in entries:
        item = entry["item"]
        schema_name, _ = split_table(item["table"])
        try:
            conn = connect(item["connection"], resolve(item["connection"]), item["where"])
        except Exception:  # noqa: BLE001 - no connection (or no URL for it): nothing to drop
            continue
        try:
            with conn:
                conn.execute(f"DROP TABLE IF EXISTS {quote_name(schema_name + '.' + entry['staged'])}")
        except Exception:  # noqa: BLE001 - best effort
            pass
        finally:
            conn.close()


def drop_stale_stages(conn, schemas: Iterable[str], run_is_alive: Callable[[str], bool]) -> list[str]:
    """Drop the staged tables in `schemas` whose run is dead (killed before its commit)."""
    dropped = []
    pattern = re.compile(rf"^{STAGE_PREFIX}(?P<run>[0-9a-f]{{12}})_\d+$")
    for schema_name in set(schemas):
        rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                            "AND table_name LIKE %s", (schema_name, STAGE_PREFIX + "%")).fetchall()
        for (table,) in rows:
            match = pattern.match(table)
            if match and not run_is_alive(match.group("run")):
                conn.execute(f"DROP TABLE IF EXISTS {quote_name(schema_name + '.' + table)}")
                dropped.append(f"{schema_name}.{table}")
    conn.commit()
    return dropped
