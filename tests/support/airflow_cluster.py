"""A real Airflow 3 deployment for the tests: `airflow db migrate`, then the API server and the DAG
processor and, once the API server answers, the scheduler (LocalExecutor), as separate processes
sharing a PostgreSQL metadata database (tests/support/postgres.py) and a temporary AIRFLOW_HOME;
the tests drive it through the REST API (authentication off).

Each process runs in a session of its own, so `stop()` ends it and every process it started
(executor workers, task supervisors, tasks) with one `killpg`. `report()` is the text to print
when a test fails: the tail of each process's log and of every task log.

    cluster = AirflowCluster(tmp_path / "airflow", dags_folder, metadata_db_url).start()
    try:
        run_id = cluster.trigger("my_dag", logical_date="2013-01-02T00:00:00Z", conf={"n": 3})
        assert cluster.wait_for_runs("my_dag", [run_id])[run_id]["state"] == "success"
    finally:
        cluster.stop()
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

PROCESSES = ("api-server", "dag-processor", "scheduler")
FINISHED = frozenset({"success", "failed"})
JWT_SECRET = "pipec-tests-only"  # the API server signs the tasks' tokens with it; local and throwaway


class AirflowCluster:
    def __init__(self, home: Path, dags_folder: Path, database_url: str, parallelism: int = 4) -> None:
        self.home = Path(home)
        self.dags_folder = Path(dags_folder)
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = dict(
            os.environ,
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM=str(parallelism),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.base_url}/execution/",
            AIRFLOW__API__BASE_URL=self.base_url,
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API_AUTH__JWT_SECRET=JWT_SECRET,
            # the scheduler serves task logs on this port (8793 by default: two deployments would clash)
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(_free_port()),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlalchemy_url(database_url),
            # Airflow derives its async URL as postgresql+asyncpg, which is not installed
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC=sqlalchemy_url(database_url),
            # find new DAG files within seconds, not minutes, and re-parse them rarely (CPU is scarce)
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="3",
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="60",
            AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="1",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
            # on a loaded 2-core machine the API server may take a while to answer a task
            AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT="60",
        )
        self.home.mkdir(parents=True, exist_ok=True)

    # -- life cycle
    def start(self, timeout: float = 180) -> "AirflowCluster":
        """Migrate the metadata database, start the API server and, once it answers, the DAG
        processor and the scheduler (a task the scheduler starts before the API server is up
        fails at once, retries and all)."""
        done = subprocess.run(self._airflow("db", "migrate"), env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"`airflow db migrate` failed:\n{done.stdout[-4000:]}{done.stderr[-4000:]}")
        self._start("api-server")
        self._start("dag-processor")
        self.wait(lambda: self._health(), timeout, "the API server to answer")
        self._start("scheduler")
        return self

    def stop(self, grace: float = 5) -> None:
        """SIGTERM to each process group, SIGKILL to what is left after `grace` seconds."""
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(process, signal.SIGKILL)  # the group: also workers the leader left behind
            process.wait()

    def log_path(self, process: str) -> Path:
        return self.home / f"{process}.log"

    def report(self, lines: int = 60) -> str:
        """The tail of every process log and task log, for a failed test's output."""
        parts = []
        logs = [self.log_path(name) for name in PROCESSES]
        logs += sorted((self.home / "logs").rglob("*.log")) if (self.home / "logs").exists() else []
        for path in logs:
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"===== {path.relative_to(self.home)}\n" + "\n".join(tail))
        return "\n".join(parts)

    # -- the REST API (authentication is off: every caller is an admin)
    def api(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        request = urllib.request.Request(
            f"{self.base_url}/api/v2/{path.lstrip('/')}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path} -> {exc.code}: {exc.read().decode(errors='replace')}") from None

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 90) -> None:
        """Until the DAG processor has parsed every DAG in `dag_ids`; an import error fails at once."""
        def parsed() -> bool:
            errors = self.api("GET", "importErrors")["import_errors"]
            if errors:
                raise AssertionError("import errors: " + json.dumps(errors, indent=1))
            known = {d["dag_id"] for d in self.api("GET", "dags?limit=100")["dags"]}
            return set(dag_ids) <= known
        self.wait(parsed, timeout, f"the DAG processor to parse {dag_ids}")

    def trigger(self, dag_id: str, *, logical_date: str | None, conf: dict[str, Any] | None = None,
                run_id: str | None = None) -> str:
        body = {"logical_date": logical_date, "conf": conf or {}}
        if run_id is not None:
            body["dag_run_id"] = run_id
        return self.api("POST", f"dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"dags/{dag_id}/dagRuns?limit=100&order_by=logical_date")["dag_runs"]

    def wait_for_runs(self, dag_id: str, run_ids: list[str], timeout: float = 180) -> dict[str, dict[str, Any]]:
        """Until every run in `run_ids` has finished; returns them by run id."""
        def finished() -> dict[str, dict[str, Any]] | None:
            runs = {r["dag_run_id"]: r for r in self.runs(dag_id) if r["dag_run_id"] in run_ids}
            return runs if len(runs) == len(set(run_ids)) and all(r["state"] in FINISHED for r in runs.values()) else None
        return self.wait(finished, timeout, f"the runs {run_ids} of {dag_id} to finish")

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        found = self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
        return {ti["task_id"]: ti for ti in found}

    # -- helpers
    def _start(self, name: str) -> None:
        with open(self.log_path(name), "wb") as log:
            self.processes[name] = subprocess.Popen(
                self._airflow(name), env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.home,
                start_new_session=True)

    def _airflow(self, *arguments: str) -> list[str]:
        airflow = Path(sys.executable).with_name("airflow")
        return [str(airflow) if airflow.exists() else sys.executable, *([] if airflow.exists() else ["-m", "airflow"]),
                *arguments]

    def _health(self) -> bool:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"`airflow {name}` exited ({process.returncode}):\n{self.report()}")
        try:
            with urllib.request.urlopen(f"{self.base_url}/api/v2/monitor/health", timeout=5):
                return True
        except OSError:
            return False

    def wait(self, ready, timeout: float, what: str):
        """Until `ready()` returns something true (which is returned); TimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = ready()
            if value:
                return value
            time.sleep(1)
        raise TimeoutError(f"waited {timeout:.0f}s for {what}")


def sqlalchemy_url(url: str) -> str:
    """A `postgresql://` URL with the psycopg 3 driver (sync and async alike)."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _signal_group(process: subprocess.Popen, number: int) -> None:
    try:
        os.killpg(process.pid, number)
    except ProcessLookupError:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
