"""Task count and `dag.test()` wall time of the Airflow DAG of every example pipeline, at one
task granularity (the pipeline option `tasks`: unset, "fine" or "coarse").

Run it once per code version to compare them, e.g. before/after a planning change:

    PYTHONPATH=/path/to/old/checkout python bench/airflow_tasks.py --label before
    PYTHONPATH=$PWD python bench/airflow_tasks.py --label after
    PYTHONPATH=$PWD python bench/airflow_tasks.py --label coarse --tasks coarse

Each line printed is one JSON record: example, pipeline, label, tasks (stage tasks plus the
commit and clean-up tasks), seconds (one `dag.test()` in a child process, including Airflow's
start-up), cpu_seconds (user+system time of that child and its children: what the run costs,
less sensitive than the wall time to other work on a shared machine) and ok. pipec is imported from PYTHONPATH, so the same script measures any version.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ["examples/flights/flight_delays.pipe", "examples/flights/carrier_report.pipe",
            "examples/flights/weather_delays.pipe", "examples/penguins/species.pipe"]
EXTRA_TASKS = 2  # commit_outputs and clean_up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="names this code version in the records")
    parser.add_argument("--tasks", choices=["fine", "coarse"], help="the pipeline option `tasks`")
    parser.add_argument("--no-run", action="store_true", help="count tasks only")
    args = parser.parse_args()

    import pipec
    from pipec.backends.airflow import AirflowBackend
    from pipec.backends.airflow.run import migrate_metadata_db, run_dag_file

    scratch = Path(tempfile.mkdtemp(prefix="pipec-bench-tasks-"))
    work = scratch / "work"
    work.mkdir()
    (work / "data").symlink_to(ROOT / "data")
    home = scratch / "airflow-home"
    if not args.no_run:
        migrate_metadata_db(home)
    try:
        for example in EXAMPLES:
            for name, ir in pipec.load(ROOT / example).pipelines.items():
                if args.tasks:
                    ir.options = ir.options.model_copy(update={"tasks": args.tasks})
                plan = pipec.plan(ir, backend="airflow")
                out = scratch / "dags" / name
                out.mkdir(parents=True)
                dag_file = AirflowBackend(base_dir=work, storage_root=str(scratch / "storage")).compile(plan, out)[0]
                record = {"example": example, "pipeline": name, "label": args.label,
                          "tasks": len(plan.stages) + EXTRA_TASKS}
                if not args.no_run:
                    started, cpu = time.perf_counter(), _children_cpu()
                    result = run_dag_file(dag_file, workdir=work, airflow_home=home)
                    record.update(seconds=round(time.perf_counter() - started, 1),
                                  cpu_seconds=round(_children_cpu() - cpu, 1), ok=result.ok)
                print(json.dumps(record), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
