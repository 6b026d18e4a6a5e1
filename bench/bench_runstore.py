"""What recording a run costs: `pipec run` of the flights example with the run store on (the
default SQLite store in .pipec/) and off (PIPEC_RUNS_DB=off), alternately: median wall time and
median CPU time (user + system of the `pipec` process, steadier than wall time on a busy machine),
and, measured in-process, how long the end of a run waits for its record to be written.

    .venv/bin/python bench/bench_runstore.py [--repeat 5] [--file examples/flights/flight_delays.pipe]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed_run(file: str, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `pipec run`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipec.cli", "run", file], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def closing_seconds(file: str, repeat: int) -> list[float]:
    """How long `RunRecorder.close` (waiting for the record's opening, then writing the nodes,
    files and metrics) takes at the end of each of `repeat` in-process runs."""
    from pipec.cli import main
    from pipec.runs.record import RunRecorder

    spent: list[float] = []
    close = RunRecorder.close

    def timed_close(self, *args, **kwargs):
        started = time.perf_counter()
        close(self, *args, **kwargs)
        spent.append(time.perf_counter() - started)

    RunRecorder.close = timed_close
    os.chdir(ROOT)
    for _ in range(repeat):
        main(["run", file])
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--file", default="examples/flights/flight_delays.pipe")
    args = parser.parse_args(argv)
    base = {**os.environ, "PYTHONPATH": str(ROOT)}
    base.pop("PIPEC_RUNS_DB", None)
    timings: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    timed_run(args.file, base)  # warm the file system cache and the stat cache of the inputs
    for _ in range(args.repeat):
        timings["off"].append(timed_run(args.file, {**base, "PIPEC_RUNS_DB": "off"}))
        timings["on"].append(timed_run(args.file, base))
    print(f"{args.file}, median of {args.repeat} runs each, alternating:")
    for kind, index in (("wall", 0), ("CPU", 1)):
        off = statistics.median(t[index] for t in timings["off"])
        on = statistics.median(t[index] for t in timings["on"])
        print(f"  {kind:<4} recording off {off:6.2f}s  on {on:6.2f}s  difference {on - off:+.2f}s ({(on - off) / off:+.1%})")
    closing = closing_seconds(args.file, args.repeat)
    print(f"  the end of a run waits for its record: median {statistics.median(closing) * 1000:.0f} ms "
          f"(max {max(closing) * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
