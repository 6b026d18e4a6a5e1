"""Run-time support for generated pipec Spark jobs.

The source text of this module is embedded verbatim into every generated job, so that a job is
one file that needs nothing but pyspark (and polars, which writes CSV and JSON exactly as the
local backend does). It must therefore import nothing from pipec but the two stdlib-only modules
the job embeds in place of their imports (the commit protocol and the runtime contract: param
parsing, `${name}`, the split draw, error kinds, shared with the local runtime), and keep all its
state local to one run.

Contents, in the order a job uses them: job parameters, the job entry point (session, error
reporting), Column helpers for the expression semantics, schema-enforcing readers, atomic sinks,
split/sample, machine learning (fit, predict, evaluate, save) and expectations.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import importlib
import io
import json
import math
import os
import re
import signal
import sys
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from pyspark import SparkConf, SparkContext, StorageLevel  # noqa: F401  (StorageLevel is used by jobs)
from pyspark.errors import PythonException
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression, RandomForestClassifier
from pyspark.ml.clustering import KMeans
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.ml.regression import LinearRegression, RandomForestRegressor
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from pipec.backends.commit import (  # the generated job holds this module's source here
    MARKER, CommitError, LocalFiles, RunLock, STATE_DIR, check_targets, commit, commit_lock, new_run_id,
    record_temporary, recover, remove_recorded, remove_stale, run_is_alive, signals_deferred, staged_path)
from pipec.backends.postgres import (  # the generated job holds this module's source here
    DatabaseError, check_item, column_bounds, commit_tables, connect, drop_stages, drop_stale_stages,
    environment_url, jdbc_connection, order_columns, split_table, stage_name, stage_sql)
from pipec.runtime_contract import (  # the generated job holds this module's source here
    JOB_EVENTS_VARIABLE, RUN_FIELDS, SPLIT_PRIME, PipelineRunError, best_candidate, check_bound,
    check_hyperparameters, checked_saved_model, confined_sink, draw_numerator, drift_metrics, metrics_json_text,
    model_folder_digest, parse_param, parse_run_time, partition_files, partition_folder, partition_folders,
    python_input_frame, python_result_table, run_context, run_key, substitute, validation_rounds, write_table_csv,
    write_table_json)

# A schema as the generated code writes it: (column name, pipec type, nullable).
SchemaSpec = list[tuple[str, str, bool]]

SPARK_TYPES: dict[str, T.DataType] = {
    "int": T.LongType(), "float": T.DoubleType(), "bool": T.BooleanType(),
    "str": T.StringType(), "date": T.DateType(), "timestamp": T.TimestampType(),
}
ERROR_MARK = "JOB-ERROR:"  # prefixes messages raised inside Spark tasks, so the driver can find them
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")  # s3a://, hdfs://, file:... (else a local path)


# ================================================================ parameters
def job_param(type_name: str, value: Any) -> Any:
    """A param value as the job uses it: parsed by the contract, a date as a `datetime.date`."""
    parsed = parse_param(type_name, value)
    if type_name == "date":
        return dt.date.fromisoformat(parsed)
    if type_name == "list[date]":
        return [dt.date.fromisoformat(item) for item in parsed]
    return parsed


def job_run_values(context: dict[str, str]) -> dict[str, Any]:
    """The run context as the job uses it: `run.date` a `datetime.date`, the times aware UTC datetimes."""
    values: dict[str, Any] = {}
    for field, base in RUN_FIELDS.items():
        text = context[run_key(field)]
        values[run_key(field)] = dt.date.fromisoformat(text) if base == "date" else parse_run_time(text)
    return values


def parse_params(specs: dict[str, tuple[str, Any]], argv: list[str], prog: str) -> dict[str, Any]:
    """Parse `--param name=value` options against the declared params; exits with code 2 on error."""
    parser = argparse.ArgumentParser(prog=prog, description=f"Run the {prog} pipeline on Spark.")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="override a pipeline parameter: " + (", ".join(
                            f"{name}: {type_name} = {default!r}"
                            for name, (type_name, default) in specs.items()) or "(none)"))
    parser.add_argument("--run-date", metavar="DATE", help="the run's logical date, `run.date` "
                        "(ISO date or timestamp; default: now, in UTC)")
    parser.add_argument("--interval-start", metavar="TIME", help="the start of the run's data interval, "
                        "`run.interval_start` (default: the run date's midnight, UTC)")
    parser.add_argument("--interval-end", metavar="TIME", help="the end of the run's data interval, "
                        "`run.interval_end` (default: a day after its start)")
    args = parser.parse_args(argv)
    params = {name: job_param(type_name, default) for name, (type_name, default) in specs.items()}
    try:
        params.update(job_run_values(run_context(args.run_date, args.interval_start, args.interval_end)))
    except ValueError as exc:
        parser.error(f"run context: {exc}")
    for item in args.param:
        name, sep, text = item.partition("=")
        if not sep:
            parser.error(f"--param expects NAME=VALUE, got {item!r}")
        if name not in specs:
            parser.error(f"unknown param {name!r}; this pipeline has: {', '.join(specs) or 'no params'}")
        type_name = specs[name][0]
        try:
            params[name] = job_param(type_name, text)
        except ValueError as exc:
            parser.error(f"param {name}: {exc} (it is {type_name})")
    return params


def resolve_path(path: str, params: dict[str, Any]) -> str:
    """Substitute params, and make a relative local path absolute against the working directory.
    An S3 URL (`s3://`, as the local and Airflow backends read it) becomes `s3a://`, the scheme
    of Hadoop's S3 connector (hadoop-aws), which the cluster must provide."""
    path = substitute(path, params)
    if _URI.match(path):
        return re.sub(r"^s3n?://", "s3a://", path)
    return os.path.abspath(path)


def s3_settings(environment: dict[str, str]) -> dict[str, str]:
    """The Spark settings of the S3 connector taken from the environment: the endpoint of an
    S3-compatible store (AWS_ENDPOINT_URL, as boto reads it) with path-style addressing. The
    credentials are never settings: the connector's default chain reads them from the
    environment (AWS_ACCESS_KEY_ID, ...) or an instance profile on every executor."""
    endpoint = environment.get("AWS_ENDPOINT_URL_S3") or environment.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return {}
    return {"spark.hadoop.fs.s3a.endpoint": endpoint, "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https:")).lower()}


# ================================================================ the job entry point
# The PostgreSQL JDBC driver a job with database steps puts on its class path: PIPEC_JDBC_JARS
# (comma-separated jars), else the driver of the machine's local Maven repository. Nothing is downloaded.
JDBC_JARS_VARIABLE = "PIPEC_JDBC_JARS"
DEFAULT_JDBC_JAR = "~/.m2/repository/org/postgresql/postgresql/42.7.13/postgresql-42.7.13.jar"


def jdbc_jars() -> str:
    jars = os.environ.get(JDBC_JARS_VARIABLE) or os.path.expanduser(DEFAULT_JDBC_JAR)
    missing = [jar for jar in jars.split(",") if not os.path.exists(jar)]
    if missing:
        raise PipelineRunError(f"the PostgreSQL JDBC driver {missing[0]} does not exist: set {JDBC_JARS_VARIABLE} "
                               f"to the path of postgresql-<version>.jar")
    return jars


def build_session(app_name: str, jdbc: bool = False) -> SparkSession:
    """The job's SparkSession; `local[*]` unless a master is configured (spark-submit, defaults).
    `jdbc`: the job reads or writes PostgreSQL, so its JVM gets the JDBC driver (`jdbc_jars`)."""
    jars = jdbc_jars() if jdbc else None  # before the JVM starts: the class path is fixed then
    if jars:  # read by the JVM pyspark launches (under spark-submit, give it --jars instead)
        os.environ["PYSPARK_SUBMIT_ARGS"] = f"--jars {jars} " + os.environ.get("PYSPARK_SUBMIT_ARGS", "pyspark-shell")
    SparkContext._ensure_initialized()  # attaches to spark-submit's JVM, or starts a local one
    builder = (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for key, value in s3_settings(dict(os.environ)).items():
        builder = builder.config(key, value)
    conf = SparkConf()
    if not conf.contains("spark.master"):
        builder = builder.master("local[*]")
    if conf.get("spark.master", "local").startswith("local") and not conf.contains("spark.pyspark.python"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # local workers: this interpreter
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    _quiet_task_failures(spark)
    return spark


def _quiet_task_failures(spark: SparkSession) -> None:
    """Bad data fails a task (`raise_error`), and the job then says what and where in one line;
    Spark's executor and scheduler would first log the failed task with its stack trace. Their
    loggers are silenced (in this JVM, where local executors run): the error itself still
    reaches the driver, with its trace when it is not a data error."""
    jvm = spark.sparkContext._jvm
    for name in ("org.apache.spark.executor.Executor", "org.apache.spark.scheduler.TaskSetManager"):
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(name, jvm.org.apache.logging.log4j.Level.OFF)


def run_job(app_name: str, param_specs: dict[str, tuple[str, Any]],
            pipeline: Callable[[SparkSession, dict[str, Any], "Outputs"], None],
            argv: list[str] | None = None, confine_outputs: bool = False, jdbc: bool = False) -> int:
    """Parse params, run `pipeline`, and publish its outputs only if every step succeeded.

    Returns the process exit code: 0 on success, 1 when the data or a check fails (one message on
    stderr, no outputs touched), 2 for bad arguments (argparse exits before Spark starts; a
    value out of the range its step allows stops the run before its commit), 130 / 143 when
    stopped by SIGINT / SIGTERM.
    """
    params = parse_params(param_specs, sys.argv[1:] if argv is None else argv, app_name)
    try:
        stop_on_signals(None)
        spark = build_session(app_name, jdbc)
        stop_on_signals(spark)  # replaces the SIGINT handler the SparkContext installed
    except JobInterrupted as stop:
        print(f"{app_name}: interrupted before commit: no output was changed", file=sys.stderr)
        return stop.exit_code
    return _run_pipeline(app_name, params, pipeline, spark, confine_outputs)


class JobInterrupted(BaseException):
    """SIGINT (Ctrl-C) or SIGTERM: the job cleans up and exits with 128 + the signal's number,
    printing one line instead of a traceback."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signal_name = signal.Signals(signum).name
        self.exit_code = 128 + signum


def stop_on_signals(spark: SparkSession | None) -> None:
    """Turn SIGINT and SIGTERM into `JobInterrupted`, once (later signals wait for the cleanup),
    cancelling the running Spark jobs first."""
    def stop(signum: int, frame: Any) -> None:
        for other in (signal.SIGINT, signal.SIGTERM):
            signal.signal(other, signal.SIG_IGN)
        if spark is not None:
            spark.sparkContext.cancelAllJobs()
        raise JobInterrupted(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)


def _run_pipeline(app_name: str, params: dict[str, Any],
                  pipeline: Callable[[SparkSession, dict[str, Any], "Outputs"], None], spark: SparkSession,
                  confine_outputs: bool) -> int:
    outputs = Outputs(spark, confine_outputs=confine_outputs)
    try:
        outputs.recover()
        pipeline(spark, params, outputs)
        outputs.events.finish()
        outputs.commit()
    except JobInterrupted as stop:
        outputs.events.failed("interrupted")
        return _interrupted(app_name, outputs, stop)
    except Exception as exc:  # noqa: BLE001 - we re-raise what is not a data/user error
        stop = _interruption(exc)
        if stop is not None:  # pyspark's cleanup raised over it (e.g. "job cancelled" in toArrow)
            outputs.events.failed("interrupted")
            return _interrupted(app_name, outputs, stop)
        outputs.discard()
        message = job_error_message(exc, spark)
        outputs.events.failed(message or f"{type(exc).__name__}: {exc}")
        if message is None:
            raise
        print(f"{app_name}: error: {message}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, PipelineRunError) else 1
    finally:
        spark.stop()
    return 0


def _interrupted(app_name: str, outputs: "Outputs", stop: JobInterrupted) -> int:
    """Say exactly what an interrupted run did to its outputs (a commit is never cut: signals wait
    for it), and return the exit code."""
    if outputs.committed:
        print(f"{app_name}: interrupted after commit: all {len(outputs.staged)} outputs were written",
              file=sys.stderr)
    else:
        try:
            outputs.discard()
        except Exception:  # noqa: BLE001 - the JVM may be gone; the next run removes the temps
            pass
        print(f"{app_name}: interrupted before commit: no output was changed", file=sys.stderr)
    return stop.exit_code


def _interruption(exc: BaseException | None) -> JobInterrupted | None:
    """The `JobInterrupted` an exception was raised while handling, if any."""
    while exc is not None:
        if isinstance(exc, JobInterrupted):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def job_error_message(exc: BaseException, spark: SparkSession) -> str | None:
    """The user-facing message of a failure, or None when it is a genuine bug."""
    text = str(exc)
    malformed = malformed_csv_message(spark, text)
    if malformed is not None:
        return malformed
    if isinstance(exc, PipelineRunError):
        return text.removeprefix(ERROR_MARK).strip()
    # The mark as a raised message starts it: after `[USER_RAISED_EXCEPTION] `, `PipelineRunError: ` or a
    # line break. Elsewhere it is the text of a `raise_error` call inside a printed query plan.
    found = re.search(r"(?:^|\] |Error: )" + re.escape(ERROR_MARK) + r"\s*(.*?)(?:\s*SQLSTATE: \w+|\n|$)",
                      text, re.MULTILINE)
    if found is None:
        if isinstance(exc, PythonException):  # user code of a `python` step raised
            last = [line for line in text.strip().splitlines() if line.strip()][-1]
            return f"a python step failed: {last.strip()}"
        return None
    message = found.group(1).strip()
    bad_read = re.match(r"^bad-read (\S+) (\S+) (.*)$", message)
    if bad_read is None:
        return message
    source_id, file, column = bad_read.groups()
    return locate_bad_row(spark, source_id, urllib.parse.unquote(file), column)


# ================================================================ column helpers
def ieee_divide(a: Column, b: Column) -> Column:
    """`/` as IEEE 754 (`x / 0` is inf, -inf or NaN): Spark's ANSI mode would raise instead."""
    a, b = a.cast("double"), b.cast("double")
    at_zero = F.when(a > 0, F.lit(float("inf"))).when(a < 0, F.lit(float("-inf"))).when(a == 0, F.lit(float("nan")))
    return F.when(b == 0, at_zero).otherwise(a / b)


def timestamp_text(t: Column) -> Column:
    """`cast(t, str)` as the local backend writes it: ISO 8601 in UTC, fractions only when set."""
    fraction = F.date_format(t, "SSSSSS")  # as polars' `%.f`: no digits, milliseconds or microseconds
    return (F.when(fraction == "000000", F.date_format(t, "yyyy-MM-dd'T'HH:mm:ss'Z'"))
            .when(fraction.endswith("000"), F.date_format(t, "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"))
            .otherwise(F.date_format(t, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")))


def float_text(x: Column) -> Column:
    """`cast(x, str)` of a float as the local backend (polars) writes it: the shortest digits that
    read back as `x`, plain for 1e-5 <= |x| < 1e16 (`0.00001`, `2.0`), else `1.5e+16` / `1e-7`;
    `NaN`, `inf`. (Spark's own text is Java 17's `Double.toString`: `1.0E7`, and at times a 17th
    digit too many.) The shortest digits: the first of 15, 16, 17 significant digits that reads back."""
    size = F.abs(x)
    tries = [F.format_string(f"%.{digits - 1}e", size) for digits in (15, 16)]
    scientific_text = (F.when(tries[0].try_cast("double") == size, tries[0])
                       .when(tries[1].try_cast("double") == size, tries[1])
                       .otherwise(F.format_string("%.16e", size)))  # "7.378329616836134e+17"
    digits = F.regexp_replace(F.regexp_replace(F.regexp_extract(scientific_text, r"^([0-9.]+)e", 1), r"\.", ""),
                              "0+$", "")
    exponent = F.regexp_extract(scientific_text, r"e([+-][0-9]+)$", 1).cast("int")  # of the first digit
    padded = F.concat(digits, F.repeat(F.lit("0"), F.greatest(exponent + 1 - F.length(digits), F.lit(0))))
    after_point = padded.substr(exponent + 2, F.lit(400))
    large = F.concat(padded.substr(F.lit(1), exponent + 1), F.lit("."),
                     F.when(after_point == "", F.lit("0")).otherwise(after_point))
    small = F.concat(F.lit("0."), F.repeat(F.lit("0"), -exponent - 1), digits)
    scientific = F.concat(digits.substr(1, 1), F.when(F.length(digits) > 1, F.concat(F.lit("."), digits.substr(2, 400)))
                          .otherwise(F.lit("")), F.lit("e"), F.when(exponent > 0, F.lit("+")).otherwise(F.lit("-")),
                          F.abs(exponent).cast("string"))
    text = (F.when(digits == "", F.lit("0.0")).when((exponent >= 16) | (exponent < -5), scientific)
            .when(exponent >= 0, large).otherwise(small))
    sign = F.when(x.cast("string").startswith("-"), F.lit("-")).otherwise(F.lit(""))  # -0.0 too
    return (F.when(x.isNull(), F.lit(None).cast("string")).when(F.isnan(x), F.lit("NaN"))
            .when(x == float("inf"), F.lit("inf")).when(x == float("-inf"), F.lit("-inf"))
            .otherwise(F.concat(sign, text)))


def round_half_away(x: Column, digits: int) -> Column:
    """docs/semantics.md's rounding: `x * 10**digits` rounded half away from zero, divided back.
    (`F.round(x, d)` rounds the double's exact decimal expansion instead, so 13.65 -> 13.6.)"""
    scale = 10.0 ** digits
    return keep_zero_sign(F.round(x * F.lit(scale), 0), x) / F.lit(scale)


def keep_zero_sign(rounded: Column, x: Column) -> Column:
    """Spark's rounding functions turn -0.4 into 0.0; IEEE rounding (and the local backend) keeps
    the sign: -0.0."""
    return F.when(rounded == 0, x * F.lit(0.0)).otherwise(rounded)


def float_floor(x: Column) -> Column:
    """`floor` of a float, as a float: Spark's goes through bigint, which overflows beyond 2**63
    (every double that large is already whole) and loses the sign of -0.0."""
    return F.when(F.abs(x) < F.lit(2.0 ** 52), keep_zero_sign(F.floor(x).cast("double"), x)).otherwise(x)


def float_ceil(x: Column) -> Column:
    return F.when(F.abs(x) < F.lit(2.0 ** 52), keep_zero_sign(F.ceil(x).cast("double"), x)).otherwise(x)


def _ieee_log(x: Column, log: Column) -> Column:
    """Spark's logarithms give null outside their domain; numpy's (and pipec's) give -inf at 0
    and NaN below it."""
    x = x.cast("double")
    return F.when(x > 0, log).when(x == 0, F.lit(float("-inf"))).when(x < 0, F.lit(float("nan")))


def ieee_ln(x: Column) -> Column:
    return _ieee_log(x, F.ln(x))


def ieee_log10(x: Column) -> Column:
    return _ieee_log(x, F.log10(x))


def floor_divide(a: Column, b: Column) -> Column:
    """Python's `a // b` of ints (rounds toward negative infinity), exact through decimals (a
    double quotient loses the last digits beyond 2**53); null when `b` is zero."""
    exact = "decimal(20,0)"
    return F.floor(F.try_divide(a.cast(exact), b.cast(exact))).cast("bigint")


def float_floor_divide(a: Column, b: Column) -> Column:
    """`a // b` with a float operand: the floor of the float quotient; null when `b` is zero."""
    return F.when(b != 0, float_floor(ieee_divide(a, b)))


def python_mod(a: Column, b: Column) -> Column:
    """Python's `a % b` (the sign of the divisor); null when `b` is zero."""
    remainder = F.try_mod(a, b)
    return (F.when((remainder != 0) & ((remainder < 0) != (b < 0)), remainder + b)
            .when(remainder == 0, F.abs(remainder))  # -0.0 % 2.0 is 0.0, as in Python
            .otherwise(remainder))


INT_OPERATIONS = {"+": F.try_add, "-": F.try_subtract, "*": F.try_multiply}


def _overflow_checked(result: Column, overflow: Column, message: str) -> Column:
    return F.when(overflow, F.raise_error(F.lit(f"{ERROR_MARK} {message}"))).otherwise(result)


def int_arithmetic(operator: str, a: Column, b: Column, message: str) -> Column:
    """Int `+ - *` through Spark's `try_` functions (null on overflow): a null result from
    non-null operands is an overflow, which docs/semantics.md makes a run error."""
    result = INT_OPERATIONS[operator](a, b)
    return _overflow_checked(result, result.isNull() & a.isNotNull() & b.isNotNull(), message)


def exact_sum(x: Column, message: str) -> Column:
    """`sum` of ints: exact int64, an error beyond it (null when there are no values)."""
    result = F.try_sum(x)
    return _overflow_checked(result, result.isNull() & (F.count(x) > 0), message)


def _sorted_values(x: Column) -> Column:
    return F.array_sort(F.collect_list(x.cast("double")))


def _sequential_sum(values: Column, term: Callable[[Column], Column] = lambda v: v) -> Column:
    """The left-to-right sum of an array, starting at 0.0 as the local backend's does (so a sum of
    only -0.0 is 0.0 on every backend, docs/semantics.md)."""
    return F.aggregate(values, F.lit(0.0), lambda total, v: total + term(v))


def float_sum(x: Column) -> Column:
    """docs/semantics.md: a float sum adds the non-null values in ascending order, so it does not
    depend on partitioning; null when there are none."""
    return F.when(F.count(x) > 0, _sequential_sum(_sorted_values(x)))


def float_mean(x: Column) -> Column:
    return F.when(F.count(x) > 0, _sequential_sum(_sorted_values(x)) / F.count(x))


def squared_deviations(x: Column) -> Column:
    """The ordered sum of (x - mean)^2 over the sorted non-null values."""
    mean = float_mean(x)
    return _sequential_sum(_sorted_values(x), lambda v: (v - mean) * (v - mean))


def float_var(x: Column) -> Column:
    """Sample variance: squared_deviations / (n - 1); null below two values."""
    return F.when(F.count(x) > 1, squared_deviations(x) / (F.count(x) - 1))


def float_median(x: Column) -> Column:
    """The middle value, or for an even count `a + (b - a) * 0.5` of the two middle values, as the
    local backend computes it (Spark's `median` gives `a * 0.5 + b * 0.5`, another last bit)."""
    values, n = _sorted_values(x), F.count(x)
    low, high = F.element_at(values, ((n + 1) / 2).cast("int")), F.element_at(values, (n / 2 + 1).cast("int"))
    return F.when(n % 2 == 1, low).when(n > 0, low + (high - low) * F.lit(0.5))


def float_std(x: Column) -> Column:
    return F.sqrt(float_var(x))


def trim_whitespace(s: Column) -> Column:
    """Strip all whitespace both sides (Spark's `trim` only strips spaces)."""
    return F.regexp_replace(s, r"^\s+|\s+$", "")


def conform(df: DataFrame, schema: SchemaSpec) -> DataFrame:
    """The declared columns, in order, with their declared Spark types (e.g. int32 literals → bigint)."""
    return df.select([F.col(quote(name)).cast(SPARK_TYPES[kind]).alias(name) for name, kind, _ in schema])


def quote(name: str) -> str:
    """A column name as `F.col` must see it (dots and spaces would otherwise be parsed)."""
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else "`" + name.replace("`", "``") + "`"


def struct_type(schema: SchemaSpec) -> T.StructType:
    return T.StructType([T.StructField(n, SPARK_TYPES[k], nullable) for n, k, nullable in schema])


# ================================================================ row order
# docs/semantics.md defines the order of every table's rows; Spark's partitions and shuffles do not
# keep it, so each row carries it in a hidden column: an array of longs compared lexicographically.
# Sources number their rows in file order, steps that combine tables compose their inputs' orders,
# and whatever observes the order (sinks, `limit`, `fit`, python steps) sorts by it first.
ORDER = "__pipec_order"
RIGHT_ORDER = "__pipec_order_right"


def numbered(df: DataFrame) -> DataFrame:
    """Number the rows in the order Spark yields them: one file is split into partitions in file
    order, and a sorted DataFrame's partitions hold consecutive key ranges."""
    return df.withColumn(ORDER, F.array(F.monotonically_increasing_id()))


def in_order(df: DataFrame) -> DataFrame:
    return df.orderBy(ORDER)


def sorted_rows(df: DataFrame, keys: list[Column]) -> DataFrame:
    """A stable sort: ties keep their order; the result is numbered in its new order."""
    return numbered(df.orderBy(*keys, ORDER))


def first_rows(df: DataFrame, n: int) -> DataFrame:
    check_bound("row_count", n, "the number of rows of `limit`")
    return df.orderBy(ORDER).limit(n)


def union_part(df: DataFrame, index: int) -> DataFrame:
    """The `index`-th input of a union: its rows come after all rows of the inputs before it."""
    return df.withColumn(ORDER, F.concat(F.array(F.lit(index).cast("bigint")), F.col(ORDER)))


def with_right_order(df: DataFrame) -> DataFrame:
    """The right side of a join, its order column renamed so that both sides' orders survive."""
    return df.withColumnRenamed(ORDER, RIGHT_ORDER)


def joined_order(df: DataFrame, how: str) -> DataFrame:
    """The order of a join's result from its sides' orders (docs/semantics.md): left-major, for
    `right` right-major, for `full` the left rows first, then the right-only rows."""
    left, right, nothing = F.col(ORDER), F.col(RIGHT_ORDER), F.array().cast("array<bigint>")
    if how == "right":
        order = F.concat(right, F.coalesce(left, nothing))
    elif how == "full":
        tag = F.array(F.when(left.isNull(), F.lit(1)).otherwise(F.lit(0)).cast("bigint"))
        order = F.concat(tag, F.coalesce(left, nothing), F.coalesce(right, nothing))
    else:
        order = F.concat(left, F.coalesce(right, nothing))
    return df.withColumn(ORDER, order).drop(RIGHT_ORDER)


def first_order() -> Column:
    """A group's order: that of its first row (groups come in order of first appearance)."""
    return F.min(ORDER).alias(ORDER)


def data_columns(df: DataFrame) -> list[str]:
    return [c for c in df.columns if c != ORDER]


# ================================================================ reading
@dataclass
class SourceSpec:
    """Everything needed to read one source again (to locate the first bad row on failure)."""

    fmt: str  # csv, parquet or json
    path: str
    schema: SchemaSpec
    header: bool = True
    delimiter: str = ","
    null_values: tuple[str, ...] = ()


_SOURCES: dict[str, SourceSpec] = {}  # source id -> spec; one job runs one pipeline
# What Spark's CSV reader gives for `""`, so that it is told from an empty field (`a,,c`, null):
# left alone, Spark reads both as null, where `""` is the empty string (the CSV writer's too).
QUOTED_EMPTY = "\u0000pipec:quoted-empty\u0000"
REPLACEMENT_CHARACTER = "\ufffd"   # what Spark's readers make of bytes that are not UTF-8


def read_table(spark: SparkSession, source_id: str, fmt: str, path: str, schema: SchemaSpec, *,
               header: bool = True, delimiter: str = ",", null_values: Iterable[str] = (),
               columns: list[str] | None = None) -> DataFrame:
    """Read a CSV, Parquet or JSON-lines source and enforce its declared schema.

    The check costs no extra pass over the data: each column is parsed with `try_cast`, and a
    value that does not fit (or a null in a non-nullable column) fails its task through
    `raise_error`; only then does the driver re-read the file to name the first bad row.
    Only the columns that are used are checked (Spark prunes the others).
    """
    spec = SourceSpec(fmt, path, schema, header, delimiter, tuple(null_values))
    _SOURCES[source_id] = spec
    fields = [f for f in schema if columns is None or f[0] in columns]
    raw = _raw_frame(spark, spec, path)
    missing = [name for name, _, _ in fields if name not in raw.columns]
    if missing:
        present = ", ".join(f"`{c}`" for c in raw.columns if c != "_corrupt_record")
        raise PipelineRunError(f"{path}: missing column `{missing[0]}` (the file has: {present})")
    # a single file names itself; for a directory or glob, ask Spark per row (about 10% slower)
    file_name = F.lit(urllib.parse.quote(path)) if _is_file(spark, path) else F.input_file_name()
    checked = []
    for name, kind, nullable in fields:
        value, bad_value, bad_null = _column_checks(raw, spec, name, kind, nullable)
        failure = F.raise_error(F.concat_ws(" ", F.lit(ERROR_MARK + " bad-read"), F.lit(source_id),
                                            file_name, F.lit(name)))
        checked.append(F.when(bad_value | bad_null, failure).otherwise(value).alias(name))
    return raw.select(checked)


def read_database(spark: SparkSession, item: dict[str, Any], params: dict[str, Any],
                  columns: list[str] | None = None, partition_column: str | None = None,
                  partitions: int = 1) -> DataFrame:
    """A PostgreSQL table or query through JDBC, numbered in the order of docs/semantics.md: a
    table sorted by `postgres.order_columns` (after a read split into `partitions` ranges of
    `partition_column`, bounds from min/max), a query in the order its one partition returns."""
    url = connection_url(item["connection"])
    jdbc, properties = jdbc_connection(url)
    fields = [f for f in item["schema"] if columns is None or f[0] in columns]
    reader = spark.read.format("jdbc").option("url", jdbc).options(**properties).option("fetchsize", "10000")
    try:
        if "query" in item:
            df = numbered(reader.option("query", substitute(item["query"], params)).load())
        else:
            reader = reader.option("dbtable", '"' + '"."'.join(split_table(item["table"])) + '"')
            if partition_column and partitions > 1:
                low, high = column_bounds(item["connection"], url, item, partition_column)
                if low is not None and low != high:
                    reader = (reader.option("partitionColumn", partition_column).option("numPartitions", partitions)
                              .option("lowerBound", str(low)).option("upperBound", str(high)))
            df = reader.load()
            df = numbered(df.orderBy(*[F.col(quote(c)).asc_nulls_last() for c in order_columns(item)]))
    except DatabaseError as exc:
        raise PipelineRunError(str(exc)) from None
    missing = [name for name, _, _ in fields if name not in df.columns]
    if missing:
        raise PipelineRunError(f"{item['where']}: the result has no column {', '.join(f'`{m}`' for m in missing)}")
    required = [name for name, _, nullable in fields if not nullable]
    if required:
        bad = df.where(functools.reduce(lambda a, b: a | b, [F.col(quote(n)).isNull() for n in required])) \
            .orderBy(ORDER).select(*[quote(n) for n in required]).first()
        if bad is not None:
            name = next(n for n in required if bad[n] is None)
            raise PipelineRunError(f"{item['where']}: column `{name}`: null in a column declared not nullable; "
                                   f"declare it `?` or clean the data")
    return df.select(*[F.col(quote(n)).cast(SPARK_TYPES[k]).alias(n) for n, k, _ in fields], ORDER)


def connection_url(name: str) -> str:
    """Connection `name`'s URL, from PIPEC_CONN_<NAME> where the job runs (never in the job file)."""
    try:
        return environment_url(name)
    except DatabaseError as exc:
        raise PipelineRunError(str(exc)) from None


def check_databases(items: list[dict[str, Any]], params: dict[str, Any], outputs: "Outputs") -> None:
    """Before any work: every database step's schema against its live database; drops the tables
    staged by dead runs (see the local runtime's `check_databases`)."""
    problems: list[str] = []
    for item in items:
        url = connection_url(item["connection"])
        item = {**item, "query": substitute(item["query"], params)} if "query" in item else item
        try:
            problems += check_item(item, url)
            if "mode" in item:
                conn = connect(item["connection"], url, item["where"])
                try:
                    drop_stale_stages(conn, [split_table(item["table"])[0]],
                                      lambda run: run_is_alive(outputs.state_dir, run))
                finally:
                    conn.close()
        except DatabaseError as exc:
            raise PipelineRunError(str(exc)) from None
    if problems:
        raise PipelineRunError("the database does not match the pipeline:\n  " + "\n  ".join(problems))


_PARTITION = "__pipec_partition"


def read_partitioned(spark: SparkSession, source_id: str, fmt: str, root: str, schema: SchemaSpec,
                     partition_by: list[str], *, keep: Callable[[DataFrame], DataFrame] | None = None,
                     columns: list[str] | None = None, **options: Any) -> DataFrame:
    """A Hive-style partitioned folder, as the local runtime reads it (docs/semantics.md): the
    partitions listed by the contract's `partition_folders` (Spark's own discovery neither
    orders nor types them the same way), those `keep` drops never opened, each file read and
    checked by `read_table` with the partition values as columns. The rows are numbered
    (partition, file, row in file), which is the defined order; no `numbered` on top."""
    files = HadoopFiles(spark)
    types = {name: (kind, nullable) for name, kind, nullable in schema}
    levels = [(name, types[name][0]) for name in partition_by]
    found = partition_folders(files, files.qualify(root), levels)
    for values, folder in found:
        for (name, kind), value in zip(levels, values):
            if value is None and not types[name][1]:
                raise PipelineRunError(f"{files.local(folder)}: null partition value in `{name}`, declared "
                                       f"`{kind}` (not nullable)")
    if keep is not None and found:
        listed = spark.createDataFrame(
            [(index, *values) for index, (values, _) in enumerate(found)],
            T.StructType([T.StructField(_PARTITION, T.LongType())]
                         + [T.StructField(name, SPARK_TYPES[kind]) for name, kind in levels]))
        found = [found[row[0]] for row in sorted(keep(listed).select(_PARTITION).collect())]
    wanted = [name for name, _, _ in schema if columns is None or name in columns]
    in_files = [f for f in schema if f[0] not in partition_by]
    read = [name for name, _, _ in in_files if name in wanted]
    frames = []
    for number, (values, folder) in enumerate(found):
        partition_values = {name: F.lit(value).cast(SPARK_TYPES[kind]).alias(name)
                            for (name, kind), value in zip(levels, values)}
        for index, file in enumerate(partition_files(files, folder)):
            frame = read_table(spark, source_id, fmt, file, in_files, columns=read, **options)
            order = F.array(F.lit(number).cast("bigint"), F.lit(index).cast("bigint"), F.monotonically_increasing_id())
            frames.append(frame.select(*[partition_values.get(name, F.col(quote(name))) for name in wanted],
                                       order.alias(ORDER)))
    if not frames:
        empty = [(name, kind, True) for name, kind, _ in schema if name in wanted]
        return spark.createDataFrame([], struct_type(empty)).withColumn(ORDER, F.array().cast("array<bigint>"))
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return result


def _raw_frame(spark: SparkSession, spec: SourceSpec, path: str) -> DataFrame:
    """The file as read before any type check: strings for CSV and JSON, native types for Parquet."""
    if not _exists(spark, path):
        raise PipelineRunError(f"{path}: no such file")
    if spec.fmt == "csv":
        frame = _csv_reader(spark, spec, "FAILFAST", path).csv(literal_path(path))
        if not frame.columns:  # an empty file
            if spec.header:
                raise PipelineRunError(f"{path}: the file is empty: expected a header row with the columns "
                                       f"{', '.join(n for n, _, _ in spec.schema)}")
            strings = T.StructType([T.StructField(n, T.StringType()) for n, _, _ in spec.schema])
            return spark.createDataFrame([], strings)
        if len(frame.columns) == 1 and _is_file(spark, path):
            frame = _one_column_csv(spark, spec, path, frame)
        frame = frame.select([F.when(F.col(quote(c)) == QUOTED_EMPTY, F.lit("")).otherwise(F.col(quote(c)))
                              .alias(c) for c in frame.columns])
        if not spec.header:  # columns by position: _c0, _c1, ... take the declared names
            declared = [n for n, _, _ in spec.schema]
            frame = frame.toDF(*[declared[i] if i < len(declared) else c for i, c in enumerate(frame.columns)])
        return frame
    if spec.fmt == "json":
        strings = T.StructType([T.StructField(n, T.StringType()) for n, _, _ in spec.schema]
                               + [T.StructField("_corrupt_record", T.StringType())])
        return spark.read.schema(strings).option("columnNameOfCorruptRecord", "_corrupt_record").json(
            literal_path(path))
    return spark.read.parquet(literal_path(path))


def _one_column_csv(spark: SparkSession, spec: SourceSpec, path: str, frame: DataFrame) -> DataFrame:
    """A one-column CSV file whose empty lines are rows: Spark's CSV reader skips empty lines,
    but in a file of one column an empty line is a row whose value is null (docs/semantics.md).
    Such a file is read line by line, each line parsed by Spark's CSV parser (`from_csv`); a
    file without empty lines is read as any other. One extra scan, of one-column files only."""
    lines = spark.read.text(literal_path(path)).withColumn("_line", F.monotonically_increasing_id())
    if spec.header:
        lines = lines.where(F.col("_line") != 0)   # the first line of the file's first split
    value = F.col("value")
    quotes = F.length(value) - F.length(F.regexp_replace(value, '"', ""))
    shape = lines.agg(F.max((value == "").cast("int")).alias("empty"),
                      F.max((value.startswith('"') & (quotes % 2 == 1)).cast("int")).alias("line_break")).first()
    if not shape["empty"]:
        return frame
    if shape["line_break"]:
        raise PipelineRunError(f"{_local_path(path)}: a file of one column with empty lines (null values) "
                               "and quoted values holding line breaks cannot be read exactly on Spark")
    name = frame.columns[0]
    parsed = F.from_csv(value, f"{quote(name)} STRING", {"sep": spec.delimiter, "escape": '"',
                                                         "mode": "FAILFAST", "emptyValue": QUOTED_EMPTY})
    return lines.select(F.when(value == "", F.lit(None)).otherwise(parsed[name]).alias(name))


def _csv_reader(spark: SparkSession, spec: SourceSpec, mode: str, path: str) -> Any:
    """Spark's CSV reader as pipec reads CSV: records may span lines (a quoted field may hold a
    line break), and in FAILFAST mode a row with more or fewer fields than the header fails
    the job (PERMISSIVE would pad it with nulls); `malformed_csv_message` then names the row.
    Spark's multi-line reader expands a path as a glob a second time, after `literal_path` has
    escaped it, so a path with glob characters is read line by line (no line breaks in fields)."""
    multi_line = literal_path(path) == path
    return spark.read.options(header=spec.header, sep=spec.delimiter, escape='"', inferSchema=False,
                              multiLine=multi_line, mode=mode, emptyValue=QUOTED_EMPTY)


def malformed_csv_message(spark: SparkSession, text: str) -> str | None:
    """When the failure `text` is Spark's FAILFAST report of a malformed CSV record, the message
    naming its file, row and column (found by reading that file again); otherwise None."""
    if "MALFORMED_RECORD_IN_PARSING" not in text:
        return None
    failed = re.search(r"Encountered error while reading file (\S+?)\.?\s", text)
    if failed is None:
        return None
    file = urllib.parse.unquote(failed.group(1))
    shown = _local_path(file)
    spec = next((s for s in _SOURCES.values() if s.fmt == "csv" and (
        shown == _local_path(s.path) or shown.startswith(_local_path(s.path).rstrip("/") + "/"))), None)
    if spec is None:
        return None
    names = _csv_reader(spark, spec, "PERMISSIVE", file).csv(literal_path(file)).columns
    strings = T.StructType([T.StructField(n, T.StringType()) for n in names]
                           + [T.StructField("_corrupt_record", T.StringType())])
    # Spark refuses to select the corrupt-record column alone
    records = (_csv_reader(spark, spec, "PERMISSIVE", file).option("columnNameOfCorruptRecord", "_corrupt_record")
               .schema(strings).csv(literal_path(file)).select(quote(names[0]), "_corrupt_record"))
    hits = records.rdd.zipWithIndex().filter(lambda r: r[0][1] is not None).take(1)
    if not hits:
        return f"{shown}: a row does not have as many fields as the header"
    (_, record), index = hits[0]
    fields = next(csv.reader([record], delimiter=spec.delimiter), [])
    columns = names if spec.header else [n for n, _, _ in spec.schema] + names[len(spec.schema):]
    first = "the header" if spec.header else "the first row"
    where = f"{shown}: row {index + 1}"
    if record.count('"') % 2:
        return f"{where}: a quoted field on this row is never closed"
    if len(fields) < len(columns):
        return (f"{where}: {len(fields)} field{'s' if len(fields) != 1 else ''} but {first} has {len(columns)}: "
                f"column `{columns[len(fields)]}` is missing (is the file cut short?)")
    return (f"{where}: {len(fields)} fields but {first} has {len(columns)} "
            f"(the first extra field is {fields[len(columns)]!r})")


def _local_path(path: str) -> str:
    """A local file's path without the `file:` scheme Spark puts before it (other URIs unchanged)."""
    return urllib.parse.urlparse(path).path if path.startswith("file:") else path


def _column_checks(raw: DataFrame, spec: SourceSpec, name: str, kind: str,
                   nullable: bool) -> tuple[Column, Column, Column]:
    """(typed value, "value does not fit" predicate, "null where not allowed" predicate)."""
    source = F.col(quote(name))
    if spec.fmt == "parquet":
        actual = raw.schema[name].dataType
        if not _parquet_type_fits(actual, kind):
            raise PipelineRunError(f"{spec.path}: column `{name}` holds {actual.simpleString()} values, "
                                   f"but the schema declares {kind}")
        value, bad_value = source.cast(SPARK_TYPES[kind]), F.lit(False)
    else:
        if spec.null_values:
            source = F.when(source.isin(list(spec.null_values)), F.lit(None)).otherwise(source)
        value = source if kind == "str" else source.try_cast(SPARK_TYPES[kind])
        bad_value = source.isNotNull() & value.isNull()
        if kind == "str":   # Spark decodes bytes that are not UTF-8 as U+FFFD, silently
            bad_value = bad_value | source.contains(REPLACEMENT_CHARACTER)
        if spec.fmt == "json":
            bad_value = bad_value | F.col("_corrupt_record").isNotNull()
    bad_null = F.lit(False) if nullable else source.isNull()
    return value, bad_value, bad_null


def _parquet_type_fits(actual: T.DataType, kind: str) -> bool:
    integral = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
    allowed = {
        "int": integral, "float": integral + (T.FloatType, T.DoubleType), "bool": (T.BooleanType,),
        "str": (T.StringType,), "date": (T.DateType,), "timestamp": (T.TimestampType, T.TimestampNTZType),
    }[kind]
    return isinstance(actual, allowed)


def locate_bad_row(spark: SparkSession, source_id: str, file: str, column: str) -> str:
    """Re-read one file (only after a failure) to name its first bad row and value."""
    spec = _SOURCES[source_id]
    name, kind, nullable = next(f for f in spec.schema if f[0] == column)
    raw = _raw_frame(spark, spec, file)
    _, bad_value, bad_null = _column_checks(raw, spec, name, kind, nullable)
    corrupt = F.col("_corrupt_record").isNotNull() if spec.fmt == "json" else F.lit(False)
    flagged = raw.select(bad_value.alias("bad_value"), bad_null.alias("bad_null"), corrupt.alias("corrupt"),
                         F.col(quote(name)).cast("string").alias("value"))
    hits = flagged.rdd.zipWithIndex().filter(lambda r: r[0]["bad_value"] or r[0]["bad_null"]).take(1)
    shown = _local_path(file)
    if not hits:
        return f"{shown}: column `{name}` holds a value that does not fit {kind}"
    row, index = hits[0]
    where = f"{shown}: column `{name}`, row {index + 1}"
    if REPLACEMENT_CHARACTER in (row["value"] or ""):
        return _not_utf8_message(spec, shown) or (
            f"{where}: the value holds U+FFFD, which Spark reads in place of bytes that are not UTF-8; "
            "save the file as UTF-8")
    if row["corrupt"]:
        return f"{shown}: row {index + 1} is not valid JSON"
    if row["bad_null"]:
        return f"{where}: null in a column declared `{kind}` (not nullable); declare it `{kind}?` or clean the data"
    return f"{where}: value {row['value']!r} is not a valid {kind}"


def _not_utf8_message(spec: SourceSpec, shown: str) -> str | None:
    """Where a local file stops being UTF-8, as the local backend says it (line, byte of the line,
    column), or None if it is UTF-8 or not on this machine."""
    try:
        with open(shown, "rb") as file:
            data = file.read()
        data.decode("utf-8")
    except OSError:
        return None
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        before = data[line_start:exc.start].decode("utf-8").removeprefix("\ufeff")
        index = len(next(csv.reader([before], delimiter=spec.delimiter), [""])) - 1 if spec.fmt == "csv" else -1
        names = [n for n, _, _ in spec.schema] if not spec.header or spec.fmt != "csv" else next(
            csv.reader([data.split(b"\n", 1)[0].decode("utf-8", "replace")], delimiter=spec.delimiter))
        column = names[index] if 0 <= index < len(names) and (line > 1 or not spec.header) else None
        return (f"{shown}: line {line}, byte {exc.start - line_start + 1}"
                f"{f' (column `{column}`)' if column else ''}: invalid UTF-8 "
                f"(byte {data[exc.start]:#04x}); save the file as UTF-8")
    return None


def _hadoop_path(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """(FileSystem, Path) through the JVM, so that sinks work on HDFS/S3 as well as locally."""
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    try:
        fs = hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    except Exception as exc:  # noqa: BLE001 - Py4J wraps the JVM's exception
        if not re.search(r"No FileSystem for scheme|ClassNotFoundException: Class \S+FileSystem not found", str(exc)):
            raise
        scheme = path.split(":", 1)[0]
        connector = (" (for s3a: hadoop-aws of this Spark's Hadoop version and its AWS SDK bundle, e.g. "
                     "spark-submit --packages org.apache.hadoop:hadoop-aws:<version>)" if scheme == "s3a" else "")
        raise PipelineRunError(f"{path}: this Spark has no file system for `{scheme}://`; put its connector "
                               f"on the classpath{connector}") from None
    # the local checksum file system would move `.crc` files next to our outputs: use the raw one
    return (fs.getRaw() if fs.getScheme() == "file" else fs), hpath


def _is_file(spark: SparkSession, path: str) -> bool:
    fs, hpath = _hadoop_path(spark, path)
    return fs.isFile(hpath)


def _exists(spark: SparkSession, path: str) -> bool:
    fs, hpath = _hadoop_path(spark, path)
    return fs.exists(hpath)


def literal_path(path: str) -> str:
    """`path` for Spark's readers, which expand Hadoop globs: a pipec path names one file or
    folder literally, so `{ } [ ] * ?` (and the escape character itself) are escaped."""
    return re.sub(r"([{}\[\]*?\\])", r"\\\1", path)


# ================================================================ atomic sinks
class HadoopFiles:
    """The commit protocol's file operations through the Hadoop FileSystem API, so that sinks on
    HDFS or S3 are committed like local ones. Paths in the journal are fully qualified URIs.
    Hadoop cannot fsync a folder nor see a symlink on the local disk: those two go through `os`."""

    name = "hadoop"

    def __init__(self, spark: SparkSession):
        self.spark = spark

    def _local(self, path: str) -> str | None:
        fs, hpath = _hadoop_path(self.spark, path)
        return fs.makeQualified(hpath).toUri().getPath() if fs.getUri().getScheme() == "file" else None

    def local(self, path: str) -> str:
        """A path on the local disk as a plain path; any other as it is (for messages)."""
        return self._local(path) or path

    def qualify(self, path: str) -> str:
        fs, hpath = _hadoop_path(self.spark, path)
        return fs.makeQualified(hpath).toString()

    def split(self, path: str) -> tuple[str, str]:
        hpath = self.spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path.rstrip("/"))
        return hpath.getParent().toString(), hpath.getName()

    def join(self, folder: str, name: str) -> str:
        return f"{folder.rstrip('/')}/{name}"

    def kind(self, path: str) -> str:
        local = self._local(path)
        if local is not None and os.path.islink(local):
            return LocalFiles().kind(local)
        fs, hpath = _hadoop_path(self.spark, path)
        if not fs.exists(hpath):
            return "missing"
        status = fs.getFileStatus(hpath)
        return "dir" if status.isDirectory() else "file" if status.isFile() else "other"

    def read_text(self, path: str) -> str | None:
        fs, hpath = _hadoop_path(self.spark, path)
        try:
            stream = fs.open(hpath)
            try:
                data = self.spark.sparkContext._jvm.org.apache.hadoop.io.IOUtils.readFullyToByteArray(stream)
            finally:
                stream.close()
            return bytes(data).decode("utf-8")
        except Exception:  # noqa: BLE001 - missing or unreadable: not a pipec sidecar
            return None

    def list(self, folder: str) -> list[str]:
        fs, hpath = _hadoop_path(self.spark, folder)
        if not fs.exists(hpath):
            return []
        return sorted(status.getPath().getName() for status in fs.listStatus(hpath))

    def rename(self, source: str, target: str) -> None:
        fs, hsource = _hadoop_path(self.spark, source)
        if not fs.rename(hsource, _hadoop_path(self.spark, target)[1]):
            raise CommitError(f"could not move {source} to {target}")

    def remove(self, path: str) -> None:
        fs, hpath = _hadoop_path(self.spark, path)
        fs.delete(hpath, True)

    def make_dirs(self, folder: str) -> None:
        fs, hpath = _hadoop_path(self.spark, folder)
        fs.mkdirs(hpath)

    def write_durably(self, path: str, text: str) -> None:
        local = self._local(path)
        if local is not None:
            LocalFiles().write_durably(local, text)
            return
        fs, hpath = _hadoop_path(self.spark, path)
        stream = fs.create(hpath, True)
        stream.write(bytearray(text.encode("utf-8")))
        stream.hsync()
        stream.close()

    def sync(self, path: str) -> None:
        local = self._local(path)
        if local is not None:
            LocalFiles().sync(local)

    def sync_folder(self, folder: str) -> None:
        local = self._local(folder)
        if local is not None:
            LocalFiles().sync_folder(local)


class JobEvents:
    """What the job tells `pipec run` as it goes, for its OpenLineage stage runs: each stage's
    start and end (a stage ends when its block of `pipeline()` has run: Spark computes lazily, so
    work may fall in the stage whose action needs it) and each output's rows, as JSON lines
    appended to the file `pipec run` names in $PIPEC_JOB_EVENTS. Without it, nothing is written."""

    def __init__(self, path: str | None):
        self.path = path
        self.current: str | None = None

    @property
    def wanted(self) -> bool:
        return bool(self.path)

    def _send(self, **event: Any) -> None:
        if self.path:
            event["time"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(json.dumps(event) + "\n")

    def stage(self, stage_id: str) -> None:
        """The block of stage `stage_id` begins (and the one before it has ended)."""
        self.finish()
        self.current = stage_id
        self._send(event="stage_started", stage=stage_id)

    def finish(self) -> None:
        if self.current is not None:
            self._send(event="stage_finished", stage=self.current)
            self.current = None

    def failed(self, error: str) -> None:
        if self.current is not None:
            self._send(event="stage_failed", stage=self.current, error=error)
            self.current = None

    def rows(self, target: str, rows: int) -> None:
        self._send(event="output_rows", path=target, rows=int(rows))


class Outputs:
    """Sinks write into a temporary folder beside their target during the run; `commit` moves
    every result into place, all or nothing, once the whole run has succeeded (the protocol of
    pipec/backends/commit.py, journal in `<workdir>/.pipec/commits/`); `discard` removes them.
    A sink never replaces a folder pipec did not write."""

    def __init__(self, spark: SparkSession, workdir: str | None = None, confine_outputs: bool = False):
        self.spark = spark
        self.files = HadoopFiles(spark)
        self.run_id = new_run_id()
        self.base_dir = os.path.abspath(workdir or os.getcwd())
        self.confine_outputs = confine_outputs  # the pipeline option, for params given only now
        self.state_dir = os.path.join(self.base_dir, STATE_DIR)
        self.temp_dirs: list[str] = []
        self.staged: list[tuple[str, str]] = []  # (staged file or folder, target), qualified URIs
        self.committed = False
        self._run_lock: RunLock | None = None
        self.events = JobEvents(os.environ.get(JOB_EVENTS_VARIABLE))
        self.tables: list[dict[str, Any]] = []  # {"item", "staged", "rows"}: staged database tables

    def recover(self) -> list[str]:
        """Finish a commit an earlier run in this working directory left interrupted."""
        with signals_deferred() as arrived, commit_lock(self.state_dir):
            messages = recover(self.files, self.state_dir)
            remove_recorded(self.files, self.state_dir)   # what killed runs left beside outputs
        for message in messages:
            print(message, file=sys.stderr)
        if arrived:
            raise JobInterrupted(arrived[0])
        return messages

    def _temp_dir(self, target: str) -> str:
        """Where the sink at `target` is staged (after checking it may be written there)."""
        relative = target if _URI.match(target) else os.path.relpath(target, self.base_dir)
        confined_sink(target, relative, self.confine_outputs)
        if self._run_lock is None:  # taken before the first temporary folder exists
            self._run_lock = RunLock(self.state_dir, self.run_id)
        temp = staged_path(self.files, self.files.qualify(target), self.run_id)
        record_temporary(self.state_dir, self.run_id, temp)   # for the next run, if this one dies
        self.temp_dirs.append(temp)  # recorded first, so that a failed write is cleaned up too
        return temp

    def write_table(self, df: DataFrame, fmt: str, path: str, schema: SchemaSpec) -> None:
        """Write `df` as one CSV / JSON-lines / Parquet file at `path` (staged until commit)."""
        temp = self._temp_dir(path)
        rows = conform(in_order(df), schema)
        if fmt == "parquet":
            rows.coalesce(1).write.mode("overwrite").parquet(temp)
            fs, hdir = _hadoop_path(self.spark, temp)
            part = next(s.getPath() for s in fs.listStatus(hdir) if s.getPath().getName().startswith("part-"))
            self.staged.append((part.toString(), self.files.qualify(path)))
            if self.events.wanted:  # from the file's footer
                self.events.rows(self.files.qualify(path), self.spark.read.parquet(part.toString()).count())
        else:
            table = rows.toArrow()
            self.staged.append((write_bytes(self.spark, f"{temp}/part-00000.{fmt}",
                                            table_file_bytes(table, fmt)), self.files.qualify(path)))
            self.events.rows(self.files.qualify(path), table.num_rows)

    def write_database(self, df: DataFrame, item: dict[str, Any]) -> None:
        """Stage the rows in a new table beside the target (JDBC batch inserts); `commit` moves
        them in with the other outputs (pipec/backends/postgres.py)."""
        url = connection_url(item["connection"])
        rows = conform(df, item["schema"])
        if item["key"]:
            duplicate = rows.groupBy(*[quote(k) for k in item["key"]]).count().where("count > 1").first()
            if duplicate is not None:
                key = {k: duplicate[k] for k in item["key"]}
                raise PipelineRunError(f"{item['where']}: key {key} appears more than once in the rows written to "
                                       f"`{item['table']}`; a key names one row")
        if self._run_lock is None:
            self._run_lock = RunLock(self.state_dir, self.run_id)
        staged = stage_name(self.run_id, len(self.tables))
        schema_name, _ = split_table(item["table"])
        entry = {"item": item, "staged": staged, "rows": None}
        self.tables.append(entry)
        try:
            conn = connect(item["connection"], url, item["where"])
            try:
                with conn:
                    conn.execute(stage_sql(item, staged))
            finally:
                conn.close()
        except DatabaseError as exc:
            raise PipelineRunError(str(exc)) from None
        jdbc, properties = jdbc_connection(url)
        rows.write.format("jdbc").option("url", jdbc + ("&" if "?" in jdbc else "?") + "reWriteBatchedInserts=true") \
            .options(**properties).option("dbtable", f'"{schema_name}"."{staged}"').option("batchsize", "10000") \
            .mode("append").save()

    def write_partitioned(self, df: DataFrame, fmt: str, path: str, schema: SchemaSpec,
                          partition_by: SchemaSpec) -> None:
        """One folder per partition of the ordered table, each staged as an output of its own
        and written by the contract's writers exactly as the local runtime writes it."""
        import polars as pl

        table = pl.from_arrow(conform(in_order(df), schema).toArrow())
        names = [name for name, _, _ in partition_by]
        levels = [(name, kind) for name, kind, _ in partition_by]
        for values, part in table.partition_by(names, maintain_order=True, include_key=False, as_dict=True).items():
            target = f"{path.rstrip('/')}/{partition_folder(values, levels)}"
            temp = self._temp_dir(target)
            write_bytes(self.spark, f"{temp}/part-0.{fmt}", _table_bytes(part, fmt))
            write_bytes(self.spark, f"{temp}/{MARKER}", b"")
            self.staged.append((temp, self.files.qualify(target)))

    def write_metrics(self, metrics: dict[str, float], fmt: str, path: str) -> None:
        """Metrics are one JSON object, written as the local runtime writes it."""
        temp = self._temp_dir(path)
        self.staged.append((write_bytes(self.spark, f"{temp}/metrics.{fmt}", metrics_file_bytes(metrics)),
                            self.files.qualify(path)))

    def save_model(self, model: "FittedModel", path: str) -> None:
        """Save the MLlib PipelineModel, plus a `pipec-model.json` sidecar describing it."""
        temp = self._temp_dir(path)
        model.pipeline.write().overwrite().save(temp)
        fs, hdir = _hadoop_path(self.spark, temp)
        local = self.files._local(temp)  # the digest `load_model` checks: of a folder on the local disk
        sidecar = {**model.describe(), **({"sha256": model_folder_digest(local)} if local else {})}
        stream = fs.create(self.spark.sparkContext._jvm.org.apache.hadoop.fs.Path(hdir, "pipec-model.json"))
        stream.write(bytearray(json.dumps(sidecar, indent=2).encode()))
        stream.close()
        self.staged.append((temp, self.files.qualify(path)))

    def commit(self) -> None:
        """Check every target, then replace them all (SIGINT/SIGTERM wait until it is done)."""
        scratch = tuple(t for t in self.temp_dirs if t not in {staged for staged, _ in self.staged})
        with signals_deferred() as arrived:
            with commit_lock(self.state_dir):
                remove_stale(self.files, self.state_dir, [target for _, target in self.staged])
                try:
                    if self.tables:  # the database first, once every file target is known replaceable
                        check_targets(self.files, [target for _, target in self.staged], self.state_dir)
                        commit_tables(self.tables, connection_url)
                    commit(self.files, self.state_dir, self.run_id, self.staged, scratch)
                except CommitError as exc:
                    raise PipelineRunError(str(exc)) from exc
                except DatabaseError as exc:
                    raise PipelineRunError(str(exc)) from None
            self.committed = True
            self.temp_dirs.clear()
            self._release()
        if arrived:
            raise JobInterrupted(arrived[0])

    def discard(self) -> None:
        """Remove every temporary folder of this run (staged results included)."""
        if not self.committed:
            for temp in self.temp_dirs:
                self.files.remove(temp)
            drop_stages(self.tables, connection_url)
        self.tables.clear()
        self.temp_dirs.clear()
        self.staged.clear()
        self._release()

    def _release(self) -> None:
        if self._run_lock is not None:
            self._run_lock.release()
            self._run_lock = None


def table_file_bytes(table: Any, fmt: str) -> bytes:
    """A CSV or JSON-lines file of an Arrow table, written by the contract's writer, as the local
    runtime writes it (docs/semantics.md: one writer for every backend)."""
    import polars as pl

    return _table_bytes(pl.from_arrow(table), fmt)


def _table_bytes(df: Any, fmt: str) -> bytes:
    """A polars table as the local runtime writes it: the contract's CSV / JSON-lines writer, or
    polars' Parquet writer."""
    buffer = io.BytesIO()
    {"csv": write_table_csv, "json": write_table_json}.get(fmt, lambda table, target: table.write_parquet(target))(
        df, buffer)
    return buffer.getvalue()


def metrics_file_bytes(metrics: dict[str, float]) -> bytes:
    """Metrics JSON as the local runtime's `write_json` writes it."""
    return metrics_json_text(metrics).encode()


def write_bytes(spark: SparkSession, path: str, data: bytes) -> str:
    """Write one file (on any Hadoop file system) and return its path."""
    fs, hpath = _hadoop_path(spark, path)
    stream = fs.create(hpath, True)
    try:
        chunk = 1 << 22
        for start in range(0, len(data), chunk):
            stream.write(bytearray(data[start:start + chunk]))
    finally:
        stream.close()
    return hpath.toString()


# ================================================================ split and sample
def split_draw(key: Column, seed: int) -> Column:
    """The contract's draw u in [0, 1) of a key (a null key counts as 0)."""
    reduced = F.pmod(F.coalesce(key, F.lit(0)).cast("bigint"), F.lit(SPLIT_PRIME))
    return draw_numerator(reduced, seed) / F.lit(SPLIT_PRIME)


def row_hash(df: DataFrame, seed: int) -> Column:
    """A deterministic per-row key from all values and the seed (for split without `by` and sample)."""
    return F.xxhash64(*[F.col(quote(c)) for c in data_columns(df)], F.lit(seed))


def split_rows(df: DataFrame, fraction: float, seed: int, part: int, by: str | None = None) -> DataFrame:
    """One side of `split`: part 0 keeps the rows whose draw is below `fraction`, part 1 the rest."""
    check_bound("proper_fraction", fraction, "`fraction` of `split`")
    key = F.col(quote(by)) if by is not None else row_hash(df, seed)
    below = split_draw(key, seed) < F.lit(float(fraction))
    return df.filter(below if part == 0 else ~below)


def sample_rows(df: DataFrame, fraction: float, seed: int) -> DataFrame:
    """Keep each row with probability `fraction`, drawn from a hash of the row (not its position)."""
    check_bound("nonzero_fraction", fraction, "the fraction of `sample`")
    return df.filter(split_draw(row_hash(df, seed), seed) < F.lit(float(fraction)))


# ================================================================ python steps
def apply_python(df: DataFrame, function: str, schema: SchemaSpec, options: dict[str, Any]) -> DataFrame:
    """Run a user function once on the whole table, in order, through `mapInArrow`, with the
    frame and result rules of the local backend (`python_input_frame`, `python_result_table`).
    The function is imported from the job's working directory too, on the driver and the workers."""
    workdir = os.getcwd()
    _import_function(function, workdir)  # fail early, on the driver, with a clear message
    rows = in_order(df).drop(ORDER)
    input_schema = to_arrow_schema(rows.schema, timezone="UTC")
    output_schema = to_arrow_schema(struct_type(schema), timezone="UTC")
    where = f'{ERROR_MARK} python("{function}")'

    def run_table(batches: Iterable[Any]) -> Iterator[Any]:
        import pyarrow as pa

        user_function = _import_function(function, workdir)
        table = pa.Table.from_batches(list(batches), schema=input_schema)
        result = python_result_table(user_function(python_input_frame(table), **options), schema, where)
        yield from result.cast(output_schema).to_batches()

    # one partition: the function sees all rows in order, and its result's order is kept
    return numbered(rows.coalesce(1).mapInArrow(run_table, struct_type(schema)))


def _import_function(function: str, workdir: str) -> Callable[..., Any]:
    if workdir not in sys.path:
        sys.path.insert(0, workdir)
    module_name, _, attribute = function.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise PipelineRunError(f"python step: cannot import {function!r} ({exc})") from None


# ================================================================ machine learning
ESTIMATORS: dict[str, tuple[type, dict[str, tuple[str, Any]], dict[str, Any]]] = {
    # pipec name: (MLlib class, {pipec argument: (MLlib parameter, default)}, fixed MLlib settings)
    "logistic_regression": (LogisticRegression, {"max_iter": ("maxIter", 100), "reg": ("regParam", 0.0)},
                            {"elasticNetParam": 0.0, "standardization": False}),
    "random_forest_classifier": (RandomForestClassifier, {"n_trees": ("numTrees", 100),
                                 "max_depth": ("maxDepth", 5), "seed": ("seed", 0)}, {}),
    "gradient_boosted_classifier": (GBTClassifier, {"n_iter": ("maxIter", 50), "max_depth": ("maxDepth", 3),
                                    "seed": ("seed", 0)}, {}),
    "linear_regression": (LinearRegression, {"reg": ("regParam", 0.0)},
                          {"elasticNetParam": 0.0, "standardization": False}),
    "random_forest_regressor": (RandomForestRegressor, {"n_trees": ("numTrees", 100),
                                "max_depth": ("maxDepth", 5), "seed": ("seed", 0)}, {}),
    "kmeans": (KMeans, {"k": ("k", 2), "seed": ("seed", 0)}, {}),
}

def penalty_scales_with_label_spread(name: str, arguments: dict[str, Any]) -> bool:
    """Whether MLlib divides this estimator's `regParam` by the label's standard deviation.

    MLlib's LinearRegression (normal-equation solver) standardizes the label internally even with
    standardization=False, so it minimizes 1/(2n)·||y - Xw - b||² + (regParam/σ_y)/2·||w||² with
    σ_y the population standard deviation of the label. pipec's `reg` is λ in
    1/(2n)·||y - Xw - b||² + λ/2·||w||², so the job passes regParam = reg·σ_y.
    (LogisticRegression's objective has no such factor: its regParam is `reg` as it is.)"""
    return name == "linear_regression" and float(arguments.get("reg", 0.0)) > 0


_FEATURES, _LABEL, _RAW, _PROBABILITY, _PREDICTION = (
    "__features", "__label", "__raw", "__probability", "__prediction")


def make_estimator(name: str, arguments: dict[str, Any], supervised: bool, label_spread: float = 1.0) -> Any:
    """The MLlib estimator for a pipec estimator call, with pipec's defaults. `label_spread` is the
    training label's population standard deviation, which `linear_regression` needs (see
    `penalty_scales_with_label_spread`)."""
    cls, mapping, fixed = ESTIMATORS[name]
    check_hyperparameters(name, arguments)
    settings = {mllib: arguments.get(arg, default) for arg, (mllib, default) in mapping.items()}
    if penalty_scales_with_label_spread(name, arguments):
        settings["regParam"] = float(settings["regParam"]) * label_spread
    columns: dict[str, str] = {"featuresCol": _FEATURES, "predictionCol": _PREDICTION,
                               "probabilityCol": _PROBABILITY, "rawPredictionCol": _RAW}
    if supervised:
        columns["labelCol"] = _LABEL
    estimator = cls(**settings, **fixed)
    for param, column in columns.items():  # set, not passed: GBTClassifier's __init__ lacks some
        if estimator.hasParam(param):
            estimator.set(estimator.getParam(param), column)
    return estimator


@dataclass
class FittedModel:
    """An MLlib PipelineModel (encoders + assembler + estimator) and what pipec knows about it."""

    pipeline: PipelineModel
    kind: str  # classifier, regressor or clusterer
    estimator: str
    features: SchemaSpec
    label: tuple[str, str] | None  # (name, pipec type)
    classes: list[Any]  # sorted class labels of a classifier; index i is MLlib label i
    trials: DataFrame | None = None  # a tuned model's trials table, which `tune_trials` gives

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "estimator": self.estimator,
                "features": [{"name": n, "type": k} for n, k, _ in self.features],
                "label": {"name": self.label[0], "type": self.label[1]} if self.label else None,
                "classes": [c.isoformat() if isinstance(c, dt.date) else c for c in self.classes]}


def fit_model(df: DataFrame, estimator: str, arguments: dict[str, Any], kind: str,
              features: SchemaSpec, label: tuple[str, str] | None = None) -> FittedModel:
    """Fit an estimator: `str` features one-hot encoded with sorted categories (an unseen category
    encodes as all zeros), numeric and bool features as they are, class labels indexed in sort order."""
    stages: list[Any] = []
    vector_inputs = []
    for name, kind_, _ in features:
        if kind_ == "str":
            indexed, encoded = f"__index_{name}", f"__onehot_{name}"
            stages.append(StringIndexer(inputCol=name, outputCol=indexed, stringOrderType="alphabetAsc",
                                        handleInvalid="keep"))
            stages.append(OneHotEncoder(inputCol=indexed, outputCol=encoded, dropLast=True))
            vector_inputs.append(encoded)
        else:
            vector_inputs.append(name)
    stages.append(VectorAssembler(inputCols=vector_inputs, outputCol=_FEATURES))

    classes: list[Any] = []
    training = df
    if label is not None:
        label_name = quote(label[0])
        training = df.filter(F.col(label_name).isNotNull())
        if kind == "classifier":
            classes = sorted(r[0] for r in training.select(label_name).distinct().collect())
            if len(classes) < 2:
                raise PipelineRunError(f"fit: label {label[0]!r} has {len(classes)} distinct value(s); "
                                       f"a classifier needs at least two")
            if estimator == "gradient_boosted_classifier" and len(classes) > 2:
                raise PipelineRunError(f"fit: gradient_boosted_classifier on Spark supports two classes, "
                                       f"label {label[0]!r} has {len(classes)}")
            index = F.array_position(F.array(*[F.lit(c) for c in classes]), F.col(label_name)) - 1
            training = training.withColumn(_LABEL, index.cast("double"))
        else:
            training = training.withColumn(_LABEL, F.col(label_name).cast("double"))
    label_spread = 1.0
    if penalty_scales_with_label_spread(estimator, arguments):
        label_spread = training.agg(F.stddev_pop(_LABEL)).first()[0] or 0.0
    stages.append(make_estimator(estimator, arguments, supervised=label is not None, label_spread=label_spread))
    return FittedModel(Pipeline(stages=stages).fit(training), kind, estimator, features, label, classes)


def predict(df: DataFrame, model: FittedModel) -> DataFrame:
    """Add `prediction` (a classifier's: the label's type; a regressor's: double; k-means: cluster
    id) and, for classifiers, `probability` (of the positive class for two classes, else of the
    predicted class)."""
    kept = [quote(c) for c in df.columns if c not in ("prediction", "probability")]
    scored = model.pipeline.transform(df)
    if model.kind == "classifier":
        index = F.col(_PREDICTION).cast("int") + 1
        prediction = F.element_at(F.array(*[F.lit(c) for c in model.classes]), index)
        probabilities = vector_to_array(F.col(_PROBABILITY))
        probability = (probabilities[1] if len(model.classes) == 2 else F.array_max(probabilities))
        return scored.select(*kept, prediction.alias("prediction"), probability.alias("probability"))
    target = "bigint" if model.kind == "clusterer" else "double"
    return scored.select(*kept, F.col(_PREDICTION).cast(target).alias("prediction"))


def tune_model(df: DataFrame, candidates: list[tuple[str, dict[str, Any]]], kind: str, features: SchemaSpec,
               label: tuple[str, str], metric: str, lower_is_better: bool, folds: int | None,
               holdout: float | None, seed: int, trials: SchemaSpec) -> FittedModel:
    """`tune` as the local runtime runs it: the same validation rounds (`validation_rounds`, over
    the rows in their defined order), each candidate fitted with `fit_model` and scored with
    `evaluate` per round, on a thread pool (Spark runs the jobs of several threads at once); the
    best mean wins (ties: the earliest candidate) and is refitted on all rows."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    from pyspark.sql.window import Window

    if holdout is not None:
        check_bound("proper_fraction", holdout, "`holdout` of `tune`")
    spark = df.sparkSession
    rows = df.count()
    rounds = validation_rounds(rows, folds, holdout, seed)
    if any(len(valid) == 0 or len(train) == 0 for train, valid in rounds):
        raise PipelineRunError(f"tune: {rows} rows are too few for "
                               + (f"{folds} folds" if folds else f"a hold-out fraction of {holdout}"))
    part = np.empty(rows, dtype=np.int64)
    for k, (_, valid) in enumerate(rounds):
        part[valid] = k
    parts = spark.createDataFrame([(i, int(p)) for i, p in enumerate(part)], "__position long, __part long")
    positioned = df.withColumn("__position", F.row_number().over(Window.orderBy(ORDER)) - 1)
    marked = positioned.join(F.broadcast(parts), "__position").persist(StorageLevel.MEMORY_AND_DISK)
    task = "classification" if kind == "classifier" else "regression"

    def score(candidate_round: tuple[int, int]) -> tuple[float, float]:
        (estimator, arguments), k = candidates[candidate_round[0]], candidate_round[1]
        started = time.perf_counter()
        train = marked.filter(F.col("__part") != k).drop("__position", "__part")
        valid = marked.filter(F.col("__part") == k).drop("__position", "__part")
        model = fit_model(in_order(train), estimator, arguments, kind, features, label)
        value = evaluate(predict(valid, model), model, label[0], task, [metric])[metric]
        return value, time.perf_counter() - started

    tasks = [(c, r) for c in range(len(candidates)) for r in range(len(rounds))]
    try:
        with ThreadPoolExecutor(max_workers=min(len(tasks), os.cpu_count() or 1)) as pool:
            results = list(pool.map(score, tasks))
    finally:
        marked.unpersist()
    means, seconds, best = best_candidate(results, len(candidates), len(rounds), lower_is_better)
    estimator, arguments = candidates[best]
    model = fit_model(in_order(df), estimator, arguments, kind, features, label)
    hyper = [name for name, _, _ in trials[2:-2]]
    table = [(c + 1, e, *[p.get(h) for h in hyper], means[c], seconds[c]) for c, (e, p) in enumerate(candidates)]
    model.trials = numbered(spark.createDataFrame(table, struct_type(trials)).coalesce(1))
    return model


def load_saved_model(path: str, expected: dict[str, Any], where: str) -> FittedModel:
    """`load_model`: the MLlib model a Spark run saved in a folder on the local disk, loaded only
    after the runtime contract's `checked_saved_model` passed (engine, digest, signature)."""
    if _URI.match(path) and not path.startswith("file:"):
        raise PipelineRunError(f"{where}: on Spark, `load_model` reads a model folder on the local disk, not {path}",
                               file=path)
    sidecar = checked_saved_model(_local_path(path), expected, "spark", where)
    label = sidecar["label"]
    date_label = label is not None and label["type"] == "date"
    return FittedModel(PipelineModel.load(path), sidecar["kind"], sidecar["estimator"],
                       [(f["name"], f["type"], False) for f in sidecar["features"]],
                       (label["name"], label["type"]) if label else None,
                       [dt.date.fromisoformat(c) if date_label else c for c in sidecar["classes"] or []])


def drift(df: DataFrame, reference: DataFrame, columns: list[tuple[str, bool]], where: str) -> dict[str, float]:
    """`drift`: the compared columns' non-null values are collected to the driver, where the
    runtime contract's `drift_metrics` computes what every backend computes."""
    names = [name for name, _ in columns]
    here = df.select(*[F.col(quote(n)) for n in names]).toArrow()
    there = reference.select(*[F.col(quote(n)) for n in names]).toArrow()
    return drift_metrics([(name, numeric, [v for v in here.column(name).to_pylist() if v is not None],
                           [v for v in there.column(name).to_pylist() if v is not None])
                          for name, numeric in columns], where)


def tune_trials(model: FittedModel) -> DataFrame:
    """The trials table of the `tune` step that chose `model`."""
    return model.trials


LOG_LOSS_EPS = 2.220446049250313e-16  # float64 machine epsilon, as scikit-learn clips


def evaluate(df: DataFrame, model: FittedModel, label: str, task: str, metrics: list[str]) -> dict[str, float]:
    """Metrics with scikit-learn's definitions; rows with a null label or prediction are skipped.
    `model` made the predictions: with more than two classes, roc_auc and log_loss need every
    class's probability, which the predicted table does not keep, so they rescore the rows with it."""
    rows = df.filter(F.col(quote(label)).isNotNull() & F.col("prediction").isNotNull())
    if task == "regression":
        values = _regression_metrics(rows, label)
    else:
        values = _classification_metrics(rows, model, label, metrics)
    return {name: values[name] for name in metrics}


def _regression_metrics(rows: DataFrame, label: str) -> dict[str, float]:
    y, p = F.col(quote(label)).cast("double"), F.col("prediction").cast("double")
    # ordered sums (see float_sum): the same metrics, to the bit, on every run
    agg = rows.agg(float_sum((y - p) * (y - p)).alias("ss_res"), float_sum(F.abs(y - p)).alias("abs_err"),
                   squared_deviations(y).alias("ss_tot"), F.count(y).alias("n")).first()
    n = agg["n"]
    if not n:
        raise PipelineRunError("evaluate: no rows with both a label and a prediction")
    ss_res, ss_tot = agg["ss_res"], agg["ss_tot"]
    r2 = (1.0 - ss_res / ss_tot) if ss_tot else (1.0 if ss_res == 0 else 0.0)
    return {"rmse": math.sqrt(ss_res / n), "mae": agg["abs_err"] / n, "r2": r2}


def _classification_metrics(rows: DataFrame, model: FittedModel, label: str,
                            metrics: list[str]) -> dict[str, float]:
    counts = {(r[0], r[1]): r[2] for r in rows.groupBy(quote(label), "prediction").count().collect()}
    if not counts:
        raise PipelineRunError("evaluate: no rows with both a label and a prediction")
    classes = sorted({c for pair in counts for c in pair})
    booleans = all(isinstance(c, bool) for c in classes)
    binary = booleans or len(classes) <= 2
    positive = True if booleans else classes[-1]  # semantics.md: the greater of the two labels
    total = sum(counts.values())
    values: dict[str, float] = {"accuracy": sum(n for (y, p), n in counts.items() if y == p) / total}

    def scores(cls: Any) -> tuple[float, float, float]:
        tp = counts.get((cls, cls), 0)
        predicted = sum(n for (_, p), n in counts.items() if p == cls)
        actual = sum(n for (y, _), n in counts.items() if y == cls)
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1

    per_class = [scores(positive)] if binary else [scores(c) for c in classes]
    for i, name in enumerate(("precision", "recall", "f1")):
        values[name] = sum(s[i] for s in per_class) / len(per_class)
    wants_probability = [m for m in ("roc_auc", "log_loss") if m in metrics]
    if wants_probability and len(model.classes) > 2:
        values.update(_per_class_metrics(rows, model, label, wants_probability))
    elif wants_probability:
        is_positive = (F.col(quote(label)) == F.lit(positive)).cast("double")
        scored = rows.select(is_positive.alias("y"), F.col("probability").cast("double").alias("p"))
        if "roc_auc" in metrics:
            values["roc_auc"] = BinaryClassificationEvaluator(
                rawPredictionCol="p", labelCol="y", metricName="areaUnderROC", numBins=0).evaluate(scored)
        if "log_loss" in metrics:
            p = F.least(F.greatest(F.col("p"), F.lit(LOG_LOSS_EPS)), F.lit(1 - LOG_LOSS_EPS))
            loss = -(F.col("y") * F.ln(p) + (1 - F.col("y")) * F.ln(1 - p))
            values["log_loss"] = scored.agg(float_mean(loss)).first()[0]
    return values


def _per_class_metrics(rows: DataFrame, model: FittedModel, label: str, wanted: list[str]) -> dict[str, float]:
    """One-vs-rest macro roc_auc and log_loss as scikit-learn defines them, from every class's
    probability, which the model gives again for the rows' features."""
    features = [name for name, _, _ in model.features]
    missing = [name for name in features if name not in rows.columns]
    if missing:
        raise PipelineRunError(f"evaluate: {wanted[0]} with {len(model.classes)} classes needs every class's "
                               f"probability, computed from the model's features; the evaluated table lacks "
                               f"{', '.join(repr(m) for m in missing)} (keep them after predict)")
    known = F.array(*[F.lit(c) for c in model.classes])
    scored = model.pipeline.transform(rows.select(*[quote(c) for c in [*features, label]])).select(
        F.col(quote(label)).alias("y"),
        (F.array_position(known, F.col(quote(label))).cast("int") - 1).alias("k"),  # -1: never seen in training
        vector_to_array(F.col(_PROBABILITY)).alias("p")).cache()
    try:
        seen = {r["k"]: r["y"] for r in scored.groupBy("k").agg(F.first("y").alias("y")).collect()}
        if -1 in seen:
            raise PipelineRunError(f"evaluate: {label!r} has the value {seen[-1]!r}, "
                                   f"which the model never saw in training")
        values: dict[str, float] = {}
        if "log_loss" in wanted:
            p = F.least(F.greatest(F.element_at("p", F.col("k") + 1), F.lit(LOG_LOSS_EPS)), F.lit(1 - LOG_LOSS_EPS))
            values["log_loss"] = scored.agg(float_mean(-F.ln(p))).first()[0]
        if "roc_auc" in wanted:
            absent = [c for k, c in enumerate(model.classes) if k not in seen]
            if absent:
                raise PipelineRunError(f"evaluate: roc_auc needs every class of {label!r} among the "
                                       f"evaluated rows; {absent[0]!r} has none")
            auc = BinaryClassificationEvaluator(rawPredictionCol="s", labelCol="t", metricName="areaUnderROC",
                                                numBins=0)
            values["roc_auc"] = sum(
                auc.evaluate(scored.select((F.col("k") == k).cast("double").alias("t"), F.col("p")[k].alias("s")))
                for k in range(len(model.classes))) / len(model.classes)
        return values
    finally:
        scored.unpersist()


# ================================================================ expectations
@dataclass
class Expectation:
    """One `expect` condition: its source text, the Column computing it, and the values to report."""

    text: str
    condition: Column
    observed: list[tuple[str, Column]]


def check_expectations(data: DataFrame | dict[str, float], expectations: list[Expectation],
                       spark: SparkSession) -> None:
    """Evaluate all conditions in one pass (aggregates over a table, or over a metrics record) and
    fail naming each false condition and the values it saw."""
    if isinstance(data, dict):
        frame = spark.createDataFrame([tuple(data.values())], struct_type([(k, "float", True) for k in data]))
        evaluate_all = frame.select
    else:
        evaluate_all = data.agg
    columns = []
    for i, e in enumerate(expectations):
        columns.append(e.condition.alias(f"c{i}"))
        columns.extend(value.alias(f"c{i}_{j}") for j, (_, value) in enumerate(e.observed))
    row = evaluate_all(*columns).first().asDict()
    failures = []
    for i, e in enumerate(expectations):
        if row[f"c{i}"] is not True:
            seen = ", ".join(f"{text} = {row[f'c{i}_{j}']!r}" for j, (text, _) in enumerate(e.observed))
            failures.append(f"`{e.text}`" + (f" (observed: {seen})" if seen else ""))
    if failures:
        raise PipelineRunError("expectation failed: " + "; ".join(failures))
