"""Cache placement on a reuse-heavy pipeline: bench/pipelines/reuse.pipe on the 10x flights data.

Variants, each run in a fresh process (so that peak memory is its own `ru_maxrss`):
- `O0`: no optimisation (every node its own stage, nothing cached);
- `O1`: full optimisation, first compile (guessed estimates), default memory budget;
- `shared`: the O1 graph, but every table with more than one consumer cached (in plan order);
- `O1-small` / `shared-small`: the same two under a memory budget too small to cache everything:
  greedy by saving per byte vs every shared table that still fits, in plan order;
- `O1-stats`: O1 compiled again with the statistics the `O1` run recorded.
All variants must write the same outputs (checked before any time is reported; see `same_outputs`). The time is the
wall time of `run_plan` (compile excluded), and the CPU time of the whole process (less sensitive
to other work on a busy machine); the report gives medians of `--runs` repetitions, run
interleaved so that a busy machine slows every variant alike.

Run: .venv/bin/python scripts/scale_flights.py 10 && .venv/bin/python bench/bench_reuse.py
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "bench" / "pipelines" / "reuse.pipe"
VARIANTS = ("O0", "O1", "shared", "O1-small", "shared-small", "O1-stats")


# ------------------------------------------------------------------ one run (child process)
def build_plan(variant: str, workdir: Path, params: dict, small_budget: int):
    from pipec.compiler.check import check_file
    from pipec.compiler.passes import optimize

    (ir,) = check_file(PIPELINE).pipelines.values()
    if variant == "O0":
        return optimize(ir, level=0)
    budget = small_budget if variant.endswith("-small") else None
    plan = optimize(ir, workdir=workdir, params=params, memory_budget=budget)
    if variant.startswith("shared"):
        plan = cache_every_shared_table(plan, workdir, params, budget)
    return plan


def cache_every_shared_table(plan, workdir: Path, params: dict, budget: int | None):
    """The plan's graph with every table read by more than one node cached, in plan order, as
    long as it fits the budget (the strategy greedy placement is compared with)."""
    from pipec.compiler.cost import default_memory_budget, estimate
    from pipec.compiler.passes import fusion
    from pipec.compiler.plan import CacheDecision
    from pipec.compiler.stats import Statistics
    from pipec.compiler.types import TableType

    ir = plan.ir
    estimates = estimate(ir, stats=Statistics.load(ir.pipeline, workdir), params=params, workdir=workdir)
    left = default_memory_budget() if budget is None else budget
    cached = []
    for node in ir.nodes():
        readers = len(ir.consumers(node.id))
        size = max(1, round(estimates[node.id].bytes))
        if isinstance(node.output, TableType) and readers > 1 and size <= left:
            cached.append(CacheDecision(node=node.id, runs=readers, seconds_saved=0.0, bytes=size))
            left -= size
    stages = fusion(ir, backend="local", cached={c.node for c in cached})
    return plan.model_copy(update={"cached": cached, "stages": stages, "records": []})


def child(args) -> None:
    from pipec.backends.local.runner import run_plan

    params = {"data_dir": str(args.data), "out_dir": str(args.out)}
    plan = build_plan(args.child, args.workdir, params, args.small_budget)
    started = time.perf_counter()
    run_plan(plan, params, args.workdir)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "statistics": plan.statistics,
                      "cached": sorted(plan.ir.node(c.node).binding or c.node for c in plan.cached)}))


# ------------------------------------------------------------------ the benchmark (parent)
def run_child(variant: str, workdir: Path, out: Path, data: Path, small_budget: int) -> dict:
    command = [sys.executable, __file__, "--child", variant, "--workdir", str(workdir), "--out", str(out),
               "--data", str(data), "--small-budget", str(small_budget)]
    with tempfile.TemporaryFile("w+") as stdout:
        process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        stderr = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        text = stdout.read()
    if process.returncode != 0:
        sys.exit(f"{variant} failed:\n{stderr}")
    result = json.loads(text.splitlines()[-1])
    result["peak_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    result["cpu"] = usage.ru_utime + usage.ru_stime  # the whole process, interpreter start included
    return result


def default_small_budget(data: Path) -> int:
    """Room for what greedy placement keeps with a large budget, with a quarter to spare: far less
    than every table read more than once."""
    from pipec.compiler.check import check_file
    from pipec.compiler.passes import optimize

    (ir,) = check_file(PIPELINE).pipelines.values()
    with tempfile.TemporaryDirectory() as empty:
        plan = optimize(ir, workdir=empty, params={"data_dir": str(data)})
    return int(sum(c.bytes for c in plan.cached) * 1.25)


def outputs(directory: Path) -> dict[str, object]:
    import polars as pl

    found = {}
    for path in sorted(directory.iterdir()):
        if path.suffix == ".csv":
            frame = pl.read_csv(path)
            found[path.name] = frame.sort(frame.columns)
        elif path.suffix == ".json":
            found[path.name] = json.loads(path.read_text())
    return found


def same_outputs(a: dict, b: dict) -> list[str]:
    """The names of the outputs that differ (floats compared to 1e-9 relative: sums may be added
    up in another order). The pipeline sorts the training rows, because lbfgs stopped after
    `max_iter` lands somewhere that depends on their order, which a join does not fix."""
    from polars.testing import assert_frame_equal

    differ = [name for name in a.keys() ^ b.keys()]
    for name in a.keys() & b.keys():
        if isinstance(a[name], dict):
            if a[name].keys() != b[name].keys() or not all(
                    math.isclose(a[name][k], b[name][k], rel_tol=1e-9) for k in a[name]):
                differ.append(name)
        else:
            try:
                assert_frame_equal(a[name], b[name], check_exact=False, rel_tol=1e-9)
            except AssertionError:
                differ.append(name)
    return differ


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "nycflights13_x10")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--small-budget", type=int, help="bytes (default: see default_small_budget)")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    if not (args.data / "flights.csv").exists():
        sys.exit(f"{args.data}/flights.csv is missing: run scripts/scale_flights.py 10 first")
    small = args.small_budget or default_small_budget(args.data)
    print(f"data {args.data}, {args.runs} runs per variant, small budget {small / 2**20:.0f} MiB", flush=True)
    results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    scratch = Path(tempfile.mkdtemp(prefix="bench_reuse_"))
    try:
        reference = None
        for run in range(args.runs):
            for variant in VARIANTS:
                # O1-stats runs where the O1 run of the same repetition recorded its statistics
                workdir = scratch / f"work{run}-{'O1' if variant == 'O1-stats' else variant}"
                workdir.mkdir(exist_ok=True)
                out = scratch / f"out{run}-{variant}"
                result = run_child(variant, workdir, out, args.data, small)
                written = outputs(out)
                reference = reference or written
                differ = same_outputs(reference, written)
                if differ:
                    sys.exit(f"{variant} wrote different outputs than O0: "
                             + "; ".join(f"{d}: {reference.get(d)} vs {written.get(d)}" for d in differ))
                shutil.rmtree(out)
                results[variant].append(result)
                print(f"  run {run + 1} {variant:<13} {result['seconds']:7.2f} s  {result['cpu']:7.2f} s cpu"
                      f"  {result['peak_mb']:7.0f} MiB"
                      f"  cached: {', '.join(result['cached']) or '-'}", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(report(results))
    return 0


def report(results: dict[str, list[dict]]) -> str:
    median = {v: statistics.median(r["seconds"] for r in rs) for v, rs in results.items()}
    cpu = {v: statistics.median(r["cpu"] for r in rs) for v, rs in results.items()}
    lines = ["| variant | median wall s | vs O0 | median CPU s | vs O0 | peak MiB (max) | cached |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for variant, runs in results.items():
        lines.append(f"| {variant} | {median[variant]:.2f} | {median['O0'] / median[variant]:.2f}x "
                     f"| {cpu[variant]:.2f} | {cpu['O0'] / cpu[variant]:.2f}x "
                     f"| {max(r['peak_mb'] for r in runs):.0f} | {', '.join(runs[-1]['cached']) or '-'} |")
    lines += ["", f"- optimised vs -O0: {median['O0'] / median['O1']:.2f}x faster",
              f"- big budget, greedy vs cache every shared table: {median['shared'] / median['O1']:.2f}x",
              f"- small budget, greedy vs shared tables that fit in order: "
              f"{median['shared-small'] / median['O1-small']:.2f}x",
              f"- second optimised run (recorded statistics) vs first: {median['O1'] / median['O1-stats']:.2f}x"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
