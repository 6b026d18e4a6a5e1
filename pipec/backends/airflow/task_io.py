"""Worker-side support for the tasks of a generated DAG: one stage per task, its values in
storage (`run_stage`); or, with the Spark engine, one task running the compiled Spark job
(`run_spark_job`).

This file is copied beside every generated DAG (into its `pipec_support/` folder) and must run
without pipec installed: it imports only the standard library at the top, and fsspec, polars
and the stage module lazily, inside the task. It must also never mention the orchestrator by
name, so that its DAG processor's "might contain a DAG" heuristic skips the file.

A stage's outputs live at {storage_root}/{dag_id}/{run_id}/{node_id}.{ext}: one folder per run,
so concurrent runs never collide, and a retry of a task rewrites exactly its own files. Every
file is written to a temporary name and renamed into place, so a failed task leaves nothing
half-written for a later task to read.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys
import uuid
from typing import Any

log = logging.getLogger("pipec.task")

RUNTIME_MODULE = "pipec_local_runtime"  # the names of the support files beside a DAG
TASK_IO_MODULE = "pipec_task_io"
# Params every generated DAG adds to the pipeline's own: where relative paths and stage outputs live.
BASE_DIR_PARAM = "base_dir"
STORAGE_ROOT_PARAM = "storage_root"
FAILURE_MARK = "[pipec]"  # starts the log line that names a failed stage and its error

EXTENSIONS = {"table": "parquet", "model": "pkl", "metrics": "json"}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*\Z")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_UNSAFE_IN_PATH = re.compile(r"[^A-Za-z0-9._=-]")


class StageFailed(RuntimeError):
    """A stage could not run; the message says which stage and why, for the task log."""


def run_folder(storage_root: str, dag_id: str, run_id: str) -> str:
    """The folder of one run; run ids hold ':' and '+', which object stores and shells dislike."""
    return "/".join([storage_root.rstrip("/"), _UNSAFE_IN_PATH.sub("_", dag_id),
                     _UNSAFE_IN_PATH.sub("_", run_id)])


def value_path(folder: str, node_id: str, kind: str) -> str:
    return f"{folder}/{node_id}.{EXTENSIONS[kind]}"


def duration_seconds(value: Any) -> float:
    """A duration param as seconds: a number already is; text is `30s`, `5m`, `2h` or `1d`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    match = _DURATION.match(str(value))
    if not match:
        raise StageFailed(f"duration {value!r} is neither seconds nor a number followed by s, m, h or d")
    return float(match.group(1)) * _DURATION_SECONDS[match.group(2)]


def save_value(value: Any, path: str, kind: str) -> dict[str, Any]:
    """Store one stage output atomically; returns the small record that travels by XCom."""
    record: dict[str, Any] = {"path": path, "kind": kind}
    if kind == "table":
        frame = value.collect() if hasattr(value, "collect") else value
        record["rows"] = frame.height
        _write_atomically(path, frame.write_parquet)
    elif kind == "metrics":
        _write_atomically(path, lambda f: f.write(json.dumps(dict(value), indent=2).encode()))
    else:
        _write_atomically(path, lambda f: pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL))
    return record


def load_value(record: dict[str, Any]) -> Any:
    """Read back a value stored by `save_value` (a table comes back as a polars LazyFrame)."""
    import fsspec

    with fsspec.open(record["path"], "rb") as handle:
        if record["kind"] == "table":
            import polars as pl

            return pl.read_parquet(handle).lazy()
        if record["kind"] == "metrics":
            return json.loads(handle.read())
        return pickle.load(handle)


def _write_atomically(path: str, write) -> None:
    """Write through `write(file)` to a temporary name beside `path`, then rename into place.

    On object stores a single PUT is already all-or-nothing, and rename is a copy, so there the
    file is written directly.
    """
    from fsspec.core import url_to_fs
    from fsspec.implementations.local import LocalFileSystem

    fs, target = url_to_fs(path)
    parent = target.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    if not isinstance(fs, LocalFileSystem):
        with fs.open(target, "wb") as handle:
            write(handle)
        return
    temporary = f"{parent}/.{target.rsplit('/', 1)[1]}.{uuid.uuid4().hex}.tmp"
    try:
        with fs.open(temporary, "wb") as handle:
            write(handle)
        fs.mv(temporary, target)
    finally:
        if fs.exists(temporary):
            fs.rm(temporary)


def run_stage(*, stages_module: str, stage_id: str, reads: dict[str, str], writes: dict[str, str],
              upstream: list[dict[str, dict[str, Any]]], context: dict[str, Any],
              duration_params: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Run stage `stage_id` of the generated stage module inside one task.

    `upstream` holds the XCom records of the tasks this one depends on ({node_id: record}); the
    stage's inputs `reads` are loaded from them, the values in `writes` are stored for later
    tasks, and the stage's sinks are committed only once all of that succeeded.
    """
    params = dict(context["params"])
    base_dir = params.pop(BASE_DIR_PARAM)
    folder = run_folder(params.pop(STORAGE_ROOT_PARAM), context["dag"].dag_id, context["run_id"])
    for name in duration_params:
        params[name] = duration_seconds(params[name])
    available: dict[str, dict[str, Any]] = {}
    for records in upstream:
        available.update(records or {})
    runtime = importlib.import_module(RUNTIME_MODULE)
    stage = getattr(importlib.import_module(stages_module), f"stage_{stage_id}")
    ctx = runtime.RunContext(params, workdir=base_dir)
    try:
        inputs = {node_id: load_value(available[node_id]) for node_id in reads}
        outputs = stage(ctx, inputs)
        saved = {node_id: save_value(outputs[node_id], value_path(folder, node_id, kind), kind)
                 for node_id, kind in writes.items()}
        ctx.commit()
    except BaseException as exc:
        ctx.abort()
        log.error("%s stage %s failed: %s", FAILURE_MARK, stage_id, exc)
        raise
    for node_id, record in saved.items():
        log.info("stage %s stored %s at %s", stage_id, node_id, record["path"])
    return saved


def run_spark_job(job: str, context: dict[str, Any]) -> None:
    """Run a compiled standalone Spark job for this task, in the base_dir, with the run's params.

    `spark-submit` is used when SPARK_HOME says where a Spark installation (and its cluster
    configuration) lives; otherwise the job runs on the local Spark that pyspark bundles.
    """
    params = dict(context["params"])
    base_dir = params.pop(BASE_DIR_PARAM)
    spark_submit = os.path.join(os.environ.get("SPARK_HOME", ""), "bin", "spark-submit")
    use_spark_submit = bool(os.environ.get("SPARK_HOME")) and shutil.which(spark_submit) is not None
    command = [spark_submit if use_spark_submit else sys.executable, job]
    for name, value in params.items():
        command += ["--param", f"{name}={_param_text(value)}"]
    done = subprocess.run(command, cwd=base_dir, capture_output=True, text=True)
    for line in (done.stdout + done.stderr).splitlines():
        log.info("%s", line)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        message = lines[-1] if lines else f"exit status {done.returncode}"
        log.error("%s spark job %s failed: %s", FAILURE_MARK, os.path.basename(job), message)
        raise StageFailed(message)


def _param_text(value: Any) -> str:
    """A param value as the Spark job's `--param name=value` reads it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)
