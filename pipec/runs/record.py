"""Build and write one run's record from what `pipec run` sees.

The record is opened (`running`) before the run starts and closed once it ended, whatever the
ending. Opening it happens on a background thread, so opening the store and hashing the input
files overlaps with planning and with the run's first stage; closing waits for it.
Recording never changes a run's outcome: a store that cannot be written costs a warning.
For the local target the runner's events say what each stage did; for Spark and Airflow the
CLI sees only the whole run (status, inputs, outputs, the metrics files it wrote).
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from pipec.cache.digests import StatCache, path_size

if TYPE_CHECKING:  # kept light: an unchanged rerun writes its record with `now_iso` alone
    from pipec.compiler.ir import IR

RUN_IDENTITY = ("run_id", "started_at", "host", "pid", "pid_started")  # what differs between two runs of one command
LIBRARIES = ("polars", "scikit-learn", "pyspark", "pyarrow", "apache-airflow")
INTERRUPTED_WAIT_SECONDS = 2.0


def now_iso(at: float | None = None) -> str:
    """`at` (default: now), as the run store writes times: UTC, ISO 8601, microseconds."""
    moment = datetime.now(timezone.utc) if at is None else datetime.fromtimestamp(at, timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def library_versions() -> dict[str, str]:
    """The installed versions of the libraries that compute results (those present)."""
    from importlib import metadata as importlib_metadata

    from pipec import __version__

    found = dict(python=sys.version.split()[0], pipec=__version__)
    for name in LIBRARIES:
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return found


def ir_digest(ir: IR) -> str:
    """The digest of the pipeline's code as checked, without the params' values (those are
    recorded, and compared, on their own)."""
    data = ir.to_json()
    for param in data["params"]:
        param.pop("default", None)
    return "sha256:" + hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def sources_digest(sources: dict[str, str], main: str) -> str:
    """The digest of the pipeline file and every file it imports (paths relative to its folder)."""
    base = Path(main).resolve().parent
    h = hashlib.sha256()
    for path in sorted(sources):
        resolved = Path(path).resolve()
        name = os.path.relpath(resolved, base)
        h.update(f"{name}\0{len(sources[path])}\0".encode() + sources[path].encode())
    return "sha256:" + h.hexdigest()


def resolved_path(template: str, params: dict[str, Any], workdir: Path) -> Path:
    """Where a source or sink path points, as the runtime resolves it."""
    from pipec.backends.local.runtime import substitute

    p = Path(substitute(template, params)).expanduser()
    return p if p.is_absolute() else workdir / p


@contextmanager
def recording(url: str | None, **run: Any) -> Iterator["RunRecorder"]:
    """Record the run inside the `with` block: the block sets `exit_code` (and, for the local
    target, `plan` and `result`); an exception closes the record as failed or interrupted."""
    from pipec.backends.local.runtime import PipelineRunError
    from pipec.errors import PipecError

    recorder = RunRecorder(url, **run)
    try:
        yield recorder
    except KeyboardInterrupt as exc:
        recorder.close("interrupted", exit_code=130, error=getattr(exc, "message", None) or "interrupted")
        raise
    except BaseException as exc:  # a problem in the pipeline or its data exits 1; the CLI maps the rest
        known = isinstance(exc, (PipecError, PipelineRunError))
        recorder.close("failed", exit_code=1 if known else None, error=str(exc) or type(exc).__name__)
        raise
    else:
        from pipec.backends.commit import signals_deferred
        from pipec.backends.local.runner import RunInterrupted

        code = recorder.exit_code
        with signals_deferred() as arrived:  # the run is over: Ctrl-C now must not cut its record
            recorder.close("succeeded" if code == 0 else "failed", exit_code=code,
                           error=None if code == 0 else f"the run ended with exit status {code}")
        if arrived:
            raise RunInterrupted("interrupted after the run ended: " + (
                "all its outputs were written" if code == 0 else "it had failed, no output was changed"))


class RunRecorder:
    """One run's record. `on_event` takes the local runner's events; `close` ends the record."""

    def __init__(self, url: str | None, *, workdir: Path, file: str, sources: dict[str, str], ir: IR, target: str,
                 engine: str, opt_level: int, params: dict[str, Any], overridden: set[str], argv: list[str],
                 given_by: str = "-p"):
        self.url = url
        self.workdir = Path(workdir)
        self.ir = ir
        self.params = params
        self.run_id = uuid.uuid4().hex
        self.started = time.time()
        self.warnings: list[str] = []
        self.exit_code: int | None = None
        self.plan = None  # set by the local target: the plan it runs and what it returned
        self.result = None
        self.store = None
        self.stages: dict[str, dict[str, Any]] = {}  # stage id -> {"finished": bool, "error": str|None}
        self._digests = StatCache.in_workdir(self.workdir)
        self._record = {
            "run_id": self.run_id, "pipeline": ir.pipeline, "pipeline_file": str(Path(file).resolve()),
            "source_digest": sources_digest(sources, file), "ir_digest": ir_digest(ir),
            "target": target, "engine": engine, "opt_level": opt_level, "started_at": now_iso(),
            "workdir": str(self.workdir.resolve()), "host": socket.gethostname(), "pid": os.getpid(),
            "argv": json.dumps(argv), "pipec_version": "", "versions": "",
        }
        self._params = {name: (value, given_by if name in overridden else "default") for name, value in params.items()}
        self._opening = threading.Thread(target=self._open, name="pipec-run-record", daemon=True)
        if url is not None:  # None: recording is off
            self._opening.start()

    def _open(self) -> None:
        from pipec.runs.store import RunStoreError, open_store, process_identity

        try:
            self.inputs = self._files([n for n in self.ir.nodes() if n.is_source], "input") + self._modules()
            versions = library_versions()
            self._record.update(pipec_version=versions["pipec"], versions=json.dumps(versions, sort_keys=True),
                                pid_started=process_identity())
            store = open_store(self.url)
            store.start(self._record, self._params)
            self.store = store
        except RunStoreError as exc:
            self.warnings.append(f"run not recorded: {exc}")
        except Exception as exc:  # noqa: BLE001 - a record must never fail the run
            self.warnings.append(f"run not recorded: {type(exc).__name__}: {exc}")

    def _files(self, nodes, role: str) -> list[dict[str, Any]]:
        out = []
        for node in nodes:
            if node.spec.external:  # a database table: its address (connection NAME, table), no digest
                out.append({"role": role, "path": node.args.path, "node": node.id, "digest": None, "size": None})
                continue
            try:
                path = resolved_path(node.args.path, self.params, self.workdir)
                digest, size = self._digests.digest(path), path_size(path)
            except Exception:  # noqa: BLE001 - a missing input: the run itself reports it
                path, digest, size = Path(node.args.path), None, None
            out.append({"role": role, "path": str(path), "node": node.id, "digest": digest, "size": size})
        return list({f["path"]: f for f in out}.values())

    def _modules(self) -> list[dict[str, Any]]:
        """The project's Python files each python() step runs (docs/runs.md)."""
        from pipec.cache.modules import project_modules

        out = {}
        for node in self.ir.nodes():
            if node.spec.user_code:
                for path in project_modules(node.args.function, self.workdir):
                    shown = os.path.relpath(path, self.workdir.resolve())
                    out[shown] = {"role": "module", "path": shown, "node": node.id,
                                  "digest": self._digests.digest(path), "size": path_size(path)}
        return list(out.values())

    # -- the local runner's events
    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind in ("stage_started", "stage_reused"):
            self.stages[event["stage"]] = {"finished": kind == "stage_reused", "error": None,
                                           "reused": kind == "stage_reused", "reasons": event.get("reasons", []),
                                           "key": event.get("key")}
        elif kind == "stage_finished":
            self.stages[event["stage"]]["finished"] = True
        elif kind == "stage_failed":
            self.stages[event["stage"]]["error"] = event.get("error", "")

    # -- closing
    def close(self, status: str, *, exit_code: int | None, error: str | None = None) -> None:
        """Close the record; a store that cannot be written is a warning on stderr.

        An interrupted run waits for the record's opening only briefly: Ctrl-C can stop the main
        thread in the middle of an import and leave that module's lock taken, and an opening
        that imports the same module would then wait forever. The record left behind, if any,
        is marked `killed` by the next pipec."""
        if self.url is None:
            return
        self._opening.join(timeout=INTERRUPTED_WAIT_SECONDS if status == "interrupted" else None)
        if self._opening.is_alive():
            self.warnings.append("run not recorded: the run store was still being opened when the run "
                                 "was interrupted")
        elif self.store is not None:
            self._finish(status, exit_code, error, self.plan, self.result)
        for warning in self.warnings:
            print(f"warning: {warning}", file=sys.stderr)

    def _finish(self, status: str, exit_code: int | None, error: str | None, plan, result) -> None:
        ended = time.time()
        sinks = [n for n in self.ir.nodes() if n.is_sink]
        outputs = self._files(sinks, "output") if status == "succeeded" else []
        digests = {f["node"]: f["digest"] for f in outputs}
        try:
            nodes = self._nodes(plan, self.stages, result, digests) if plan is not None else []
            self.store.finish(
                self.run_id, status=status, exit_code=exit_code, error=error, ended_at=now_iso(),
                seconds=round(ended - self.started, 6), nodes=nodes, files=self.inputs + outputs,
                metrics=self._metrics(result, status), expectations=self._expectations(plan, status, error))
        except Exception as exc:  # noqa: BLE001
            self.warnings.append(f"run not recorded completely: {type(exc).__name__}: {exc}")
        finally:
            self._digests.save()
            self.store.close()

    def _nodes(self, plan, stages: dict[str, dict[str, Any]], result, digests: dict[str, str]) -> list[dict[str, Any]]:
        stage_of = {n: s.id for s in plan.stages for n in s.nodes}
        observed = getattr(result, "observations", {}) if result is not None else {}
        failed = next((sid for sid, s in stages.items() if s["error"] is not None), None)
        rows = []
        for position, node in enumerate(plan.ir.nodes()):
            stage = stage_of.get(node.id)
            state = stages.get(stage, {})
            seen = observed.get(node.id, {})
            if state.get("finished"):
                outcome, reasons = "reused" if state["reused"] else "ran", state["reasons"]
            elif state.get("error") is not None:
                outcome, reasons = "failed", [f"stage {stage} failed: {state['error']}"]
            else:
                outcome = "failed"
                reasons = [f"not run: stage {failed} failed first" if failed else "not run: the run was stopped"]
            rows.append({"node": node.id, "position": position, "binding": node.binding, "step": node.step,
                         "stage": stage, "outcome": outcome, "reasons": reasons, "seconds": seen.get("seconds"),
                         "rows": _int(seen.get("rows")), "bytes": _int(seen.get("bytes")),
                         "output_digest": digests.get(node.id), "cache_key": state.get("key")})
        return rows

    def _metrics(self, result, status: str) -> list[dict[str, Any]]:
        """Metrics the run computed: from the local runner's result, else from the metrics files
        a succeeded Spark or Airflow run wrote (write_json of an evaluate step)."""
        from pipec.compiler.types import MetricsType

        found: dict[str, dict[str, float]] = {}
        if result is not None:
            found = result.metrics
        elif status == "succeeded":
            for sink in self.ir.sinks():
                producer = self.ir.node(sink.inputs[0])
                if not isinstance(producer.output, MetricsType):
                    continue
                while producer.spec.gate:  # hands its input on
                    producer = self.ir.node(producer.inputs[0])
                if producer.spec.makes_metrics:
                    try:
                        found[producer.id] = json.loads(resolved_path(sink.args.path, self.params,
                                                                      self.workdir).read_text())
                    except (OSError, ValueError):
                        continue
        return [{"node": node, "binding": self.ir.node(node).binding if node in self.ir else None,
                 "name": name, "value": float(value)}
                for node, values in found.items() for name, value in values.items()
                if isinstance(value, (int, float))]

    def _expectations(self, plan, status: str, error: str | None) -> list[dict[str, Any]]:
        return expectation_outcomes(plan, self.stages, error)

    def unchanged_rerun(self, plan, decisions) -> dict[str, Any] | None:
        """The record a rerun that reuses every stage of `plan` (`decisions`: the reuse decisions
        of each stage, all reuses) would write, but for what identifies that run (its id, start,
        host, process): what `up_to_date` writes for it. None when this run was not recorded
        in full (recording off, or a warning about the store)."""
        if self.url is None or self.store is None or self.warnings:
            return None
        stages = {d.stage: {"finished": True, "reused": True, "error": None, "reasons": d.reasons,
                            "key": d.key.key} for d in decisions}
        outputs = self._files(self.ir.sinks(), "output")
        run = {k: v for k, v in self._record.items() if k not in RUN_IDENTITY}
        return {"url": self.url, "run": run, "params": self._params,
                "nodes": self._nodes(plan, stages, None, {f["node"]: f["digest"] for f in outputs}),
                "files": self.inputs + outputs, "metrics": self._metrics(self.result, "succeeded"),
                "expectations": expectation_outcomes(plan, stages, None)}


def expectation_outcomes(plan, stages: dict[str, dict[str, Any]], error: str | None) -> list[dict[str, Any]]:
    """Each `expect` of a finished stage passed; the one an error names failed (`stages`: stage
    id -> {"finished": bool, "error": str|None}, as the runner's events said)."""
    if plan is None:
        return []
    stage_of = {n: s.id for s in plan.stages for n in s.nodes}
    out = []
    for node in plan.ir.nodes():
        if not node.spec.gate:
            continue
        state = stages.get(stage_of.get(node.id), {})
        if state.get("finished"):
            out.append({"node": node.id, "binding": node.binding, "passed": 1, "detail": None})
        elif error and f"expectation failed in node {node.id}:" in error:
            out.append({"node": node.id, "binding": node.binding, "passed": 0, "detail": error})
    return out

def _int(value) -> int | None:
    return None if value is None else int(value)
