"""`pipec run` of an unchanged pipeline without compiling it.

An unchanged rerun reuses every stage, so all it does is prove that nothing changed and write its
record; its floor is the stat calls of that proof, not the seconds of importing and running the
compiler. After a local run succeeded, `remember` asks the real reuse decisions what the *next*
run of the same command would do: it plans the pipeline again (the statistics this run recorded
may change the plan) and decides every stage as a run does (`Reuse`). Only when every stage would
be reused, with every output intact, does it write a snapshot, under a key of the command line and
its surroundings (`command_key`), of everything those decisions depend on:

- the pipeline's files (as compiled), its statistics file, every input file or partitioned
  folder and the project modules of its python() steps, each with its content digest;
- every stage's key, whose manifest and objects must still be intact in the cache, and the
  content each sink's file must still have;
- what that run prints, and its record but for the run's identity and times.

`replay`, which `pipec run` tries first, checks all of it through the stat cache (a file whose
stat changed is hashed again) and, when everything holds, does what the full path does on a full
hit: remove what dead runs left beside the outputs, show every stage as reused, print the summary,
touch the cache entries it used and write the record. Whatever it cannot prove (a file changed,
an object or output missing, a commit left to finish, OpenLineage configured, an option other than
the plain ones) takes the full path, which writes a new snapshot when it succeeds.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from pipec.backends import commit
from pipec.backends.local.reuse import intact_manifest, remember_keys, sink_intact
from pipec.backends.local.stage_keys import location_digest, module_digests, source_locations
from pipec.backends.local.summary import RunResult, SinkResult, format_summary
from pipec.cache.digests import StatCache, digest_or_none, stat_key
from pipec.cache.remote import cache_location, cache_store
from pipec.compiler.memory import default_memory_budget
from pipec.progress import Progress
from pipec.runtime_contract import value_key

FORMAT = 1
FOLDER = Path(".pipec") / "up-to-date"  # under the working directory: one snapshot per command
KEPT = 16  # snapshots kept, most recently written first (a few commands with different params)
TEMPORARY_SECONDS = 60  # a snapshot being written older than this was left by a killed writer
ENVIRONMENT = ("PIPEC_", "OPENLINEAGE", "HOME")  # the variables a run reads (HOME: `~` in paths)
LIBRARY_METADATA = (".dist-info", ".egg-info")  # what importlib.metadata reads library versions from


# ------------------------------------------------------------------ the command's key
def command_key(argv: list[str]) -> str:
    """What decides a run before any pipeline file is read: the arguments, the folder they are
    relative to, the environment pipec reads, the Python, where it imports from and which
    libraries it finds there (their metadata folders, named with their versions), pipec's own
    code, and the default memory budget (a share of the machine's memory)."""
    h = hashlib.sha256(_text([
        FORMAT, argv, os.getcwd(), sorted((k, v) for k, v in os.environ.items() if k.startswith(ENVIRONMENT)),
        sys.executable, sys.version, sys.path, default_memory_budget()]))
    for folder in sys.path:  # (a zip file or a missing folder lists nothing)
        h.update(_text([name for name in commit.LocalFiles().list(folder or ".") if name.endswith(LIBRARY_METADATA)]))
    root = Path(__file__).resolve().parents[2]
    for directory, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
        for name in sorted(files):
            path = os.path.join(directory, name)
            h.update(_text([os.path.relpath(path, root), _stat_key(path)]))
    return h.hexdigest()


def _text(value: Any) -> bytes:
    """`value` as JSON bytes; a file name that is not UTF-8 is kept as its bytes."""
    return json.dumps(value).encode("utf-8", "surrogateescape")


def _stat_key(path: str) -> list[int] | None:
    try:
        return stat_key(os.stat(path))
    except OSError:  # removed since it was listed
        return None


def plain(args) -> bool:
    """Whether a `pipec run` command can be replayed at all: a local run that may reuse what its
    cache holds (no --no-cache, --rerun or cache URL) and sends no OpenLineage events."""
    from pipec.lineage.openlineage import configured

    return (args.target == "local" and not args.no_cache and not args.rerun
            and not commit.is_url(cache_location(args.cache_dir) or "") and not configured())


def _snapshot_path(args, key: str) -> Path:
    return Path(args.workdir or ".") / FOLDER / f"{key}.json"


# ------------------------------------------------------------------ replaying
def replay(args, key: str) -> int | None:
    """Run `args` (a `pipec run` command whose key is `key`) from its snapshot when nothing it
    depends on changed; the exit status, or None when the full path must run."""
    if not plain(args):
        return None
    started = time.perf_counter()
    try:
        proven = _proven(args, key)
    except Exception:  # noqa: BLE001 - a damaged snapshot or a file that cannot be read: prove nothing
        return None
    if proven is None:
        return None
    snapshot, kept = proven
    for pipeline in snapshot["pipelines"]:
        _replay_pipeline(args, pipeline, kept[pipeline["pipeline"]], started)
        started = time.perf_counter()
    return 0


def _proven(args, key: str) -> tuple[dict[str, Any], dict[str, list[SinkResult]]] | None:
    """The snapshot of `key` and each pipeline's kept outputs, when everything it recorded still
    holds; else None."""
    try:
        snapshot = json.loads(_snapshot_path(args, key).read_text())
    except (OSError, ValueError):
        return None
    if snapshot.get("format") != FORMAT:
        return None
    workdir = Path(args.workdir or ".")
    digests = StatCache.in_workdir(workdir)
    try:
        if any(not _same_file(digests, path, real, digest) for path, (real, digest) in snapshot["files"].items()):
            return None
        store = cache_store(workdir, snapshot["cache_dir"])
        kept = {}
        for pipeline in snapshot["pipelines"]:
            found = _pipeline_holds(pipeline, workdir, digests, store)
            if found is None:
                return None
            kept[pipeline["pipeline"]] = found
        return snapshot, kept
    finally:
        digests.save()


def _pipeline_holds(pipeline: dict[str, Any], workdir: Path, digests: StatCache, store) -> list[SinkResult] | None:
    """The outputs a run of `pipeline` keeps, when its inputs, modules, cache entries and outputs
    are as recorded and no commit is left to finish; else None."""
    if any(os.path.realpath(path) != real or location_digest(Path(path), partitioned, digests) != digest
           for path, real, partitioned, digest in pipeline["inputs"]):
        return None
    if any(digest_or_none(digests, f["path"]) != f["digest"] for f in pipeline["recorded_inputs"]):
        return None  # what the record says of an input (a partitioned folder's every file)
    modules: dict[str, Any] = {}
    for function in pipeline["functions"]:
        modules.update(module_digests(function, workdir, digests))
    if modules != pipeline["modules"] or commit.pending_commits(pipeline["state_dir"]):
        return None  # a commit left to finish: the full path finishes it and says so
    if commit.clean_up(commit.LocalFiles(), pipeline["state_dir"], pipeline["targets"]):
        return None  # (a commit interrupted since the look above)
    kept = []
    for stage in pipeline["stages"]:
        manifest = intact_manifest(store, stage["key"])
        if manifest is None or _entry_digests(store, stage["key"], manifest) != stage["entries"]:
            return None  # a miss, or what is stored was stored again with other content (--no-cache)
        for node, written in manifest["sinks"].items():
            sink = stage["sinks"].get(node)
            if sink is None or not sink_intact(store, digests, Path(sink["target"]), value_key(stage["key"], node)):
                return None
            kept.append(SinkResult(node=node, step=sink["step"], path=sink["shown"], rows=written["rows"]))
    return kept


def _entry_digests(store, key: str, manifest: dict[str, Any]) -> dict[str, str | None]:
    """The content digest of a stage's manifest and of every object it names, by key."""
    keys = [key, *(value_key(key, n) for n in [*manifest["values"], *manifest["sinks"]])]
    return {k: getattr(store.entry(k), "digest", None) for k in keys}


def _same_file(digests: StatCache, path: str, real: str, digest: str | None) -> bool:
    """Whether `path` is still the file `real` (a symlink may be pointed elsewhere) with content
    `digest` (None: it does not exist or cannot be read, as a statistics file not written yet)."""
    return os.path.realpath(path) == real and digest_or_none(digests, path) == digest


def _replay_pipeline(args, pipeline: dict[str, Any], kept: list[SinkResult], started: float) -> None:
    """What the full path does for a pipeline whose every stage is reused (once the proof has
    tidied up after dead runs): keep the stage keys for the next run's reasons, show the stages,
    print the summary, record the run."""
    began = time.time()
    remember_keys(Path(pipeline["state_file"]), [(s["nodes"], s["key"], s["parts"]) for s in pipeline["stages"]])
    print(f"running {pipeline['pipeline']} ({len(pipeline['stages'])} stages)", file=sys.stderr)
    progress = Progress(sys.stderr, {s["id"]: s["name"] for s in pipeline["stages"]})
    for stage in pipeline["stages"]:
        progress({"event": "stage_reused", "stage": stage["id"]})
    summary = pipeline["summary"]
    print(format_summary(RunResult(pipeline=pipeline["pipeline"], sinks=[], metrics=summary["metrics"],
                                   stage_seconds={}, node_stats={}, seconds=time.perf_counter() - started,
                                   bindings=summary["bindings"], kept=kept)))
    if pipeline["record"] is not None:
        _record(args, pipeline["record"], began)


def _record(args, record: dict[str, Any], began: float) -> None:
    """Write the run's record as the full path would (a store that cannot be written is a warning)."""
    from pipec.runs.record import now_iso
    from pipec.runs.store import RunStoreError, open_store, process_identity

    run_id = uuid.uuid4().hex
    try:
        store = open_store(record["url"])
    except RunStoreError as exc:
        print(f"warning: run not recorded: {exc}", file=sys.stderr)
        return
    run = {**record["run"], "run_id": run_id, "host": socket.gethostname(), "pid": os.getpid(),
           "pid_started": process_identity(),
           "started_at": now_iso(began)}
    try:
        with commit.signals_deferred():  # the run is over: Ctrl-C now must not cut its record
            store.start(run, record["params"])
            store.finish(run_id, status="succeeded", exit_code=0, error=None, ended_at=now_iso(),
                         seconds=round(time.time() - began, 6), nodes=record["nodes"], files=record["files"],
                         metrics=record["metrics"], expectations=record["expectations"])
    except store.driver.errors as exc:
        print(f"warning: run not recorded completely: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        store.close()


# ------------------------------------------------------------------ remembering
def remember(args, key: str, program, ran: list[tuple[Any, Any, dict[str, Any]]], plan_of: Callable) -> None:
    """After `args` succeeded: write the snapshot the next run of the same command replays, when
    that run would reuse every stage; otherwise remove the command's snapshot. `ran` holds each
    pipeline's (IR, run record, params and run context given to the run), in run order;
    `plan_of(ir)` plans a pipeline as the command does."""
    path = _snapshot_path(args, key)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:  # a snapshot only saves the next run time: one that cannot be written is no failure
        snapshot = _snapshot(args, key, program, ran, plan_of)
        if snapshot is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(snapshot, default=str))  # (key parts as the state file keeps them)
        os.replace(tmp, path)
        for old in sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)[KEPT:]:
            old.unlink(missing_ok=True)
        for dead in path.parent.glob(".*"):  # what a writer killed between its two lines left
            if dead.stat().st_mtime < time.time() - TEMPORARY_SECONDS:
                dead.unlink(missing_ok=True)
    except OSError:
        tmp.unlink(missing_ok=True)


def _snapshot(args, key: str, program, ran, plan_of: Callable) -> dict[str, Any] | None:
    if not plain(args) or program.diagnostics or command_key(args.argv) != key:
        return None  # warnings are printed on every run; pipec or a library changed during this one
    workdir = Path(args.workdir or ".")
    digests = StatCache.in_workdir(workdir)
    files: dict[str, list[str | None]] = {}
    for path, text in program.sources.items():
        compiled = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
        if digest_or_none(digests, path) != compiled:  # edited since it was read
            return None
        files[_absolute(path)] = [os.path.realpath(path), compiled]
    location = cache_location(args.cache_dir)
    pipelines = []
    for ir, recorder, params in ran:
        pipeline = _pipeline(args, ir, plan_of, recorder, params, workdir, location, digests, files)
        if pipeline is None:
            return None
        pipelines.append(pipeline)
    digests.save()
    return {"format": FORMAT, "cache_dir": location, "files": files, "pipelines": pipelines}


def _absolute(path: "str | Path") -> str:
    """`path` from the current folder, `..` kept (after a symlink, `a/../b` is not `b`)."""
    return os.path.join(os.getcwd(), path)


def _pipeline(args, ir, plan_of: Callable, recorder, params: dict[str, Any], workdir: Path, location: str | None,
              digests: StatCache, files: dict[str, list[str | None]]) -> dict[str, Any] | None:
    """A pipeline's part of the snapshot (adds its statistics file to `files`), or None when the
    next run would not reuse every stage or could not be proven unchanged by stat calls."""
    from pipec.backends.local import runtime as rt
    from pipec.backends.local.reuse import Reuse, state_file
    from pipec.backends.local.runner import run_params
    from pipec.compiler.stats import Statistics
    from pipec.progress import stage_names
    from pipec.stdlib.steps.load_model import LoadModelArgs

    result = recorder.result
    if result is None or result.warnings or (ir.uses_run_context() and not (args.run_date or args.interval)):
        return None  # warnings are printed on every run; a run for "now" is another run tomorrow
    if any(isinstance(node.args, LoadModelArgs) for node in ir.nodes()):
        return None  # its type comes from the model's files as the checker found them
    stats = str(Statistics.path(ir.pipeline, workdir).absolute())
    read = digest_or_none(digests, stats)
    plan = plan_of(ir)
    if digest_or_none(digests, stats) != read:
        return None
    files[stats] = [os.path.realpath(stats), read]
    values = run_params(plan, params)
    reuse = Reuse(plan, values, workdir, cache_dir=location)
    decisions = [reuse.decisions[stage.id] for stage in plan.ordered_stages]
    if not all(d.reuse and not d.sinks_to_restore for d in decisions):
        return None
    record = recorder.unchanged_rerun(plan, decisions)
    if recorder.url is not None and record is None:
        return None
    inputs = []
    for stage in plan.ordered_stages:
        nodes = [plan.ir.node(n) for n in stage.nodes]
        for shown, where, partitioned in source_locations(nodes, values, workdir):
            if not isinstance(where, Path):  # an object in a store: its digest is not a stat call
                return None
            inputs.append([_absolute(where), os.path.realpath(where), partitioned,
                           reuse.keys[stage.id].parts["inputs"][shown]])
    ctx, names = rt.RunContext(values, workdir), stage_names(plan)
    shown = {n.id: str(ctx.path(n.args.path)) for n in plan.ir.sinks()}
    sink = lambda n: {"target": _absolute(shown[n]), "shown": shown[n], "step": plan.ir.node(n).step}  # noqa: E731
    return {
        "pipeline": ir.pipeline,
        "state_dir": ctx.state_dir,
        "inputs": inputs,
        "functions": sorted({n.args.function for n in plan.ir.nodes() if n.spec.user_code}),
        "modules": {k: v for d in decisions for k, v in d.key.parts["modules"].items()},
        "recorded_inputs": [f for f in (record or {}).get("files", []) if f["role"] == "input" and f["digest"]],
        "state_file": str(state_file(workdir, ir.pipeline).absolute()),
        "stages": [{"id": d.stage, "name": names[d.stage], "key": d.key.key, "nodes": stage.nodes,
                    "parts": d.key.parts,
                    "entries": _entry_digests(reuse.store, d.key.key, d.manifest),
                    "sinks": {n: sink(n) for n in d.manifest["sinks"]}}
                   for stage, d in zip(plan.ordered_stages, decisions)],
        "targets": [str(ctx.location(n.args.path)) for n in plan.ir.sinks() if not n.spec.external],
        "summary": {"metrics": result.metrics,
                    "bindings": {n: b for n, b in result.bindings.items() if n in result.metrics}},
        "record": record,
    }
