"""Cache keys of the local runner's stages, computed before anything runs, and why a stage must run.

A stage is the unit the local runner executes, so it is the unit of reuse. Its key hashes
everything that determines its outputs (docs/runs.md, "Incremental reruns"):

- `code`: the stage's generated function (its steps and every argument, the columns projection
  pushdown chose, the cache decisions: -O0 and -O1 stages differ) and the implementation: the
  local runtime's source, pipec's version and the engine libraries' versions;
- `params`: the resolved values of the params the stage reads (`params["x"]`, `${x}` in paths);
- `inputs`: the content digest of every file its sources read (through the stat cache);
- `modules`: the digest of every project module its `python()` steps import, transitively;
- `upstream`: the keys of the values it reads from other stages.

The parts are kept beside the key, so that a later run (or `pipec status`) can say in words what
changed. A stage whose input files cannot be read gets a fresh key: it runs (and reports the
problem) rather than trusting a record. So does a stage with a step that is never reused
(`python(..., cache=false)`), and every stage that reads what such a stage computed.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipec.cache.digests import digest_or_none, partitioned_digest
from pipec.runtime_contract import stage_key, value_key

if TYPE_CHECKING:  # kept light: an unchanged rerun checks inputs with this module alone (up_to_date.py)
    from pipec.compiler.ir import IRNode
    from pipec.compiler.plan import Plan, Stage

ENGINE_LIBRARIES = ("polars", "scikit-learn", "numpy", "pandas", "pyarrow", "joblib")
_PARAM_READ = re.compile(r"""params\[("(?:[^"\\]|\\.)*")\]""")
_PATH_PARAM = re.compile(r"\$\{([\w.]+)\}")  # `${out_dir}`, `${run.date}`


@dataclass
class StageKey:
    stage: str
    key: str
    parts: dict[str, Any]
    reusable: bool = True
    why_not: list[str] = field(default_factory=list)  # why a stage that is not reusable is not

    def value_key(self, node_id: str) -> str:
        """The key of one value the stage computes (an output, a sink, a metrics record)."""
        return value_key(self.key, node_id)


def stage_keys(plan: Plan, params: dict[str, Any], workdir: Path | str, digests,
               engine: str | None = None) -> dict[str, StageKey]:
    """Every stage's key, in dependency order; `digests` is a `StatCache`. `engine` is the
    version of the implementation that runs the stages (default: the local runtime's): another
    engine (Spark) keys the same stage code with its own."""
    workdir = Path(workdir)
    keys: dict[str, StageKey] = {}
    producer = {n: s.id for s in plan.stages for n in s.nodes}
    engine = engine or implementation_version()
    for stage in plan.ordered_stages:
        recipe = stage_recipe(plan, stage)
        nodes = [plan.ir.node(n) for n in stage.nodes]
        why_not: list[str] = []
        parts: dict[str, Any] = {
            "code": recipe["code"],
            "engine": engine,
            "params": {name: params.get(name) for name in recipe["params"]},
            "inputs": {},
            "modules": {},
            "upstream": {i: keys[producer[i]].value_key(i) for i in plan.stage_inputs(stage)},
        }
        parts["inputs"] = input_digests(nodes, params, workdir, digests)
        for node in nodes:
            if node.spec.user_code:
                parts["modules"].update(module_digests(node.args.function, workdir, digests))
        if any(d is None for d in (*parts["inputs"].values(), *parts["modules"].values())):
            why_not.append("an input file cannot be read")
        why_not += recipe["never_reused"]
        why_not += [f"input {_name(plan.ir.node(i))} is computed again on every run"
                    for i in plan.stage_inputs(stage) if not keys[producer[i]].reusable]
        key = stage_key(parts) if not why_not else uuid.uuid4().hex * 2
        keys[stage.id] = StageKey(stage.id, key, parts, reusable=not why_not, why_not=why_not)
    return keys


def stage_recipe(plan: Plan, stage: Stage) -> dict[str, Any]:
    """What a stage's key is made of that is known before the run: the digest of its code, the
    params it reads, the paths (templates) its sources read, and why it is never reused, if it is
    not. An orchestrator's task completes it with the run's values (pipec_task_io)."""
    from pipec.backends.local.codegen import stage_source

    source = stage_source(plan, stage)
    nodes = [plan.ir.node(n) for n in stage.nodes]
    return {"code": _sha(source), "params": sorted(_params_read(source)),
            "sources": [n.args.path for n in nodes if n.is_source and not n.spec.external],
            "never_reused": [f"{_name(n)} is never reused (cache=false)" for n in nodes if not n.spec.reusable(n.args)]
            + (["it reads or writes a database table"] if any(n.spec.external for n in nodes) else [])
            + (["it writes a partitioned dataset, whose partitions are not stored for reuse"]
               if any(n.spec.sink and getattr(n.args, "partition_by", None) for n in nodes) else [])}


def input_digests(nodes: list[IRNode], params: dict[str, Any], workdir: Path, digests) -> dict[str, str | None]:
    """The content digest of the file each source among `nodes` reads (None: unreadable); of a
    partitioned source, of every data file in its folder."""
    return {shown: location_digest(location, partitioned, digests)
            for shown, location, partitioned in source_locations(nodes, params, workdir)}


def source_locations(nodes: list[IRNode], params: dict[str, Any],
                     workdir: Path) -> list[tuple[str, "str | Path | None", bool]]:
    """(name shown in keys and reasons, where it is, partitioned) of each file or object the
    sources among `nodes` read: a URL as a str, a local path, or None when the path names an
    unknown param."""
    found = []
    for node in nodes:
        if node.is_source and not node.spec.external:
            partitioned = bool(getattr(node.args, "partition_by", None))
            url = _url(node.args.path, params)
            if url is not None:
                found.append((url, url, partitioned))
            else:
                path = _resolved(node.args.path, params, workdir)
                found.append((_shown(path, workdir), path, partitioned))
    return found


def location_digest(location: "str | Path | None", partitioned: bool, digests) -> str | None:
    """The digest of what a source reads (see `source_locations`); None when it cannot be read."""
    if isinstance(location, str):
        return _object_digest(location, partitioned)
    if partitioned:
        return partitioned_digest(digests, location) if location is not None else None
    return digest_or_none(digests, location)


def _url(template: str, params: dict[str, Any]) -> str | None:
    from pipec.backends.commit import is_url
    from pipec.runtime_contract import PipelineRunError, substitute

    try:
        text = substitute(template, params)
    except PipelineRunError:
        return None
    return text if is_url(text) else None


def _object_digest(url: str, prefix: bool) -> str | None:
    """The digest of an object (or of every object under a partitioned dataset's prefix) from
    what the store says of it: key, size, ETag and modification time (the store's content
    hash, so a rewritten object gives a new key; never read). None when the store cannot say."""
    from pipec.backends.commit import StoreFiles

    try:
        fs, key = StoreFiles.fs(url)
        fs.invalidate_cache()
        infos = fs.find(key, detail=True) if prefix else {key: fs.info(key)}
    except Exception:  # noqa: BLE001 - a store that cannot be asked: the stage runs and reports it
        return None
    if not infos:
        return None
    h = hashlib.sha256()
    for name, info in sorted(infos.items()):
        h.update(json.dumps([name, info.get("size"), info.get("ETag") or info.get("etag") or info.get("md5Hash"),
                             str(info.get("LastModified") or info.get("mtime") or info.get("updated"))]).encode())
    return "store:" + h.hexdigest()


def stale_reasons(plan: Plan, stage: Stage, key: StageKey, before: dict[str, Any] | None) -> list[str]:
    """In words, what differs from the parts recorded for this stage's nodes by the last run
    (`before`, None when they were never run); empty when nothing does."""
    if before is None:
        return ["never run"]
    reasons = []
    was, now = before.get("parts", {}), key.parts
    for name in sorted(set(was.get("params", {})) | set(now["params"])):
        old, new = was.get("params", {}).get(name, _ABSENT), now["params"].get(name, _ABSENT)
        if old != new:
            reasons.append(f"param {name} changed {_show(old)} -> {_show(new)}" if _ABSENT not in (old, new)
                           else f"now reads param {name}" if old is _ABSENT else f"no longer reads param {name}")
    for part, what in (("inputs", "input"), ("modules", "python module")):
        old, new = was.get(part, {}), now[part]
        reasons += [f"{what} {path} {'changed' if path in old else 'added'}"
                    for path in sorted(new) if old.get(path) != new[path]]
        reasons += [f"{what} {path} no longer read" for path in sorted(set(old) - set(new))]
    if was.get("code") != now["code"]:
        reasons.append("the stage's code changed (pipeline, plan or -O level)")
    if was.get("engine") != now["engine"]:
        reasons.append("pipec or an engine library changed version")
    if not reasons:
        changed = [i for i in now["upstream"] if was.get("upstream", {}).get(i) != now["upstream"][i]]
        if changed:
            names = [_name(plan.ir.node(i)) for i in changed]
            reasons.append(f"input {', '.join(names)} {'was' if len(names) == 1 else 'were'} recomputed")
    return reasons


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


_ABSENT = _Absent()


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{value:.0f}"
    return value if isinstance(value, str) else json.dumps(value, default=str)


def implementation_version() -> str:
    """pipec's version, the local runtime's source and the engine libraries' versions."""
    return runtime_version("pipec.backends.local.runtime", ENGINE_LIBRARIES)


@lru_cache(maxsize=4)
def runtime_version(runtime: str, libraries: tuple[str, ...]) -> str:
    """pipec's version, the source of the `runtime` module (and of the runtime contract) and the
    versions of `libraries`: what a stage's outputs depend on besides its code and inputs."""
    import importlib.util
    from importlib import metadata

    from pipec import __version__

    h = hashlib.sha256(__version__.encode())
    for module in (runtime, "pipec.runtime_contract"):
        h.update(Path(importlib.util.find_spec(module).origin).read_bytes())
    for name in libraries:
        try:
            h.update(f"\0{name}={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"\0{name}=-".encode())
    return "sha256:" + h.hexdigest()


def _params_read(source: str) -> set[str]:
    return {json.loads(m) for m in _PARAM_READ.findall(source)} | set(_PATH_PARAM.findall(source))


def module_digests(function: str, workdir: Path, digests) -> dict[str, str | None]:
    """The digest of every project module a `python()` step's function imports (cache/modules.py)."""
    from pipec.cache.modules import project_modules

    return {_shown(path, workdir): digest_or_none(digests, path) for path in project_modules(function, workdir)}


def _resolved(template: str, params: dict[str, Any], workdir: Path) -> Path | None:
    from pipec.runtime_contract import PipelineRunError, substitute

    try:
        p = Path(substitute(template, params)).expanduser()
    except PipelineRunError:
        return None
    return p if p.is_absolute() else workdir / p


def _shown(path: Path | None, workdir: Path) -> str:
    if path is None:
        return "(unresolved)"
    try:
        return os.path.relpath(os.path.realpath(path), workdir.resolve())
    except ValueError:
        return str(path)


def _name(node: IRNode) -> str:
    return node.binding or node.id


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
