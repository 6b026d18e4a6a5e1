"""What incremental DAG runs save on Airflow: `pipec run --target airflow` (one `dag.test()` in a
child process, with Airflow's start-up and a freshly migrated metadata DB each time) of the
flight-delay example twice in one working directory: cold (empty cache under the storage root),
then unchanged (every stage task copies its outputs from the cache). Wall time and CPU time
(user + system of pipec and its children).

    .venv/bin/python bench/bench_airflow_incremental.py [--scale 1] [--repeat 1]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "examples" / "flights" / "flight_delays.pipe"


def timed_run(workdir: Path, data_dir: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `pipec run --target airflow`."""
    argv = [sys.executable, "-m", "pipec.cli", "run", str(PIPELINE), "--target", "airflow", "--workdir",
            str(workdir), "-p", f"data_dir={data_dir}", "-p", f"out_dir={workdir / 'out'}"]
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(ROOT), PYTHONPYCACHEPREFIX=str(Path(tempfile.gettempdir()) / "pipec-bench-bytecode"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, cwd=workdir, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    data = ROOT / "data" / ("nycflights13" if args.scale == 1 else f"nycflights13_x{args.scale}")
    if not (data / "flights.csv").exists():
        sys.exit(f"error: {data} is missing: run scripts/get_data.py")
    with tempfile.TemporaryDirectory(prefix="pipec-bench-airflow-") as scratch:
        cold = timed_run(Path(scratch), data)
        unchanged = [timed_run(Path(scratch), data) for _ in range(args.repeat)]
    print("| data | time | cold DAG run | unchanged DAG run | ratio |")
    print("|---|---|---|---|---|")
    for k, kind in enumerate(("wall", "CPU")):
        again = statistics.median(run[k] for run in unchanged)
        print(f"| {args.scale}x | {kind} | {cold[k]:.2f} s | {again:.2f} s | {again / cold[k]:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
