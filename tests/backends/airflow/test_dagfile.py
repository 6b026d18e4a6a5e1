"""Generated DAG files load in a real DagBag with the params, options, docs, tasks, dependencies
and assets the pipeline asks for; hostile strings arrive as data, never as code."""
from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_pipelines import SALES, SCHEMAS
from pipec import runtime_contract
from pipec.backends.airflow import task_io
from pipec.backends.airflow.dagfile import SUPPORT_DIR


def dagbag(folder: Path):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(folder))
    assert bag.import_errors == {}
    return bag


@pytest.fixture
def sales_dag(compile_pipe, tmp_path):
    dag_file = compile_pipe(SALES)["sales"]
    return dagbag(dag_file.parent).dags["sales"], tmp_path


def test_params_have_json_schema_types_and_defaults(sales_dag):
    dag, tmp_path = sales_dag
    schemas = {name: param.schema for name, param in dag.params.items()}
    assert {name: param.value for name, param in dag.params.items()} == {
        "data_dir": "data", "out_dir": "out", "min_amount": 0.0, "seed": 1, "day": "2024-01-01",
        "window": 3600, "regions_wanted": ["north"], "verbose": False,
        "base_dir": str(tmp_path / "work"), "storage_root": str(tmp_path / "storage"),
        "keep_intermediates": False, "failed_run_retention": "7d", "cache_retention": "30d"}
    assert schemas["data_dir"] == {"type": "string"}
    assert dag.params.get_param("data_dir").description == "Where the CSV files are."
    assert schemas["min_amount"]["type"] == "number"
    assert schemas["seed"]["type"] == "integer"
    assert schemas["verbose"]["type"] == "boolean"
    assert schemas["day"] == {"type": "string", "format": "date"}
    assert schemas["window"] == {"type": ["integer", "string"]}
    assert schemas["regions_wanted"] == {"type": "array", "items": {"type": "string"}}


def test_params_feeding_bounded_arguments_carry_the_contracts_range(compile_pipe):
    """A param feeding two ranges must satisfy both; a hyper-parameter's minimum is the contract's."""
    dag_file = compile_pipe(SCHEMAS + """pipeline ranged() {
  param f: float = 0.5
  param trees: int = 10
  sales = read_csv("data/sales.csv", schema=Sale)
  a, b = sales | split(fraction=$f, seed=1)
  a | sample($f) | write_csv("out/a.csv")
  b | fit(random_forest_classifier(n_trees=$trees), features=[units], label=returned) | save_model("out/m")
}
""")["ranged"]
    params = dagbag(dag_file.parent).dags["ranged"].params
    assert params.get_param("f").schema == {"type": "number", "allOf": [
        runtime_contract.BOUNDS["proper_fraction"].json_schema(), runtime_contract.BOUNDS["nonzero_fraction"].json_schema()]}
    assert params.get_param("trees").schema == {"type": "integer", "minimum": runtime_contract.HYPERPARAMETER_MINIMUMS["n_trees"]}
    from airflow.sdk.definitions.param import ParamValidationError

    for name, value in [("f", 1.0), ("trees", 0)]:
        with pytest.raises(ParamValidationError):
            params.get_param(name).resolve(value)
    assert params.get_param("f").resolve(0.25) == 0.25


def test_options_become_dag_arguments(sales_dag):
    dag, _ = sales_dag
    assert dag.schedule == "@weekly"
    assert dag.start_date == datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    assert dag.catchup is False
    assert set(dag.tags) == {"sales", "ml"}
    assert dag.doc_md == "Sales per region, and a classifier of returns."
    for task in dag.tasks:
        assert task.owner == "data-team"
        assert task.retries == 1
        assert task.retry_delay == datetime.timedelta(seconds=30)
        assert task.execution_timeout == datetime.timedelta(minutes=10)


def test_one_task_per_stage_wired_like_the_stage_graph(compile_pipe):
    from pipec import plan
    from pipec.compiler.check import check_source

    dag_file = compile_pipe(SALES)["sales"]
    dag = dagbag(dag_file.parent).dags["sales"]
    stages = plan(check_source(SALES).pipelines["sales"], backend="airflow").stages
    task_of = {t.task_id.split("_", 1)[0]: t for t in dag.tasks if t.task_id not in ("commit_outputs", "clean_up")}
    assert sorted(task_of) == sorted(s.id for s in stages)
    node_stage = {n: s.id for s in stages for n in s.nodes}
    ir = check_source(SALES).pipelines["sales"]
    for stage in stages:
        needs = {node_stage[i] for n in stage.nodes for i in ir.node(n).inputs} - {stage.id}
        assert {task_of[s].task_id for s in needs} == task_of[stage.id].upstream_task_ids


def test_unoptimised_plan_gives_one_task_per_node(compile_pipe):
    dag_file = compile_pipe(SALES, level=0)["sales"]
    dag = dagbag(dag_file.parent).dags["sales"]
    sources = [t for t in dag.tasks if not t.upstream_task_ids]
    # 2 sources, filter, join, aggregate, sort, 2 split sides, fit, predict, evaluate, 4 sinks,
    # then commit_outputs and clean_up
    assert len(dag.tasks) == 17
    assert sorted(t.task_id.split("_", 1)[1] for t in sources) == ["regions", "sales"]


def test_sinks_are_asset_outlets_of_the_commit_task_which_runs_after_every_other(sales_dag):
    dag, tmp_path = sales_dag
    from airflow.sdk import Asset

    outlets = {asset.uri: task.task_id for task in dag.tasks for asset in task.outlets if isinstance(asset, Asset)}
    work = tmp_path / "work" / "out"
    assert outlets == {(work / name).as_uri(): "commit_outputs" for name in
                       ("by_region.csv", "scored.parquet", "metrics.json", "model")}
    commit = dag.get_task("commit_outputs")
    stages = {t.task_id for t in dag.tasks} - {"commit_outputs", "clean_up"}
    assert commit.upstream_task_ids == stages
    assert dag.get_task("clean_up").upstream_task_ids == {"commit_outputs"}


def test_tasks_declare_openlineage_datasets_with_the_pipelines_column_lineage(sales_dag):
    """Each stage task declares the files it reads (inlets) and the sinks it computes (outlets)
    as OpenLineage datasets, named and faceted as `pipec compile`'s job event names them
    (Datasets of pipec/lineage/openlineage.py), resolved against the DAG's base_dir."""
    from openlineage.client.event_v2 import Dataset
    from openlineage.client.serde import Serde

    from pipec import plan
    from pipec.compiler.check import check_source
    from pipec.lineage.openlineage import Datasets

    dag, tmp_path = sales_dag
    declared = {direction: {d.name: (task.task_id, Serde.to_dict(d)) for task in dag.tasks
                            for d in getattr(task, direction) if isinstance(d, Dataset)}
                for direction in ("inlets", "outlets")}
    ir = check_source(SALES, str(tmp_path / "work" / "test.pipe")).pipelines["sales"]
    expected = Datasets(plan(ir, level=1, backend="airflow").ir, {p.name: p.default for p in ir.params},
                        tmp_path / "work")
    assert {name: task for name, (task, _) in declared["inlets"].items()} == {
        str(tmp_path / "work/data/sales.csv"): "s1_model", str(tmp_path / "work/data/regions.csv"): "s1_model"}
    def dataset(d) -> dict:
        return {key: Serde.to_dict(d)[key] for key in ("namespace", "name", "facets")}

    assert {name: d for name, (_, d) in declared["inlets"].items()} == {d.name: dataset(d) for d in expected.inputs()}
    assert {name: d for name, (_, d) in declared["outlets"].items()} == {d.name: dataset(d) for d in expected.outputs()}
    assert "commit_outputs" not in {task for task, _ in declared["outlets"].values()}


def test_every_pipeline_gets_its_own_dag_file(compile_pipe):
    second = SALES.replace("pipeline sales(", "pipeline sales_copy(").replace(  # own outputs (E0140)
        'param out_dir: str = "out"', 'param out_dir: str = "out/copy"')
    files = compile_pipe(SALES + second.removeprefix(SCHEMAS))
    assert {name: path.name for name, path in files.items()} == {
        "sales": "sales.py", "sales_copy": "sales_copy.py"}
    assert sorted(dagbag(files["sales"].parent).dags) == ["sales", "sales_copy"]


def test_support_files_are_ignored_by_the_dag_processor(compile_pipe):
    dag_file = compile_pipe(SALES)["sales"]
    bag = dagbag(dag_file.parent)
    assert [stat.file for stat in bag.dagbag_stats] == ["sales.py"]
    assert (dag_file.parent / ".airflowignore").read_text().splitlines() == [f"{SUPPORT_DIR}/"]
    # Belt and braces: the files copied into every support folder never say "airflow".
    for copied in (task_io, runtime_contract):
        assert "airflow" not in Path(copied.__file__).read_text().lower(), copied.__name__


HOSTILE = "it's \"\"\" '''\n$x \\ {{ }} {% raw %} __import__('os').system('false')"


def test_hostile_strings_arrive_as_data(compile_pipe, tmp_path):
    hostile = HOSTILE.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    source = SCHEMAS + f'''
"""{hostile.replace('"', "'")}"""
pipeline evil(owner="{hostile}", tags=["{hostile}"]) {{
  param note: str = "{hostile}"
  sales = read_csv("data/{hostile}.csv", schema=Sale)
  sales | write_csv("out/{hostile}.csv")
}}
'''
    dag_file = compile_pipe(source)["evil"]
    dag = dagbag(dag_file.parent).dags["evil"]
    assert dag.params["note"] == HOSTILE
    assert dag.tasks[0].owner == HOSTILE
    assert dag.tags == {HOSTILE} or list(dag.tags) == [HOSTILE]
    assert "__import__('os')" in dag.doc_md
    (asset,) = dag.get_task("commit_outputs").outlets
    assert asset.uri.startswith((tmp_path / "work" / "out").as_uri())


def test_parsing_the_dag_file_imports_no_heavy_library(compile_pipe):
    dag_file = compile_pipe(SALES)["sales"]
    probe = ("import runpy, sys; runpy.run_path(sys.argv[1]); "
             "print(sorted(m for m in ('polars', 'pandas', 'numpy', 'pyspark', 'sklearn', 'pyarrow') "
             "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe, str(dag_file)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_spark_engine_is_one_task_writing_every_asset(compile_pipe, tmp_path):
    dag_file = compile_pipe(SALES, engine="spark")["sales"]
    dag = dagbag(dag_file.parent).dags["sales"]
    (task,) = dag.tasks
    assert task.task_id == "spark_job"
    assert len(task.outlets) == 4
    assert not {"keep_intermediates", "failed_run_retention"} & set(dag.params)
    assert {"storage_root", "cache_retention"} <= set(dag.params)  # where its cache lives, and for how long
    assert (dag_file.parent / SUPPORT_DIR / "sales_spark_job.py").exists()
    assert (dag_file.parent / SUPPORT_DIR / "sales_spark_job_keys.json").exists()


def test_a_param_named_like_an_added_one_is_a_compile_error():
    from pipec.backends.airflow import AirflowBackend
    from pipec.compiler.check import check_source

    source = SALES.replace("param data_dir: str", "param base_dir: str").replace("${data_dir}", "${base_dir}")
    (error,) = AirflowBackend().check_supported(check_source(source).pipelines["sales"])
    assert error.code == "E0602" and "`base_dir`" in error.message


def test_paths_are_set_where_the_dag_is_deployed(tmp_path, monkeypatch):
    """Compiled without --base-dir, a DAG names no path of the compiling machine: it resolves
    against its own folder, or the PIPEC_BASE_DIR / PIPEC_STORAGE_ROOT of where it is parsed."""
    import shutil

    from pipec import plan
    from pipec.backends.airflow import AirflowBackend
    from pipec.compiler.check import check_source

    compiled = tmp_path / "ci" / "dags"
    AirflowBackend().compile(plan(check_source(SALES).pipelines["sales"], backend="airflow"), compiled)
    for generated in compiled.rglob("*.py"):
        assert str(tmp_path) not in generated.read_text(), generated
    deployed = tmp_path / "worker" / "dags"
    shutil.copytree(compiled, deployed)
    shutil.rmtree(compiled)

    def parsed():
        dag = dagbag(deployed).dags["sales"]
        return (dag.params["base_dir"], dag.params["storage_root"],
                sorted(asset.uri for asset in dag.get_task("commit_outputs").outlets))

    base, storage, uris = parsed()
    assert (base, storage) == (str(deployed), str(deployed / ".pipec" / "airflow"))
    assert uris == sorted((deployed / "out" / name).as_uri() for name in
                          ("by_region.csv", "scored.parquet", "metrics.json", "model"))
    monkeypatch.setenv("PIPEC_BASE_DIR", "/srv/sales")
    monkeypatch.setenv("PIPEC_STORAGE_ROOT", "s3://bucket/pipec")
    base, storage, uris = parsed()
    assert (base, storage) == ("/srv/sales", "s3://bucket/pipec")
    assert uris[0] == "file:///srv/sales/out/by_region.csv"
    # the OpenLineage datasets the tasks declare resolve there too, their column lineage included
    declared = [d for task in dagbag(deployed).dags["sales"].tasks for d in task.outlets if not hasattr(d, "uri")]
    assert sorted(d.name for d in declared) == [f"/srv/sales/out/{name}" for name in
                                                ("by_region.csv", "metrics.json", "model", "scored.parquet")]
    assert {f["name"] for d in declared for f in d.facets["columnLineage"]["dataset"]} == \
        {"/srv/sales/data/sales.csv", "/srv/sales/data/regions.csv"}
