"""Runtime support for the polars + scikit-learn code that pipec generates.

This module is self-contained on purpose: a compiled Airflow DAG ships a copy of it beside the DAG
file, so it imports nothing from pipec but the commit protocol and the runtime contract (error
kinds, `${name}`, the split draw, argument bounds), which are copied beside it too and whose
imports the copy rewrites. Only the standard library is imported at module level; polars,
numpy, pandas and scikit-learn are imported inside the functions that need them, so that importing
this module (which Airflow's DAG parser does again and again) stays cheap.

The generated code calls:
- `RunContext`: params, working directory, staged sinks (committed only when the run succeeds);
- readers `read_csv` / `read_parquet` / `read_json` that enforce the declared schema;
- expression helpers (`divide`, `floor_divide`, `modulo`, `cast`, `substr`, ...) that build polars
  expressions with the exact semantics of docs/semantics.md;
- steps that are not plain polars: `split_draw`, `call_python`, `fit`, `predict`, `evaluate`, `expect`;
- sinks `write_csv` / `write_parquet` / `write_json` / `save_model`;
- PostgreSQL: `check_databases` at run start, `read_database`, `write_database` (pipec/backends/postgres.py).

A schema is passed as a list of `(name, type, nullable)` tuples, with the type names of the language.
"""
from __future__ import annotations

import functools
import importlib
import json
import math
import os
import shutil
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Callable

from pipec.backends import commit as commit_protocol  # beside a DAG: its copy, pipec_commit
from pipec.backends import postgres as database  # beside a DAG: its copy, pipec_postgres
from pipec.runtime_contract import (  # beside a DAG: its copy, pipec_contract
    SPLIT_PRIME, TIMESTAMP_TEXT, ExpectationFailed, PipelineRunError, best_candidate, check_bound,
    check_hyperparameters, checked_saved_model, confined_sink, draw_numerator, drift_metrics, in_utc,
    metrics_json_text, model_folder_digest, partition_files, partition_folder, partition_folders,
    python_input_frame, python_result_table, substitute, validation_rounds, write_table_csv, write_table_json)

Schema = list[tuple[str, str, bool]]

MODEL_FORMAT = "pipec-model/1"
_CSV_PARSED = ("int", "float", "str")  # see read_csv


def _pl():
    import polars

    return polars


# ------------------------------------------------------------------ types
def dtype(base: str):
    """The polars dtype of a language column type."""
    pl = _pl()
    return {"int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean, "str": pl.String,
            "date": pl.Date, "timestamp": pl.Datetime("us", "UTC")}[base]


# ------------------------------------------------------------------ the run context
class RunContext:
    """What one run (or one Airflow task) shares: params, where relative paths start, staged sinks.

    Sinks are written to a temporary file beside their target while the run goes on, and
    `commit()` moves them all into place once everything succeeded, through the all-or-nothing
    protocol of `commit_protocol` (every target checked first, a journal in `.pipec/commits/`
    of the working directory); `abort()` removes them, so a failed or interrupted run leaves no
    partial file and earlier outputs untouched.
    """

    def __init__(self, params: dict[str, Any], workdir: str | os.PathLike = ".",
                 on_event: Callable[[dict], None] | None = None, confine_outputs: bool = False):
        self.params = dict(params)
        self.workdir = Path(workdir)
        self.confine_outputs = confine_outputs  # the pipeline option, for params known only now
        self.on_event = on_event
        self.warnings: list[str] = []
        self.node_stats: dict[str, dict[str, int]] = {}
        self.sinks: list[dict[str, Any]] = []  # {"node", "path", "rows", "tmp"} in write order
        self.tables: list[dict[str, Any]] = []  # {"node", "item", "staged", "rows"}: staged database tables
        self.resolve_connection: Callable[[str], str] = database.environment_url  # an Airflow task's: its Connections
        self.run_id = commit_protocol.new_run_id()
        self.state_dir = str(self.workdir.resolve() / commit_protocol.STATE_DIR)
        self.committed = False  # set once every sink is in place
        self._files = commit_protocol.StoreFiles()
        self.fetched: dict[str, str] = {}  # local copy -> the URL of a source read from an object store
        self._scratch: str | None = None
        self._run_lock: commit_protocol.RunLock | None = None
        self._run_lock_taken = threading.Lock()  # stages stage their sinks from several threads
        # a task of an orchestrator that fans a step out (`tune`): (node, item) when the task
        # computes only that item, and each fanned-out node's item results when they are known
        self.fan_out_item: tuple[str, int] | None = None
        self.fanned_in: dict[str, list[Any]] = {}

    def path(self, template: str) -> Path:
        """A source or sink path with params substituted, relative to the working directory."""
        p = Path(substitute(template, self.params)).expanduser()
        return p if p.is_absolute() else self.workdir / p

    def location(self, template: str) -> str | Path:
        """`path`, or the URL itself when the path is an fsspec URL (`s3://bucket/key`)."""
        text = substitute(template, self.params)
        return text if commit_protocol.is_url(text) else self.path(template)

    def scratch(self) -> Path:
        """A private local folder of this run (copies of remote sources, sinks before upload)."""
        if self._scratch is None:
            import tempfile

            self._scratch = tempfile.mkdtemp(prefix="pipec-run-")
        return Path(self._scratch)

    def fetch(self, url: str) -> Path:
        """A local copy of the object at `url`, read like a local file; messages about the copy
        name the URL (`names_remote_files`)."""
        local = self.scratch() / f"source-{len(self.fetched)}" / url.rstrip("/").rsplit("/", 1)[-1]
        local.parent.mkdir()
        try:
            self._files.download(url, str(local))
        except Exception as exc:  # noqa: BLE001 - any failure of the store: a message naming the URL
            raise PipelineRunError(f"{url}: cannot read: {store_problem(exc)}", file=url) from None
        self.fetched[str(local)] = url
        return local

    def emit(self, event: str, **fields: Any) -> None:
        if self.on_event is not None:
            self.on_event({"event": event, **fields})

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.emit("warning", message=message)

    def record(self, node_id: str, frame) -> None:
        self.node_stats[node_id] = {"rows": frame.height, "bytes": int(frame.estimated_size())}

    def materialise(self, node_id: str, frame):
        """Collect a table once so that every consumer reuses it; records its rows and bytes."""
        df = frame.collect() if hasattr(frame, "collect") else frame
        self.record(node_id, df)
        return df

    def recover(self, sink_templates: list[str]) -> list[str]:
        """Before a run does anything else: finish a commit an earlier run left interrupted
        (one line each, also emitted as warnings), and remove the temporary files dead runs
        left beside this run's sinks."""
        targets = []
        for template in sink_templates:
            try:
                targets.append(str(self.location(template)))
            except PipelineRunError:
                continue  # a path naming an unknown param: the sink reports it when it runs
        with commit_protocol.signals_deferred() as arrived:
            try:
                messages = commit_protocol.clean_up(self._files, self.state_dir, targets)
            except OSError as exc:  # e.g. a read-only working directory: no journal can be there
                messages = [f"could not look for an interrupted commit in {self.state_dir}: {exc}"]
            except Exception as exc:  # noqa: BLE001 - an object store out of reach: its sinks say so when they run
                messages = [f"could not finish or clean up an earlier run's outputs: {store_problem(exc)}"]
        for message in messages:
            self.warn(message)
        if arrived:
            raise KeyboardInterrupt
        return messages

    def stage_file(self, node_id: str, template: str | Path, rows: int | None,
                   write: Callable[[Path], None]) -> None:
        """Stage the output at `template` (or at a path: a partition of a partitioned sink). An
        output at a URL is written to a local file, then uploaded beside its target."""
        target = template if isinstance(template, (Path, StoreLocation)) else self.location(template)
        if isinstance(target, str):
            self._stage_remote(node_id, target, rows, write)
            return
        confined_sink(str(target), os.path.relpath(target, self.workdir), self.confine_outputs)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.take_run_lock()
        tmp = Path(commit_protocol.staged_path(self._files, str(target), self.run_id))
        if isinstance(template, Path):  # a partition: not beside a sink's path, so noted for `recover`
            commit_protocol.record_temporary(self.state_dir, self.run_id, str(tmp))
        self.sinks.append({"node": node_id, "path": str(target), "rows": rows, "tmp": str(tmp)})
        try:
            write(tmp)
        except BaseException as exc:
            _remove(tmp)
            if isinstance(exc, (PipelineRunError, KeyboardInterrupt)):
                raise
            raise PipelineRunError(f"cannot write {target}: {exc}", file=str(target)) from exc

    def connection_url(self, name: str) -> str:
        """The URL of connection `name`, resolved where the run runs (never stored)."""
        try:
            return self.resolve_connection(name)
        except database.DatabaseError as exc:
            raise PipelineRunError(str(exc)) from None

    def hand_over_tables(self) -> list[dict[str, Any]]:
        """The staged tables, which another process (an Airflow commit task) will commit: this
        context no longer drops them when it aborts."""
        tables, self.tables = self.tables, []
        return tables

    def take_run_lock(self) -> None:
        """Hold this run's lock (before its first temporary file or staged table exists)."""
        with self._run_lock_taken:  # a second flock of the same file in this process would wait forever
            if self._run_lock is None:
                self._run_lock = commit_protocol.RunLock(self.state_dir, self.run_id)

    def _stage_remote(self, node_id: str, target: str, rows: int | None, write: Callable[[Path], None]) -> None:
        confined_sink(target, target, self.confine_outputs)
        self.take_run_lock()
        staged = commit_protocol.staged_path(self._files, target, self.run_id)
        local = self.scratch() / f"sink-{len(self.sinks)}" / self._files.split(target)[1]
        local.parent.mkdir()
        commit_protocol.record_temporary(self.state_dir, self.run_id, staged)
        self.sinks.append({"node": node_id, "path": target, "rows": rows, "tmp": staged})
        try:
            write(local)
            self._files.upload(str(local), staged)
        except BaseException as exc:
            if isinstance(exc, (PipelineRunError, KeyboardInterrupt)):
                raise
            raise PipelineRunError(f"cannot write {target}: {store_problem(exc)}", file=target) from None
        finally:
            _remove(local.parent)

    def commit(self) -> None:
        """Move every staged sink into place, all or nothing. SIGINT and SIGTERM wait until the
        commit is over; then they raise KeyboardInterrupt with `committed` set.

        Staged database tables go first, once every file target is known to be replaceable: their
        transactions commit, then the files are renamed (docs/semantics.md, "Database sinks")."""
        with commit_protocol.signals_deferred() as arrived:
            try:
                with commit_protocol.commit_lock(self.state_dir):
                    outputs = [(s["tmp"], s["path"]) for s in self.sinks]
                    if self.tables:
                        commit_protocol.check_targets(self._files, [target for _, target in outputs], self.state_dir)
                        database.commit_tables(self.tables, self.connection_url)
                    commit_protocol.commit(self._files, self.state_dir, self.run_id, outputs)
            except commit_protocol.CommitError as exc:
                raise PipelineRunError(str(exc)) from exc
            except database.DatabaseError as exc:
                raise PipelineRunError(str(exc)) from None
            except OSError as exc:
                raise PipelineRunError(f"cannot commit the outputs: {exc}") from exc
            self.committed = True
            self._release()
        for sink in [*self.sinks, *self.tables]:
            self.emit("sink_written", node=sink["node"], path=sink["path"], rows=sink["rows"])
        if arrived:
            raise KeyboardInterrupt

    def abort(self) -> None:
        """Remove every staged sink that was not committed."""
        if not self.committed:
            for sink in self.sinks:
                try:
                    self._files.remove(sink["tmp"])
                except Exception as exc:  # noqa: BLE001 - an unreachable store: the next run removes it
                    self.warn(f"could not remove {sink['tmp']}: {store_problem(exc)}")
            database.drop_stages(self.tables, self.connection_url)
        self._release()

    def _release(self) -> None:
        if self._run_lock is not None:
            self._run_lock.release()
            self._run_lock = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


class StoreLocation(str):
    """A resolved URL (a partition of a partitioned sink in an object store): no `${...}` in it."""


def store_problem(exc: BaseException) -> str:
    """What went wrong with an object store, in one line without the store's internals; a
    missing bucket or key, refused credentials and an unreachable endpoint say so."""
    name, text = type(exc).__name__, _first_line(exc)
    if isinstance(exc, FileNotFoundError):
        return f"not found ({text})"
    if isinstance(exc, PermissionError) or "AccessDenied" in text or "InvalidAccessKeyId" in text:
        return f"access denied: check the store's credentials ({text})"
    if "EndpointConnectionError" in name or "Could not connect" in text:
        return f"the store cannot be reached ({text}); check AWS_ENDPOINT_URL or the network"
    if "NoCredentialsError" in name:
        return "no credentials for the store: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile)"
    return text


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# ------------------------------------------------------------------ reading with a schema
def names_remote_files(reader: Callable[..., Any]) -> Callable[..., Any]:
    """A reader whose messages name the URL of a source read from an object store, not its local copy."""
    @functools.wraps(reader)
    def read(ctx: RunContext, *args: Any, **kwargs: Any) -> Any:
        try:
            return reader(ctx, *args, **kwargs)
        except PipelineRunError as exc:
            for local, url in ctx.fetched.items():
                exc.message = exc.message.replace(local, url)
                exc.file = url if exc.file == local else exc.file
            exc.args = (exc.message, *exc.args[1:])
            raise
    return read


@names_remote_files
def read_csv(ctx: RunContext, node_id: str, template: str | Path, schema: Schema, *, header: bool = True,
             delimiter: str = ",", null_values: list[str] | None = None,
             columns: list[str] | None = None, partition_by: list[str] | None = None, keep=None):
    """Read the declared columns of a CSV file, each as its declared type.

    polars' reader parses the columns it parses exactly as `conform` would convert their text
    (`_CSV_PARSED`) while it reads, in parallel; the others are read as text and converted by
    `conform`. When the reader rejects a value, the file is read again all as text, so that
    `conform` names the column and the first bad row.

    polars pads a short row with nulls, so the file's last column is always read too: a short row
    leaves it null, and only when it holds a null is every row's length checked (`_check_row_lengths`).
    A file polars cannot parse at all goes to `_csv_problem`, which names the line.
    With `partition_by`, `template` is a partitioned folder (`read_partitioned`).
    """
    if partition_by:
        return read_partitioned(ctx, node_id, template, schema, columns, partition_by, keep,
                                lambda path, fields, wanted: read_csv(ctx, node_id, path, fields, header=header,
                                                                      delimiter=delimiter, null_values=null_values,
                                                                      columns=wanted))
    pl = _pl()
    path = _readable_file(_source_path(ctx, template))
    names = [name for name, _, _ in schema]
    options = dict(separator=delimiter, has_header=header, infer_schema=False,
                   null_values=null_values or None, raise_if_empty=False, glob=False)
    fields = [f for f in schema if columns is None or f[0] in columns]
    wanted = [name for name, _, _ in fields]
    declared = None  # the columns of a file without header: the schema's names, then polars'
    try:
        found = pl.read_csv(path, n_rows=0, **options).columns
        if not found:
            if header:
                raise PipelineRunError(f"{path}: the file is empty: expected a header row with the columns "
                                       f"{', '.join(names)}", file=str(path))
            return _conformed(ctx, node_id, pl.DataFrame(schema={n: pl.String for n in wanted}), fields, path)
        if not header:
            if len(found) < len(names):
                raise PipelineRunError(
                    f"{path}: the file has {len(found)} columns but the schema declares "
                    f"{len(names)} ({', '.join(names)})", file=str(path))
            declared = names + found[len(names):]
        in_file = dict(zip(declared or found, found))  # our name -> polars' name of each column
        _check_columns(ctx, path, list(in_file), names)
        last = list(in_file)[-1]
        read = [in_file[n] for n in (wanted + [last] if last not in wanted else wanted)]
        parsed = {in_file[name]: dtype(base) for name, base, _ in fields if base in _CSV_PARSED}
        try:
            df = pl.read_csv(path, columns=read, schema_overrides=parsed, **options)
        except pl.exceptions.PolarsError:
            df = pl.read_csv(path, columns=read, **options)
    except PipelineRunError:
        raise
    except Exception as exc:
        raise (_csv_problem(path, header, delimiter, declared)
               or PipelineRunError(f"{path}: cannot read as CSV: {_first_line(exc)}", file=str(path))) from exc
    if df.get_column(in_file[last]).null_count():
        _check_row_lengths(path, header, delimiter, list(in_file), df.height)
    if declared:
        df = df.rename({polars_name: name for name, polars_name in in_file.items() if polars_name in read})
    return _conformed(ctx, node_id, df, fields, path)


def _conformed(ctx: RunContext, node_id: str, df, fields: Schema, path: Path):
    frame = conform(df, fields, str(path))
    ctx.record(node_id, frame)
    return frame.lazy()


def _check_row_lengths(path: Path, header: bool, delimiter: str, columns: list[str], rows: int) -> None:
    """Raise if a row of the file has more or fewer fields than the header, or is an empty line.

    pyarrow's CSV parser (in parallel, converting one column only) rejects a row of the wrong
    length, and skips empty lines, which polars reads as rows of nulls: either way its row count
    differs from polars'. Only then is the file read in Python to name the line. In a file of
    one column an empty line is a row (its value is null), and pyarrow is told to count it.
    """
    import pyarrow
    from pyarrow import csv as pa_csv

    names = [f"c{i}" for i in range(len(columns))]
    try:
        checked = pa_csv.read_csv(
            path, read_options=pa_csv.ReadOptions(column_names=names, skip_rows=int(header)),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                              ignore_empty_lines=len(columns) > 1),
            convert_options=pa_csv.ConvertOptions(include_columns=names[:1],
                                                  column_types={names[0]: pyarrow.string()})).num_rows
    except pyarrow.ArrowInvalid:
        checked = None
    if checked != rows:
        raise (_csv_problem(path, header, delimiter, None if header else columns)
               or PipelineRunError(f"{path}: cannot read as CSV: rows of different lengths", file=str(path)))


def _csv_problem(path: Path, header: bool, delimiter: str, names: list[str] | None) -> PipelineRunError | None:
    """The first problem that makes the file unreadable as CSV, named by its line (1-based, in the
    file) and data row, or None when Python's CSV reader finds none. Slow: only for a failed read.
    `names` are the columns of a file without header (the schema's), None to take the header's."""
    import csv
    import io

    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        before = data[line_start:exc.start].decode("utf-8").removeprefix("\ufeff")
        index = len(next(csv.reader([before], delimiter=delimiter), [""])) - 1
        head = names or next(csv.reader([data.split(b"\n", 1)[0].decode("utf-8", "replace")], delimiter=delimiter))
        column = head[index] if index < len(head) and (line > 1 or not header) else None
        return MalformedFile(
            f"{path}: line {line}, byte {exc.start - line_start + 1}"
            f"{f' (column `{column}`)' if column else ''}: invalid UTF-8 "
            f"(byte {data[exc.start]:#04x}); save the file as UTF-8", file=str(path), line=line, column=column)
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)  # a field may be as long as the file
    try:
        reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=delimiter, strict=True)
        columns: list[str] = []
        row, line = 0, 1
        try:
            for fields in reader:
                if not columns:
                    columns = names or fields
                    if header:
                        line = reader.line_num + 1
                        continue
                row += 1
                problem = _row_length_problem(fields, columns, "the header" if header else "the first row")
                if problem:
                    return MalformedFile(f"{path}: line {line} (row {row}): {problem[0]}", file=str(path),
                                         line=line, row=row, column=problem[1])
                line = reader.line_num + 1
        except csv.Error as exc:
            what = ("a quoted field on this row is never closed" if "end of data" in str(exc)
                    else f"bad quoting: {exc}")
            return MalformedFile(f"{path}: line {line} (row {row + 1}): {what}",
                                 file=str(path), line=line, row=row + 1)
    finally:
        csv.field_size_limit(limit)
    return None


def _row_length_problem(fields: list[str], columns: list[str], first: str) -> tuple[str, str | None] | None:
    """(what is wrong, the first missing column) for a row whose length is not that of the `first`
    row (the header, or the first row of a file without one)."""
    if len(fields) == len(columns) or (not fields and len(columns) == 1):  # a blank line is one empty field
        return None
    if not fields:
        return f"empty line, but {first} has {len(columns)} fields", columns[0]
    if len(fields) < len(columns):
        return (f"{len(fields)} field{'s' if len(fields) > 1 else ''} but {first} has {len(columns)}: "
                f"column `{columns[len(fields)]}` is missing (is the file cut short?)", columns[len(fields)])
    return (f"{len(fields)} fields but {first} has {len(columns)} "
            f"(the first extra field is {fields[len(columns)]!r})", None)


class MalformedFile(PipelineRunError):
    """A file that does not have the structure of its format, at a 1-based line of the file."""

    def __init__(self, message: str, *, file: str, line: int, row: int | None = None, column: str | None = None):
        super().__init__(message, file=file, column=column, row=row)
        self.line = line


@names_remote_files
def read_parquet(ctx: RunContext, node_id: str, template: str | Path, schema: Schema, *,
                 columns: list[str] | None = None, partition_by: list[str] | None = None, keep=None):
    if partition_by:
        return read_partitioned(ctx, node_id, template, schema, columns, partition_by, keep,
                                lambda path, fields, wanted: read_parquet(ctx, node_id, path, fields, columns=wanted))
    pl = _pl()
    path = _readable_file(_source_path(ctx, template))
    names = [name for name, _, _ in schema]
    try:
        found = list(pl.scan_parquet(path, glob=False).collect_schema())
        _check_columns(ctx, path, found, names)
        wanted = [n for n in names if columns is None or n in columns]
        df = pl.read_parquet(path, columns=wanted, glob=False)
    except PipelineRunError:
        raise
    except Exception as exc:
        raise PipelineRunError(f"{path}: cannot read as Parquet: {_first_line(exc)}", file=str(path)) from exc
    return _conformed(ctx, node_id, df, [f for f in schema if f[0] in wanted], path)


@names_remote_files
def read_json(ctx: RunContext, node_id: str, template: str | Path, schema: Schema, *,
              columns: list[str] | None = None, partition_by: list[str] | None = None, keep=None):
    """Read JSON lines (one object per line; empty lines are skipped, a key an object lacks is null)."""
    if partition_by:
        return read_partitioned(ctx, node_id, template, schema, columns, partition_by, keep,
                                lambda path, fields, wanted: read_json(ctx, node_id, path, fields, columns=wanted))
    pl = _pl()
    path = _readable_file(_source_path(ctx, template))
    names = [name for name, _, _ in schema]
    wanted = [n for n in names if columns is None or n in columns]
    fields = [f for f in schema if f[0] in wanted]
    try:
        with open(path, "rb") as lines:  # a path would be taken as a glob pattern
            df = pl.read_ndjson(lines, infer_schema_length=None)
    except Exception as exc:
        problem = _json_lines_problem(path)
        if problem is None and not path.read_bytes().strip():  # no lines: no rows
            return _conformed(ctx, node_id, pl.DataFrame(schema={n: pl.String for n in wanted}), fields, path)
        raise (problem or PipelineRunError(f"{path}: cannot read as JSON lines: {_first_line(exc)}",
                                           file=str(path))) from exc
    _check_columns(ctx, path, df.columns, names)
    return _conformed(ctx, node_id, df.select(wanted), fields, path)


def _source_path(ctx: RunContext, template: str | Path) -> Path:
    """A source's path: a template from the pipeline, or one file of a partitioned folder; a
    local copy of it when it is a URL."""
    if isinstance(template, Path):
        return template
    location = ctx.location(template)
    return ctx.fetch(location) if isinstance(location, str) else location




def read_partitioned(ctx: RunContext, node_id: str, template: str | Path, schema: Schema,
                     columns: list[str] | None, partition_by: list[str], keep,
                     read_file: Callable[[Path, Schema, list[str]], Any]):
    """Read a Hive-style partitioned folder (docs/semantics.md): list its partitions, keep those
    whose values satisfy `keep` (the filters that read only partition columns, evaluated on the
    partition values exactly as on rows), and read only their files, each with `read_file`
    (which checks it as a single source of the other columns and reads the wanted ones), adding
    the partition columns from the folder names.
    Rows come partition by partition in value order, file by file in name order."""
    pl = _pl()
    types = {name: (base, nullable) for name, base, nullable in schema}
    levels = [(name, types[name][0]) for name in partition_by]
    root = str(template if isinstance(template, Path) else ctx.location(template))
    try:
        found = partition_folders(ctx._files, root, levels)
    except PipelineRunError:
        raise
    except Exception as exc:  # noqa: BLE001 - an object store that fails: a message naming the dataset
        raise PipelineRunError(f"{root}: cannot list: {store_problem(exc)}", file=root) from None
    for values, folder in found:
        for (name, _), value in zip(levels, values):
            if value is None and not types[name][1]:
                raise PipelineRunError(f"{folder}: null partition value in `{name}`, declared "
                                       f"`{types[name][0]}` (not nullable)", file=folder, column=name)
    values = pl.DataFrame([[v[i] for v, _ in found] for i in range(len(levels))],
                          schema={name: dtype(base) for name, base in levels}, orient="col")
    kept = found if keep is None else [found[i] for i in values.with_row_index("_partition").filter(keep)
                                                                .get_column("_partition").to_list()]
    wanted = [name for name, _, _ in schema if columns is None or name in columns]
    in_files = [f for f in schema if f[0] not in partition_by]
    # a file column even when only partition columns are wanted: a frame of no columns has no rows
    read = [name for name, _, _ in in_files if name in wanted] or [in_files[0][0]]
    frames, opened = [], 0
    for values_of, folder in kept:
        for file in partition_files(ctx._files, folder):
            local = ctx.fetch(file) if commit_protocol.is_url(file) else Path(file)
            frame = read_file(local, in_files, read).collect()
            opened += 1
            frames.append(frame.with_columns(pl.lit(v, dtype=dtype(base)).alias(name)
                                             for (name, base), v in zip(levels, values_of)).select(wanted))
    df = (pl.concat(frames, how="vertical") if frames
          else pl.DataFrame(schema={name: dtype(base) for name, base, _ in schema if name in wanted}))
    ctx.record(node_id, df)
    ctx.node_stats[node_id].update(files=opened, partitions=len(kept), partitions_listed=len(found))
    return df.lazy()


def _json_lines_problem(path: Path) -> PipelineRunError | None:
    """The first line that is not a JSON object, named by line and column (slow: only after a
    failed read), or None when every line is one."""
    with open(path, "rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return MalformedFile(f"{path}: line {number}, byte {exc.start + 1}: invalid UTF-8 "
                                     f"(byte {raw[exc.start]:#04x}); save the file as UTF-8",
                                     file=str(path), line=number)
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                return MalformedFile(f"{path}: line {number}, column {exc.colno}: not valid JSON: {exc.msg}",
                                     file=str(path), line=number)
            if not isinstance(value, dict):
                return MalformedFile(f"{path}: line {number}: expected a JSON object ({{...}}), "
                                     f"found {type(value).__name__} {_show(value)}", file=str(path), line=number)
    return None


def _readable_file(path: Path) -> Path:
    """`path` if it is a file this process can read; otherwise an error saying what it is instead."""
    try:
        path.stat()
    except FileNotFoundError:
        problem = "no such file" if not path.is_symlink() else "a symbolic link to a file that does not exist"
        raise PipelineRunError(f"{path}: {problem}", file=str(path)) from None
    except OSError as exc:  # e.g. ELOOP: a symlink loop
        raise PipelineRunError(f"{path}: cannot read: {exc.strerror.lower()}", file=str(path)) from None
    if path.is_dir():
        raise PipelineRunError(f"{path}: is a directory, not a file", file=str(path))
    if not path.is_file():
        raise PipelineRunError(f"{path}: is not a regular file", file=str(path))
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise PipelineRunError(f"{path}: cannot read: {exc.strerror.lower()}", file=str(path)) from None
    return path


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_columns(ctx: RunContext, path: Path, found: list[str], declared: list[str]) -> None:
    """The schema is the contract: a missing column is an error, an undeclared one a warning."""
    missing = [n for n in declared if n not in found]
    if missing:
        raise PipelineRunError(
            f"{path}: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(f'`{m}`' for m in missing)} declared in the schema "
            f"(the file has: {', '.join(found) or 'no columns'})", file=str(path), column=missing[0])
    extra = [n for n in found if n not in declared]
    if extra:
        ctx.warn(f"{path}: column{'s' if len(extra) > 1 else ''} "
                 f"{', '.join(f'`{e}`' for e in extra)} not in the schema, ignored")


def conform(df, schema: Schema, where: str):
    """Convert each column to its declared type; the first value that does not fit, or a null in
    a non-nullable column, is an error naming `where`, the column and the 1-based data row.

    All columns are converted in one parallel pass and checked in another; a column that already
    has its declared type needs only the null check. Text timestamps are parsed in the form this
    runtime writes first, and only a column with other forms goes through the general parser.
    """
    pl = _pl()
    schema = [(name, base, nullable, df.schema[name]) for name, base, nullable in schema]
    converted = df.select([_conversion(pl.col(name), found, base).alias(name)
                           for name, base, _, found in schema])
    unconverted = _unconverted_counts(df, converted, schema)
    other_forms = [name for name, base, _, found in schema
                   if unconverted.get(name) and base == "timestamp" and _base_of(found) == "str"]
    if other_forms:
        converted = converted.with_columns(
            *df.select(parse_timestamp(pl.col(n)).alias(n) for n in other_forms).get_columns())
        unconverted = _unconverted_counts(df, converted, schema)
    not_nullable = [name for name, _, nullable, _ in schema if not nullable]
    nulls = converted.select(pl.col(not_nullable).null_count()).row(0, named=True) if not_nullable else {}
    for name, base, nullable, _ in schema:
        source = df.get_column(name)
        if unconverted.get(name):
            row = int((source.is_not_null() & converted.get_column(name).is_null()).arg_true()[0])
            raise PipelineRunError(
                f"{where}: column `{name}`, row {row + 1}: value {source[row]!r} is not a valid {base}",
                file=where, column=name, row=row + 1, value=source[row])
        if nulls.get(name):
            row = int(converted.get_column(name).is_null().arg_true()[0])
            raise PipelineRunError(
                f"{where}: column `{name}`, row {row + 1}: null in a column declared `{base}` "
                f"(not nullable); declare it `{base}?` or clean the data",
                file=where, column=name, row=row + 1)
    return converted


def _unconverted_counts(source, converted, schema) -> dict[str, int]:
    """Per column that needed a conversion: how many values were there but did not convert."""
    pl = _pl()
    changed = [name for name, base, _, found in schema if found != dtype(base)]
    if not changed:
        return {}
    pairs = converted.select(changed).hstack([source.get_column(n).alias(f"source:{n}") for n in changed])
    return pairs.select((pl.col(f"source:{n}").is_not_null() & pl.col(n).is_null()).sum().alias(n)
                        for n in changed).row(0, named=True)


def _conversion(expr, found, base: str):
    """`expr` (of polars dtype `found`) as type `base`; values that do not convert become null
    (the caller reports them)."""
    pl = _pl()
    source_base = _base_of(found)
    if found == dtype(base):
        return expr
    if source_base == base:  # e.g. Int32 from Parquet, a timestamp in another zone or unit
        return in_utc(expr, found) if base == "timestamp" else expr.cast(dtype(base))
    if source_base == "float" and base == "int":
        # a whole float such as 3.0 (JSON, pandas) is an int; 3.5 is not
        return pl.when(expr == expr.floor()).then(expr.cast(pl.Int64, strict=False))
    if source_base == "str" and base == "timestamp":  # the form write_csv writes; see conform
        return expr.str.to_datetime(TIMESTAMP_TEXT, time_unit="us", time_zone="UTC", strict=False)
    if source_base is None:
        return expr.cast(dtype(base), strict=False)
    return cast(expr, source_base, base)


def _base_of(polars_dtype) -> str | None:
    """The language type of a polars dtype, or None for one that has no counterpart."""
    pl = _pl()
    if polars_dtype.is_integer():
        return "int"
    if polars_dtype.is_float():
        return "float"
    if isinstance(polars_dtype, pl.Datetime):
        return "timestamp"
    return {pl.Boolean: "bool", pl.String: "str", pl.Date: "date"}.get(polars_dtype)


# ------------------------------------------------------------------ expression helpers
def lit(value: Any, base: str):
    """A typed literal (a bare Python int would become a 32-bit polars literal)."""
    pl = _pl()
    if value is not None and base == "date":
        return pl.lit(value).str.to_date("%Y-%m-%d")
    if value is not None and base == "timestamp":
        return parse_timestamp(pl.lit(value))
    return pl.lit(value, dtype=dtype(base))


def divide(left, right):
    """`/`: always float, IEEE 754 for a zero divisor (inf, -inf or NaN), as docs/semantics.md says."""
    pl = _pl()
    return quotient(left.cast(pl.Float64), right.cast(pl.Float64))


def quotient(left, right):
    """`left / right` divided in every row. polars divides a column by a one-value divisor (a
    literal, an aggregate) by multiplying with its reciprocal (`384 * 0.1 == 38.400000000000006`),
    even when it is spread over the rows (a "scalar column"); multiplying it by a computed column
    of 1.0 gives a real column of the divisor, exactly (also -0.0: polars drops an added 0.0 as if
    it were the identity, which turned a divisor 0.0 into -0.0 and `1 / 0.0` into -inf)."""
    pl = _pl()
    ones = left.is_null().cast(pl.Float64) * 0.0 + 1.0
    return left / (ones * right)


def floor_divide(left, right, base: str):
    """`//`: floor division as in Python, null for a zero divisor."""
    pl = _pl()
    result = left // right
    if base == "float":
        result = divide(left, right).floor()
    return pl.when(right != 0).then(result)


def modulo(left, right):
    """`%`: the sign of the divisor (polars already does that), null for a zero divisor."""
    pl = _pl()
    return pl.when(right != 0).then(left % right)


INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def checked_int(op: str, left, right, where: str):
    """`left op right` (`+`, `-`, `*`) on int64 values, a PipelineRunError when the exact result
    leaves int64 (docs/semantics.md) instead of polars' wrapped value. `where` names the step, the
    place and the expression. polars has no raising expression, so the wrapped result travels in a
    struct with a cheap "suspect" flag (exact for `+`/`-`, a float estimate for `*`) and the
    operands into a batch function that recomputes only the suspect rows exactly."""
    pl = _pl()
    result = {"+": left + right, "-": left - right, "*": left * right}[op]
    if op == "*":
        suspect = (left.cast(pl.Float64) * right.cast(pl.Float64)).abs() >= 2.0 ** 62
    else:
        grows = right > 0 if op == "+" else right < 0
        shrinks = right < 0 if op == "+" else right > 0
        suspect = (grows & (result < left)) | (shrinks & (result > left))
    batch = pl.struct(result.alias("result"), suspect.alias("suspect"), left.alias("left"), right.alias("right"))
    return batch.map_batches(lambda b: _unless_overflow(b, op, where), return_dtype=pl.Int64,
                             is_elementwise=True)


def _unless_overflow(batch, op: str, where: str):
    suspects = batch.filter(batch.struct.field("suspect").fill_null(False))
    for row in suspects.to_list():
        exact = {"+": row["left"] + row["right"], "-": row["left"] - row["right"],
                 "*": row["left"] * row["right"]}[op]
        if not INT64_MIN <= exact <= INT64_MAX:
            raise PipelineRunError(f"integer overflow in {where} ({row['left']} {op} {row['right']} = {exact} "
                                   f"does not fit in a 64-bit int)", value=exact)
    return batch.struct.field("result")


def checked_sum(x, where: str):
    """`sum` of int values: exact (in 128 bits), a PipelineRunError when it leaves int64; null
    when there are no non-null values."""
    pl = _pl()
    total = x.cast(pl.Int128).sum()
    return pl.when(x.count() > 0).then(
        total.map_batches(lambda sums: _narrowed_sums(sums, where), return_dtype=pl.Int64, is_elementwise=True))


def _narrowed_sums(sums, where: str):
    outside = sums.filter((sums < INT64_MIN) | (sums > INT64_MAX))
    if len(outside):
        raise PipelineRunError(f"integer overflow in {where} (the sum is {outside[0]}, which does not fit "
                               f"in a 64-bit int)", value=outside[0])
    return sums.cast(_pl().Int64)


def fence(frame):
    """An optimisation fence in a lazy query: polars pushes no filter, limit or column pruning
    through it, so that what is computed before it does not depend on what comes after."""
    return frame.map_batches(lambda df: df, predicate_pushdown=False, projection_pushdown=False,
                             slice_pushdown=False, streamable=True)


def float_sum(x):
    """`sum` of float values (docs/semantics.md): the group's non-null values sorted ascending,
    added one after the other starting from 0.0, so that no thread count or chunking changes a
    bit; null when there are none."""
    return _sequential_sum(_sorted_floats(x))


def float_mean(x):
    """`mean`: `float_sum` divided by the count of non-null values."""
    pl = _pl()
    values = _sorted_floats(x)
    return quotient(_sequential_sum(values), values.count().cast(pl.Float64))


def float_var(x):
    """`var` (sample, ddof 1): with `d = x - mean`, the sequential sum of `d * d` over the values in
    ascending order, divided by `n - 1`; null for fewer than two values."""
    pl = _pl()
    values = _sorted_floats(x)
    n = values.count()
    d = values - quotient(_sequential_sum(values), n.cast(pl.Float64))
    return pl.when(n > 1).then(quotient(_sequential_sum(d * d), (n - 1).cast(pl.Float64)))


def reduce_float_lists(kind: str, lists):
    """`float_sum` / `float_mean` / `float_var` / `std` of each row's ascending list of non-null
    floats (a grouped `aggregate` gathers them, see codegen): the same numbers bit for bit, summed
    with numpy for all groups at once, where polars' per-group cumulative sum is slow."""
    pl = _pl()

    def reduce(batch):
        import numpy as np

        lengths = batch.list.len().fill_null(0).to_numpy().astype(np.int64)
        values = batch.explode(empty_as_null=False, keep_nulls=False).to_numpy()
        with np.errstate(all="ignore"):
            totals = sequential_sums(values, lengths)
            if kind == "sum":
                result = totals
            else:
                means = totals / lengths
                if kind == "mean":
                    result = means
                else:
                    d = values - np.repeat(means, lengths)
                    result = sequential_sums(d * d, lengths) / (lengths - 1)
                    result = np.sqrt(result) if kind == "std" else result
        least = 1 if kind in ("sum", "mean") else 2
        return pl.Series(batch.name, result, dtype=pl.Float64).set(pl.Series(lengths < least), None)

    return lists.map_batches(reduce, return_dtype=pl.Float64, is_elementwise=True)


def sequential_sums(values, lengths, short: int = 4096):
    """The sum from 0.0, left to right, of each consecutive segment of `values` (`lengths` long):
    one vectorised step per position for the first `short` values of every segment (the
    segments still going are a prefix when they are ordered longest first), then numpy's
    sequential `cumsum` for the rest of the few longer ones."""
    import numpy as np

    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    order = np.argsort(-lengths, kind="stable")
    longest_first, their_starts = lengths[order], starts[order]
    totals = np.zeros(len(lengths))
    positions = min(int(longest_first[0]), short) if len(lengths) else 0
    for j, going in enumerate(np.searchsorted(-longest_first, -np.arange(positions), side="left").tolist()):
        totals[:going] += values[their_starts[:going] + j]
    for k in np.nonzero(longest_first > short)[0].tolist():
        rest = values[their_starts[k] + short:their_starts[k] + longest_first[k]]
        totals[k] = np.cumsum(np.concatenate([[totals[k]], rest]))[-1]
    result = np.empty(len(lengths))
    result[order] = totals
    return result


def _sorted_floats(x):
    pl = _pl()
    return x.cast(pl.Float64).drop_nulls().sort()


def _sequential_sum(values):
    """polars' cumulative sum is one left-to-right scan (its `sum` adds in blocks); `+ 0.0` is the
    start value (it makes the sum of only -0.0 values 0.0)."""
    pl = _pl()
    return pl.when(values.count() > 0).then(values.cum_sum().last() + 0.0)


def round_half_away(x, digits, base: str):
    """docs/semantics.md: the float64 product `x * 10**digits`, rounded half away from zero, divided
    (see `quotient`) by `10**digits`."""
    pl = _pl()
    if base == "int":
        return x
    scale = 10.0 ** digits
    return quotient((x.cast(pl.Float64) * scale).round(0, mode="half_away_from_zero"), pl.lit(scale))


def substr(s, start, length):
    """1-based like SQL: start 0 acts as 1, a negative start counts from the end."""
    pl = _pl()
    offset = pl.when(start > 0).then(start - 1).when(start < 0).then(start).otherwise(0)
    return s.str.slice(offset, pl.when(length < 0).then(0).otherwise(length))


def parse_timestamp(text):
    """Parse `2013-01-01T10:00:00Z`, `2013-01-01 10:00:00[.ffffff]` or a bare date, as UTC."""
    pl = _pl()
    normal = (text.str.strip_chars()
              .str.replace(r"^(\d{4}-\d\d-\d\d)[T ]", "${1} ")
              .str.replace(r"(Z|[+-]00:?00)$", ""))
    return pl.coalesce(
        normal.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", time_zone="UTC", strict=False),
        normal.str.to_datetime("%Y-%m-%d %H:%M", time_unit="us", time_zone="UTC", strict=False),
        normal.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
    )


def cast(x, source: str, target: str):
    """`cast(x, T)` as a try-cast: a value that does not convert gives null."""
    pl = _pl()
    if source == target:
        return x
    if target == "bool":
        if source == "str":
            lower = x.str.strip_chars().str.to_lowercase()
            return (pl.when(lower.is_in(["true", "1"])).then(pl.lit(True))
                    .when(lower.is_in(["false", "0"])).then(pl.lit(False)))
        return x != 0
    if target == "str":
        if source == "date":
            return x.dt.strftime("%Y-%m-%d")
        if source == "timestamp":
            return x.dt.strftime(TIMESTAMP_TEXT)
        return x.cast(pl.String)
    if source == "str":
        text = x.str.strip_chars()
        if target == "date":
            return text.str.to_date("%Y-%m-%d", strict=False)
        if target == "timestamp":
            return parse_timestamp(text)
        return text.cast(dtype(target), strict=False)
    if source == "date" and target == "timestamp":
        return x.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if source == "timestamp" and target == "date":
        return x.dt.date()
    return x.cast(dtype(target), strict=False)


def split_draw(by: str | None, seed: int):
    """The `u` of docs/semantics.md for `split` (and `sample`): exact formula with `by`, else a
    hash of the whole row standing in for `by`."""
    pl = _pl()
    if by is None:
        key = (pl.struct(pl.all()).hash(0) % SPLIT_PRIME).cast(pl.Int64)
    else:
        key = pl.col(by).cast(pl.Int64).fill_null(0) % SPLIT_PRIME
    return quotient(draw_numerator(key, seed).cast(pl.Float64), pl.lit(float(SPLIT_PRIME)))


# ------------------------------------------------------------------ expect
def expect(ctx: RunContext, node_id: str, value, on: str,
           checks: list[tuple[str, Any, list[tuple[str, Any]]]]):
    """Evaluate each condition (text, polars expression, observed terms); raise if any is not true.

    On a table the expressions are aggregates over it; on metrics they read a one-row frame of
    the metric values. The input is returned unchanged.
    """
    pl = _pl()
    frame = pl.DataFrame({k: [v] for k, v in value.items()}) if on == "metrics" else value
    exprs = []
    for i, (_, condition, terms) in enumerate(checks):
        exprs.append(condition.alias(f"ok{i}"))
        exprs.extend(term.alias(f"t{i}_{j}") for j, (_, term) in enumerate(terms))
    row = frame.lazy().select(exprs).collect().row(0, named=True)
    failures = []
    for i, (text, _, terms) in enumerate(checks):
        if row[f"ok{i}"] is not True:
            observed = ", ".join(f"{t} = {_show(row[f't{i}_{j}'])}" for j, (t, _) in enumerate(terms))
            failures.append(f"`{text}`" + (f" (observed: {observed})" if observed else ""))
    if failures:
        raise ExpectationFailed(f"expectation failed in node {node_id}: " + "; ".join(failures))
    return value


def _show(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, float):
        return f"{v:.6g}"
    return repr(v)


# ------------------------------------------------------------------ python step
def call_python(ctx: RunContext, frame, function: str, schema: Schema, options: dict[str, Any]):
    """Call a user function on the pandas frame the contract defines (`python_input_frame`) and
    take its result's declared columns in their declared types (`python_result_table`)."""
    pl = _pl()
    fn = _import_function(ctx, function)
    df = frame.collect() if hasattr(frame, "collect") else frame
    where = f'python("{function}")'
    try:
        result = fn(python_input_frame(df.to_arrow()), **options)
    except Exception as exc:
        user_frame = traceback.extract_tb(exc.__traceback__)[-1]
        raise PipelineRunError(f"{where} raised {type(exc).__name__}: {exc} "
                               f"(at {user_frame.filename}:{user_frame.lineno})") from exc
    names = {name for name, _, _ in schema}
    extra = [str(c) for c in getattr(result, "columns", []) if c not in names]
    table = python_result_table(result, schema, where)
    if extra:
        ctx.warn(f"{where}: column{'s' if len(extra) > 1 else ''} {', '.join(extra)} not in the schema, dropped")
    return pl.from_arrow(table)


def _import_function(ctx: RunContext, function: str):
    module_name, _, attr = function.partition(":")
    workdir = str(ctx.workdir.resolve())
    added = workdir not in sys.path
    if added:
        sys.path.insert(0, workdir)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PipelineRunError(f'python("{function}"): cannot import module `{module_name}` '
                               f"(looked in {workdir} and the installed packages): {exc}") from exc
    finally:
        if added:
            sys.path.remove(workdir)
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise PipelineRunError(f'python("{function}"): module `{module_name}` has no function `{attr}`')
    return fn


# ------------------------------------------------------------------ machine learning
class Model:
    """A fitted model: a scikit-learn pipeline (encoding + estimator) and its description.

    `meta` holds what is needed to use the model again and is what `save_model` writes as JSON:
    format, kind, estimator, params, features and label (names and types), and classes.
    """

    def __init__(self, pipeline, meta: dict[str, Any], trials=None):
        self.pipeline = pipeline
        self.meta = meta
        self.trials = trials  # a tuned model's trials table (polars), which `tune_trials` gives

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    def features(self) -> list[tuple[str, str]]:
        return [(f["name"], f["type"]) for f in self.meta["features"]]


def _estimator(name: str, params: dict[str, Any], rows: int):
    """The scikit-learn estimator for a pipec estimator; `reg` is scaled by the row count because
    it penalises the mean loss, not the sum (the objectives are in docs/semantics.md)."""
    from sklearn import cluster, ensemble, linear_model

    check_hyperparameters(name, params)
    if name == "logistic_regression":
        reg = float(params.get("reg", 0.0))
        c = 1.0 / (reg * rows) if reg > 0 else math.inf
        return linear_model.LogisticRegression(C=c, max_iter=int(params.get("max_iter", 100)))
    if name == "random_forest_classifier":
        return ensemble.RandomForestClassifier(n_estimators=int(params.get("n_trees", 100)),
                                               max_depth=int(params.get("max_depth", 5)),
                                               random_state=int(params.get("seed", 0)))
    if name == "gradient_boosted_classifier":
        return ensemble.GradientBoostingClassifier(n_estimators=int(params.get("n_iter", 50)),
                                                   max_depth=int(params.get("max_depth", 3)),
                                                   random_state=int(params.get("seed", 0)))
    if name == "linear_regression":
        reg = float(params.get("reg", 0.0))
        return linear_model.Ridge(alpha=reg * rows) if reg > 0 else linear_model.LinearRegression()
    if name == "random_forest_regressor":
        return ensemble.RandomForestRegressor(n_estimators=int(params.get("n_trees", 100)),
                                              max_depth=int(params.get("max_depth", 5)),
                                              random_state=int(params.get("seed", 0)))
    if name == "kmeans":
        return cluster.KMeans(n_clusters=int(params["k"]), random_state=int(params.get("seed", 0)),
                              n_init=10)
    raise PipelineRunError(f"unknown estimator `{name}`")


def feature_frame(df, features: list[tuple[str, str]]):
    """The pandas input of a model: numbers as float, bool as 0/1, str kept for one-hot encoding."""
    pl = _pl()
    exprs = [pl.col(name).cast(pl.String) if base == "str" else pl.col(name).cast(pl.Float64)
             for name, base in features]
    return df.select(exprs).to_pandas()


def fit(ctx: RunContext, node_id: str, frame, *, estimator: str, kind: str, params: dict[str, Any],
        features: list[tuple[str, str]], label: tuple[str, str] | None) -> Model:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    df = frame.collect() if hasattr(frame, "collect") else frame
    if label is not None:
        df = df.filter(_pl().col(label[0]).is_not_null())
    if df.height == 0:
        raise PipelineRunError(f"fit ({node_id}): no training rows"
                               + (f" with a non-null `{label[0]}`" if label else ""))
    X = feature_frame(df, features)
    text = [name for name, base in features if base == "str"]
    encode = ColumnTransformer([("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False), text)],
                               remainder="passthrough")
    model = _estimator(estimator, params, df.height)
    pipeline = Pipeline([("encode", encode), ("model", model)])
    meta: dict[str, Any] = {
        "format": MODEL_FORMAT, "kind": kind, "estimator": estimator, "params": params,
        "features": [{"name": n, "type": b} for n, b in features],
        "label": {"name": label[0], "type": label[1]} if label else None,
        "classes": None,
    }
    try:
        if label is None:
            if df.height < int(params["k"]):
                raise PipelineRunError(f"kmeans ({node_id}): k={params['k']} but only {df.height} rows")
            pipeline.fit(X)
        else:
            y = df.get_column(label[0]).to_numpy()
            if kind == "classifier":
                classes = df.get_column(label[0]).unique().sort().to_list()
                if len(classes) < 2:
                    raise PipelineRunError(f"fit ({node_id}): label `{label[0]}` has only the value "
                                           f"{classes[0]!r} in the training data; a classifier needs two",
                                           column=label[0])
                meta["classes"] = classes
            pipeline.fit(X, y)
    except PipelineRunError:
        raise
    except ValueError as exc:
        raise PipelineRunError(f"fit ({node_id}, {estimator}) failed: {exc}") from exc
    return Model(pipeline, meta)


def predict(ctx: RunContext, node_id: str, frame, model: Model):
    """Add `prediction` (a classifier's: the label's type; a regressor's: float; kmeans: int cluster
    id) and, for classifiers, `probability` (of the positive class for two classes, of the
    predicted class for more)."""
    pl = _pl()
    df = frame.collect() if hasattr(frame, "collect") else frame
    X = feature_frame(df, model.features())
    predictions = model.pipeline.predict(X) if df.height else []
    if model.kind != "classifier":
        kind = pl.Int64 if model.kind == "clusterer" else pl.Float64
        return df.with_columns(pl.Series("prediction", predictions, dtype=kind)).lazy()
    columns = [pl.Series("prediction", predictions, dtype=dtype(model.meta["label"]["type"]))]
    probabilities = model.pipeline.predict_proba(X) if df.height else None
    if probabilities is None:
        chosen = []
    elif probabilities.shape[1] == 2:
        chosen = probabilities[:, 1]
    else:
        chosen = probabilities.max(axis=1)
    columns.append(pl.Series("probability", chosen, dtype=pl.Float64))
    return df.with_columns(columns).lazy()


def evaluate(ctx: RunContext, node_id: str, frame, model: Model, *, label: str, label_type: str, task: str,
             metrics: list[str]) -> dict[str, float]:
    """Metrics of docs/semantics.md over the rows whose label is not null. `model` made the
    predictions: with more than two classes, roc_auc and log_loss need every class's probability,
    which the predicted table does not keep, so they rescore the rows' features with it."""
    from sklearn import metrics as sk

    pl = _pl()
    df = frame.collect() if hasattr(frame, "collect") else frame
    df = df.filter(pl.col(label).is_not_null() & pl.col("prediction").is_not_null())
    if df.height == 0:
        raise PipelineRunError(f"evaluate ({node_id}): no rows with both `{label}` and a prediction")
    y, yhat = df.get_column(label).to_numpy(), df.get_column("prediction").to_numpy()
    if task == "regression":
        y, yhat = y.astype(float), yhat.astype(float)
        compute = {"rmse": lambda: math.sqrt(sk.mean_squared_error(y, yhat)),
                   "mae": lambda: sk.mean_absolute_error(y, yhat),
                   "r2": lambda: sk.r2_score(y, yhat)}
        return {m: float(compute[m]()) for m in metrics}
    classes = pl.concat([df.get_column(label), df.get_column("prediction")]).unique().sort().to_list()
    p = df.get_column("probability").to_numpy().astype(float) if "probability" in df.columns else None
    binary = len(classes) <= 2
    positive = True if label_type == "bool" else classes[-1]
    averaged = {"pos_label": positive, "average": "binary"} if binary else {"average": "macro"}
    per_class = _PerClassProbabilities(node_id, df, model, label)

    def probability_needed(metric: str):
        if p is None:
            raise PipelineRunError(f"evaluate ({node_id}): {metric} needs the `probability` column of predict")
        return p

    def roc_auc() -> float:
        if per_class.needed:
            return sk.roc_auc_score(y, per_class.scores("roc_auc"), multi_class="ovr", average="macro",
                                    labels=per_class.classes)
        truth = y == positive
        if truth.all() or not truth.any():
            raise PipelineRunError(f"evaluate ({node_id}): roc_auc needs both classes of `{label}` "
                                   f"among the evaluated rows")
        return sk.roc_auc_score(truth, probability_needed("roc_auc"))

    def log_loss() -> float:
        if per_class.needed:
            return sk.log_loss(y, per_class.scores("log_loss"), labels=per_class.classes)
        return sk.log_loss(y == positive, probability_needed("log_loss"), labels=[False, True])

    compute = {
        "accuracy": lambda: sk.accuracy_score(y, yhat),
        "precision": lambda: sk.precision_score(y, yhat, zero_division=0, **averaged),
        "recall": lambda: sk.recall_score(y, yhat, zero_division=0, **averaged),
        "f1": lambda: sk.f1_score(y, yhat, zero_division=0, **averaged),
        "roc_auc": roc_auc,
        "log_loss": log_loss,
    }
    if binary:
        y, yhat = y.astype(type(positive)), yhat.astype(type(positive))
    else:
        averaged = {"average": "macro", "labels": classes}
    return {m: float(compute[m]()) for m in metrics}


class _PerClassProbabilities:
    """Every class's probability for the evaluated rows, from the model that predicted them.
    Needed when the model knows more than two classes: `probability` then holds only the
    predicted class's, from which one-vs-rest roc_auc and log_loss cannot be computed."""

    def __init__(self, node_id: str, df, model: Model, label: str):
        self.node_id, self.df, self.model, self.label = node_id, df, model, label
        self.classes = list(model.meta["classes"] or [])
        self.needed = len(self.classes) > 2

    def scores(self, metric: str):
        """The rows' class probabilities, one column per class of `classes` (the model's, sorted)."""
        missing = [name for name, _ in self.model.features() if name not in self.df.columns]
        if missing:
            raise PipelineRunError(
                f"evaluate ({self.node_id}): {metric} with {len(self.classes)} classes needs every class's "
                f"probability, computed from the model's features; the evaluated table lacks "
                f"{', '.join(f'`{m}`' for m in missing)} (keep them after `predict`)")
        truth = self.df.get_column(self.label)
        unseen = truth.filter(~truth.is_in(self.classes)).unique().sort().to_list()
        if unseen:
            raise PipelineRunError(f"evaluate ({self.node_id}): `{self.label}` has the value {unseen[0]!r}, "
                                   f"which the model never saw in training", column=self.label)
        if metric == "roc_auc":
            absent = [c for c in self.classes if c not in set(truth.to_list())]
            if absent:
                raise PipelineRunError(f"evaluate ({self.node_id}): roc_auc needs every class of "
                                       f"`{self.label}` among the evaluated rows; {absent[0]!r} has none",
                                       column=self.label)
        # predict_proba's columns follow the fitted classes_, which sort like `classes`
        return self.model.pipeline.predict_proba(feature_frame(self.df, self.model.features()))


def tune(ctx: RunContext, node_id: str, frame, *, kind: str, candidates: list[tuple[str, dict[str, Any]]],
         features: list[tuple[str, str]], label: tuple[str, str], metric: str, lower_is_better: bool,
         folds: int | None, holdout: float | None, seed: int, trials: Schema) -> Model:
    """Score every candidate on the same validation rounds (`validation_rounds`) with `fit`,
    `predict` and `evaluate`, keep the best mean (ties: the earliest candidate) and refit it on all
    rows. The (candidate, round) fits run in worker processes, up to the cores (`score_candidates`);
    each fit depends only on its rows and its seed, and the results are gathered by candidate and
    round, so the choice and the metrics do not depend on the schedule.

    In a task that scores only one candidate (`ctx.fan_out_item`, an orchestrator's mapped task)
    this raises `FannedOut` with that candidate's results; given every candidate's results
    (`ctx.fanned_in`, from those tasks) it only chooses and refits."""
    pl = _pl()
    df = frame.collect() if hasattr(frame, "collect") else frame
    if holdout is not None:
        check_bound("proper_fraction", holdout, "`holdout` of `tune`")
    rounds = validation_rounds(df.height, folds, holdout, seed)
    if any(len(valid) == 0 or len(train) == 0 for train, valid in rounds):
        raise PipelineRunError(f"tune ({node_id}): {df.height} rows are too few for "
                               + (f"{folds} folds" if folds else f"a hold-out fraction of {holdout}"))
    job = TuneJob(node_id, df, rounds, kind, candidates, features, label, metric)
    if ctx.fan_out_item is not None and ctx.fan_out_item[0] == node_id:
        item = ctx.fan_out_item[1]
        raise FannedOut(node_id, score_candidates(job, [(item, r) for r in range(len(rounds))]))
    if node_id in ctx.fanned_in:
        results = [tuple(result) for candidate in ctx.fanned_in[node_id] for result in candidate]
    else:
        results = score_candidates(job, [(c, r) for c in range(len(candidates)) for r in range(len(rounds))])
    means, seconds, best = best_candidate(results, len(candidates), len(rounds), lower_is_better)
    estimator, params = candidates[best]
    model = fit(ctx, node_id, df, estimator=estimator, kind=kind, params=params, features=features, label=label)
    model.meta["selection"] = {"metric": metric, "candidate": best + 1, "score": means[best],
                               "validation": {"folds": folds} if folds else {"holdout": holdout}, "seed": seed}
    hyper = [name for name, _, _ in trials[2:-2]]
    columns = {"candidate": list(range(1, len(candidates) + 1)), "estimator": [e for e, _ in candidates],
               **{h: [p.get(h) for _, p in candidates] for h in hyper}, metric: means, "seconds": seconds}
    model.trials = pl.DataFrame({name: pl.Series(name, columns[name], dtype=dtype(base))
                                 for name, base, _ in trials})
    return model


_TASKS = {"classifier": "classification", "regressor": "regression"}
# Below this many rows x fits, starting worker processes (a Python with polars and scikit-learn
# each) costs more than the fits: they run one after the other in this process.
PROCESS_POOL_MIN_WORK = 200_000


class FannedOut(Exception):
    """`tune` in a task that scores one candidate: `results` are its (metric, seconds) per round,
    the task's result (see `tune`)."""

    def __init__(self, node_id: str, results: list[tuple[float, float]]):
        super().__init__(f"{node_id}: scored")
        self.node_id, self.results = node_id, results


class TuneJob:
    """What scoring one (candidate, round) needs; picklable, for joblib's worker processes."""

    def __init__(self, node_id: str, df, rounds, kind: str, candidates, features, label, metric: str):
        self.node_id, self.df, self.rounds, self.kind = node_id, df, rounds, kind
        self.candidates, self.features, self.label, self.metric = candidates, features, label, metric

    def score(self, task: tuple[int, int]) -> tuple[float, float]:
        """The candidate's metric on the round's validation rows, and the seconds it took."""
        import time

        (estimator, params), (train, valid) = self.candidates[task[0]], self.rounds[task[1]]
        started = time.perf_counter()
        where = f"{self.node_id}, candidate {task[0] + 1}"
        model = fit(None, where, self.df[train], estimator=estimator, kind=self.kind, params=params,
                    features=self.features, label=self.label)
        scored = predict(None, where, self.df[valid], model)
        value = evaluate(None, where, scored, model, label=self.label[0], label_type=self.label[1],
                         task=_TASKS[self.kind], metrics=[self.metric])[self.metric]
        return value, time.perf_counter() - started


def score_candidates(job: TuneJob, tasks: list[tuple[int, int]]) -> list[tuple[float, float]]:
    """`job.score` of every task, in the order of `tasks`. With more than one core and enough work,
    in joblib's pool of worker processes, as scikit-learn's `GridSearchCV(n_jobs=...)` runs its
    fits (the fits hold the GIL, so threads would take turns; joblib's workers are started once
    per process and reused, and limit their BLAS and OpenMP threads so that the workers do not
    oversubscribe the cores); otherwise here, one after the other."""
    workers = min(len(tasks), os.cpu_count() or 1)
    if workers < 2 or job.df.height * len(tasks) < PROCESS_POOL_MIN_WORK:
        return [job.score(task) for task in tasks]
    import joblib

    return joblib.Parallel(n_jobs=workers)(joblib.delayed(job.score)(task) for task in tasks)


def tune_trials(model: Model):
    """The trials table of the `tune` step that chose `model`."""
    return model.trials.lazy()


# ------------------------------------------------------------------ PostgreSQL
def _resolved_item(ctx: RunContext, item: dict[str, Any]) -> dict[str, Any]:
    """A database step's item with `${param}` substituted in its query."""
    return {**item, "query": substitute(item["query"], ctx.params)} if "query" in item else item


def check_databases(ctx: RunContext, items: list[dict[str, Any]], drop_stale: bool = True) -> None:
    """Before any work: compare every database step's schema with the live database (all the
    problems at once, each naming the step's place), and drop tables staged by dead runs."""
    problems: list[str] = []
    for item in items:
        url = ctx.connection_url(item["connection"])
        try:
            problems += database.check_item(_resolved_item(ctx, item), url)
            if drop_stale and "mode" in item:
                conn = database.connect(item["connection"], url, item["where"])
                try:
                    for table in database.drop_stale_stages(
                            conn, [database.split_table(item["table"])[0]],
                            lambda run: commit_protocol.run_is_alive(ctx.state_dir, run)):
                        ctx.warn(f"dropped {table}, staged by a run that did not finish")
                finally:
                    conn.close()
        except database.DatabaseError as exc:
            raise PipelineRunError(str(exc)) from None
    if problems:
        raise PipelineRunError("the database does not match the pipeline:\n  " + "\n  ".join(problems))


def read_database(ctx: RunContext, node_id: str, item: dict[str, Any], columns: list[str] | None = None):
    """A table or query as a LazyFrame of its declared columns and types (database.select_sql
    gives its row order)."""
    pl = _pl()
    item = _resolved_item(ctx, item)
    url = ctx.connection_url(item["connection"])
    fields = [f for f in item["schema"] if columns is None or f[0] in columns]
    try:
        data = database.read_arrow(item["connection"], url, database.select_sql(item, columns), item["where"])
    except database.DatabaseError as exc:
        raise PipelineRunError(str(exc)) from None
    df = pl.from_arrow(data)
    missing = [name for name, _, _ in fields if name not in df.columns]
    if missing:
        raise PipelineRunError(f"{item['where']}: the result has no column {', '.join(f'`{m}`' for m in missing)}")
    return _conformed(ctx, node_id, df.select([name for name, _, _ in fields]), fields, item["where"])


def write_database(ctx: RunContext, node_id: str, frame, item: dict[str, Any]) -> None:
    """Stage the table's rows in a new table beside the target; `commit` moves them in."""
    pl = _pl()
    df = ctx.materialise(node_id, frame)
    if item["key"]:
        duplicated = df.select(item["key"]).is_duplicated()
        if duplicated.any():
            row = df.select(item["key"]).row(int(duplicated.arg_true()[0]), named=True)
            raise PipelineRunError(f"{item['where']}: key {row} appears more than once in the rows written to "
                                   f"`{item['table']}`; a key names one row")
    url = ctx.connection_url(item["connection"])
    ctx.take_run_lock()
    staged = database.stage_name(ctx.run_id, len(ctx.tables))
    entry = {"node": node_id, "item": item, "staged": staged, "rows": df.height,
             "path": database.address(item["connection"], item["table"])}
    ctx.tables.append(entry)
    try:
        database.stage_rows(item, url, df.to_arrow(compat_level=pl.CompatLevel.oldest()), staged)
    except database.DatabaseError as exc:
        raise PipelineRunError(str(exc)) from None


def drift(ctx: RunContext, node_id: str, frame, reference, *, columns: list[tuple[str, bool]],
          where: str) -> dict[str, float]:
    """`drift`: the runtime contract's `drift_metrics` of each (column, numeric) pair's non-null values."""
    df = frame.collect() if hasattr(frame, "collect") else frame
    ref = reference.collect() if hasattr(reference, "collect") else reference
    return drift_metrics([(name, numeric, df.get_column(name).drop_nulls().to_list(),
                           ref.get_column(name).drop_nulls().to_list()) for name, numeric in columns], where)


# ------------------------------------------------------------------ sinks
def write_csv(ctx: RunContext, node_id: str, frame, template: str, partition_by: Schema | None = None) -> None:
    df = ctx.materialise(node_id, frame)
    _stage_table(ctx, node_id, df, template, partition_by, "csv", write_table_csv)


def write_parquet(ctx: RunContext, node_id: str, frame, template: str, partition_by: Schema | None = None) -> None:
    df = ctx.materialise(node_id, frame)
    _stage_table(ctx, node_id, df, template, partition_by, "parquet", lambda table, tmp: table.write_parquet(tmp))


def write_json(ctx: RunContext, node_id: str, value, template: str, partition_by: Schema | None = None) -> None:
    """Tables as JSON lines; metrics as one JSON object."""
    if isinstance(value, dict):
        text = metrics_json_text(value)
        ctx.stage_file(node_id, template, None, lambda tmp: tmp.write_text(text))
        return
    df = ctx.materialise(node_id, value)
    _stage_table(ctx, node_id, df, template, partition_by, "json", write_table_json)


def _stage_table(ctx: RunContext, node_id: str, df, template: str, partition_by: Schema | None, fmt: str,
                 write: Callable[[Any, Path], None]) -> None:
    """Stage one file, or with `partition_by` ((name, type, nullable) of the partition columns)
    one folder per partition the table has: `name=value/.../part-0.<fmt>` holding the other
    columns in the table's row order, and pipec's marker. Each partition folder is an output of
    its own, so the commit replaces exactly the partitions this run produced; the others, and
    any file beside them, stay as they are."""
    if not partition_by:
        ctx.stage_file(node_id, template, df.height, lambda tmp: write(df, tmp))
        return
    names = [name for name, _, _ in partition_by]
    levels = [(name, base) for name, base, _ in partition_by]
    root = ctx.location(template)
    for values, part in df.partition_by(names, maintain_order=True, include_key=False, as_dict=True).items():
        folder = partition_folder(values, levels)
        target = StoreLocation(f"{root.rstrip('/')}/{folder}") if isinstance(root, str) else root / folder
        ctx.stage_file(node_id, target, part.height,
                       lambda tmp, part=part: _write_partition(part, tmp, fmt, write))


def _write_partition(df, folder: Path, fmt: str, write: Callable[[Any, Path], None]) -> None:
    folder.mkdir()
    write(df, folder / f"part-0.{fmt}")
    (folder / commit_protocol.MARKER).write_text("")


def save_model(ctx: RunContext, node_id: str, model: Model, template: str) -> None:
    """A directory holding `model.joblib` (the scikit-learn pipeline) and `model.json` (its meta)."""
    ctx.stage_file(node_id, template, None, lambda tmp: write_model(model, tmp))


def write_model(model: Model, folder: Path) -> None:
    """Create `folder` holding the model as `save_model` writes it."""
    import joblib

    folder.mkdir()
    joblib.dump(model.pipeline, folder / "model.joblib")
    sidecar = {**model.meta, "sha256": model_folder_digest(str(folder))}
    (folder / "model.json").write_text(json.dumps(sidecar, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars among the classes
        return value.item()
    raise TypeError(f"cannot write {value!r} as JSON")


def load_model(path: str | os.PathLike) -> Model:
    """Load a directory written by `save_model`, checking its format."""
    import joblib

    folder = Path(path)
    try:
        meta = json.loads((folder / "model.json").read_text())
    except (OSError, ValueError) as exc:
        raise PipelineRunError(f"{folder}: not a saved pipec model ({exc})", file=str(folder)) from exc
    if meta.get("format") != MODEL_FORMAT:
        raise PipelineRunError(f"{folder}: model format {meta.get('format')!r}, expected {MODEL_FORMAT}",
                               file=str(folder))
    return Model(joblib.load(folder / "model.joblib"), meta)


def load_saved_model(ctx: RunContext, node_id: str, template: str, *, expected: dict[str, Any], where: str) -> Model:
    """`load_model`: the scikit-learn model a local (or Airflow) run saved at the path, loaded only
    after the runtime contract's `checked_saved_model` passed (engine, digest, signature)."""
    import joblib

    folder = ctx.path(template)
    meta = checked_saved_model(str(folder), expected, "scikit-learn", where)
    meta.pop("sha256")
    return Model(joblib.load(folder / "model.joblib"), meta)
