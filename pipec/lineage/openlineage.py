"""OpenLineage events (docs/lineage.md): a job event per pipeline when it is compiled, and START /
COMPLETE / FAIL / ABORT events for `pipec run` (the pipeline's run, and each local stage as a
child run), with the static column lineage, schemas, dataset versions (content digests) and row
counts.

Off unless configured, and configured exactly as the openlineage-python client is everywhere
(`OPENLINEAGE_URL`, an `openlineage.yml` found where the client looks, `OPENLINEAGE__...`
variables such as `OPENLINEAGE__TRANSPORT__TYPE=file`; `OPENLINEAGE_DISABLED=true` turns it off):
this module only decides whether to start the client, and the client resolves the transport. The
client is the optional extra `pipec[openlineage]`; events never change a run's outcome (a
transport that fails costs a warning). Nothing heavy is imported unless events are configured.
"""
from __future__ import annotations

import os
import sys
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

NAMESPACE_VARIABLE = "OPENLINEAGE_NAMESPACE"
DEFAULT_NAMESPACE = "pipec"
FILE_NAMESPACE = "file"  # OpenLineage's naming of local files: namespace `file`, name the absolute path
INTEGRATION = "PIPEC"
CONFIG_FILE = "openlineage.yml"


def configured() -> bool:
    """Whether the openlineage-python client would find a configuration (its own rules)."""
    if os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OPENLINEAGE_URL") or any(k.startswith("OPENLINEAGE__") for k in os.environ):
        return True
    places = (os.environ.get("OPENLINEAGE_CONFIG"), os.path.join(os.getcwd(), CONFIG_FILE),
              os.path.join(os.path.expanduser("~/.openlineage"), CONFIG_FILE))
    return any(p and os.path.isfile(p) for p in places)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def open_client():
    """The configured client, or None: not configured, or configured without the client
    installed (a warning says how to install it)."""
    if not configured():
        return None
    try:
        from openlineage.client import OpenLineageClient
    except ImportError:
        _warn("OpenLineage is configured but the openlineage-python client is not installed "
              "(pip install 'pipec[openlineage]'); no lineage events are sent")
        return None
    try:
        return OpenLineageClient()
    except Exception as exc:  # noqa: BLE001 - a broken configuration must not stop a compile or a run
        _warn(f"OpenLineage is configured but its client could not start: {type(exc).__name__}: {exc}")
        return None


def _emit(client, event) -> None:
    try:
        client.emit(event)
    except Exception as exc:  # noqa: BLE001 - events never change a run's outcome
        _warn(f"OpenLineage event not sent: {type(exc).__name__}: {exc}")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def namespace() -> str:
    return os.environ.get(NAMESPACE_VARIABLE) or DEFAULT_NAMESPACE


class Datasets:
    """A pipeline's files as OpenLineage datasets: names, schema facets, the column-lineage facet
    of each output (pipec/lineage/columns.py) and the job facets."""

    def __init__(self, ir, params: dict[str, Any], workdir: Path):
        from pipec.lineage.columns import lineage_of

        self.ir = ir
        self.params = params
        self.workdir = Path(workdir)
        self.lineage = lineage_of(ir)

    def path(self, node) -> Path:
        from pipec.runtime_contract import substitute

        p = Path(substitute(node.args.path, self.params)).expanduser()
        return Path(os.path.abspath(p if p.is_absolute() else self.workdir / p))

    def job(self, name: str | None = None, job_type: str = "JOB"):
        from openlineage.client.event_v2 import Job
        from openlineage.client.facet_v2 import documentation_job, job_type_job

        facets: dict[str, Any] = {"jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration=INTEGRATION, jobType=job_type)}
        if self.ir.doc and name is None:
            facets["documentation"] = documentation_job.DocumentationJobFacet(description=self.ir.doc)
        return Job(namespace=namespace(), name=name or self.ir.pipeline, facets=facets)

    @staticmethod
    def schema(value):
        from openlineage.client.facet_v2 import schema_dataset

        from pipec.compiler.types import MetricsType, ModelType, TableType

        if isinstance(value, TableType):
            pairs = [(f.name, str(f.type)) for f in value.schema_.fields]
        elif isinstance(value, MetricsType):
            pairs = [(n, "float") for n in value.names]
        elif isinstance(value, ModelType):
            pairs = [("model", str(value))]
        else:
            pairs = []
        return schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name=n, type=t, ordinal_position=i)
            for i, (n, t) in enumerate(pairs, start=1)])

    def inputs(self, versions: dict[str, str] | None = None, assertions: dict[str, list] | None = None) -> list:
        """One dataset per file read (a file read twice is one dataset)."""
        from openlineage.client.event_v2 import InputDataset
        from openlineage.client.facet_v2 import data_quality_assertions_dataset, dataset_version_dataset

        found: dict[str, Any] = {}
        for node in self.ir.nodes():
            name = str(self.path(node)) if node.is_source else None
            if name is None or name in found:
                continue
            facets: dict[str, Any] = {"schema": self.schema(node.output)}
            if versions and versions.get(name):
                facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=versions[name])
            input_facets = {}
            if assertions and assertions.get(node.id):
                input_facets["dataQualityAssertions"] = \
                    data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(assertions=assertions[node.id])
            found[name] = InputDataset(namespace=FILE_NAMESPACE, name=name, facets=facets, inputFacets=input_facets)
        return list(found.values())

    def outputs(self, versions: dict[str, str] | None = None, statistics: dict[str, dict] | None = None) -> list:
        from openlineage.client.event_v2 import OutputDataset
        from openlineage.client.facet_v2 import dataset_version_dataset, output_statistics_output_dataset

        out = []
        for sink in self.lineage.sinks:
            name = str(self.path(sink.node))
            facets: dict[str, Any] = {"schema": self.schema(sink.input.output),
                                      "columnLineage": self.column_lineage(sink)}
            if versions and versions.get(name):
                facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=versions[name])
            output_facets = {}
            if statistics and name in statistics:
                output_facets["outputStatistics"] = \
                    output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(**statistics[name])
            out.append(OutputDataset(namespace=FILE_NAMESPACE, name=name, facets=facets, outputFacets=output_facets))
        return out

    def column_lineage(self, sink):
        """The facet of one output. A column (or the rows) whose lineage passes through user code
        is left out: a partial list would read as a complete one."""
        from openlineage.client.facet_v2 import column_lineage_dataset as cl

        def fields(lineage) -> list | None:
            if lineage.unknown:
                return None
            grouped: dict[tuple[str, str], list] = {}
            for o in sorted(lineage.origins):
                key = (str(self.path(self.ir.node(o.source))), o.column)
                how = cl.Transformation(type=o.type, subtype=o.subtype, description="", masking=False)
                if how not in grouped.setdefault(key, []):
                    grouped[key].append(how)
            return [cl.InputField(namespace=FILE_NAMESPACE, name=name, field=column, transformations=how)
                    for (name, column), how in grouped.items()]

        columns = {c: fields(l) for c, l in sink.value.columns.items()}
        return cl.ColumnLineageDatasetFacet(
            fields={c: cl.Fields(inputFields=f) for c, f in columns.items() if f is not None},
            dataset=fields(sink.value.dataset) or [])


def emit_job_events(irs, params_of, workdir: Path) -> None:
    """At compile time: one job event per pipeline (its inputs, outputs, schemas, column lineage)."""
    client = open_client()
    if client is None:
        return
    from openlineage.client.event_v2 import JobEvent

    for ir in irs:
        datasets = Datasets(ir, params_of(ir), workdir)
        _emit(client, JobEvent(eventTime=_now(), job=datasets.job(), inputs=datasets.inputs(),
                               outputs=datasets.outputs()))


class _Silent:
    """What a run talks to when events are off: RunEvents' methods, with its signatures (a test
    keeps them equal), doing nothing."""

    wanted = False

    def on_event(self, event: dict[str, Any]) -> None:
        pass

    def completed(self, result=None, rows: dict[str, int] | None = None) -> None:
        pass

    def failed(self, error: str, state: str = "FAIL") -> None:
        pass


class RunEvents:
    """The events of one `pipec run`: the pipeline's run (its id is the run store's run id) and,
    fed with the runner's stage events (the local runner's, or those a Spark job reported), one
    child run per stage."""

    wanted = True

    def __init__(self, client, plan, params: dict[str, Any], workdir: Path, run_id: str, engine: str):
        self.client = client
        self.plan = plan
        self.datasets = Datasets(plan.ir, params, workdir)
        self.params = params
        self.run_id = str(uuid.UUID(run_id))
        self.engine = engine
        self.stage_runs: dict[str, str] = {}
        self.stages: dict[str, dict[str, Any]] = {}
        self.ended = False

    def _run_facets(self) -> dict[str, Any]:
        from openlineage.client.facet_v2 import execution_parameters_run, processing_engine_run

        from pipec import __version__
        from pipec.runtime_contract import param_argument

        return {"processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                    version=__version__, name=f"pipec ({self.engine})"),
                "executionParameters": execution_parameters_run.ExecutionParametersRunFacet(parameters=[
                    execution_parameters_run.ExecutionParameter(key=name, value=param_argument(value))
                    for name, value in self.params.items()])}

    def _event(self, state: str, run, job, time: str | None = None, **datasets) -> None:
        from openlineage.client.event_v2 import RunEvent, RunState

        _emit(self.client, RunEvent(eventType=getattr(RunState, state), eventTime=time or _now(), run=run, job=job,
                                    **datasets))

    def start(self) -> None:
        from openlineage.client.event_v2 import Run

        self._event("START", Run(runId=self.run_id, facets=self._run_facets()), self.datasets.job(),
                    inputs=self.datasets.inputs(), outputs=self.datasets.outputs())

    # -- stages, as child runs of the pipeline's run
    def on_event(self, event: dict[str, Any]) -> None:
        from openlineage.client.event_v2 import Run
        from openlineage.client.facet_v2 import error_message_run, parent_run
        from openlineage.client.uuid import generate_new_uuid

        kind, stage = event.get("event"), event.get("stage")
        if kind not in ("stage_started", "stage_finished", "stage_failed") or stage is None:
            return
        if kind == "stage_started":
            self.stage_runs[stage] = str(generate_new_uuid())
            self.stages[stage] = {"finished": False, "error": None}
        elif kind == "stage_finished":
            self.stages[stage]["finished"] = True
        else:
            self.stages[stage]["error"] = event.get("error", "")
        facets: dict[str, Any] = {"parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=self.run_id),
            job=parent_run.Job(namespace=namespace(), name=self.plan.ir.pipeline))}
        if kind == "stage_failed":
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=str(event.get("error", "")), programmingLanguage="Python")
        state = {"stage_started": "START", "stage_finished": "COMPLETE", "stage_failed": "FAIL"}[kind]
        self._event(state, Run(runId=self.stage_runs[stage], facets=facets),
                    self.datasets.job(f"{self.plan.ir.pipeline}.{stage}", job_type="TASK"), time=event.get("time"))

    # -- the end of the run
    def completed(self, result=None, rows: dict[str, int] | None = None) -> None:
        """COMPLETE, with the files' digests as dataset versions and the rows each output got
        (from the local runner's result, or `rows` by absolute path, as a Spark job reported)."""
        from openlineage.client.event_v2 import Run

        from pipec.cache.digests import StatCache, path_size

        digests = StatCache.in_workdir(self.datasets.workdir)
        versions, statistics = {}, {}
        for node in self.plan.ir.nodes():
            if node.is_source or node.is_sink:
                path = self.datasets.path(node)
                try:
                    versions[str(path)] = digests.digest(path)
                    if node.is_sink:
                        statistics[str(path)] = {"size": path_size(path)}
                except OSError:
                    continue
        rows = dict(rows or {})
        for sink in getattr(result, "sinks", []):
            if sink.rows is not None:
                rows[str(self.datasets.path(self.plan.ir.node(sink.node)))] = sink.rows
        for path, count in rows.items():
            if path in statistics:
                statistics[path]["rowCount"] = int(count)
        self.ended = True
        self._event("COMPLETE", Run(runId=self.run_id, facets=self._run_facets()), self.datasets.job(),
                    inputs=self.datasets.inputs(versions, self._assertions(None)),
                    outputs=self.datasets.outputs(versions, statistics))

    def failed(self, error: str, state: str = "FAIL") -> None:
        from openlineage.client.event_v2 import Run
        from openlineage.client.facet_v2 import error_message_run

        self.ended = True
        facets = {**self._run_facets(), "errorMessage": error_message_run.ErrorMessageRunFacet(
            message=error, programmingLanguage="Python")}
        self._event(state, Run(runId=self.run_id, facets=facets), self.datasets.job(),
                    inputs=self.datasets.inputs(assertions=self._assertions(error)))

    def _assertions(self, error: str | None) -> dict[str, list]:
        """The outcome of each `expect`, on the files its table was computed from."""
        from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq

        from pipec.grammar.format import format_expr
        from pipec.runs.record import expectation_outcomes

        ir = self.plan.ir
        outcomes = {o["node"]: bool(o["passed"]) for o in expectation_outcomes(self.plan, self.stages, error)}
        outcomes.update((node, False) for node in self._failed_in_stage_errors(outcomes))
        out: dict[str, list] = {}
        for node_id, passed in outcomes.items():
            node = ir.node(node_id)
            assertion = dq.Assertion(assertion="; ".join(format_expr(c) for c in node.args.conditions),
                                     success=passed, name=node.binding or node.id)
            for source in _sources_upstream(ir, node.id):
                out.setdefault(source, []).append(assertion)
        return out

    def _failed_in_stage_errors(self, known: dict[str, bool]) -> list[str]:
        """The `expect` steps a failed stage's error names by a condition (a Spark job's message
        names the failed conditions, not the node)."""
        from pipec.grammar.format import format_expr

        failed = []
        for stage in self.plan.stages:
            error = self.stages.get(stage.id, {}).get("error") or ""
            if not error.startswith("expectation failed"):
                continue
            for node_id in stage.nodes:
                node = self.plan.ir.node(node_id)
                if node.spec.gate and node_id not in known and \
                        any(f"`{format_expr(c)}`" in error for c in node.args.conditions):
                    failed.append(node_id)
        return failed


def _sources_upstream(ir, node_id: str) -> list[str]:
    seen, stack, found = set(), [node_id], []
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        node = ir.node(current)
        if node.is_source:
            found.append(current)
        stack.extend(node.inputs)
    return sorted(found)


@contextmanager
def run_events(plan, params: dict[str, Any], workdir: Path, run_id: str, engine: str) -> Iterator[Any]:
    """The run's events around the `with` block: START now; the block calls `completed` or
    `failed`; an exception sends FAIL (ABORT for Ctrl-C) and goes on."""
    client = open_client()
    if client is None:
        yield _Silent()
        return
    events = RunEvents(client, plan, params, workdir, run_id, engine)
    events.start()
    try:
        yield events
    except KeyboardInterrupt:
        if not events.ended:
            events.failed("interrupted", state="ABORT")
        raise
    except BaseException as exc:
        if not events.ended:
            events.failed(str(exc) or type(exc).__name__)
        raise
    finally:
        try:
            client.close(timeout=5.0)
        except Exception:  # noqa: BLE001
            pass
