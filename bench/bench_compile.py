"""Front-end speed: `pipec check` wall time on the flights example (a fresh process each time,
interpreter start included) and compile time (parse + check + IR + optimize) of generated
pipelines of 100, 1,000 and 10,000 steps, to show that growth is linear.

Fresh processes are timed with Python's bytecode cached (in a temporary PYTHONPYCACHEPREFIX, as
after `pip install`) and, for comparison, as the environment has it (PYTHONDONTWRITEBYTECODE set
means every module is compiled from source in every process). CPU seconds are printed beside
wall seconds because CPU time barely moves when other processes share the machine.

Run: .venv/bin/python bench/bench_compile.py [--runs N] [--steps 100,1000,10000]
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
EXAMPLE = ROOT / "examples" / "flights" / "flight_delays.pipe"
CHECK = [sys.executable, "-m", "pipec.cli", "check", str(EXAMPLE)]
BARE = [sys.executable, "-c", "pass"]


def fresh_process_times(cmd: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    """Median wall and CPU (user + system) seconds of `cmd` as a fresh process."""
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT, env=env)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(wall), statistics.median(cpu)


def check_wall_time(runs: int) -> None:
    with tempfile.TemporaryDirectory() as cache:
        cached = dict(os.environ, PYTHONPYCACHEPREFIX=cache)
        subprocess.run(CHECK, check=True, capture_output=True, cwd=ROOT,
                       env=dict(cached, PYTHONDONTWRITEBYTECODE=""))  # fills the bytecode cache
        settings = [("bytecode cached", cached), ("environment as is", dict(os.environ))]
        for label, env in settings:
            check_wall, check_cpu = fresh_process_times(CHECK, runs, env)
            bare_wall, _ = fresh_process_times(BARE, runs, env)
            print(f"pipec check flight_delays.pipe ({label}): median {check_wall * 1000:.0f} ms wall, "
                  f"{check_cpu * 1000:.0f} ms CPU (python -c pass: {bare_wall * 1000:.0f} ms)")


def generated_pipeline(steps: int) -> str:
    """A pipeline of `steps` steps: chains of derive/filter/select over one source, each chain
    written to its own sink, so that every step is live."""
    lines = ["pipeline generated() {", '  src = read_csv("in.csv", schema={a: int, b: float, c: str})']
    chain_len = 10
    for k in range(steps // chain_len):
        body = [f"  t{k} = src"]
        for i in range(chain_len - 2):
            body.append(f"    | derive(x{i} = a * {i + 1} + b)" if i % 2 == 0 else f"    | filter(b > {i}.5)")
        body.append(f"    | select(a, b, c, y = x0 + {k})")
        lines += body + [f'  t{k} | write_csv("out/t{k}.csv")']
    lines.append("}")
    return "\n".join(lines) + "\n"


def compile_time(steps: int) -> tuple[float, float, float, float]:
    """Seconds to parse, to check (parse included, as `check_source` does both) and to optimize,
    and the CPU seconds of checking and optimizing."""
    from pipec.compiler.check import check_source
    from pipec.compiler.passes import optimize
    from pipec.grammar import parse_source

    text = generated_pipeline(steps)
    start = time.perf_counter()
    parse_source(text, "generated.pipe")
    parsed = time.perf_counter()
    cpu = time.process_time()
    program = check_source(text, "generated.pipe")
    checked = time.perf_counter()
    assert program.ok, program.diagnostics[:3]
    optimize(program.pipelines["generated"])
    return parsed - start, checked - parsed, time.perf_counter() - checked, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per timing (median)")
    parser.add_argument("--steps", default="100,1000,10000", help="pipeline sizes, comma-separated")
    args = parser.parse_args()
    check_wall_time(args.runs)
    compile_time(10)  # imports and the parser tables are not part of a pipeline's compile time
    previous: tuple[int, float] | None = None
    for steps in map(int, args.steps.split(",")):
        runs = [compile_time(steps) for _ in range(3 if steps <= 1000 else 1)]
        parse, check, opt, cpu = (statistics.median(r[k] for r in runs) for k in range(4))
        seconds = check + opt
        growth = (f", x{seconds / previous[1]:.1f} for x{steps / previous[0]:g} the steps"
                  if previous else "")
        print(f"compile {steps:>6} steps: {seconds:.2f} s = check {check:.2f} s (of which parse {parse:.2f} s)"
              f" + optimize {opt:.2f} s; {cpu:.2f} s CPU ({seconds / steps * 1e6:.0f} us/step{growth})")
        previous = steps, seconds


if __name__ == "__main__":
    main()
