"""Run a generated DAG once, as `pipec run --target airflow` does: `dag.test()` in a child process
against a throwaway metadata DB, then report success, or the failing task and its error.

The child process is needed because Airflow reads its configuration (home, DAGs folder) once,
when it is first imported; each run points it at the folder of the DAG it runs.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from pipec.backends.airflow.task_io import BASE_DIR_PARAM, FAILURE_MARK
from pipec.backends.scratch import scratch_folder

RESULT_MARK = "PIPEC-DAG-TEST-RESULT "  # starts the child's one-line JSON summary
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Failed|Failure)): (.+)$", re.M)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LOGGER_SUFFIX = re.compile(r"\s+\[[\w.]+\](\s+\w+=\S+)*\s*$")  # "[pipec.task] loc=file.py:12"


@dataclass
class DagRunResult:
    """The outcome of one DAG run; `error` is the failing task's error message in one line."""

    ok: bool
    state: str
    task_states: dict[str, str] = field(default_factory=dict)
    # a mapped task's instances: task id -> [(its label in the grid view, state)] in map index order
    mapped_states: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    failed_tasks: list[str] = field(default_factory=list)
    error: str | None = None
    log: str = ""


def airflow_environment(airflow_home: Path, dags_folder: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, AIRFLOW_HOME=str(airflow_home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    if dags_folder is not None:
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
    return env


def migrate_metadata_db(airflow_home: Path) -> None:
    """Create (or upgrade) the SQLite metadata DB in `airflow_home` (about 4 s)."""
    airflow = Path(sys.executable).with_name("airflow")
    command = [str(airflow)] if airflow.exists() else [sys.executable, "-m", "airflow"]
    done = subprocess.run([*command, "db", "migrate"], env=airflow_environment(airflow_home),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"`airflow db migrate` failed in {airflow_home}:\n{done.stdout}{done.stderr}")


def run_dag_file(dag_file: str | os.PathLike, params: dict[str, Any] | None = None,
            workdir: str | os.PathLike | None = None, *, airflow_home: Path | None = None,
            timeout: float | None = None, scratch_locks: Sequence[int] = (),
            logical_date: str | None = None) -> DagRunResult:
    """Run the DAG in `dag_file` once with `dag.test(run_conf=...)`.

    `params` override the DAG's params; `workdir`, when given, is where relative source and sink
    paths resolve (the `base_dir` param); `logical_date` (ISO text) is the run's logical date, which
    with the DAG's timetable sets its `run.*` values (default: now). Without `airflow_home` a
    temporary one is created and migrated for this run alone. `scratch_locks` are the locks of
    other scratch folders the child works in (pipec.backends.scratch): it holds them, so that they
    outlive this process if it is killed while the child runs on.
    """
    dag_file = Path(dag_file).resolve()
    conf = dict(params or {})
    if workdir is not None:
        conf[BASE_DIR_PARAM] = str(Path(workdir).resolve())
    with scratch_folder("airflow") as scratch:
        if airflow_home is None:
            airflow_home = scratch.path
            migrate_metadata_db(airflow_home)
        output = _run_child(
            [sys.executable, "-m", "pipec.backends.airflow.dag_test_child", str(dag_file), json.dumps(conf),
             *([logical_date] if logical_date else [])],
            airflow_environment(airflow_home, dag_file.parent), timeout, (scratch.lock_fd, *scratch_locks))
    return _result(_ANSI.sub("", output))


def _run_child(command: list[str], env: dict[str, str], timeout: float | None,
               scratch_locks: Sequence[int]) -> str:
    """Run the `dag.test()` child in a session of its own and return its output. However this
    ends (Ctrl-C, SIGTERM, a timeout), the child and every process it started are stopped before
    the caller removes the scratch folder they work in."""
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True, pass_fds=scratch_locks) as child:
        try:
            output, _ = child.communicate(timeout=timeout)
        except BaseException:
            _stop_session(child)
            raise
    return output


def _stop_session(child: subprocess.Popen) -> None:
    """SIGTERM to the child's whole session (tasks get to finish a commit), SIGKILL after 10 s."""
    for number, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, None)):
        try:
            os.killpg(child.pid, number)
        except ProcessLookupError:
            return
        try:
            child.communicate(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _result(log: str) -> DagRunResult:
    summary = next((line[len(RESULT_MARK):] for line in reversed(log.splitlines())
                    if line.startswith(RESULT_MARK)), None)
    if summary is None:
        return DagRunResult(ok=False, state="not started", error=_error_in(log), log=log)
    data = json.loads(summary)
    failed = [t for t, s in data["task_states"].items() if s == "failed"]
    ok = data["state"] == "success"
    return DagRunResult(ok=ok, state=data["state"], task_states=data["task_states"],
                        mapped_states={t: [tuple(i) for i in instances]
                                       for t, instances in data.get("mapped_states", {}).items()},
                        failed_tasks=failed, error=None if ok else _error_in(log), log=log)


def _error_in(log: str) -> str:
    """The clearest one-line error in a run's log: the stage failure pipec logged, else the last
    exception line of a traceback, else the last line."""
    for line in reversed(log.splitlines()):
        if FAILURE_MARK in line:
            message = line[line.index(FAILURE_MARK) + len(FAILURE_MARK):]
            return _LOGGER_SUFFIX.sub("", message).strip()
    exceptions = _EXCEPTION_LINE.findall(log)
    if exceptions:  # e.g. Airflow rejecting a run conf value: "ParamValidationError: Invalid input ..."
        name, message = exceptions[-1]
        return f"{name.rsplit('.', 1)[-1]}: {message}"
    return log.strip().splitlines()[-1] if log.strip() else "no output"
