"""Worker-side support for the tasks of a generated DAG: one stage per task, its values in
storage (`run_stage`); or, with the Spark engine, one task running the compiled Spark job
(`run_spark_job`).

This file is copied beside every generated DAG (into its `pipec_support/` folder) and must run
without pipec installed: it imports only the standard library and the runtime contract (its copy
`pipec_contract` beside it) at the top, and fsspec, polars and the stage module lazily, inside the
task. It must also never mention the orchestrator by name, so that its DAG processor's "might
contain a DAG" heuristic skips the file (the contract's copy does not name it either).

A stage's outputs live at {storage_root}/{dag_id}/{run folder}/{node_id}.{ext}: one folder per
run (`run_folder`), so concurrent runs never collide, and a retry of a task rewrites exactly its
own files. Every file is written to a temporary name and renamed into place, so a failed task
leaves nothing half-written for a later task to read.

Sinks are published by one task at the end (`commit_outputs`), never by the stage that computes
them: a stage parks its staged sink files under {run folder}/sinks/, and the commit task, which
runs only when every task (every `expect` gate included) has succeeded, moves them all into place
with the all-or-nothing protocol of `pipec_commit`. `clean_up` then removes the run folder,
unless the run's `keep_intermediates` param is true; a failed run keeps it, so that clearing the
failed task resumes the run, until a later successful run's `clean_up` finds it untouched for
longer than `failed_run_retention`. A model handed between tasks is a pickle whose sha256 travels in its
XCom record and is checked before it is unpickled.

Incremental runs: each task completes its stage's cache key at start (`stage_cache_key`: the
recipe compiled beside the stage module, the run's param values, the digests of the files its
sources read through the stat cache in base_dir, and its upstream values' keys from their XCom
records). When {storage_root}/cache/{key}/ holds what the stage stored before, intact, the task
copies it into the run folder instead of running the stage: it reads no source and imports no
engine library, and ends as success, so the commit task still publishes (and emits the Asset
events of) every sink.

Pruning the cache: a task that stored or reused an entry rewrites a small marker beside it,
{storage_root}/cache/{key}.{dag}.used (one per DAG, saying which run and stage used it last; a
sibling, not a file inside the entry, so that it never makes a half-removed entry look present).
`clean_up` removes the entries this DAG used last (or nobody marked) and that nobody used for
`cache_retention`; `pipec cache gc --storage-root` removes more (`StageCacheListing`). Removing
an entry while a task restores it can at worst turn the hit into a miss, never into a wrong hit:
the task checks every file it copies against the sha256 that the entry's manifest recorded, so a
file removed under it fails the read (a miss: the stage runs). No file of an entry is rewritten
in place: an entry is moved into place once complete (on an object store the move is a copy, and
a restore that finds it partly copied misses too), and the marker is a separate file.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from typing import Any

from pipec import runtime_contract as contract  # beside a DAG: its copy, pipec_contract

log = logging.getLogger("pipec.task")

RUNTIME_MODULE = "pipec_local_runtime"  # the names of the support files beside a DAG
TASK_IO_MODULE = "pipec_task_io"
COMMIT_MODULE = "pipec_commit"
DATABASE_MODULE = "pipec_postgres"
CONTRACT_MODULE = "pipec_contract"
DIGESTS_MODULE = "pipec_digests"
RECIPES_SUFFIX = "_keys.json"  # beside the stage module: what each stage's key is made of
CACHE_FOLDER = "cache"
MANIFEST = "manifest.json"
STAGED_TABLE = "staged_table"  # the XCom record of a database sink staged by its stage's task
# Params every generated DAG adds to the pipeline's own: where relative paths and stage outputs
# live, and whether a successful run keeps its stage outputs.
BASE_DIR_PARAM = "base_dir"
STORAGE_ROOT_PARAM = "storage_root"
KEEP_PARAM = "keep_intermediates"
RETENTION_PARAM = "failed_run_retention"  # how long the folder of a run that did not finish is kept
CACHE_RETENTION_PARAM = "cache_retention"  # how long a cache entry nobody used is kept
CACHE_RETENTION_DEFAULT = "30d"
USED_SUFFIX = ".used"  # {key}.{dag}.used: the marker of an entry's last use by that DAG
TEMPORARY_GRACE_SECONDS = 3600  # a temporary entry younger than this may belong to a running task
FAILURE_MARK = "[pipec]"  # starts the log line that names a failed stage and its error

EXTENSIONS = {"table": "parquet", "model": "pkl", "metrics": "json"}
_UNSAFE_IN_PATH = re.compile(r"[^A-Za-z0-9._=-]")


class StageFailed(RuntimeError):
    """A stage could not run; the message says which stage and why, for the task log."""


def run_folder(storage_root: str, dag_id: str, run_id: str) -> str:
    """The folder of one run: a readable slug of the run id (which may hold ':', '+', '/' or be
    `..`) and a hash of the exact id, so that two run ids never share a folder and none leaves
    {storage_root}/{dag_id}/."""
    return "/".join([storage_root.rstrip("/"), _path_segment(dag_id), _path_segment(run_id)])


def _path_segment(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    return f"{_UNSAFE_IN_PATH.sub('_', text)[:80]}-{digest}"


def value_path(folder: str, node_id: str, kind: str) -> str:
    return f"{folder}/{node_id}.{EXTENSIONS[kind]}"


def duration_seconds(name: str, value: Any) -> int:
    """A duration param as seconds (`contract.parse_duration`); a bad value fails the task naming
    the param, before the stage reads or writes anything."""
    try:
        return contract.parse_duration(value)
    except ValueError as exc:
        raise contract.ParamError(f"param {name}: {exc}") from None


def save_value(value: Any, path: str, kind: str) -> dict[str, Any]:
    """Store one stage output atomically; returns the small record that travels by XCom."""
    record: dict[str, Any] = {"path": path, "kind": kind}
    if kind == "table":
        frame = value.collect() if hasattr(value, "collect") else value
        record["rows"] = frame.height
        _write_atomically(path, frame.write_parquet)
    elif kind == "metrics":
        _write_atomically(path, lambda f: f.write(json.dumps(dict(value), indent=2).encode()))
    else:  # a model: a pickle, whose digest travels in the record (see `load_value`)
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        record["sha256"] = hashlib.sha256(data).hexdigest()
        _write_atomically(path, lambda f: f.write(data))
    return record


def load_value(record: dict[str, Any]) -> Any:
    """Read back a value stored by `save_value` (a table comes back as a polars LazyFrame).

    Unpickling runs code, so a model is loaded only when its bytes have the digest recorded when
    it was saved (the record travels by XCom, in the metadata database, not beside the file):
    a model file changed in storage fails the task instead of running what it holds."""
    import fsspec

    with fsspec.open(record["path"], "rb") as handle:
        if record["kind"] == "table":
            import polars as pl

            return pl.read_parquet(handle).lazy()
        if record["kind"] == "metrics":
            return json.loads(handle.read())
        data = handle.read()
    if hashlib.sha256(data).hexdigest() != record.get("sha256"):
        raise StageFailed(f"the model at {record['path']} is not the one its task stored (its sha256 "
                          "differs): it was changed in storage, so it is not loaded")
    return pickle.loads(data)


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


def run_values(context: dict[str, Any]) -> dict[str, str]:
    """The `run.*` values of this DAG run (runtime_contract.run_context): its logical date (a run
    triggered without one: the time it was queued for) and its data interval, as the scheduler or
    a backfill set them (the DAG's timetable starts a run's interval at its logical date).

    A manual run (`dag.test()`, a trigger with a logical date) is given the period that
    ends at its logical date; pipec gives it the period of the DAG's cron schedule that starts
    there (`contract.schedule_period`), as the scheduled run and `pipec run --run-date` for that
    date have (an @monthly run for February covers February, not 31 days). An empty interval (an
    unscheduled DAG) is the logical date's day, as in a local run."""
    dag_run = context.get("dag_run")
    logical = context.get("logical_date") or getattr(dag_run, "run_after", None)
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    schedule = getattr(getattr(context.get("dag"), "timetable", None), "expression", None)
    if logical is not None and start is not None and end is not None and start not in (end, logical):
        start, end = contract.schedule_period(schedule, logical) if schedule else (logical, logical + (end - start))
    try:
        return contract.run_context(logical, start, end)
    except ValueError as exc:
        raise contract.ParamError(f"the run's dates: {exc}") from None


def run_paths(paths: list[str], context: dict[str, Any]) -> list[tuple[str, str]]:
    """Each sink path that holds run values (`out/events_${run.date}.csv`), with the path that
    this DAG run's values give it (`out/events_2013-01-02.csv`)."""
    run = run_values(context)
    return [(path, contract.substitute(path, run)) for path in paths]


def run_stage(*, stages_module: str, stage_id: str, reads: dict[str, str], writes: dict[str, str],
              upstream: list[dict[str, dict[str, Any]]], context: dict[str, Any],
              duration_params: tuple[str, ...] = (), confine_outputs: bool = False,
              fan_out_item: dict[str, Any] | None = None, fanned_in: dict[str, Any] | None = None) -> Any:
    """Run stage `stage_id` of the generated stage module inside one task.

    `upstream` holds the XCom records of the tasks this one depends on ({node_id: record}); the
    stage's inputs `reads` are loaded from them, the values in `writes` are stored for later
    tasks, and the stage's sinks are parked for `commit_outputs` (a record of kind "sink" each).
    `duration_params` are read as the runtime contract reads durations; with `confine_outputs` (the
    pipeline option) a sink a run conf value moves out of base_dir fails the stage.

    A step that fans out (`tune`) is computed by several tasks: each mapped task runs the stage
    with `fan_out_item` ({"node", "item", "label"}), computes that one item of the node and returns
    its result (XCom), storing and parking nothing; the stage's own task then gets every item's
    result in `fanned_in` ({node: the mapped task's results, in item order}).
    """
    params = dict(context["params"])
    base_dir = params.pop(BASE_DIR_PARAM)
    params.pop(KEEP_PARAM, None)
    params.pop(RETENTION_PARAM, None)
    params.pop(CACHE_RETENTION_PARAM, None)
    storage_root = params.pop(STORAGE_ROOT_PARAM)
    folder = run_folder(storage_root, context["dag"].dag_id, context["run_id"])
    try:
        for name in duration_params:
            params[name] = duration_seconds(name, params[name])
        params.update(run_values(context))
    except contract.ParamError as exc:
        log.error("%s stage %s failed: %s", FAILURE_MARK, stage_id, exc)
        raise
    available: dict[str, dict[str, Any]] = {}
    for records in upstream:
        available.update(records or {})
    key, digests = stage_cache_key(stages_module, stage_id, params, base_dir, reads, available)
    cached = cache_entry(storage_root, key) if key else None
    if cached is not None:
        restored = _restore(cached, folder)
        if restored is not None:
            log.info("stage %s reused: its outputs are unchanged (cache key %s)", stage_id, key)
            mark_used(cached, context["dag"].dag_id, context["run_id"], stage_id)
            digests.save()
            return restored
    runtime = importlib.import_module(RUNTIME_MODULE)
    stage = getattr(importlib.import_module(stages_module), f"stage_{stage_id}")
    ctx = runtime.RunContext(params, workdir=base_dir, confine_outputs=confine_outputs)
    ctx.resolve_connection = connection_resolver(context)
    if fan_out_item is not None:
        ctx.fan_out_item = (fan_out_item["node"], fan_out_item["item"])
        log.info("stage %s: %s, %s", stage_id, fan_out_item["node"], fan_out_item["label"])
    ctx.fanned_in = {node_id: list(results) for node_id, results in (fanned_in or {}).items()}
    try:
        tables = getattr(importlib.import_module(stages_module), "DATABASE", [])
        if tables:  # before any work, in every task: the database may have changed since the last task
            runtime.check_databases(ctx, tables, drop_stale=False)
        inputs = {node_id: load_value(available[node_id]) for node_id in reads}
        try:
            outputs = stage(ctx, inputs)
        except runtime.FannedOut as done:
            return done.results
        if fan_out_item is not None:
            raise StageFailed(f"stage {stage_id} finished without reaching {fan_out_item['node']}")
        saved = {node_id: save_value(outputs[node_id], value_path(folder, node_id, kind), kind)
                 for node_id, kind in writes.items()}
        for name, sink in _sink_keys(ctx.sinks):
            saved[name] = _park(sink, f"{folder}/sinks/{name}")
        for table in ctx.hand_over_tables():  # staged in the database: the commit task moves them in
            saved[table["node"]] = {**table, "kind": STAGED_TABLE}
    except BaseException as exc:
        log.error("%s stage %s failed: %s", FAILURE_MARK, stage_id, exc)
        raise
    finally:
        ctx.abort()  # removes what is still staged beside the targets: parked sinks are not
    for node_id, record in saved.items():
        log.info("stage %s stored %s at %s", stage_id, node_id, record["path"])
    if cached is not None:
        for node_id, record in saved.items():
            record["key"] = contract.value_key(key, node_id)
        _store(cached, folder, saved)
        mark_used(cached, context["dag"].dag_id, context["run_id"], stage_id)
        digests.save()  # (only once the task succeeded: a failed one leaves nothing in base_dir)
    return saved


def stage_cache_key(stages_module: str, stage_id: str, params: dict[str, Any], base_dir: str,
                    reads: dict[str, str], available: dict[str, dict[str, Any]]) -> tuple[str | None, Any]:
    """The stage's cache key for this run and the stat cache that digested its inputs (to be
    saved when the task succeeds); the key is None when it is never reused: its recipe says so,
    an upstream value has no key (it is computed again on every run), or a source is not a file
    here. The parts are those of a local run's key (pipec/backends/local/stage_keys.py); the
    engine is the runtime beside this file and the libraries installed where the task runs."""
    from importlib import util

    recipes = _recipes(util.find_spec(stages_module).origin)
    if recipes is None or stage_id not in recipes["stages"]:  # compiled without keys
        return None, None
    recipe = recipes["stages"][stage_id]
    if recipe["never_reused"] or any("key" not in available[node_id] for node_id in reads):
        return None, None
    digests = _stat_cache(base_dir)
    engine = _engine_digest([util.find_spec(module).origin for module in (RUNTIME_MODULE, CONTRACT_MODULE)],
                            recipes["libraries"])
    key = _completed_key(recipe, engine, params, base_dir, digests,
                         {node_id: available[node_id]["key"] for node_id in reads})
    return (key, digests) if key is not None else (None, None)


def cache_entry(storage_root: str, key: str) -> str:
    """Where the stage cache keeps the entry of `key`."""
    return f"{storage_root}/{CACHE_FOLDER}/{key}"


def _recipes(module_file: str) -> dict[str, Any] | None:
    """The key recipes compiled beside a module (`<module>_keys.json`); None without them."""
    try:
        with open(module_file[:-len(".py")] + RECIPES_SUFFIX, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _stat_cache(base_dir: str) -> Any:
    return importlib.import_module(DIGESTS_MODULE).StatCache(os.path.join(base_dir, ".pipec", "digests.json"))


def _engine_digest(files: list[str], libraries: list[str]) -> str:
    """What runs the stage besides its code: the source of `files` and the versions of the
    `libraries` installed where the task runs."""
    from importlib import metadata

    engine = hashlib.sha256()
    for file in files:
        with open(file, "rb") as handle:
            engine.update(handle.read())
    for library in libraries:
        try:
            engine.update(f"\0{library}={metadata.version(library)}".encode())
        except metadata.PackageNotFoundError:
            engine.update(f"\0{library}=-".encode())
    return engine.hexdigest()


def _completed_key(recipe: dict[str, Any], engine: str, params: dict[str, Any], base_dir: str, digests: Any,
                   upstream: dict[str, str]) -> str | None:
    """A stage's key from its recipe and this run's values; None when a source is not a file
    here or cannot be read (the stage reports it)."""
    inputs = {}
    for template in recipe["sources"]:
        path = os.path.join(base_dir, os.path.expanduser(contract.substitute(template, params)))
        if "://" in path:
            return None
        try:
            inputs[os.path.relpath(os.path.realpath(path), os.path.realpath(base_dir))] = digests.digest(path)
        except OSError:
            return None
    return contract.stage_key({
        "code": recipe["code"], "engine": engine, "inputs": inputs, "modules": {},
        # base_dir too: sinks resolve against it, and a storage root may serve several deployments
        "params": {**{name: params.get(name) for name in recipe["params"]}, BASE_DIR_PARAM: os.path.realpath(base_dir)},
        "upstream": upstream})


def _files_of(fs, path: str) -> list[str]:
    return sorted(fs.find(path)) if fs.isdir(path) else [path]


def _store(cached: str, folder: str, saved: dict[str, dict[str, Any]]) -> None:
    """Copy what a stage stored in the run folder into the cache under its key, with a manifest
    of every file's sha256; the entry appears at once, by a rename, or not at all. A failure
    only costs a later rerun."""
    from fsspec.core import url_to_fs

    fs, target = url_to_fs(cached)
    temporary = f"{target}.{uuid.uuid4().hex}.tmp"
    try:
        files: dict[str, str] = {}
        for record in saved.values():
            source_fs, source = url_to_fs(record["path"])
            for name in _files_of(source_fs, source):
                relative = record["path"][len(folder) + 1:] + name[len(source):]
                data = source_fs.cat_file(name)
                files[relative] = hashlib.sha256(data).hexdigest()
                fs.makedirs(f"{temporary}/{relative}".rsplit("/", 1)[0], exist_ok=True)
                fs.pipe_file(f"{temporary}/{relative}", data)
        records = {node_id: {**record, "path": record["path"][len(folder) + 1:]} for node_id, record in saved.items()}
        fs.pipe_file(f"{temporary}/{MANIFEST}", json.dumps({"records": records, "files": files}).encode())
        if not fs.exists(target):
            fs.mv(temporary, target, recursive=True)
    except OSError as exc:
        log.warning("could not store the stage's outputs in the cache: %s", exc)
    finally:
        if fs.exists(temporary):
            fs.rm(temporary, recursive=True)


def _restore(cached: str, folder: str) -> dict[str, dict[str, Any]] | None:
    """The stage's records with its stored outputs copied into the run folder, or None when
    the cache has no intact entry (a missing or changed file is a miss, never trusted)."""
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(cached)
    try:
        manifest = json.loads(fs.cat_file(f"{root}/{MANIFEST}"))
        for relative, digest in manifest["files"].items():
            try:
                data = fs.cat_file(f"{root}/{relative}")
            except FileNotFoundError:
                data = None
            if data is None or hashlib.sha256(data).hexdigest() != digest:
                log.warning("the cached %s/%s is %s: the stage runs", cached, relative,
                            "missing" if data is None else "damaged")
                _remove(cached)  # so that the stage's outputs are stored again
                return None
            _write_atomically(f"{folder}/{relative}", lambda f, data=data: f.write(data))
    except (OSError, ValueError, KeyError):
        return None
    return {node_id: {**record, "path": f"{folder}/{record['path']}"} for node_id, record in manifest["records"].items()}


def mark_used(cached: str, dag_id: str, run_id: str, stage_id: str) -> None:
    """Leave the trace of a use (a store or a reuse) of the cache entry `cached`: this DAG's
    marker beside it, rewritten whole. One small write on a task's fast path; a failure only
    makes the entry look older than it is."""
    from fsspec.core import url_to_fs

    try:
        fs, path = url_to_fs(f"{cached}.{_path_segment(dag_id)}{USED_SUFFIX}")
        fs.pipe_file(path, json.dumps({"dag": dag_id, "run": run_id, "stage": stage_id, "at": time.time()}).encode())
    except OSError as exc:
        log.warning("could not mark the cache entry %s as used: %s", cached, exc)


@dataclasses.dataclass
class CacheEntry:
    """One entry of a stage cache as a listing shows it: its folder, its files with their sizes,
    when it was stored (its manifest, written last), the files written after that (changed in
    place since), and the marker of each DAG that used it with when that was written."""
    key: str
    path: str
    files: dict[str, int]
    created: float
    touched: set[str]
    markers: dict[str, float]

    @property
    def size(self) -> int:
        return sum(self.files.values())

    @property
    def last_used(self) -> float:
        return max([self.created, *self.markers.values()])

    def used_last_by(self, dag_id: str) -> bool:
        """Whether `dag_id` left the newest marker (an entry nobody marked belongs to anyone)."""
        return not self.markers or max(self.markers, key=self.markers.get).endswith(
            f".{_path_segment(dag_id)}{USED_SUFFIX}")


_CACHE_KEY = re.compile(r"[0-9a-f]{64}")


class StageCacheListing:
    """What {storage_root}/cache holds, from one recursive listing: the entries (folders named by
    a key), the markers of entries that are gone, and the temporary folders of stores (`_store`:
    `{key}.{uuid}.tmp`) with when they were last written. Nothing else there is ever touched."""

    def __init__(self, storage_root: str):
        from fsspec.core import url_to_fs

        self.fs, self.root = url_to_fs(f"{storage_root.rstrip('/')}/{CACHE_FOLDER}")
        found = self.fs.find(self.root, detail=True, withdirs=True) if self.fs.isdir(self.root) else {}
        groups: dict[str, dict[str, dict[str, Any]]] = {}
        for name, info in found.items():
            top, _, rest = name[len(self.root) + 1:].partition("/")
            if top:
                groups.setdefault(top, {})[rest] = info
        entries: dict[str, CacheEntry] = {}
        markers: dict[str, tuple[str, float]] = {}
        self.temporaries: dict[str, float] = {}
        for top, infos in groups.items():
            path, key = f"{self.root}/{top}", top.split(".", 1)[0]
            if _CACHE_KEY.fullmatch(top):
                files = {rest: info["size"] for rest, info in infos.items() if rest and info["type"] == "file"}
                created = _modified(infos[MANIFEST]) if MANIFEST in infos else _newest(infos.values())
                touched = {rest for rest in files if _modified(infos[rest]) > created}
                entries[top] = CacheEntry(top, path, files, created, touched, {})
            elif _CACHE_KEY.fullmatch(key) and top.endswith(USED_SUFFIX):
                markers[path] = (key, _modified(infos[""]))
            elif _CACHE_KEY.fullmatch(key) and top.endswith(".tmp"):
                self.temporaries[path] = _newest(infos.values())
        for path, (key, written) in markers.items():
            if key in entries:
                entries[key].markers[path] = written
        self.stray_markers = [path for path, (key, _) in markers.items() if key not in entries]
        self.entries = sorted(entries.values(), key=lambda e: (-e.last_used, e.key))

    def manifest(self, entry: CacheEntry) -> dict[str, Any] | None:
        try:
            manifest = json.loads(self.fs.cat_file(f"{entry.path}/{MANIFEST}"))
            intact = isinstance(manifest.get("files"), dict) and isinstance(manifest.get("records"), dict)
            return manifest if intact else None
        except (OSError, ValueError, AttributeError):
            return None

    def problem(self, entry: CacheEntry, reread: bool) -> str | None:
        """What makes `entry` unusable (`_restore` would miss): its manifest unreadable, a file it
        lists missing or not of the sha256 recorded for it (every file reread with `reread`,
        else only those written after the manifest); None when intact."""
        manifest = self.manifest(entry)
        if manifest is None:
            return "its manifest is missing or unreadable"
        for relative, digest in sorted(manifest["files"].items()):
            if relative not in entry.files:
                return f"{relative} is missing"
            if not (reread or relative in entry.touched):
                continue
            try:
                data = self.fs.cat_file(f"{entry.path}/{relative}")
            except OSError:
                return f"{relative} is missing"
            if hashlib.sha256(data).hexdigest() != digest:
                return f"{relative} differs from the sha256 its manifest recorded"
        return None

    def uses(self, entry: CacheEntry) -> list[dict[str, Any]]:
        """What each marker of `entry` says ({"dag", "run", "stage", "at"}), newest first."""
        found = []
        for path, written in entry.markers.items():
            try:
                found.append({"at": written, **json.loads(self.fs.cat_file(path))})
            except (OSError, ValueError, TypeError):
                found.append({"dag": None, "run": None, "stage": None, "at": written})
        return sorted(found, key=lambda use: -use["at"])

    def prune(self, stale, now: float) -> dict[str, int]:
        """Remove every entry for which `stale(entry)` gives a reason (its folder, then its
        markers), the markers of entries that are gone, and temporary folders nothing wrote to
        for TEMPORARY_GRACE_SECONDS; how many entries, their files and bytes, and leftovers."""
        done = {"entries": 0, "objects": 0, "bytes": 0, "temporary": 0}
        for entry in self.entries:
            reason = stale(entry)
            if reason is not None and _remove(self.fs.unstrip_protocol(entry.path)):
                log.info("removed the cache entry %s: %s", entry.key, reason)
                done["entries"] += 1
                done["objects"] += len(entry.files)
                done["bytes"] += entry.size
                for marker in entry.markers:
                    _remove(self.fs.unstrip_protocol(marker))
        leftovers = self.stray_markers + [path for path, written in self.temporaries.items()
                                          if now - written > TEMPORARY_GRACE_SECONDS]
        done["temporary"] = sum(_remove(self.fs.unstrip_protocol(path)) for path in leftovers)
        return done


def connection_resolver(context: dict[str, Any]):
    """Connection NAME -> URL inside a task: the Connection of that id, read when the task runs
    (the DAG file holds only the id)."""
    database = importlib.import_module(DATABASE_MODULE)

    def resolve(name: str) -> str:
        connection = context["conn"].get(name)
        if connection is None:
            raise database.DatabaseError(f"connection `{name}`: no Connection with that id is configured")
        return connection.get_uri()

    return resolve


def _sink_keys(sinks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Each staged sink with its record's key: its node id, numbered when the node staged
    several outputs (a partitioned sink stages one folder per partition)."""
    count = Counter(sink["node"] for sink in sinks)
    return [(sink["node"] if count[sink["node"]] == 1 else f"{sink['node']}.{n}", sink)
            for n, sink in enumerate(sinks)]


def _park(sink: dict[str, Any], parked: str) -> dict[str, Any]:
    """Move a staged sink (a file, or a model folder) from beside its target into storage."""
    from fsspec.core import url_to_fs
    from fsspec.implementations.local import LocalFileSystem

    fs, path = url_to_fs(parked)
    if fs.exists(path):
        fs.rm(path, recursive=True)  # a retry of the task parks again
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    commit = importlib.import_module(COMMIT_MODULE)
    if commit.is_url(sink["tmp"]):  # staged beside a target in an object store
        store = commit.StoreFiles()
        if commit.is_url(parked):
            store.rename(sink["tmp"], parked)
        else:
            store.download(sink["tmp"], path)
            store.remove(sink["tmp"])
    elif isinstance(fs, LocalFileSystem):
        shutil.move(sink["tmp"], path)
    else:
        fs.put(sink["tmp"], path, recursive=os.path.isdir(sink["tmp"]))
    return {"path": parked, "kind": "sink", "target": sink["path"], "rows": sink["rows"]}


def commit_outputs(stored: list[dict[str, dict[str, Any]]], context: dict[str, Any]) -> list[str]:
    """The DAG's commit task: copy every parked sink beside its target and move them all into
    place, all or nothing (an interrupted commit is finished by the next run in base_dir).
    Copies, not moves: a retry of this task commits the same files again."""
    from fsspec.core import url_to_fs

    commit = importlib.import_module(COMMIT_MODULE)
    files = commit.StoreFiles()
    state_dir = os.path.join(context["params"][BASE_DIR_PARAM], commit.STATE_DIR)
    sinks = [r for records in stored for r in (records or {}).values() if r["kind"] == "sink"]
    tables = [r for records in stored for r in (records or {}).values() if r["kind"] == STAGED_TABLE]
    run_id = commit.new_run_id()
    lock = commit.RunLock(state_dir, run_id)
    staged = []
    try:
        with commit.commit_lock(state_dir):
            for message in commit.recover(files, state_dir):
                log.warning("%s", message)
            commit.remove_stale(files, state_dir, [sink["target"] for sink in sinks])
        for sink in sinks:
            staged.append((commit.staged_path(files, sink["target"], run_id), sink["target"]))
            fs, path = url_to_fs(sink["path"])
            if not commit.is_url(sink["target"]):
                os.makedirs(os.path.dirname(sink["target"]), exist_ok=True)
                fs.get(path, staged[-1][0], recursive=fs.isdir(path))
            elif commit.is_url(sink["path"]):  # parked in a store: copied within it
                files.copy(sink["path"], staged[-1][0])
            else:
                files.upload(path, staged[-1][0])
        with commit.commit_lock(state_dir):
            if tables:  # the database first, once every file target is known replaceable (as a local run)
                commit.check_targets(files, [target for _, target in staged], state_dir)
                importlib.import_module(DATABASE_MODULE).commit_tables(tables, connection_resolver(context))
            commit.commit(files, state_dir, run_id, staged)
    except BaseException as exc:
        log.error("%s commit of the outputs failed: %s", FAILURE_MARK, exc)
        for temp, _ in staged:
            files.remove(temp)
        raise
    finally:
        lock.release()
    for sink in sinks:
        log.info("wrote %s", sink["target"])
    for table in tables:
        log.info("wrote %s (%s rows)", table["path"], table["rows"])
    return [sink["target"] for sink in sinks] + [table["path"] for table in tables]


def clean_up(context: dict[str, Any], now: float | None = None) -> None:
    """The DAG's last task: remove the run's folder of stage outputs and parked sinks, unless
    the run's `keep_intermediates` param says to keep it; then the folders of this DAG's other
    runs that nothing has written to for `failed_run_retention` (runs that failed and were not
    cleared; a run in progress writes to its folder); then the cache (`prune_cache`). A failure
    to remove is only logged."""
    from fsspec.core import url_to_fs

    params = context["params"]
    retention = duration_seconds(RETENTION_PARAM, params.get(RETENTION_PARAM, "7d"))
    kept_for = params.get(CACHE_RETENTION_PARAM, CACHE_RETENTION_DEFAULT)
    cache_retention = duration_seconds(CACHE_RETENTION_PARAM, kept_for)
    dag_id = context["dag"].dag_id
    folder = run_folder(params[STORAGE_ROOT_PARAM], dag_id, context["run_id"])
    if params.get(KEEP_PARAM):
        log.info("kept the run's intermediates at %s", folder)
    else:
        _remove(folder)
    fs, path = url_to_fs(folder)
    now = time.time() if now is None else now
    if fs.exists(path.rsplit("/", 1)[0]):
        for other in fs.ls(path.rsplit("/", 1)[0], detail=False):
            if other.rstrip("/") != path and fs.isdir(other) and now - _last_written(fs, other) > retention:
                log.info("removing %s: a run not finished for longer than %s", other, params.get(RETENTION_PARAM))
                _remove(fs.unstrip_protocol(other))
    prune_cache(params[STORAGE_ROOT_PARAM], dag_id, cache_retention, kept_for, now)


def prune_cache(storage_root: str, dag_id: str, cache_retention: int, kept_for: Any, now: float | None = None) -> None:
    """Remove the cache entries that this DAG used last (or that nobody marked) and that nobody
    used for `cache_retention` seconds (the param's value `kept_for`), and the leftovers of
    interrupted stores (`StageCacheListing.prune`). A failure to remove is only logged."""
    now = time.time() if now is None else now

    def unused(entry: CacheEntry) -> str | None:
        if entry.used_last_by(dag_id) and now - entry.last_used > cache_retention:
            return f"not used for longer than {kept_for}"
        return None

    try:
        StageCacheListing(storage_root).prune(unused, now)
    except OSError as exc:
        log.warning("could not prune the cache under %s: %s", storage_root, exc)


def _last_written(fs, folder: str) -> float:
    """When anything in `folder` was last written (seconds since the epoch; 0 when unknown)."""
    return _newest(fs.find(folder, detail=True).values())


def _newest(infos) -> float:
    return max(map(_modified, infos), default=0.0)


def _modified(info: dict[str, Any]) -> float:
    """When a listed file was written (seconds since the epoch; 0 when its file system does not say)."""
    moment = info.get("mtime") or info.get("LastModified")
    return moment.timestamp() if hasattr(moment, "timestamp") else float(moment or 0.0)


def _remove(folder: str) -> bool:
    """Remove a file or folder; whether it is gone now (a failure is only logged)."""
    from fsspec.core import url_to_fs

    try:
        fs, path = url_to_fs(folder)
        if fs.exists(path):
            fs.rm(path, recursive=True)
        return True
    except OSError as exc:
        log.warning("could not remove %s: %s", folder, exc)
        return False


def run_spark_job(job: str, context: dict[str, Any]) -> None:
    """Run a compiled standalone Spark job for this task, in the base_dir, with the run's params.

    `spark-submit` is used when SPARK_HOME says where a Spark installation (and its cluster
    configuration) lives; otherwise the job runs on the local Spark that pyspark bundles.

    Incremental runs: the task first completes the key of every stage of the job (`job_cache_keys`).
    When {storage_root}/cache holds every stage's entry intact, Spark is not started: the stored
    sinks are published with the commit protocol and the task ends as success. Otherwise the whole
    job runs, and after it succeeded each stage's sinks are stored under its key.
    """
    params = dict(context["params"])
    base_dir = params.pop(BASE_DIR_PARAM)
    storage_root = params.pop(STORAGE_ROOT_PARAM, None)
    kept_for = params.pop(CACHE_RETENTION_PARAM, CACHE_RETENTION_DEFAULT)
    cache_retention = duration_seconds(CACHE_RETENTION_PARAM, kept_for)
    folder = run_folder(storage_root, context["dag"].dag_id, context["run_id"]) if storage_root else None
    values = {**params, **run_values(context)}  # what the job's paths and steps read
    keys, digests = job_cache_keys(job, values, base_dir) if folder else (None, None)
    try:
        if keys is not None and _publish_cached_job(keys, storage_root, folder, context):
            log.info("spark job %s reused: every output is up to date, Spark was not started",
                     os.path.basename(job))
        else:
            _submit(job, params, base_dir, context)
            if keys is not None:
                _store_job(job, keys, values, base_dir, storage_root, folder, context)
        if keys is not None:
            digests.save()
            prune_cache(storage_root, context["dag"].dag_id, cache_retention, kept_for)
    finally:
        if folder is not None:
            _remove(folder)


def _submit(job: str, params: dict[str, Any], base_dir: str, context: dict[str, Any]) -> None:
    spark_submit = os.path.join(os.environ.get("SPARK_HOME", ""), "bin", "spark-submit")
    use_spark_submit = bool(os.environ.get("SPARK_HOME")) and shutil.which(spark_submit) is not None
    command = [spark_submit if use_spark_submit else sys.executable, job]
    for name, value in params.items():
        command += ["--param", f"{name}={contract.param_argument(value)}"]
    command += contract.run_arguments(run_values(context))
    done = subprocess.run(command, cwd=base_dir, capture_output=True, text=True)
    for line in (done.stdout + done.stderr).splitlines():
        log.info("%s", line)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        message = lines[-1] if lines else f"exit status {done.returncode}"
        log.error("%s spark job %s failed: %s", FAILURE_MARK, os.path.basename(job), message)
        raise StageFailed(message)


def job_cache_keys(job: str, params: dict[str, Any], base_dir: str) -> tuple[dict[str, str] | None, Any]:
    """The key of every stage of a Spark job for this run, in the job's order, and the stat cache
    that digested its inputs; None when the job is never reused: compiled without recipes, a
    stage is never reused, a source or sink is not a file here. The parts are those of a stage
    task's key, with the job file (which embeds the Spark runtime) as the engine's source."""
    recipes = _recipes(job)
    if recipes is None:
        return None, None
    stages = [recipes["stages"][stage_id] for stage_id in recipes["order"]]
    try:
        targets = [_sink_target(template, params, base_dir) for stage in stages for template in stage["sinks"].values()]
    except contract.PipelineRunError:  # a path naming no param: the job reports it
        return None, None
    if any(stage["never_reused"] for stage in stages) or any("://" in target for target in targets):
        return None, None  # (a sink at a URL: the task cannot copy it into the cache here)
    digests = _stat_cache(base_dir)
    engine = _engine_digest([job], recipes["libraries"])
    keys: dict[str, str] = {}
    for stage_id in recipes["order"]:
        recipe = recipes["stages"][stage_id]
        upstream = {node_id: contract.value_key(keys[producer], node_id)
                    for node_id, producer in recipe["reads"].items()}
        key = _completed_key(recipe, engine, params, base_dir, digests, upstream)
        if key is None:
            return None, None
        keys[stage_id] = key
    return keys, digests


def _sink_target(template: str, params: dict[str, Any], base_dir: str) -> str:
    """Where the Spark job writes a sink (its runtime resolves a relative path in base_dir)."""
    return os.path.join(base_dir, contract.substitute(template, params))


def _publish_cached_job(keys: dict[str, str], storage_root: str, folder: str, context: dict[str, Any]) -> bool:
    """Copy every stage's stored sinks from the cache into the run folder and publish them all or
    nothing; False (nothing published) when a stage has no intact entry."""
    stored = []
    for stage_id, key in keys.items():
        restored = _restore(cache_entry(storage_root, key), folder)
        if restored is None:
            log.info("spark job: stage %s has no intact cached outputs (cache key %s): the job runs",
                     stage_id, key)
            return False
        stored.append(restored)
    for stage_id, key in keys.items():
        mark_used(cache_entry(storage_root, key), context["dag"].dag_id, context["run_id"], stage_id)
    commit_outputs(stored, context)
    return True


def _store_job(job: str, keys: dict[str, str], params: dict[str, Any], base_dir: str, storage_root: str,
               folder: str, context: dict[str, Any]) -> None:
    """After a successful job: each stage's sinks, as the job committed them, into the cache
    under the stage's key (a stage without sinks gets an empty entry: its key was met)."""
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(folder)
    recipes = _recipes(job)
    for stage_id, key in keys.items():
        saved = {}
        try:
            for node_id, template in recipes["stages"][stage_id]["sinks"].items():
                target = _sink_target(template, params, base_dir)
                fs.makedirs(f"{path}/sinks", exist_ok=True)
                fs.put(target, f"{path}/sinks/{node_id}", recursive=os.path.isdir(target))
                saved[node_id] = {"path": f"{folder}/sinks/{node_id}", "kind": "sink", "target": target, "rows": None}
        except OSError as exc:  # only costs a later rerun
            log.warning("could not store the sinks of stage %s in the cache: %s", stage_id, exc)
            continue
        cached = cache_entry(storage_root, key)
        _store(cached, folder, saved)
        mark_used(cached, context["dag"].dag_id, context["run_id"], stage_id)
