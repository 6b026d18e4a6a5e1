"""Front-end speed: `pipec check` wall time on the flights example (a fresh process each time,
interpreter start included) and compile time (parse + check + IR + optimize) of generated
pipelines of 100, 1,000 and 10,000 steps, to show that growth is linear.

Run: .venv/bin/python bench/bench_compile.py
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "flights" / "flight_delays.pipe"


def check_wall_time(runs: int = 15) -> tuple[float, float]:
    """Median seconds of `pipec check` and of a bare `python -c pass`, both fresh processes."""
    def median_of(cmd: list[str]) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return (median_of([sys.executable, "-m", "pipec.cli", "check", str(EXAMPLE)]),
            median_of([sys.executable, "-c", "pass"]))


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


def compile_time(steps: int) -> float:
    from pipec.compiler.check import check_source
    from pipec.compiler.passes import optimize

    text = generated_pipeline(steps)
    start = time.perf_counter()
    program = check_source(text, "generated.pipe")
    assert program.ok, program.diagnostics[:3]
    optimize(program.pipelines["generated"])
    return time.perf_counter() - start


def main() -> None:
    check, bare = check_wall_time()
    print(f"pipec check flight_delays.pipe: median {check * 1000:.0f} ms "
          f"(python -c pass: {bare * 1000:.0f} ms)")
    previous = None
    for steps in (100, 1_000, 10_000):
        seconds = compile_time(steps)
        growth = f", x{seconds / previous:.1f} for 10x the steps" if previous else ""
        print(f"compile {steps:>6} steps: {seconds:.2f} s ({seconds / steps * 1e6:.0f} us/step{growth})")
        previous = seconds


if __name__ == "__main__":
    main()
