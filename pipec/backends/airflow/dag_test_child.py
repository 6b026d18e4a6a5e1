"""The child process of `run_dag_file`: import a DAG file, run it once with `dag.test()`, and
print a one-line JSON summary (after Airflow's own log) for the parent to read.

Usage: python -m pipec.backends.airflow.dag_test_child DAG_FILE CONF_JSON [LOGICAL_DATE]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pipec.backends.airflow.run import RESULT_MARK
from pipec.runtime_contract import parse_run_time


def run_once(dag_file: Path, conf: dict[str, Any], logical_date: str | None = None) -> None:
    """Import the DAG file, run it once (for `logical_date`, ISO text, when given: else now, as
    `dag.test()` does), print the summary line.

    Retries are turned off: `dag.test()` would wait out every retry delay, and a run from the
    command line should report the first failure at once.
    """
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"pipec_dag_{dag_file.stem}", dag_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag_object
    for task in dag.tasks:
        task.retries = 0
    dag_run = dag.test(run_conf=conf, **({"logical_date": parse_run_time(logical_date)} if logical_date else {}))
    instances = sorted(dag_run.get_task_instances(), key=lambda ti: (ti.task_id, ti.map_index))
    states: dict[str, str] = {}  # a mapped task: failed when one of its instances failed
    mapped: dict[str, list[tuple[str, str]]] = {}
    for ti in instances:
        if states.get(ti.task_id) != "failed":
            states[ti.task_id] = str(ti.state)
        if ti.map_index >= 0:
            mapped.setdefault(ti.task_id, []).append((ti.rendered_map_index or str(ti.map_index), str(ti.state)))
    print(RESULT_MARK + json.dumps({"state": str(dag_run.state), "task_states": states, "mapped_states": mapped}),
          flush=True)


if __name__ == "__main__":
    run_once(Path(sys.argv[1]), json.loads(sys.argv[2]), *sys.argv[3:4])
