"""What every runtime of generated code agrees on, written once: error kinds, param values given
as text (one parser for `-p`, a Spark job's `--param` and a scheduled run's conf), durations,
`${name}` in strings, the split/sample draw, the value bounds of param-valued step arguments, the
`confine_outputs` rule, the frames of `python(...)` steps, and the bytes of CSV, JSON-lines and
metrics files.

Generated code imports nothing from pipec, so this module imports only the standard library (the
file writers import polars, the python() frames pandas and pyarrow, when called, as they run where
those are). It is embedded into every generated Spark job (as `commit.py` is) and copied beside
every generated workflow file (as `pipec_contract.py`); the checker and the command line import it
from here. A change here therefore changes all runtimes at once, which is the point.
"""
from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
import math
import os
import posixpath
import re
from typing import Any, Callable, NamedTuple


# ---------------------------------------------------------------- error kinds
class PipelineRunError(Exception):
    """A run failed because of its data, user code or environment (exit 1); the message is
    complete on its own. `file`, `column`, `row` and `value` say where, when known."""

    exit_code = 1
    # raised inside a polars query, the error comes back with the query appended, which says
    # nothing to a pipeline's author
    _QUERY_NOTE = "\n\nThis error occurred in the following expression:"

    def __init__(self, message: str, *, file: str | None = None, column: str | None = None,
                 row: int | None = None, value: Any = None):
        message = message.split(self._QUERY_NOTE)[0]
        super().__init__(message)
        self.message = message
        self.file = file
        self.column = column
        self.row = row
        self.value = value


class ParamError(PipelineRunError):
    """A param value given at run time does not parse as its type, or is out of the range its
    use allows: a bad command line (exit 2), found before any output is written."""

    exit_code = 2


class ExpectationFailed(PipelineRunError):
    """An `expect` condition was false; the message names the condition and the observed values."""


# ---------------------------------------------------------------- param values
_TYPE_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
               "date": 'a date string such as "2013-01-01"', "duration": "a duration such as 5m"}
DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"([0-9]+)([smhd]?)")


def parse_duration(value: Any) -> int:
    """Seconds of a duration: `30s`, `5m`, `2h`, `1d`, or a whole number of seconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    match = _DURATION.fullmatch(text)
    if match:
        return int(match.group(1)) * DURATION_SECONDS.get(match.group(2), 1)
    raise ValueError(f"`{value}` is not {_TYPE_WORDS['duration']}")


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def parse_bool(value: Any) -> bool:
    """`true`/`false` (also `1`/`0`, `yes`/`no`, any case)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"`{value}` is not true or false")


def parse_param(type_name: str, value: Any) -> Any:
    """The value of a param of type `type_name` (`int`, ..., `list[T]`) given as command-line text
    or as a JSON value (a default, a run conf). Values are as the IR keeps them: a date is
    its ISO text, a duration its seconds. Raises ValueError saying what is wrong."""
    if type_name.startswith("list["):
        item_type = type_name[5:-1]
        items = value
        if isinstance(value, str) and value.strip().startswith("["):
            try:
                items = json.loads(value)
            except ValueError:
                raise ValueError(f"`{value}` is not a JSON list") from None
        elif isinstance(value, str):  # a,b,c
            items = [item.strip() for item in value.split(",") if item.strip()]
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"`{value}` is not a list")
        return [parse_param(item_type, item) for item in items]
    try:
        return _PARSERS[type_name](value)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"`{value}` is not {_TYPE_WORDS[type_name]}") from None


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(value)
    return int(value.strip() if isinstance(value, str) else value)


def _as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    return float(value.strip() if isinstance(value, str) else value)


def _as_date(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return dt.date.fromisoformat(str(value).strip()).isoformat()


def _as_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(value)
    return value  # kept exactly as given


_PARSERS: dict[str, Callable[[Any], Any]] = {"int": _as_int, "float": _as_float, "bool": parse_bool,
                                             "str": _as_str, "date": _as_date, "duration": parse_duration}


def param_text(value: Any) -> str:
    """How a param value reads inside a string (`${name}`): a bool as true/false, a list as its
    items joined by commas, a date as ISO text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(param_text(v) for v in value)
    if isinstance(value, dt.datetime):  # a run time in a Spark job
        return run_time_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def param_argument(value: Any) -> str:
    """A param value as a command-line argument that `parse_param` reads back (lists as JSON, so
    that items may hold commas)."""
    if isinstance(value, (list, tuple)):
        return json.dumps([param_text(v) if isinstance(v, (bool, dt.date)) else v for v in value])
    return param_text(value)


# ---------------------------------------------------------------- the run context
# `run.<field>` (docs/language.md, "The run context"): the run's logical date and data interval,
# known only when a run starts. Runtimes keep the values as ISO text in the params dict, under
# `run_key(field)`, so that `${run.date}` and `run.date` read them as `${p}` and `$p` read params.
RUN_FIELDS = {"date": "date", "logical_date": "timestamp", "interval_start": "timestamp",
              "interval_end": "timestamp"}
RUN_PREFIX = "run."
ONE_DAY = dt.timedelta(days=1)


def run_key(field: str) -> str:
    return RUN_PREFIX + field


def parse_run_time(value: Any) -> dt.datetime:
    """A run date or time (ISO `2013-01-02`, `2013-01-02T06:00:00Z`, a `date`/`datetime`) as an
    aware UTC datetime; a date is its midnight, a time without an offset is UTC."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        try:
            moment = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise ValueError(f"`{value}` is not a date or a timestamp such as 2013-01-02 or "
                             "2013-01-02T06:00:00Z") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def run_time_text(moment: dt.datetime) -> str:
    """A run time as ISO 8601 UTC text: `2013-01-02T00:00:00Z`, microseconds only when not zero."""
    moment = moment.astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moment.microsecond:06d}" if moment.microsecond else "") + "Z"


def run_context(logical: Any = None, start: Any = None, end: Any = None,
                schedule: str | None = None) -> dict[str, str]:
    """The run's `run.*` values, keyed by `run_key`, as every runtime computes them: the logical
    date (default: now), its UTC calendar date, and the data interval [start, end), which, when
    not given, is the period of the pipeline's cron `schedule` that starts at the logical date
    (`schedule_period`), and without a schedule, or when empty, the logical date's day. Raises
    ValueError for an unreadable value or an interval that ends before it starts."""
    moment = parse_run_time(logical) if logical is not None else dt.datetime.now(dt.timezone.utc)
    if (start is None) != (end is None):
        raise ValueError("an interval needs both its start and its end")
    if start is not None:
        start, end = parse_run_time(start), parse_run_time(end)
        if end < start:
            raise ValueError(f"the interval ends ({run_time_text(end)}) before it starts ({run_time_text(start)})")
    elif cron_expression(schedule) is not None:
        start, end = schedule_period(schedule, moment)
    if start is None or start == end:
        start = dt.datetime.combine(moment.date(), dt.time(), dt.timezone.utc)
        end = start + ONE_DAY
    values = {"date": moment.date().isoformat(), "logical_date": run_time_text(moment),
              "interval_start": run_time_text(start), "interval_end": run_time_text(end)}
    return {run_key(field): values[field] for field in RUN_FIELDS}


# ---------------------------------------------------------------- cron schedules
# A run for logical date D of a pipeline with a cron schedule covers [D, the schedule's next time
# after D): for a time the schedule fires at, the interval the orchestrator's scheduled run for
# D has (an @monthly run for 2013-02-01 covers February). Presets as the orchestrator reads them;
# the rest is five-field cron (minute hour day-of-month month day-of-week, `*`, `a-b`, `/n`,
# lists, names), day-of-month and day-of-week matched either-or when both are restricted.
CRON_PRESETS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0",
                "@monthly": "0 0 1 * *", "@quarterly": "0 0 1 */3 *", "@yearly": "0 0 1 1 *",
                "@annually": "0 0 1 1 *", "@midnight": "0 0 * * *"}
_NOT_CRON = (None, "@once", "@continuous")
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_CRON_NAMES = {3: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
               4: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]}
_CRON_SEARCH_DAYS = 366 * 8  # far enough for 29 February


def cron_expression(schedule: str | None) -> str | None:
    """The five-field cron expression of a schedule; None for no schedule, `@once`, `@continuous`."""
    return None if schedule in _NOT_CRON else CRON_PRESETS.get(str(schedule).strip().lower(), schedule)


def schedule_period(schedule: str, logical: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[logical, the schedule's next time after logical): the data interval of a run of a cron
    schedule (UTC). Raises ValueError for an expression it cannot read or that never fires."""
    expression = cron_expression(schedule)
    fields = str(expression).split()
    if len(fields) != 5:
        raise ValueError(f"schedule `{schedule}` is not a preset such as @daily or a five-field cron expression")
    minutes, hours, days, months, weekdays = (_cron_field(text, i, schedule) for i, text in enumerate(fields))
    either_day = "*" not in (fields[2][:1], fields[4][:1])
    moment = logical.astimezone(dt.timezone.utc).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    for _ in range(_CRON_SEARCH_DAYS):
        day = moment.date()
        by_month_day, by_weekday = day.day in days, day.isoweekday() % 7 in weekdays
        if day.month in months and ((by_month_day or by_weekday) if either_day else (by_month_day and by_weekday)):
            for hour in sorted(h for h in hours if h >= moment.hour):
                first = moment.minute if hour == moment.hour else 0
                minute = min((m for m in minutes if m >= first), default=None)
                if minute is not None:
                    return logical, dt.datetime.combine(day, dt.time(hour, minute), dt.timezone.utc)
        moment = dt.datetime.combine(day + ONE_DAY, dt.time(), dt.timezone.utc)
    raise ValueError(f"schedule `{schedule}` never fires")


def _cron_field(text: str, index: int, schedule: str) -> frozenset[int]:
    low, high = _CRON_RANGES[index]
    names = _CRON_NAMES.get(index, [])
    base = 1 if index == 3 else 0

    def number(part: str) -> int:
        part = part.strip().lower()
        value = names.index(part) + base if part in names else int(part) if part.isdigit() else None
        if value is None or not low <= value <= high:
            raise ValueError(f"schedule `{schedule}`: `{text}` is not a cron field")
        return value

    values: set[int] = set()
    for part in text.split(","):
        body, slash, step = part.partition("/")
        if body == "*":
            first, last = low, high
        elif "-" in body:
            first, last = (number(x) for x in body.split("-", 1))
        else:
            first = number(body)
            last = high if slash else first
        if slash and not step.isdigit() or slash and int(step) == 0 or first > last:
            raise ValueError(f"schedule `{schedule}`: `{text}` is not a cron field")
        values.update(range(first, last + 1, int(step) if slash else 1))
    return frozenset(v % 7 for v in values) if index == 4 else frozenset(values)


def run_arguments(run: dict[str, str]) -> list[str]:
    """A run context as a Spark job's arguments, which its `run_context` reads back the same."""
    return ["--run-date", run[run_key("logical_date")], "--interval-start", run[run_key("interval_start")],
            "--interval-end", run[run_key("interval_end")]]


# The file a Spark job appends its stage and output events to (JSON lines), for `pipec run`'s
# OpenLineage stage runs; unset (a job submitted to a cluster), the job reports nothing.
JOB_EVENTS_VARIABLE = "PIPEC_JOB_EVENTS"


def parse_interval(text: str) -> tuple[dt.datetime, dt.datetime]:
    """`START/END` (ISO dates or timestamps) as two UTC datetimes."""
    start, sep, end = str(text).partition("/")
    if not sep:
        raise ValueError(f"`{text}` is not an interval START/END such as 2013-01-01/2013-01-02")
    return parse_run_time(start), parse_run_time(end)


# ---------------------------------------------------------------- ${name} in strings
PARAM_IN_STRING = re.compile(r"\$\{((?:run\.)?[A-Za-z_][A-Za-z0-9_]*)\}")


def substitute(template: str, params: dict[str, Any]) -> str:
    """Replace every `${name}` in a string by the param's value (`param_text`). A `${run.field}`
    whose value is not known yet (the checker, cost estimates) stays as written."""
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name.startswith(RUN_PREFIX) and name not in params:
            return match.group(0)
        if name not in params:
            raise PipelineRunError(f"`${{{name}}}` in {template!r} names no param "
                                   f"(params: {', '.join(sorted(params)) or 'none'})")
        return param_text(params[name])
    return PARAM_IN_STRING.sub(value, template)


# ---------------------------------------------------------------- cache keys
def stage_key(parts: dict[str, Any]) -> str:
    """A stage's cache key from its key parts (code, engine, params, inputs, modules, upstream:
    pipec/backends/local/stage_keys.py), hashed alike wherever the key is computed (a local run,
    an orchestrator's task)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def value_key(stage: str, node_id: str) -> str:
    """The key of one value a stage with key `stage` computes (an output, a sink, a metrics record)."""
    return hashlib.sha256(f"{stage}\0{node_id}".encode()).hexdigest()


# ---------------------------------------------------------------- confine_outputs
def outside_base_dir(path: str) -> str | None:
    """Why a sink path (params substituted, relative to the base directory) is not below the base
    directory, as `confine_outputs=true` requires (E0142), or None. Read as written: `~` is not
    expanded and symbolic links are not followed."""
    normal = posixpath.normpath(path.replace("\\", "/"))
    if normal.startswith("~"):
        return "starts with `~` (the home directory)"
    if posixpath.isabs(normal) or re.match(r"^[A-Za-z]:|^[A-Za-z][A-Za-z0-9+.-]*://", path):  # C:, s3a://
        return "is absolute"
    if normal == ".":
        return "is the base directory itself"
    if normal == ".." or normal.startswith("../"):
        return "climbs out of it with `..`"
    return None


def confined_sink(path: str, relative: str, confine_outputs: bool) -> None:
    """The run-time E0142: a ParamError when `confine_outputs` is set and a sink at `path` (the
    path below the base directory being `relative`) leaves it, found before anything is written."""
    why = outside_base_dir(relative) if confine_outputs else None
    if why is not None:
        raise ParamError(f"sink `{path}` is outside the base directory: `{relative}` {why} (the pipeline has "
                         f"confine_outputs=true, and a param given at run time put it there)")


# ---------------------------------------------------------------- split and sample
SPLIT_PRIME = 1_000_003
_KEY_FACTOR, _SEED_FACTOR = 7919, 104729


def draw_numerator(key: Any, seed: int) -> Any:
    """docs/semantics.md draws u = ((key mod P) * 7919 + (seed mod P) * 104729 + 1) mod P / P; this is
    the numerator, for a `key` already reduced mod P (an int, a polars expression or a Spark Column:
    only `*`, `+` and `%` on non-negative values, so every engine computes the same integer). Each
    engine divides it by P as IEEE 754 does (polars needs care: see the local runtime's `quotient`)."""
    return (key * _KEY_FACTOR + (seed % SPLIT_PRIME) * _SEED_FACTOR + 1) % SPLIT_PRIME


# ---------------------------------------------------------------- tune's validation rows
def validation_rounds(rows: int, folds: int | None, holdout: float | None, seed: int) -> list[tuple[Any, Any]]:
    """The (training, validation) row positions of each round of `tune` (docs/semantics.md): the
    rows in input order are permuted by `numpy.random.default_rng(seed).permutation(rows)`; with k
    folds the row at permuted position j belongs to fold j mod k, with a hold-out fraction f the
    rows at the first round(f * rows) positions validate. Positions come back ascending, so each
    part keeps the input's order."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(rows)
    part = np.empty(rows, dtype=np.int64)
    if folds is not None:
        part[order] = np.arange(rows) % folds
        rounds = folds
    else:
        part[order] = (np.arange(rows) >= round(holdout * rows)).astype(np.int64)
        rounds = 1
    everything = np.arange(rows)
    return [(everything[part != k], everything[part == k]) for k in range(rounds)]


def best_candidate(results: list[tuple[float, float]], candidates: int, rounds: int,
                   lower_is_better: bool) -> tuple[list[float], list[float], int]:
    """`tune`'s choice from its (metric, seconds) results in (candidate, round) order: each
    candidate's mean metric (a sequential sum, docs/semantics.md) and seconds, and the index of the
    best mean (ties: the earliest candidate)."""
    means, seconds, best = [], [], 0
    for c in range(candidates):
        values = results[c * rounds:(c + 1) * rounds]
        means.append(sum(v for v, _ in values) / len(values))
        seconds.append(sum(s for _, s in values))
        if means[c] < means[best] if lower_is_better else means[c] > means[best]:
            best = c
    return means, seconds, best


# ---------------------------------------------------------------- sink files
# The byte formats of docs/semantics.md ("Files"). Every backend writes its final table with these
# functions (a Spark job converts its ordered result to a polars DataFrame first), so CSV and JSON
# bytes are identical across backends. They take a polars DataFrame, so they run where polars is.
TIMESTAMP_TEXT = "%Y-%m-%dT%H:%M:%S%.fZ"  # timestamps in files and `cast(t, str)` (polars/chrono format)


def write_table_csv(df: Any, target: Any) -> None:
    """Header row, `,`, `\n` line ends, quotes only where needed (doubled inside), null as the
    empty field (an empty string as `""`), floats as polars' shortest round-trip text."""
    _timestamps_as_text(df).write_csv(target, date_format="%Y-%m-%d", line_terminator="\n",
                                      quote_style="necessary", null_value="")


def write_table_json(df: Any, target: Any) -> None:
    """One JSON object per line, columns in order; dates and timestamps as text, NaN and the
    infinities as null (JSON has no spelling for them)."""
    _timestamps_as_text(df).write_ndjson(target)


def metrics_json_text(metrics: dict[str, Any]) -> str:
    """The one JSON convention for metrics: keys sorted, two-space indent, floats as Python's
    shortest round-trip `repr`, a final newline."""
    return json.dumps(metrics, indent=2, sort_keys=True) + "\n"


def in_utc(expr: Any, polars_dtype: Any) -> Any:
    """A polars datetime expression in microseconds and UTC (a naive datetime is taken to be UTC)."""
    expr = expr.dt.cast_time_unit("us")
    if getattr(polars_dtype, "time_zone", None) is None:
        return expr.dt.replace_time_zone("UTC")
    return expr.dt.convert_time_zone("UTC")


def _timestamps_as_text(df: Any) -> Any:
    """Timestamps as ISO 8601 text in UTC: `T`, `Z`, and a fraction of a second only when it is
    not zero (3 or 6 digits)."""
    import polars as pl

    timestamps = [name for name, t in df.schema.items() if isinstance(t, pl.Datetime)]
    if not timestamps:
        return df
    return df.with_columns(in_utc(pl.col(name), df.schema[name]).dt.strftime(TIMESTAMP_TEXT)
                           for name in timestamps)


# ---------------------------------------------------------------- python() frames
# What a `python(...)` function gets and may return, the same on every backend (docs/semantics.md,
# "python(...)"): every column as the pandas `ArrowDtype` of its type's one Arrow type, nulls as
# `pd.NA`, so a date stays a date, an int with nulls an int and a NaN stays apart from null. They
# take and give Arrow tables, so they run where pandas and pyarrow are.
def python_arrow_type(kind: str) -> Any:
    """The Arrow type of a language type in a python() frame."""
    import pyarrow as pa

    return {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.large_string(),
            "date": pa.date32(), "timestamp": pa.timestamp("us", tz="UTC")}[kind]


def _kind_of_arrow(arrow_type: Any) -> str | None:
    """The language type of an Arrow type, or None for one that has no counterpart."""
    import pyarrow.types as t

    checks = (("bool", t.is_boolean), ("int", t.is_integer), ("float", t.is_floating), ("date", t.is_date),
              ("timestamp", t.is_timestamp), ("str", lambda a: t.is_string(a) or t.is_large_string(a)
                                              or t.is_string_view(a)))
    return next((kind for kind, check in checks if check(arrow_type)), None)


def python_input_frame(table: Any) -> Any:
    """The pandas DataFrame a python() function is called with: each column of `table` in the
    Arrow type of its language type (timestamps in UTC), as a pandas `ArrowDtype`."""
    import pandas as pd
    import pyarrow as pa

    schema = pa.schema([pa.field(f.name, python_arrow_type(_kind_of_arrow(f.type))) for f in table.schema])
    return table.cast(schema).to_pandas(types_mapper=pd.ArrowDtype)


def python_result_table(result: Any, schema: list[tuple[str, str, bool]], where: str) -> Any:
    """The declared columns of a python() function's result as an Arrow table of their declared
    types, or an error naming `where` and the column: the result is not a DataFrame, a column is
    missing, holds values of another type (an int may be a float; a naive timestamp is UTC; a
    NaN of a NumPy float column is null, as in pandas) or a null where none is allowed."""
    import pandas as pd
    import pyarrow as pa

    if not isinstance(result, pd.DataFrame):
        raise PipelineRunError(f"{where} returned {type(result).__name__}, not a pandas DataFrame")
    missing = [name for name, _, _ in schema if name not in result.columns]
    if missing:
        raise PipelineRunError(f"{where} returned no column {', '.join(f'`{m}`' for m in missing)} "
                               f"declared in its schema (it returned: {', '.join(map(str, result.columns))})",
                               column=missing[0])
    columns = []
    for name, kind, nullable in schema:
        try:
            values = pa.Array.from_pandas(result[name])
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise PipelineRunError(f"{where}: column `{name}` holds values that are not {kind} ({exc})",
                                   column=name) from None
        found = _kind_of_arrow(values.type)
        if values.null_count < len(values) and found != kind and (found, kind) != ("int", "float"):
            hint = " (`.dt.date` makes dates of timestamps)" if (found, kind) == ("timestamp", "date") else ""
            raise PipelineRunError(f"{where}: column `{name}` has type {found or values.type} "
                                   f"but the schema says {kind}{hint}", column=name)
        try:
            values = values.cast(python_arrow_type(kind))
        except pa.ArrowInvalid as exc:
            raise PipelineRunError(f"{where}: column `{name}` holds a value that is not a valid {kind} ({exc})",
                                   column=name) from None
        if not nullable and values.null_count:
            row = values.is_null().index(True).as_py() + 1
            raise PipelineRunError(f"{where}: column `{name}`, row {row}: null in a column declared `{kind}` "
                                   f"(not nullable); declare it `{kind}?`", column=name, row=row)
        columns.append(values)
    return pa.table(columns, names=[name for name, _, _ in schema])


# ---------------------------------------------------------------- argument bounds
# The values a param-valued step argument may take (docs/language.md §3); the checker checks a
# value known when it runs, the runtimes a value given only at run time, and a DAG's trigger form
# before a run starts.
class Bound(NamedTuple):
    """A range of numbers, said in words for messages and as JSON-schema keywords for forms."""

    requirement: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False

    def accepts(self, value: float) -> bool:
        """Whether `value` lies in the range (NaN never does)."""
        low = self.minimum is None or (value > self.minimum if self.exclusive_minimum else value >= self.minimum)
        high = self.maximum is None or (value < self.maximum if self.exclusive_maximum else value <= self.maximum)
        return bool(low and high)

    def json_schema(self) -> dict[str, float]:
        """The range as JSON-schema keywords (`minimum`, `exclusiveMaximum`, ...)."""
        schema = {}
        if self.minimum is not None:
            schema["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            schema["exclusiveMaximum" if self.exclusive_maximum else "maximum"] = self.maximum
        return schema


# By what the argument is: a count of rows, a fraction of the rows that leaves some on each side
# (`split`), a fraction that keeps some rows (`sample`).
BOUNDS: dict[str, Bound] = {
    "row_count": Bound("at least 0", minimum=0),
    "proper_fraction": Bound("between 0 and 1", minimum=0, maximum=1, exclusive_minimum=True,
                             exclusive_maximum=True),
    "nonzero_fraction": Bound("above 0 and at most 1", minimum=0, maximum=1, exclusive_minimum=True),
}
# The smallest value that makes sense for an estimator's hyper-parameter (pipec/stdlib/estimators.py
# has no other), by the hyper-parameter's name.
HYPERPARAMETER_MINIMUMS = {"max_iter": 1, "n_trees": 1, "max_depth": 1, "n_iter": 1, "k": 1, "reg": 0}


def hyperparameter_bound(name: str) -> Bound | None:
    """The range of the hyper-parameter `name`, None when any value goes."""
    minimum = HYPERPARAMETER_MINIMUMS.get(name)
    return None if minimum is None else Bound(f"at least {minimum}", minimum=minimum)


def check_bound(bound: str, value: Any, what: str) -> Any:
    """`value` if `BOUNDS[bound]` accepts it, else a ParamError naming `what` (e.g. "`fraction`
    of `split`") and the requirement."""
    return _checked(value, BOUNDS[bound], what)


def check_hyperparameters(estimator: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """`arguments` of an estimator, each checked against its minimum."""
    for name, value in arguments.items():
        bound = hyperparameter_bound(name)
        if bound is not None:
            _checked(value, bound, f"`{name}` of `{estimator}`")
    return arguments


def _checked(value: Any, bound: Bound, what: str) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not bound.accepts(value):
        raise ParamError(f"{what} must be {bound.requirement}, but it is {value!r} (a param value given at run time)",
                         value=value)
    return value


# ---------------------------------------------------------------- saved models (`load_model`)
# A model folder written by `save_model` holds the engine's files and a JSON sidecar describing
# them; the sidecar's name says which engine wrote it (docs/semantics.md, "Saved models").
MODEL_SIDECAR_ENGINES = {"model.json": "scikit-learn", "pipec-model.json": "spark"}


def model_folder_digest(folder: str) -> str:
    """`sha256:<hex>` of a model folder's files but its sidecar: of each file's relative path and
    bytes, in path order. `save_model` records it in the sidecar; `load_model` compares it before
    it loads anything (unpickling a scikit-learn model runs code)."""
    h = hashlib.sha256()
    names = []
    for root, _, files in os.walk(folder):
        names += [os.path.relpath(os.path.join(root, name), folder) for name in files]
    for name in sorted(n.replace(os.sep, "/") for n in names):
        if name in MODEL_SIDECAR_ENGINES:
            continue
        with open(os.path.join(folder, name), "rb") as f:
            h.update(f"{name}\0{hashlib.sha256(f.read()).hexdigest()}\n".encode())
    return "sha256:" + h.hexdigest()


def read_model_sidecar(folder: str) -> tuple[str, dict[str, Any]]:
    """The engine and the sidecar of the model folder `folder` (ValueError saying why it is no
    saved pipec model)."""
    if not os.path.isdir(folder):
        raise ValueError("there is no model folder there" if not os.path.exists(folder) else "it is not a folder")
    for name, engine in MODEL_SIDECAR_ENGINES.items():
        path = os.path.join(folder, name)
        if os.path.exists(path):
            try:
                with open(path, encoding="utf-8") as f:
                    sidecar = json.load(f)
            except (OSError, ValueError) as exc:
                raise ValueError(f"its {name} cannot be read: {exc}") from None
            if not isinstance(sidecar, dict) or sidecar.get("kind") not in ("classifier", "regressor", "clusterer") \
                    or not isinstance(sidecar.get("features"), list):
                raise ValueError(f"its {name} does not describe a model")
            return engine, sidecar
    raise ValueError("it has no model.json or pipec-model.json written by `save_model`")


def model_signature(sidecar: dict[str, Any]) -> dict[str, Any]:
    """What a model's users rely on: its kind, its features (name and type) and its label."""
    label = sidecar.get("label")
    return {"kind": sidecar["kind"], "features": sorted([f["name"], f["type"]] for f in sidecar["features"]),
            "label": [label["name"], label["type"]] if label else None}


def checked_saved_model(folder: str, expected: dict[str, Any], engine: str, where: str) -> dict[str, Any]:
    """The sidecar of the model folder `load_model` at `where` reads, after checking that it is a
    saved pipec model of `engine`, that its files have the digest the sidecar records, and that
    it has the `model_signature` the pipeline was checked against (`expected`); a PipelineRunError
    naming `where` otherwise, raised before the model's files are loaded."""
    try:
        found, sidecar = read_model_sidecar(folder)
    except ValueError as exc:
        raise PipelineRunError(f"{where}: {folder} is not a saved pipec model: {exc}", file=folder) from None
    if found != engine:
        raise PipelineRunError(f"{where}: the model at {folder} was saved by the {found} engine, but this run "
                               f"uses {engine}; a model loads only on the engine that saved it "
                               "(docs/semantics.md, \"Saved models\")", file=folder)
    if sidecar.get("sha256") != model_folder_digest(folder):
        raise PipelineRunError(f"{where}: the files of the model at {folder} do not have the digest its sidecar "
                               "records: they were changed after `save_model` wrote them, so they are not loaded",
                               file=folder)
    signature = model_signature(sidecar)
    if signature != expected:
        differences = [f"{part} {signature[part]!r} (expected {expected[part]!r})"
                       for part in ("kind", "features", "label") if signature[part] != expected[part]]
        raise PipelineRunError(f"{where}: the model at {folder} is not the one the pipeline was checked "
                               f"against: its {'; its '.join(differences)}", file=folder)
    return sidecar


# ---------------------------------------------------------------- `drift`
# docs/semantics.md, "Drift": per column, the population stability index (PSI) of the table
# against the reference and, for numeric columns, the two-sample Kolmogorov-Smirnov statistic.
DRIFT_BINS = 10
DRIFT_EPSILON = 1e-4  # the share given to a bin that holds no value on one side


def drift_cut_points(reference: list[Any]) -> list[Any]:
    """The numeric bins' cut points: the distinct values `numpy.quantile(reference, k / 10,
    method="lower")` for k = 1..9 of the sorted non-null reference values."""
    values = sorted(reference)
    last = len(values) - 1
    return sorted({values[int(math.floor((k / DRIFT_BINS) * last))] for k in range(1, DRIFT_BINS)})


def population_stability_index(expected: list[int], actual: list[int]) -> float:
    """PSI = sum over bins of (a - e) * ln(a / e), a and e the bin's shares of the table's and the
    reference's values (a share of 0 counts as DRIFT_EPSILON), summed in bin order."""
    n_expected, n_actual = sum(expected), sum(actual)
    total = 0.0
    for e_count, a_count in zip(expected, actual):
        e = e_count / n_expected or DRIFT_EPSILON
        a = a_count / n_actual or DRIFT_EPSILON
        total += (a - e) * math.log(a / e)
    return total


def ks_statistic(reference: list[Any], values: list[Any]) -> float:
    """The two-sample Kolmogorov-Smirnov statistic: the largest difference between the two
    empirical distribution functions, found exactly in integers (max |i * m - j * n| over the
    values) and divided once, as scipy.stats.ks_2samp's exact mode gives it."""
    ref, cur = sorted(reference), sorted(values)
    n, m = len(ref), len(cur)
    i = j = 0
    largest = 0
    for x in sorted(set(ref) | set(cur)):
        while i < n and ref[i] <= x:
            i += 1
        while j < m and cur[j] <= x:
            j += 1
        largest = max(largest, abs(i * m - j * n))
    common = math.gcd(n, m)
    return (largest // common) / (n * m // common)


def drift_metrics(columns: list[tuple[str, bool, list[Any], list[Any]]], where: str) -> dict[str, float]:
    """The `drift` metrics of (name, numeric, non-null table values, non-null reference values)
    per column: `psi_<name>` (and `ks_<name>` for a numeric column), in column order, then
    `max_psi` (and `max_ks` when a column is numeric). Numeric values are cut at
    `drift_cut_points` into right-closed bins (-inf, c1], (c1, c2], ..., (c_last, +inf);
    categorical ones (str, bool) count one bin per value either side has, in sorted order."""
    metrics: dict[str, float] = {}
    for name, numeric, values, reference in columns:
        for side, held in (("the table", values), ("the reference", reference)):
            if not held:
                raise PipelineRunError(f"{where}: column `{name}` has no non-null value in {side}, so its drift "
                                       "is not defined", column=name)
        if numeric:
            cuts = drift_cut_points(reference)
            expected, actual = [0] * (len(cuts) + 1), [0] * (len(cuts) + 1)
            for v in reference:
                expected[bisect.bisect_left(cuts, v)] += 1
            for v in values:
                actual[bisect.bisect_left(cuts, v)] += 1
        else:
            categories = sorted(set(reference) | set(values))
            expected, actual = _category_counts(reference, categories), _category_counts(values, categories)
        metrics[f"psi_{name}"] = population_stability_index(expected, actual)
        if numeric:
            metrics[f"ks_{name}"] = ks_statistic(reference, values)
    metrics["max_psi"] = max(v for k, v in metrics.items() if k.startswith("psi_"))
    if any(numeric for _, numeric, _, _ in columns):
        metrics["max_ks"] = max(v for k, v in metrics.items() if k.startswith("ks_"))
    return metrics


def _category_counts(values: list[Any], categories: list[Any]) -> list[int]:
    counts = dict.fromkeys(categories, 0)
    for v in values:
        counts[v] += 1
    return [counts[c] for c in categories]


# ---------------------------------------------------------------- Hive-style partitioned datasets
# A partitioned dataset is a folder of `name=value/` folders, one level per partition column in
# the declared order, whose files hold the other columns. Every runtime lists it through the
# commit protocol's file adapter (`list`, `kind`, `join`), so all read the same partitions and
# files in the same order: partitions by their typed values ascending (a null value, Hive's
# default partition, last), the files of one partition by name; names starting with `.` or `_`
# (pipec's staged folders and marker, Spark's `_SUCCESS`) are not data.
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
_HIVE_ESCAPED = frozenset('"#%\'*/:=?\\{}[]^\x7f') | frozenset(map(chr, range(32)))


def partition_text(value: Any, base: str) -> str:
    """The `value` part of a partition folder's name, escaped as Hive escapes it (`%XX`)."""
    if value is None:
        return HIVE_NULL
    text = ("true" if value else "false") if base == "bool" else value.isoformat() if base == "date" else str(value)
    return "".join(f"%{ord(c):02X}" if c in _HIVE_ESCAPED else c for c in text)


def partition_value(text: str, base: str, folder: str) -> Any:
    """The typed value a partition folder's name holds; a value of the wrong type names the folder."""
    from urllib.parse import unquote

    value = unquote(text)
    if value == HIVE_NULL:
        return None
    try:
        if base == "int":
            return int(value)
        if base == "bool" and value in ("true", "false"):
            return value == "true"
        if base == "date":
            return dt.date.fromisoformat(value)
        if base == "str":
            return value
    except ValueError:
        pass
    raise PipelineRunError(f"{folder}: the partition value {value!r} is not {_TYPE_WORDS[base]} "
                           f"(the schema declares {base})", file=folder)


def _data_entries(files: Any, folder: str) -> list[str]:
    return [name for name in files.list(folder) if not name.startswith((".", "_"))]


def partition_folders(files: Any, root: str, partition_by: list[tuple[str, str]]) -> list[tuple[tuple, str]]:
    """(typed values, folder) of every partition under `root`, in the defined order. Anything but
    a `name=value` folder at a partition level is an error naming it."""
    if files.kind(root) != "dir":
        what = "no such folder" if files.kind(root) == "missing" else "not a folder"
        raise PipelineRunError(f"{files.local(root)}: {what} (a partitioned source is a folder of "
                               f"`{partition_by[0][0]}=...` folders)", file=files.local(root))
    found: list[tuple[tuple, str]] = [((), root)]
    for name, base in partition_by:
        deeper = []
        for values, folder in found:
            for entry in _data_entries(files, folder):
                path = files.join(folder, entry)
                key, equals, text = entry.partition("=")
                if key != name or not equals or files.kind(path) != "dir":
                    raise PipelineRunError(f"{files.local(path)}: expected only folders named `{name}=<value>` "
                                           f"in {files.local(folder)}", file=files.local(path))
                deeper.append(((*values, partition_value(text, base, files.local(path))), path))
        found = deeper
    return sorted(found, key=lambda partition: [(v is None, v if v is not None else 0) for v in partition[0]])


def partition_files(files: Any, folder: str) -> list[str]:
    """The data files of one partition, by name; a folder inside it is an error naming it."""
    paths = [files.join(folder, name) for name in _data_entries(files, folder)]
    for path in paths:
        if files.kind(path) != "file":
            raise PipelineRunError(f"{files.local(path)}: a partition holds files only", file=files.local(path))
    return paths


def partition_folder(values: tuple, partition_by: list[tuple[str, str]]) -> str:
    """The relative folder of one partition (`a=1/b=x`), as every runtime writes it."""
    return "/".join(f"{name}={partition_text(value, base)}" for (name, base), value in zip(partition_by, values))
