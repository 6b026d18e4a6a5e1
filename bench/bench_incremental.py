"""What incremental reruns save: `pipec run` of the flight-delay example, cold (empty cache), then
unchanged (every stage reused), then with one param changed (`seed`: the split, the model and
everything after it rerun; reading and joining the sources is reused), in a fresh working
directory per data size, with the run store on (the default). Wall time of the `pipec` process;
reruns are repeated and their median reported, each param change with a new seed.

    .venv/bin/python bench/bench_incremental.py [--scales 1 10] [--repeat 3]

The 10x data comes from `scripts/scale_flights.py 10` (data/nycflights13_x10).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "examples" / "flights" / "flight_delays.pipe"


def timed_run(workdir: Path, data_dir: str, *params: str) -> float:
    argv = [sys.executable, "-m", "pipec.cli", "run", str(PIPELINE), "--workdir", str(workdir),
            "-p", f"data_dir={data_dir}", "-p", f"out_dir={workdir / 'out'}", *(a for p in params for a in ("-p", p))]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    subprocess.run(argv, cwd=workdir, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(scale: int, repeat: int) -> dict[str, float]:
    data = ROOT / "data" / ("nycflights13" if scale == 1 else f"nycflights13_x{scale}")
    if not (data / "flights.csv").exists():
        sys.exit(f"error: {data} is missing: run scripts/get_data.py" + (
            f" and scripts/scale_flights.py {scale}" if scale > 1 else ""))
    with tempfile.TemporaryDirectory(prefix="pipec-bench-incremental-") as scratch:
        workdir = Path(scratch)
        cold = timed_run(workdir, str(data))
        unchanged = [timed_run(workdir, str(data)) for _ in range(repeat)]
        one_param = [timed_run(workdir, str(data), f"seed={43 + k}") for k in range(repeat)]
    return {"cold": cold, "unchanged": statistics.median(unchanged), "one_param": statistics.median(one_param)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("| data | cold run | unchanged rerun | ratio | one param changed (seed) | ratio |")
    print("|---|---|---|---|---|---|")
    for scale in args.scales:
        t = measure(scale, args.repeat)
        print(f"| {scale}x | {t['cold']:.2f} s | {t['unchanged']:.2f} s | {t['unchanged'] / t['cold']:.1%} "
              f"| {t['one_param']:.2f} s | {t['one_param'] / t['cold']:.1%} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
