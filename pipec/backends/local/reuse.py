"""Which stages of a local run can be reused, and storing and loading their values.

Before a run, every stage's key is computed (`stage_keys`). A stage is reused when its manifest
(the list of what it computed, stored under the stage key) and the object of every value it
hands on, every sink it wrote and every metrics record are in the object store, intact; anything
else, or a forced rerun, runs it. After a stage ran, its values are stored: tables as Parquet,
models as the folder `save_model` writes, metrics as JSON, sinks as the file the run committed.

A reused stage's values are loaded only when a stage that runs reads them, so an unchanged rerun
reads no table at all. Its sinks are rewritten only when the file on disk no longer has the
stored content (deleted, edited): then the stored copy is staged and committed like any output,
all or nothing. The last parts of each node's key are kept in `.pipec/cache/state/<pipeline>.json`
so that a later run and `pipec status` can say why a stage reruns.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipec.backends.local.stage_keys import StageKey, input_digests, stage_keys, stale_reasons
from pipec.cache.digests import StatCache
from pipec.cache.objects import CACHE_DIR, ObjectStore
from pipec.cache.remote import cache_store
from pipec.runtime_contract import value_key

if TYPE_CHECKING:  # kept light: an unchanged rerun asks `intact_manifest` and `sink_intact` alone
    from pipec.compiler.plan import Plan, Stage

STATE_DIR = "state"
NO_CACHE = "--no-cache: nothing is reused"


@dataclass
class Decision:
    """What a run does with one stage: reuse it (with its manifest) or run it, and why."""

    stage: str
    key: StageKey
    reuse: bool
    reasons: list[str]
    manifest: dict[str, Any] | None = None
    sinks_to_restore: list[str] = field(default_factory=list)  # sink nodes whose file differs


class Reuse:
    """The reuse decisions of one run and the object store behind them."""

    def __init__(self, plan: Plan, params: dict[str, Any], workdir: Path | str, *, use_cache: bool = True,
                 rerun: frozenset[str] = frozenset(), engine: str | None = None, state: str = "",
                 cache_dir: str | None = None):
        self.plan = plan
        self.workdir = Path(workdir)
        self.params = params
        self.store = cache_store(self.workdir, cache_dir)
        self.digests = StatCache.in_workdir(self.workdir)
        self.keys = stage_keys(plan, params, self.workdir, self.digests, engine)
        self.state_file = state_file(self.workdir, plan.ir.pipeline, state)
        self.before = _read_json(self.state_file) or {}
        forced = forced_stages(plan, rerun)
        self.decisions = {s.id: self._decide(s, use_cache, forced) for s in plan.ordered_stages}
        self.digests.save()

    # -- deciding
    def _decide(self, stage: Stage, use_cache: bool, forced: dict[str, str]) -> Decision:
        key = self.keys[stage.id]
        before = self._before(stage)
        changed = stale_reasons(self.plan, stage, key, before)
        if not use_cache:
            return Decision(stage.id, key, False, [NO_CACHE])
        if stage.id in forced:
            return Decision(stage.id, key, False, [forced[stage.id]])
        if not key.reusable:
            return Decision(stage.id, key, False, key.why_not)
        manifest = intact_manifest(self.store, key.key)
        if manifest is None:
            return Decision(stage.id, key, False, changed or ["cached output missing"])
        restore = [node for node in manifest["sinks"]
                   if not sink_intact(self.store, self.digests, self._target(node), key.value_key(node))]
        reasons = [f"output {manifest['sinks'][n]['path']} differs from the stored one: restored" for n in restore]
        return Decision(stage.id, key, True, reasons or ["unchanged: outputs reused"], manifest, restore)

    def _before(self, stage: Stage) -> dict[str, Any] | None:
        recorded = [self.before.get(n) for n in stage.nodes]
        return recorded[0] if recorded and all(r is not None for r in recorded) else None

    def _target(self, node: str) -> Path:
        from pipec.runs.record import resolved_path

        return resolved_path(self.plan.ir.node(node).args.path, self.params, self.workdir)

    # -- reading what a reused stage computed
    def load(self, node_id: str) -> Any:
        """The stored value of `node_id` (a table as a LazyFrame, a model, a metrics dict)."""
        from pipec.backends.local import runtime as rt

        key = self.keys[self.plan.stage_of(node_id).id].value_key(node_id)
        path = self.store.get(key)
        if path is None:  # removed since the decision: the caller reports it as a failed run
            raise rt.PipelineRunError(f"the stored value of {node_id} disappeared during the run; run again")
        from pipec.compiler.types import ModelType, TableType

        output = self.plan.ir.node(node_id).output
        if isinstance(output, TableType):
            import polars as pl

            return pl.read_parquet(path).lazy()
        if isinstance(output, ModelType):
            return rt.load_model(path)
        return json.loads(path.read_text())

    def restore_sinks(self, decision: Decision, ctx) -> None:
        """Stage the stored copy of every sink of a reused stage whose file differs."""
        for node in decision.sinks_to_restore:
            sink = decision.manifest["sinks"][node]
            stored = self.store.get(decision.key.value_key(node))
            if stored is None:
                from pipec.backends.local import runtime as rt

                raise rt.PipelineRunError(f"the stored copy of {sink['path']} disappeared during the run; run again")
            ctx.stage_file(node, self.plan.ir.node(node).args.path, sink["rows"],
                           lambda tmp, stored=stored: _copy(stored, tmp))

    # -- storing what a stage computed
    def store_stage(self, stage: dict[str, Any], outputs: dict[str, Any], ctx, run_id: str | None = None) -> None:
        """Store a stage's values, sinks and manifest (the manifest last: it makes them a hit)."""
        key = self.keys[stage["id"]]
        nodes = [self.plan.ir.node(n) for n in stage["nodes"]]
        if not key.reusable or input_digests(nodes, self.params, self.workdir, self.digests) != key.parts["inputs"]:
            return  # an input changed while the stage ran: its outputs belong to no key
        sinks = {s["node"]: s for s in list(ctx.sinks) if s["node"] in stage["nodes"]}
        with tempfile.TemporaryDirectory(dir=self._scratch()) as scratch:
            values = {}
            for node_id, value in outputs.items():
                values[node_id] = self._put_value(key.value_key(node_id), value, Path(scratch) / node_id, run_id)
            for node_id, sink in sinks.items():
                self.store.put(key.value_key(node_id), sink["tmp"], run_id=run_id)
            manifest = Path(scratch) / "manifest.json"
            manifest.write_text(json.dumps({
                "stage": stage["id"], "values": values,
                "sinks": {n: {"path": os.path.relpath(s["path"], self.workdir.resolve())
                              if os.path.isabs(s["path"]) else s["path"], "rows": s["rows"]}
                          for n, s in sinks.items()}}, sort_keys=True))
            self.store.put(key.key, manifest, run_id=run_id)

    def store_written(self, stage: Stage, run_id: str | None = None) -> None:
        """Store what an engine that runs the whole plan at once (a Spark job) wrote for `stage`:
        its sinks as they are on disk after the commit (its other values stay in the engine)."""
        from types import SimpleNamespace

        targets = {n: self._target(n) for n in stage.nodes if self.plan.ir.node(n).is_sink}
        if not all(target.exists() for target in targets.values()):
            return  # an output pipec cannot see here (an object store): the stage is never a hit
        sinks = [{"node": n, "tmp": target, "path": str(target), "rows": None} for n, target in targets.items()]
        self.store_stage({"id": stage.id, "nodes": stage.nodes}, {}, SimpleNamespace(sinks=sinks), run_id)

    def _put_value(self, key: str, value: Any, scratch: Path, run_id: str | None) -> str:
        from pipec.backends.local import runtime as rt

        if isinstance(value, rt.Model):
            rt.write_model(value, scratch)
            kind = "model"
        elif isinstance(value, dict):
            scratch.write_text(json.dumps(value))
            kind = "metrics"
        else:
            (value.collect() if hasattr(value, "collect") else value).write_parquet(scratch)
            kind = "table"
        self.store.put(key, scratch, run_id=run_id)
        return kind

    def _scratch(self) -> Path:
        folder = self.store.root / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def remember(self) -> None:
        """Record the parts of every stage's key for the next run's reasons (after a success)."""
        remember_keys(self.state_file, [(stage.nodes, self.keys[stage.id].key, self.keys[stage.id].parts)
                                        for stage in self.plan.stages])


def state_file(workdir: Path | str, pipeline: str, state: str = "") -> Path:
    """Where the parts of a pipeline's last stage keys are kept (`state`: an engine's suffix)."""
    return Path(workdir) / CACHE_DIR / STATE_DIR / f"{pipeline}{state}.json"


def remember_keys(path: Path, stages: list[tuple[list[str], str, dict[str, Any]]]) -> None:
    """Record each stage's key and its parts (`stages`: nodes, key, parts) under its nodes in the
    state file `path`, keeping what it says of other nodes; a file that would not change is
    left as it is."""
    before = _read_json(path) or {}
    state = {**before, **{node: {"stage_key": key, "parts": parts} for nodes, key, parts in stages for node in nodes}}
    text = json.dumps(state, sort_keys=True, default=str)
    if json.dumps(before, sort_keys=True, default=str) == text and path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_text(text)
    os.replace(tmp, path)


def intact_manifest(store: ObjectStore, key: str) -> dict[str, Any] | None:
    """The manifest stored under the stage key `key` when it and every object it names are
    intact (a hit), else None."""
    path = store.get(key)
    manifest = _read_json(path) if path is not None else None
    if manifest is None:
        return None
    names = [*manifest["values"], *manifest["sinks"]]
    return manifest if all(store.get(value_key(key, n)) is not None for n in names) else None


def sink_intact(store: ObjectStore, digests: StatCache, target: Path, key: str) -> bool:
    """Whether the file (or folder) a sink wrote at `target` still has the content stored under
    its value key `key`."""
    entry = store.entry(key)
    try:
        return entry is not None and digests.digest(target) == entry.digest
    except OSError:
        return False


def forced_stages(plan: Plan, rerun: frozenset[str]) -> dict[str, str]:
    """Stage id -> why it must run, for `--rerun NODE`: the stages of the named nodes and every
    stage downstream of them."""
    forced: dict[str, str] = {}
    for stage in plan.ordered_stages:
        asked = [n for n in stage.nodes if n in rerun or plan.ir.node(n).binding in rerun]
        if asked:
            forced[stage.id] = f"asked to rerun {', '.join(asked)}"
            continue
        behind = [i for i in plan.stage_inputs(stage) if plan.stage_of(i).id in forced]
        if behind:
            forced[stage.id] = f"asked to rerun what reads {', '.join(behind)}"
    return forced


def known_nodes(plan: Plan) -> set[str]:
    """The names `--rerun` accepts: node ids and the user's bindings."""
    return {n.id for n in plan.ir.nodes()} | {n.binding for n in plan.ir.nodes() if n.binding}


def _copy(stored: Path, tmp: Path) -> None:
    """A writable copy of a stored (read-only) object."""
    if stored.is_dir():
        shutil.copytree(stored, tmp, copy_function=shutil.copyfile)
    else:
        shutil.copyfile(stored, tmp)


def _read_json(path: Path | None) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError, TypeError):
        return None
