"""Pipeline params and options as Airflow DAG arguments, rendered as Python source text.

Every value a user wrote reaches the DAG file through `py_literal` (a `repr`), never by string
pasting, so a hostile string cannot escape into code.

>>> from pipec.compiler.types import ParamType
>>> param_call(ParamSpec(name="seed", type=ParamType(name="int"), default=42))
"Param(42, type='integer')"
"""
from __future__ import annotations

import datetime
import pprint
from typing import Any

from pipec.backends.airflow.task_io import (BASE_DIR_PARAM, CACHE_RETENTION_DEFAULT, CACHE_RETENTION_PARAM, KEEP_PARAM,
                                            RETENTION_PARAM, STORAGE_ROOT_PARAM)
from pipec.compiler import ast
from pipec.compiler.ir import IR, Options, ParamSpec
from pipec.compiler.types import ParamType

# A pipeline param named like one the generated DAG adds itself would be shadowed.
RESERVED_PARAMS = (BASE_DIR_PARAM, STORAGE_ROOT_PARAM, KEEP_PARAM, RETENTION_PARAM, CACHE_RETENTION_PARAM)

_SCALAR_SCHEMAS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "str": {"type": "string"},
    "date": {"type": "string", "format": "date"},
    # A duration is whole seconds in the IR; a run conf may also give it as text such as "5m",
    # which the task reads with the runtime contract's parser (as `-p` and a Spark job do).
    "duration": {"type": ["integer", "string"]},
}


def py_literal(value: Any, indent: int = 0) -> str:
    """`value` as Python source (reprs only), wrapped at 96 columns and indented to `indent`."""
    text = pprint.pformat(value, width=max(40, 96 - indent), sort_dicts=False)
    return text.replace("\n", "\n" + " " * indent)


def call_source(function: str, arguments: list[str], indent: int = 0) -> str:
    """`function(arg, ...)` on one line when it fits in 96 columns, else one argument per line."""
    one_line = f"{function}({', '.join(arguments)})"
    if indent + len(one_line) <= 96 and "\n" not in one_line:
        return one_line
    inner = " " * (indent + 4)
    return f"{function}(\n" + "".join(f"{inner}{a},\n" for a in arguments) + " " * indent + ")"


def json_schema(param_type: ParamType) -> dict[str, Any]:
    """The JSON-schema keywords Airflow validates a param value of this type with."""
    if param_type.name == "list":
        assert param_type.item is not None, "list params carry an item type"
        return {"type": "array", "items": json_schema(param_type.item)}
    return dict(_SCALAR_SCHEMAS[param_type.name])


def param_ranges(ir: IR) -> dict[str, dict[str, Any]]:
    """Param name -> the JSON-schema keywords of the range it must lie in, for each param that
    is a step argument with a range in the runtime contract (`limit($n)`, `split(fraction=$f)`,
    a hyper-parameter): the trigger form and Airflow's run-conf check reject a value outside it
    before any task starts, as `-p` does."""
    bounds: dict[str, list] = {}
    for node in ir.nodes():
        for argument, bound in node.spec.bounds(node.args):
            if isinstance(argument, ast.ParamRef) and bound not in bounds.setdefault(argument.name, []):
                bounds[argument.name].append(bound)
    return {name: found[0].json_schema() if len(found) == 1 else {"allOf": [b.json_schema() for b in found]}
            for name, found in bounds.items()}


def param_call(spec: ParamSpec, indent: int = 0, range_: dict[str, Any] | None = None) -> str:
    """`Param(default, type=..., description=...)` for one pipeline parameter; `range_`: the
    JSON-schema keywords of its range (`param_ranges`)."""
    keywords = {**json_schema(spec.type), **(range_ or {})}
    if spec.doc:
        keywords["description"] = spec.doc
    return _param_source(spec.default, keywords, indent)


def builtin_param_calls(indent: int = 0) -> dict[str, str]:
    """The params every generated DAG has: where relative paths and stage outputs live (their
    defaults: the DAG file's BASE_DIR and STORAGE_ROOT, set where it is deployed), and whether a
    successful run keeps its stage outputs."""
    descriptions = {
        BASE_DIR_PARAM: ("BASE_DIR", "string", "Directory that relative source and sink paths resolve against."),
        STORAGE_ROOT_PARAM: ("STORAGE_ROOT", "string", "Where tasks hand data to each other (a local path "
                             "or any fsspec URI); each run writes under {storage_root}/{dag_id}/{run}/."),
        KEEP_PARAM: ("False", "boolean", "Keep the run's folder under storage_root after the run succeeded "
                     "(a failed run always keeps it, so that a cleared task can resume)."),
        RETENTION_PARAM: ("'7d'", ["integer", "string"], "How long the folder of a run that did not finish "
                          "is kept under storage_root (a duration such as 7d, or seconds); a successful "
                          "run's clean_up removes older ones."),
        CACHE_RETENTION_PARAM: (repr(CACHE_RETENTION_DEFAULT), ["integer", "string"], "How long an entry of the "
                                "stage cache under {storage_root}/cache/ that this DAG used last is kept unused "
                                "(a duration such as 30d, or seconds); a successful run removes older ones."),
    }
    return {name: _param_source(default, {"type": kind, "description": text}, indent, default_source=True)
            for name, (default, kind, text) in descriptions.items()}


def _param_source(default: Any, keywords: dict[str, Any], indent: int, default_source: bool = False) -> str:
    """`Param(...)`; with `default_source` the default is already Python source (a name)."""
    arguments = [default if default_source else py_literal(default, indent + 4)]
    arguments += [f"{k}={py_literal(v, indent + 4 + len(k) + 1)}" for k, v in keywords.items()]
    return call_source("Param", arguments, indent)


def start_date_source(start: str) -> str:
    """A UTC `datetime.datetime(...)` call for the `start` option (an ISO date or date-time)."""
    moment = datetime.datetime.fromisoformat(start)
    fields = [moment.year, moment.month, moment.day]
    if moment.time() != datetime.time():
        fields += [moment.hour, moment.minute, moment.second]
    return f"datetime.datetime({', '.join(map(str, fields))}, tzinfo=datetime.timezone.utc)"


def timedelta_source(seconds: int) -> str:
    return f"datetime.timedelta(seconds={int(seconds)})"


# Schedules that are not a cron expression or preset, and so have no data interval to give.
_NOT_CRON = (None, "@once", "@continuous")
INTERVAL_TIMETABLE = "CronDataIntervalTimetable"
# `schedule="asset:out/train/model"`: run when the DAG writing that path publishes its Asset
ASSET_SCHEDULE = "asset:"


def dag_arguments(options: Options, data_intervals: bool = False) -> dict[str, str]:
    """`@dag(...)` keyword arguments (besides dag_id, doc_md and params) as source text.

    With `data_intervals` (the pipeline reads `run.*`), a cron schedule becomes a timetable of data
    intervals: a run's logical date is the start of the interval it covers (`@daily` for
    2013-01-02: [2013-01-02, 2013-01-03)), as `pipec run --run-date` means, where Airflow's default
    timetable would give every run an empty interval."""
    arguments = {"schedule": py_literal(options.schedule)}
    if options.schedule is not None and options.schedule.startswith(ASSET_SCHEDULE):
        # another pipeline's sink (its default path): this DAG runs whenever that DAG publishes it
        path = options.schedule.removeprefix(ASSET_SCHEDULE)
        arguments["schedule"] = f"[Asset(asset_uri({py_literal(path)}))]"
    elif data_intervals and options.schedule not in _NOT_CRON:
        arguments["schedule"] = f"{INTERVAL_TIMETABLE}({py_literal(options.schedule)}, timezone='UTC')"
    if options.start is not None:
        arguments["start_date"] = start_date_source(options.start)
    arguments["catchup"] = py_literal(options.catchup)
    if options.tags:
        arguments["tags"] = py_literal(list(options.tags))
    defaults = default_args(options)
    if defaults:
        entries = ", ".join(f"{py_literal(name)}: {value}" for name, value in defaults.items())
        arguments["default_args"] = "{" + entries + "}"
    return arguments


def default_args(options: Options) -> dict[str, str]:
    """Task-level options, which Airflow takes through `default_args`."""
    defaults: dict[str, str] = {}
    if options.owner is not None:
        defaults["owner"] = py_literal(options.owner)
    if options.retries is not None:
        defaults["retries"] = py_literal(options.retries)
    if options.retry_delay is not None:
        defaults["retry_delay"] = timedelta_source(options.retry_delay)
    if options.timeout is not None:
        defaults["execution_timeout"] = timedelta_source(options.timeout)
    return defaults
