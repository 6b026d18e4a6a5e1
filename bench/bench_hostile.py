"""Front end on hostile and large input: `pipec check` time and peak memory of generated files.

Inputs (written to a temporary directory):
- `big-1mb.pipe`, `big-5mb.pipe`: many pipelines, each with long chains of derive/filter steps and
  many bindings, so the lexer, post-lexer, parser, span computation and checker all see the size;
- `steps-20000.pipe.yaml`: one YAML pipeline with 20,000 steps;
- hostile files (alias expansion, deep nesting, 10^6 `(`, NUL bytes, invalid UTF-8, a long line).

Each file is checked in a fresh process running `pipec check`; its wall and CPU seconds and its
peak RSS (the child's own ru_maxrss) are printed, with the exit code and the first message line.

Run: .venv/bin/python bench/bench_hostile.py [--only big-1mb.pipe,...] [--profile NAME]
     [--checkout /path/to/another/pipec/tree] [--timeout SECONDS]
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def many_pipelines(target_bytes: int) -> str:
    """Pipelines of 100 bindings each (chains of 10 steps over the previous binding), until the
    text has `target_bytes`. Each binding ends with a `select`, so schemas stay small: the size is
    in the number of steps and expressions, not in ever wider tables."""
    parts, size, k = [], 0, 0
    while size < target_bytes:
        lines = [f"pipeline p{k}() {{", f"  param limit: int = {k}",
                 '  src = read_csv("in.csv", schema={a: int, b: float, c: str})']
        for t in range(100):
            lines.append(f"  t{t} = {'src' if t == 0 else f't{t - 1}'}")
            for i in range(4):
                lines.append(f"    | derive(x{i} = a * {i + 1} + b - (b / 2.5))")
                lines.append(f"    | filter(x{i} > {i}.5 and c != \"v{i}\")")
            lines.append("    | select(a, b, c)")
        lines.append(f'  t99 | limit($limit) | write_csv("out/p{k}.csv")')
        lines.append("}")
        text = "\n".join(lines) + "\n"
        parts.append(text)
        size += len(text)
        k += 1
    return "".join(parts)


def yaml_steps(steps: int) -> str:
    """One YAML pipeline whose `steps:` has `steps` entries, each a short chain."""
    lines = ["pipeline: generated", "steps:",
             "  src:", '    read_csv: {path: in.csv, schema: {a: int, b: float, c: str}}']
    for k in range(steps):
        source = "src" if k == 0 else f"s{k - 1}"
        lines += [f"  s{k}:", f"    from: {source}", "    do:",
                  f'      - derive: "x{k} = a * {k % 7 + 1} + b"', f'      - filter: "b > {k % 5}.5"',
                  "      - select: [a, b, c]"]
    lines += ["sinks:", f"  - {{from: s{steps - 1}, write_csv: out/generated.csv}}"]
    return "\n".join(lines) + "\n"


def billion_laughs(levels: int = 10) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join(f"*a{i - 1}" for _ in range(10)) + "]")
    lines.append(f"pipeline: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def deep_expression(depth: int) -> str:
    expr = "(" * depth + "a" + ")" * depth
    return ("pipeline p() {\n  x = read_csv(\"in.csv\", schema={a: int})\n"
            f"    | derive(y = {expr})\n  x | write_csv(\"out.csv\")\n}}\n")


INPUTS = {
    "big-1mb.pipe": lambda: many_pipelines(1_000_000),
    "big-5mb.pipe": lambda: many_pipelines(5_000_000),
    "steps-20000.pipe.yaml": lambda: yaml_steps(20_000),
    "laughs.pipe.yaml": billion_laughs,
    "deep-yaml.pipe.yaml": lambda: "pipeline: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "deep-expr.pipe": lambda: deep_expression(5_000),
    "parens-1e6.pipe": lambda: "(" * 1_000_000,
    "nul.pipe": lambda: "pipeline p() {\n  x = \0\n}\n",
    "long-line.pipe": lambda: "pipeline p() {\n  x = " + " + ".join(["a"] * 200_000) + "\n}\n",
}
BINARY = {"invalid-utf8.pipe": b"pipeline p() {\n  x = \xff\xfe\n}\n"}


# The child reports its own peak RSS (children's ru_maxrss would be the maximum over all runs).
CHILD = """
import resource, sys
from pipec.cli import main
try:
    code = main(["check", sys.argv[1]])
finally:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"peak-rss-kb {usage.ru_maxrss} cpu-s {usage.ru_utime + usage.ru_stime}", file=sys.stderr)
sys.exit(code)
"""


def measure(path: Path, timeout: float, checkout: Path) -> tuple[float, float, float, int | str, str]:
    """Wall and CPU seconds, peak RSS in MB, exit code and first message of `pipec check path`."""
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, str(path)], cwd=checkout, text=True,
                              capture_output=True, timeout=timeout,
                              env=dict(os.environ, PYTHONPATH=str(checkout)))
    except subprocess.TimeoutExpired:
        return timeout, float("nan"), float("nan"), "timeout", ""
    wall = time.perf_counter() - start
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    usage = next((line.split() for line in lines if line.startswith("peak-rss-kb")), None)
    peak, cpu = (int(usage[1]) / 1024, float(usage[3])) if usage else (float("nan"), float("nan"))
    first = next((line for line in lines if not line.startswith("peak-rss-kb")), "")
    return wall, cpu, peak, done.returncode, first[:100]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated input names")
    parser.add_argument("--profile", metavar="NAME", help="cProfile `check_file` on one input")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a run is killed")
    parser.add_argument("--checkout", type=Path, default=ROOT,
                        help="the source tree whose pipec is measured (default: this one)")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or [*INPUTS, *BINARY]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            path = Path(tmp) / name
            if name in BINARY:
                path.write_bytes(BINARY[name])
            else:
                path.write_text(INPUTS[name](), encoding="utf-8")
            if args.profile == name:
                import cProfile
                import pstats

                from pipec.compiler.check import check_file

                cProfile.runctx("check_file(path)", globals(), {"check_file": check_file, "path": path},
                                str(path) + ".prof")
                pstats.Stats(str(path) + ".prof").sort_stats("cumulative").print_stats(30)
                continue
            wall, cpu, peak, code, first = measure(path, args.timeout, args.checkout)
            size = path.stat().st_size
            print(f"{name:22} {size / 1e6:5.2f} MB  wall {wall:6.1f} s  CPU {cpu:6.1f} s  "
                  f"peak RSS {peak:5.0f} MB  exit {code}  {first}", flush=True)


if __name__ == "__main__":
    main()
