"""Render one Airflow 3 TaskFlow DAG file for a plan: one task per stage (or, with the Spark engine,
one task running the compiled Spark job).

The stage graph decides the task graph: a stage that reads a value produced in another stage
depends on that stage's task, and receives its XCom (the paths of the values it stored).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from pipec.backends.airflow.lineage import DIRECTIONS, declares, lineage_file
from pipec.backends.airflow.params import (INTERVAL_TIMETABLE, builtin_param_calls, call_source,
                                           dag_arguments, param_call, param_ranges, py_literal)
from pipec.backends.airflow.task_io import KEEP_PARAM, RETENTION_PARAM, TASK_IO_MODULE

# the environment variables that set, where a DAG is deployed, its base and storage root
BASE_DIR_VARIABLE = "PIPEC_BASE_DIR"
STORAGE_ROOT_VARIABLE = "PIPEC_STORAGE_ROOT"
from pipec.compiler.ir import IRNode, ParamSpec
from pipec.compiler.plan import Plan, Stage
from pipec.runtime_contract import RUN_PREFIX, substitute
from pipec.stdlib.steps import STEPS

SUPPORT_DIR = "pipec_support"
RUN_VALUE_IN_PATH = "${" + RUN_PREFIX
TEMPLATES = Path(__file__).parent / "templates"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Module-level names of the DAG file that a task function must not shadow.
_TAKEN_NAMES = frozenset({"Asset", "AssetAlias", "publish_run_assets", "Param", "dag", "task", "datetime", "os", "pathlib", "run_stage",
                          "DAG_FOLDER", "BASE_DIR", "STORAGE_ROOT", "deploy_path", "asset_uri",
                          "run_spark_job", "pipeline", "dag_object", "SUPPORT_DIR", "context",
                          "commit_outputs", "clean_up", "support", "openlineage_datasets",
                          "importlib", "json"})

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)


@dataclass
class MappedTask:
    """The mapped task that computes the items of one fanned-out node of a stage (`Step.fan_out`),
    one task instance per item, labelled in the grid view with the item's label; the stage's task
    gathers their results."""

    node_id: str
    task_id: str
    item: str
    labels: tuple[str, ...]

    @property
    def variable(self) -> str:
        return f"{self.task_id}_out"

    def template_fields(self, stage: "StageTask") -> dict[str, object]:
        doc = (f"Computes one {self.item} of `{self.node_id}` (stage `{stage.stage.id}`) per mapped "
               f"task instance; `{stage.task_id}` gathers them.")
        arguments = [f"task_id={py_literal(self.task_id)}", f"doc_md={py_literal(doc, 15)}",
                     "map_index_template=\"{{ task.op_kwargs['label'] }}\""]
        partial = [f"{u.task_id}={u.variable}" for u in stage.upstream]
        items = "".join(f"        {py_literal({'item': k, 'label': label}, 8)},\n"
                        for k, label in enumerate(self.labels))
        return {
            "function": self.task_id,
            "node_literal": py_literal(self.node_id),
            "decorator": call_source("task", arguments, indent=4),
            "call": f"{self.variable} = " + call_source(f"{self.task_id}.partial", partial, indent=4)
                    + f".expand_kwargs([\n{items}    ])",
        }


@dataclass
class StageTask:
    """What the template needs to know about the task of one stage."""

    stage: Stage
    task_id: str
    reads: dict[str, str]  # node id -> value kind, produced by other stages
    writes: dict[str, str]  # node id -> value kind, consumed by other stages (or metrics)
    upstream: list["StageTask"] = field(default_factory=list)
    asset_uris: list[str] = field(default_factory=list)  # the task's outlets: the sinks it publishes
    sink_uris: list[str] = field(default_factory=list)  # the sinks the stage computes (`sink_path`s)
    doc_md: str = ""
    has_downstream: bool = False
    declares: list[str] = field(default_factory=list)  # "inlets"/"outlets": it declares OpenLineage datasets
    mapped: list[MappedTask] = field(default_factory=list)  # its fanned-out nodes' item tasks

    @property
    def variable(self) -> str:
        return f"{self.task_id}_out"

    def template_fields(self) -> dict[str, object]:
        return {
            "stage_id_literal": py_literal(self.stage.id),
            "function": self.task_id,
            "variable": self.variable,
            "reads_literal": py_literal(self.reads),
            "writes_literal": py_literal(self.writes),
            "upstream": [u.task_id for u in self.upstream],
            "upstream_variables": [u.variable for u in self.upstream] + [m.variable for m in self.mapped],
            "mapped": [m.template_fields(self) for m in self.mapped],
            "fanned_in": ", ".join(f"{py_literal(m.node_id)}: {m.task_id}" for m in self.mapped),
            "assignment": f"{self.variable} = " if self.has_downstream else "",
            "decorator": call_source("task", self._task_arguments(), indent=4),
        }

    def _task_arguments(self) -> list[str]:
        arguments = [f"task_id={py_literal(self.task_id)}", f"doc_md={py_literal(self.doc_md, 15)}"]
        arguments += [f"{direction}=openlineage_datasets({py_literal(self.task_id)}, {py_literal(direction)})"
                      for direction in self.declares]
        if self.asset_uris:
            assets = [f"{_outlet_class(uri)}(asset_uri({py_literal(uri, 12)}))" for uri in self.asset_uris]
            one_line = f"outlets=[{', '.join(assets)}]"
            arguments.append(one_line if len(one_line) <= 88 else
                             "outlets=[\n" + "".join(f"{' ' * 12}{a},\n" for a in assets) + " " * 8 + "]")
        return arguments


def stages_module_name(pipeline: str) -> str:
    return f"{pipeline}_stages"


def spark_job_file(pipeline: str) -> str:
    return f"{pipeline}_spark_job.py"


def render_dag(plan: Plan, *, base_dir: str | None = None, storage_root: str | None = None,
               engine: str = "polars") -> str:
    """The source text of the DAG file for `plan` (dag_id = pipeline name).

    With `engine="polars"` each stage is a task running the local engine's code; with
    `engine="spark"` one task runs the pipeline's compiled Spark job. `base_dir` and
    `storage_root`, when given, are written into the file as given (a relative one is relative
    to the DAG's folder); the environment variables BASE_DIR_VARIABLE and STORAGE_ROOT_VARIABLE
    where the DAG is parsed override them, and without either the DAG's folder is the base."""
    ir = plan.ir
    if not _IDENTIFIER.match(ir.pipeline):  # the grammar only allows identifiers
        raise ValueError(f"pipeline name {ir.pipeline!r} is not an identifier")
    tasks = stage_tasks(plan)
    commit_task = _commit_task(tasks)
    engine_fields: dict[str, object] = {}
    if engine == "spark":
        job = spark_job_file(ir.pipeline)
        spark_task = StageTask(
            stage=Stage(id="spark", nodes=[n.id for n in ir.nodes()]), task_id="spark_job", reads={},
            writes={}, asset_uris=[uri for t in tasks for uri in t.sink_uris],
            doc_md=f"Runs `{job}` with spark-submit (or local Spark through pyspark).",
            declares=["inlets"] if any(n.is_source for n in ir.nodes()) else [])
        engine_fields = {"spark_job_file": job, "spark_job_file_literal": py_literal(job),
                         "support_dir": SUPPORT_DIR,
                         "spark_task": spark_task.template_fields()}
    ranges = param_ranges(ir)
    params = {py_literal(p.name): param_call(p, indent=8, range_=ranges.get(p.name)) for p in ir.params}
    builtins = builtin_param_calls(indent=8)
    if engine == "spark":  # one task: nothing to hand over between tasks, only the cache under storage_root
        del builtins[KEEP_PARAM], builtins[RETENTION_PARAM]
    params.update({py_literal(name): call for name, call in builtins.items()})
    template = {"polars": "dag.py.j2", "spark": "dag_spark.py.j2"}[engine]
    arguments = dag_arguments(ir.options, data_intervals=ir.uses_run_context())
    interval_timetable = arguments["schedule"].startswith(INTERVAL_TIMETABLE)
    run_assets = [uri for uri in commit_task.asset_uris if _outlet_class(uri) == "AssetAlias"]
    sdk_names = ["Asset", *(["AssetAlias"] if run_assets else []),
                 *([INTERVAL_TIMETABLE] if interval_timetable else []), "Param", "dag", "task"]
    commit_arguments = [_list_source([t.task_id for t in commit_task.upstream], indent=12), "context"]
    return _ENVIRONMENT.get_template(template).render(
        dag_id_literal=py_literal(ir.pipeline),
        **engine_fields,
        pipeline=ir.pipeline,
        support_dir_literal=py_literal(SUPPORT_DIR),
        base_dir_variable_literal=py_literal(BASE_DIR_VARIABLE),
        base_dir_literal=py_literal(base_dir),
        storage_root_variable_literal=py_literal(STORAGE_ROOT_VARIABLE),
        storage_root_literal=py_literal(storage_root),
        task_io_module_literal=py_literal(TASK_IO_MODULE),
        lineage_file_literal=py_literal(lineage_file(ir.pipeline)),
        stages_module_literal=py_literal(stages_module_name(ir.pipeline)),
        doc_md_literal=py_literal(ir.doc or f"Pipeline `{ir.pipeline}`.", indent=4),
        dag_arguments=arguments,
        sdk_imports=", ".join(sdk_names),
        run_assets_literal=py_literal(run_assets, 8) if run_assets else "",
        duration_params_literal=py_literal(tuple(p.name for p in ir.params if p.type.name == "duration")),
        confine_outputs=ir.options.confine_outputs,
        params=params,
        tasks=[t.template_fields() for t in tasks],
        fans_out=any(t.mapped for t in tasks),
        commit_task=commit_task.template_fields(),
        commit_signature=call_source(f"def {commit_task.task_id}",
                                     [t.task_id for t in commit_task.upstream] + ["**context"], indent=4),
        commit_body=call_source("published = support().commit_outputs" if run_assets
                                else "return support().commit_outputs", commit_arguments, indent=8),
        commit_call=call_source(commit_task.task_id, [t.variable for t in commit_task.upstream], indent=4),
    )


def _outlet_class(uri: str) -> str:
    """A sink whose path holds a run value (`${run.date}`) writes another file each run: its outlet
    is an AssetAlias named by the path, to which each run adds the Asset of the file it wrote
    (`publish_run_assets` in the DAG); any other sink is an Asset."""
    return "AssetAlias" if RUN_VALUE_IN_PATH in uri else "Asset"


def _list_source(names: list[str], indent: int) -> str:
    """`[a, b]` on one line when it fits in 96 columns, else one name per line."""
    one_line = "[" + ", ".join(names) + "]"
    if indent + len(one_line) <= 96:
        return one_line
    return "[\n" + "".join(f"{' ' * (indent + 4)}{n},\n" for n in names) + " " * indent + "]"


def _commit_task(tasks: list[StageTask]) -> StageTask:
    """The task that publishes every sink, after every stage task (every gate) succeeded; the
    sinks are its Asset outlets, so no Asset event is emitted for a run that published nothing."""
    for task in tasks:
        task.has_downstream = True
    return StageTask(stage=Stage(id="commit", nodes=[]), task_id="commit_outputs", reads={}, writes={},
                     upstream=list(tasks), asset_uris=[uri for t in tasks for uri in t.sink_uris],
                     doc_md="Moves every sink the stages computed into place, all or nothing, "
                            "once every task has succeeded.")


def stage_tasks(plan: Plan) -> list[StageTask]:
    """One task per stage, in an order where every task comes after the tasks it depends on."""
    ir = plan.ir
    by_stage: dict[str, StageTask] = {}
    for index, stage in enumerate(plan.stages, 1):
        nodes = [ir.node(n) for n in stage.nodes]
        reads = {i: _kind(ir.node(i)) for i in plan.stage_inputs(stage)}
        writes = {n: _kind(ir.node(n)) for n in plan.stage_outputs(stage)}
        by_stage[stage.id] = StageTask(
            stage=stage, task_id=_task_id(stage, nodes, index), reads=reads, writes=writes,
            sink_uris=[sink_path(n.args.path, ir.params) for n in nodes if n.is_sink],
            doc_md=_task_doc(stage, nodes), declares=[d for d in DIRECTIONS if any(declares(n, d) for n in nodes)])
        by_stage[stage.id].mapped = _mapped_tasks(by_stage[stage.id], nodes)
    for task in by_stage.values():
        for producer in dict.fromkeys(plan.stage_of(node_id).id for node_id in task.reads):
            task.upstream.append(by_stage[producer])
            by_stage[producer].has_downstream = True
    return [by_stage[stage.id] for stage in plan.ordered_stages]


def _mapped_tasks(task: StageTask, nodes: list[IRNode]) -> list[MappedTask]:
    """A mapped task for each node of the stage whose step fans out, named `<task>_<item>s`
    (`s2_best_candidates`)."""
    mapped = []
    for node in nodes:
        fan_out = STEPS[node.step].fan_out(node.args)
        if fan_out is not None:
            suffix = f"{node.binding or node.id}_{fan_out.item}s" if len(mapped) else f"{fan_out.item}s"
            mapped.append(MappedTask(node.id, f"{task.task_id}_{suffix}", fan_out.item, fan_out.labels))
    return mapped


def sink_path(path: str, params: list[ParamSpec]) -> str:
    """A sink's path with the param defaults, which the DAG's `asset_uri` turns into the URI of
    its Asset when the file is parsed (resolving a relative one against the deployed base)."""
    return substitute(path, {p.name: p.default for p in params})


def _kind(node: IRNode) -> str:
    assert node.output is not None, f"{node.id} is a sink and produces no value"
    return node.output.kind


def _task_id(stage: Stage, nodes: list[IRNode], index: int) -> str:
    """`<stage>_<last binding or step>`, e.g. `s3_features`: a task id a person can read."""
    label = next((n.binding for n in reversed(nodes) if n.binding), nodes[-1].step)
    name = f"{stage.id}_{label}"
    if not _IDENTIFIER.match(name) or name in _TAKEN_NAMES:
        name = f"stage_{index}_{label}" if _IDENTIFIER.match(label) else f"stage_{index}"
    return name


def _task_doc(stage: Stage, nodes: list[IRNode]) -> str:
    lines = [f"Stage `{stage.id}`" + (f" (ends here: {stage.boundary})" if stage.boundary else "")]
    for node in nodes:
        bound = f"`{node.binding}` = " if node.binding else ""
        lines.append(f"- {bound}`{node.step}` (node {node.id})" + (f": {node.doc}" if node.doc else ""))
    return "\n".join(lines)

