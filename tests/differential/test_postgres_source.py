"""The differential tester over `read_table`: a random program's file sources are loaded into
PostgreSQL tables (a row number column `rowno` as the key keeps the file's order, and is dropped
right after reading), and the program reading those tables must write the same bytes as the
program reading the files, at -O0 and fully optimised (filters and projections over a table)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import polars as pl
import pytest

from generator import POLARS, generate
from harness import SETTINGS, checked_ir, differences, run_setting

SEEDS = range(0, 3)
SOURCE = re.compile(r'^(\s*)(\w+) = read_(csv|parquet|json)\("\$\{data\}/([^"]+)", schema=\{([^}]*)\}\)$', re.M)
SQL_TYPES = {"int": "bigint", "float": "double precision", "bool": "boolean", "str": "text", "date": "date",
             "timestamp": "timestamptz"}


def _columns(schema_text: str) -> list[tuple[str, str, bool]]:
    """(name, base, nullable) of an inline schema's `name: type?` items."""
    return [(name.strip(), kind.strip().rstrip("?"), kind.strip().endswith("?"))
            for name, kind in (item.split(":") for item in schema_text.split(","))]


def _read(file: Path, fmt: str, columns: list[tuple[str, str, bool]]) -> pl.DataFrame:
    types = {name: POLARS[base] for name, base, _ in columns}
    if fmt == "parquet":
        return pl.read_parquet(file)
    if fmt == "json":
        return pl.read_ndjson(file, schema=types)
    text = pl.read_csv(file, schema={n: pl.String if t == POLARS["timestamp"] else t for n, t in types.items()})
    return text.with_columns(pl.col(n).str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC")
                             for n, t in types.items() if t == POLARS["timestamp"])


def _load(url: str, table: str, frame: pl.DataFrame, columns: list[tuple[str, str, bool]]) -> None:
    import psycopg

    definitions = ", ".join(f"{name} {SQL_TYPES[base]}{'' if nullable else ' NOT NULL'}"
                            for name, base, nullable in columns)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (rowno bigint PRIMARY KEY, {definitions})")
        with conn.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {table} VALUES ({', '.join(['%s'] * (len(columns) + 1))})",
                               [(k, *row) for k, row in enumerate(frame.rows())])


def as_table_program(text: str, data: Path, url: str) -> str:
    """`text` with every file source replaced by `read_table` of a table loaded with its rows."""
    def replace(match: re.Match) -> str:
        indent, name, fmt, file, schema = match.groups()
        columns = _columns(schema)
        _load(url, name, _read(data / file, fmt, columns), columns)
        return (f'{indent}{name} = read_table("{name}", schema={{rowno: int, {schema}}}, connection="fuzz", '
                f'key=[rowno]) | drop(rowno)')
    return SOURCE.sub(replace, text)


def problems(seed: int, url: str, workdir: Path, settings: list[str]) -> list[str]:
    """Run the file program of `seed` (fully optimised) and its table program at `settings`."""
    text = generate(seed, workdir / "data", ml=False)
    tables = as_table_program(text, workdir / "data", url)
    assert "read_table" in tables and "read_csv" not in tables, tables
    by_name = {s.name: s for s in SETTINGS}
    outcomes = {"files O1": run_setting(checked_ir(text), by_name["O1"], workdir / "data", workdir / "files")}
    for name in settings:
        outcomes[f"tables {name}"] = run_setting(checked_ir(tables), by_name[name], workdir / "data",
                                                 workdir / f"tables-{name}")
    found = differences(None, outcomes)
    return [f"seed {seed}:\n{tables}", *found] if found else []


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_a_random_program_over_postgres_tables_writes_what_it_writes_over_files(seed, postgres_url, monkeypatch,
                                                                                   tmp_path):
    monkeypatch.setenv("PIPEC_CONN_FUZZ", postgres_url)
    found = problems(seed, postgres_url, tmp_path, ["O0", "O1"])
    assert not found, "\n".join(found)


@pytest.mark.fuzz
def test_fuzz_postgres(postgres_server, monkeypatch, tmp_path):
    """PIPEC_FUZZ_COUNT / 10 programs from PIPEC_FUZZ_SEED, each at every setting."""
    first = int(os.environ.get("PIPEC_FUZZ_SEED", "1000"))
    count = int(os.environ.get("PIPEC_FUZZ_COUNT", "500")) // 10
    failures = []
    for seed in range(first, first + count):
        url = postgres_server.create_database(f"fuzz_{seed}")
        monkeypatch.setenv("PIPEC_CONN_FUZZ", url)
        failures += problems(seed, url, tmp_path / f"seed{seed}", [s.name for s in SETTINGS])[:3]
    print(f"differential fuzz over PostgreSQL: {count} programs from seed {first}")
    assert not failures, "\n\n".join(failures)
