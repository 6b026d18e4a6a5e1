"""OpenLineage events: off unless configured as the openlineage-python client is; a job event per
pipeline at compile time, and START/COMPLETE/FAIL for runs with stage child runs, dataset versions
(content digests), row counts and the column-lineage facet; file and HTTP transports. Every event
is validated against the vendored OpenLineage JSON schema."""
from __future__ import annotations

import json
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from openlineage_schema import validate_event

from pipec.cli import main
from pipec.lineage import openlineage

PIPELINE = '''schema Obs { id: int, x: float, late: bool }
"""Keep the rows with x at least min_x."""
pipeline scored() {
  param min_x: float = -10.0
  obs = read_csv("obs.csv", schema=Obs)
  kept = obs | filter(x >= $min_x) | expect(row_count() > 0)
  kept | write_csv("out/kept.csv")
  kept | aggregate(by=[late], n = count(), mean_x = mean(x)) | sort(late) | write_csv("out/summary.csv")
}
'''


def check_event(event: dict) -> None:
    """Valid against the OpenLineage JSON schema (tests/support/openlineage_schema.py), with
    files named as OpenLineage names them: namespace `file`, the absolute path."""
    validate_event(event)
    for dataset in event.get("inputs", []) + event.get("outputs", []):
        assert dataset["namespace"] == "file" and Path(dataset["name"]).is_absolute()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    for name in [n for n in os.environ if n.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIPEC_RUNS_DB", raising=False)
    rows = ["id,x,late"] + [f"{i},{(i * 37 % 101) / 10 - 5:.1f},{'true' if i % 3 else 'false'}" for i in range(60)]
    (tmp_path / "obs.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "p.pipe").write_text(PIPELINE)
    return tmp_path


@pytest.fixture
def file_transport(project, monkeypatch) -> Path:
    log = project / "events.jsonl"
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(log))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")
    return log


def events_in(log: Path) -> list[dict]:
    events = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    for e in events:
        check_event(e)
    return events


def test_nothing_is_sent_unless_configured(project, monkeypatch):
    assert not openlineage.configured()
    (project / "openlineage.yml").write_text("transport:\n  type: console\n")
    assert openlineage.configured()
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert not openlineage.configured()


def test_events_off_take_every_call_a_run_makes_with_events_on():
    """A run talks to the same methods whether events are on or off; a signature that drifted
    apart made every Spark run without OpenLineage an internal error."""
    import inspect

    for name in ("on_event", "completed", "failed"):
        assert inspect.signature(getattr(openlineage._Silent, name)) == \
            inspect.signature(getattr(openlineage.RunEvents, name)), name


@pytest.mark.parametrize("status", [0, 1])
def test_a_spark_run_without_events_ends_with_the_job_s_status(capsys, project, monkeypatch, status):
    """Events off (nothing configured): a finished and a failed Spark job give exit 0 and 1,
    never an internal error."""
    import subprocess

    import pipec.backends.spark.backend as spark

    def job(path, params, workdir, capture=False, events=None, **options):
        assert events is None  # nobody listens: the job reports nothing
        return subprocess.CompletedProcess([], status)

    monkeypatch.setattr(spark, "run_job", job)
    code, _, err = run(capsys, "run", "p.pipe", "--target", "spark", "--no-cache")
    assert code == status, err
    assert "internal error" not in err


def test_compiling_sends_a_job_event_with_schemas_and_column_lineage(capsys, file_transport):
    assert run(capsys, "compile", "p.pipe")[0] == 0
    (event,) = events_in(file_transport)
    assert "run" not in event and event["job"] == {**event["job"], "namespace": "pipec", "name": "scored"}
    assert event["job"]["facets"]["documentation"]["description"] == "Keep the rows with x at least min_x."
    (source,) = event["inputs"]
    assert source["name"] == str(file_transport.parent / "obs.csv")
    assert [f["name"] for f in source["facets"]["schema"]["fields"]] == ["id", "x", "late"]
    summary = next(o for o in event["outputs"] if o["name"].endswith("summary.csv"))
    lineage = summary["facets"]["columnLineage"]
    assert lineage["fields"]["mean_x"]["inputFields"] == [{
        "namespace": "file", "name": source["name"], "field": "x",
        "transformations": [{"type": "DIRECT", "subtype": "AGGREGATION", "description": "", "masking": False}]}]
    assert {(f["field"], t["subtype"]) for f in lineage["dataset"] for t in f["transformations"]} == \
        {("x", "FILTER"), ("late", "GROUP_BY"), ("late", "SORT")}


def test_a_local_run_sends_start_stages_and_complete_with_versions_and_row_counts(capsys, file_transport):
    assert run(capsys, "run", "p.pipe")[0] == 0
    record = json.loads(run(capsys, "runs", "show", "last", "--format", "json")[1])
    events = events_in(file_transport)
    pipeline = [e for e in events if e["job"]["name"] == "scored"]
    stages = [e for e in events if e["job"]["name"] != "scored"]
    assert [e["eventType"] for e in pipeline] == ["START", "COMPLETE"]
    run_id = str(uuid.UUID(record["run_id"]))
    assert {e["run"]["runId"] for e in pipeline} == {run_id}
    assert stages and all(e["run"]["facets"]["parent"]["run"]["runId"] == run_id for e in stages)
    assert {e["eventType"] for e in stages} == {"START", "COMPLETE"}
    complete = pipeline[1]
    (source,) = complete["inputs"]
    assert source["facets"]["version"]["datasetVersion"] == record["inputs"][0]["digest"]
    assert source["inputFacets"]["dataQualityAssertions"]["assertions"] == [
        {"assertion": "row_count() > 0", "success": True, "name": "kept", "params": {}}]
    outputs = {Path(o["name"]).name: o for o in complete["outputs"]}
    digests = {Path(f["path"]).name: f["digest"] for f in record["outputs"]}
    assert {n: o["facets"]["version"]["datasetVersion"] for n, o in outputs.items()} == digests
    assert outputs["kept.csv"]["outputFacets"]["outputStatistics"]["rowCount"] == 60
    assert outputs["summary.csv"]["outputFacets"]["outputStatistics"]["rowCount"] == 2
    params = complete["run"]["facets"]["executionParameters"]["parameters"]
    assert params == [{"key": "min_x", "value": "-10.0"}]


def test_a_failed_run_sends_fail_with_the_error_and_the_failed_expectation(capsys, file_transport):
    assert run(capsys, "run", "p.pipe", "-p", "min_x=100")[0] == 1
    pipeline = [e for e in events_in(file_transport) if e["job"]["name"] == "scored"]
    assert [e["eventType"] for e in pipeline] == ["START", "FAIL"]
    fail = pipeline[1]
    assert "expectation failed" in fail["run"]["facets"]["errorMessage"]["message"]
    (source,) = fail["inputs"]
    assert source["inputFacets"]["dataQualityAssertions"]["assertions"][0]["success"] is False


@pytest.fixture
def receiver():
    """A local OpenLineage HTTP receiver: its URL, and the requests it got ({"path", "body"})."""
    received: list[dict] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append({"path": self.path, "body": json.loads(self.rfile.read(int(self.headers["Content-Length"])))})
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()


def test_events_go_over_http_to_openlineage_url(capsys, project, monkeypatch, receiver):
    url, received = receiver
    monkeypatch.setenv("OPENLINEAGE_URL", url)
    assert run(capsys, "compile", "p.pipe")[0] == 0
    (request,) = received
    assert request["path"] == "/api/v1/lineage"
    check_event(request["body"])
    assert request["body"]["job"]["name"] == "scored"


def test_an_unreachable_receiver_costs_a_warning_not_the_run(capsys, project, monkeypatch):
    """Configured with the client's OPENLINEAGE__TRANSPORT__ variables (no retries, to be quick)."""
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "http")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", "http://127.0.0.1:9")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY", '{"total": 0}')
    code, _, err = run(capsys, "run", "p.pipe")
    assert code == 0 and "warning: OpenLineage event not sent" in err


def test_a_spark_run_sends_start_and_complete_with_versions(capsys, file_transport, monkeypatch):
    """The job itself is replaced by one that writes the outputs (the Spark conformance suite
    runs real jobs); what is tested is the events around it."""
    import subprocess

    import pipec.backends.spark.backend as spark

    def job(path, params, workdir, capture=False, **options):
        (workdir / "out").mkdir(exist_ok=True)
        (workdir / "out/kept.csv").write_text("id,x,late\n1,2.0,true\n")
        (workdir / "out/summary.csv").write_text("late,n,mean_x\ntrue,1,2.0\n")
        return subprocess.CompletedProcess([], 0)

    monkeypatch.setattr(spark, "run_job", job)
    assert run(capsys, "run", "p.pipe", "--target", "spark")[0] == 0
    record = json.loads(run(capsys, "runs", "show", "last", "--format", "json")[1])
    events = events_in(file_transport)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert {e["run"]["runId"] for e in events} == {str(uuid.UUID(record["run_id"]))}
    outputs = {Path(o["name"]).name: o["facets"]["version"]["datasetVersion"] for o in events[1]["outputs"]}
    assert outputs == {Path(f["path"]).name: f["digest"] for f in record["outputs"]}
    assert events[1]["run"]["facets"]["processing_engine"]["name"] == "pipec (spark)"


def test_the_schema_check_rejects_a_bad_facet_and_a_bad_event(capsys, file_transport):
    """The validation is real: a transformation whose `masking` is not a boolean, or
    an event without its run id, is rejected by the vendored schema."""
    import copy

    from jsonschema import ValidationError

    assert run(capsys, "compile", "p.pipe")[0] == 0
    (event,) = events_in(file_transport)
    bad_facet = copy.deepcopy(event)
    summary = next(o for o in bad_facet["outputs"] if o["name"].endswith("summary.csv"))
    summary["facets"]["columnLineage"]["fields"]["mean_x"]["inputFields"][0]["transformations"][0]["masking"] = "no"
    with pytest.raises(ValidationError):
        validate_event(bad_facet)
    bad_event = {**copy.deepcopy(event), "eventType": "COMPLETE", "run": {"facets": {}}}
    with pytest.raises(ValidationError):
        validate_event(bad_event)


def test_a_spark_job_s_reported_stages_become_child_runs_and_its_failed_expectation_an_assertion(
        capsys, file_transport, monkeypatch):
    """What a Spark job reports in $PIPEC_JOB_EVENTS (runtime.JobEvents; written by a real job
    in tests/lineage/test_openlineage_backends.py) is replayed as stage runs, with the job's
    times, and its expectation message marks the `expect` that failed."""
    import subprocess

    import pipec.backends.spark.backend as spark
    from pipec.runtime_contract import JOB_EVENTS_VARIABLE

    def job(path, params, workdir, capture=False, events=None, **options):
        assert events is not None
        lines = [{"event": "stage_started", "stage": "s1", "time": "2026-01-02T03:04:05.000001+00:00"},
                 {"event": "stage_failed", "stage": "s1", "time": "2026-01-02T03:04:06.000001+00:00",
                  "error": "expectation failed: `row_count() > 0` (observed: row_count() = 0)"}]
        events.write_text("".join(json.dumps(line) + "\n" for line in lines))
        return subprocess.CompletedProcess([], 1)

    monkeypatch.setattr(spark, "run_job", job)
    assert run(capsys, "run", "p.pipe", "--target", "spark")[0] == 1
    events = events_in(file_transport)
    assert [(e["eventType"], e["job"]["name"]) for e in events] == [
        ("START", "scored"), ("START", "scored.s1"), ("FAIL", "scored.s1"), ("FAIL", "scored")]
    assert events[1]["eventTime"] == "2026-01-02T03:04:05.000001+00:00"
    assert {e["run"]["facets"]["parent"]["run"]["runId"] for e in events[1:3]} == {events[0]["run"]["runId"]}
    assert "observed: row_count() = 0" in events[2]["run"]["facets"]["errorMessage"]["message"]
    (source,) = events[3]["inputs"]
    assert source["inputFacets"]["dataQualityAssertions"]["assertions"] == [
        {"assertion": "row_count() > 0", "success": False, "name": "kept", "params": {}}]
    assert JOB_EVENTS_VARIABLE not in os.environ


def static_lineage(capsys) -> dict[str, dict[str, set]]:
    """`pipec lineage --format json` as {sink file: {column: {(source file, column, type, subtype)}}}."""
    code, out, _ = run(capsys, "lineage", "p.pipe", "--format", "json")
    assert code == 0
    (pipeline,) = json.loads(out)
    return {Path(sink["path"]).name: {c["name"]: {(Path(i["source"]).name, i["column"], t["type"], t["subtype"])
                                                  for i in c["inputs"] for t in i["transformations"]}
                                      for c in sink["columns"]}
            for sink in pipeline["sinks"]}


def facet_lineage(output: dict) -> dict[str, set]:
    """An output dataset's columnLineage facet in the form of `static_lineage`."""
    return {column: {(Path(f["name"]).name, f["field"], t["type"], t["subtype"])
                     for f in entry["inputFields"] for t in f["transformations"]}
            for column, entry in output["facets"]["columnLineage"]["fields"].items()}


def airflow_task_events(events: list[dict]) -> tuple[dict, list[dict]]:
    """The DAG run's event and its tasks' events, each task a child run of the DAG run."""
    (dag_run,) = [e for e in events if e["job"]["name"] == "scored"]
    tasks = [e for e in events if e["job"]["name"].startswith("scored.")]
    assert tasks and {e["run"]["facets"]["parent"]["run"]["runId"] for e in tasks} == {dag_run["run"]["runId"]}
    return dag_run, tasks


@pytest.mark.airflow
@pytest.mark.slow
def test_airflow_tasks_send_their_declared_lineage_through_the_openlineage_provider(capsys, project, monkeypatch,
                                                                                     receiver):
    """A real `dag.test()` run (`pipec run --target airflow`): apache-airflow-providers-openlineage
    sends each stage task's declared inlets and outlets, with the schema and column-lineage
    facets that `pipec lineage` shows, to a local HTTP receiver."""
    url, received = receiver
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", json.dumps({"type": "http", "url": url}))
    assert run(capsys, "run", "p.pipe", "--target", "airflow")[0] == 0
    events = [r["body"] for r in received]
    for event in events:
        check_event(event)
    _, tasks = airflow_task_events(events)
    complete = {e["job"]["name"]: e for e in tasks if e["eventType"] == "COMPLETE"}
    (source,) = complete["scored.s1_kept"]["inputs"]
    assert source["name"] == str(project / "obs.csv")
    assert [f["name"] for f in source["facets"]["schema"]["fields"]] == ["id", "x", "late"]
    outputs = {Path(o["name"]).name: o for e in complete.values() for o in e["outputs"] if "columnLineage" in o["facets"]}
    assert {n: facet_lineage(o) for n, o in outputs.items()} == static_lineage(capsys)
    assert [f["name"] for f in outputs["summary.csv"]["facets"]["schema"]["fields"]] == ["late", "n", "mean_x"]
    # the commit task publishes the sinks: its Asset outlets, which the provider names the same way
    assert {o["name"] for o in complete["scored.commit_outputs"]["outputs"]} == \
        {str(project / "out/kept.csv"), str(project / "out/summary.csv")}


@pytest.mark.spark
@pytest.mark.airflow
@pytest.mark.slow
def test_one_run_on_each_backend_gives_consistent_schema_valid_events(capsys, project, monkeypatch):
    """The same pipeline run locally, on Spark and on Airflow, each with the client's file
    transport: every event is schema-valid, every stage or task is a child run of its
    pipeline's run, and the datasets and their schema and column-lineage facets are the same
    on every backend (and the files' versions the same locally and on Spark: the same bytes)."""
    by_backend = {}
    for target in ("local", "spark", "airflow"):
        log = project / f"{target}.jsonl"
        monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
        monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(log))
        monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")
        assert run(capsys, "run", "p.pipe", "--target", target)[0] == 0, target
        by_backend[target] = events_in(log)

    def datasets(events: list[dict], direction: str) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for event in events:
            for d in event.get(direction, []):
                if d["facets"].get("schema"):
                    found[d["name"]] = {k: d["facets"][k] for k in ("schema", "columnLineage") if k in d["facets"]}
        return found

    completed = {}
    for target in ("local", "spark"):
        events = by_backend[target]
        pipeline = [e for e in events if e["job"]["name"] == "scored"]
        stages = [e for e in events if e["job"]["name"] != "scored"]
        assert [e["eventType"] for e in pipeline] == ["START", "COMPLETE"], target
        assert {e["run"]["facets"]["parent"]["run"]["runId"] for e in stages} == {pipeline[0]["run"]["runId"]}
        assert {e["eventType"] for e in stages} == {"START", "COMPLETE"}
        completed[target] = pipeline[1]
    _, tasks = airflow_task_events(by_backend["airflow"])
    assert {e["eventType"] for e in tasks} == {"START", "COMPLETE"}
    for direction in ("inputs", "outputs"):
        local = datasets(by_backend["local"], direction)
        assert local and datasets(by_backend["spark"], direction) == local == datasets(tasks, direction), direction
    versions = {target: {o["name"]: (o["facets"]["version"]["datasetVersion"],
                                     o["outputFacets"]["outputStatistics"]["rowCount"])
                         for o in event["outputs"]} for target, event in completed.items()}
    assert versions["spark"] == versions["local"]
@pytest.mark.parametrize("target", ["local", "spark"])
def test_every_target_states_the_run_dates_a_pipeline_reads_as_its_record_does(capsys, file_transport, monkeypatch,
                                                                             target):
    """Local and Spark runs state the same params: the run's dates join them only when a step
    reads them (one rule, `stated_params`, for the record and the events of every target)."""
    import subprocess

    import pipec.backends.spark.backend as spark

    def job(path, params, workdir, capture=False, **options):
        (workdir / "out").mkdir(exist_ok=True)
        (workdir / "out/kept_2013-01-02.csv").write_text("id,x,late\n1,2.0,true\n")
        return subprocess.CompletedProcess([], 0)

    monkeypatch.setattr(spark, "run_job", job)
    file_transport.with_name("p.pipe").write_text(PIPELINE.replace('"out/kept.csv"', '"out/kept_${run.date}.csv"'))
    assert run(capsys, "run", "p.pipe", "--target", target, "--run-date", "2013-01-02")[0] == 0
    record = json.loads(run(capsys, "runs", "show", "last", "--format", "json")[1])
    complete = [e for e in events_in(file_transport) if e["job"]["name"] == "scored"][-1]
    stated = {p["key"]: p["value"] for p in complete["run"]["facets"]["executionParameters"]["parameters"]}
    assert stated["run.date"] == "2013-01-02" and stated.keys() == record["params"].keys()


def test_a_run_records_and_states_the_engine_its_backend_declares(capsys, file_transport, monkeypatch):
    """The engine comes from the backend's capabilities, not from comparing target names."""
    from dataclasses import replace

    import pipec.backends.local as local

    monkeypatch.setattr(local, "CAPABILITIES", replace(local.CAPABILITIES, engine="polars-stand-in"))
    monkeypatch.setattr(local.BACKEND, "capabilities", local.CAPABILITIES)
    assert run(capsys, "run", "p.pipe")[0] == 0
    record = json.loads(run(capsys, "runs", "show", "last", "--format", "json")[1])
    complete = [e for e in events_in(file_transport) if e["job"]["name"] == "scored"][-1]
    assert record["engine"] == "polars-stand-in"
    assert complete["run"]["facets"]["processing_engine"]["name"] == "pipec (polars-stand-in)"
