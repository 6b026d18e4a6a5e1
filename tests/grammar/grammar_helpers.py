"""Shared helpers for the grammar tests: comparing ASTs without their spans, checking hostile
input in a child process with bounded CPU time and memory."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

from pipec.compiler import ast
from pipec.grammar import parse_pipe

ROOT = Path(__file__).resolve().parents[2]


def without_spans(value):
    """A plain-data dump of an AST node with every span (and the file path) removed."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, dict):
        return {k: without_spans(v) for k, v in value.items()
                if k not in ("span", "name_span", "path", "comments")}
    if isinstance(value, list):
        return [without_spans(v) for v in value]
    return value


def parse_ok(text: str, file: str = "t.pipe") -> ast.Module:
    module, diagnostics = parse_pipe(text, file)
    assert diagnostics == [], [d.message for d in diagnostics]
    return module


def body(text: str) -> list:
    """The statements of a one-pipeline program written as its body."""
    return parse_ok("pipeline p {\n" + text + "\n}").declarations[0].body


def expr(text: str):
    """The expression in `x = t | f(<text>)`."""
    return body(f"x = t | f({text})")[0].value.steps[0].args[0].value


# ---------------------------------------------------------------- hostile input, in a bounded child
BOUND_CPU_SECONDS = 30              # far above what any input here needs: it detects "never ends"
BOUND_MEMORY_BYTES = 3 * 1024 ** 3  # address space of the child (RLIMIT_AS)


def check_bounded(*paths) -> tuple[int, list[dict], str]:
    """`pipec check --format json paths` in a child process limited in CPU time and memory, so
    that an input that would never finish fails the test instead of hanging it. Returns the exit
    code, the diagnostics and stderr (which must hold no traceback)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (BOUND_CPU_SECONDS, BOUND_CPU_SECONDS))
        resource.setrlimit(resource.RLIMIT_AS, (BOUND_MEMORY_BYTES, BOUND_MEMORY_BYTES))

    done = subprocess.run([sys.executable, "-m", "pipec.cli", "check", "--format", "json",
                           *map(str, paths)], capture_output=True, text=True, preexec_fn=limit,
                          timeout=BOUND_CPU_SECONDS * 4, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode in (0, 1), (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    return done.returncode, json.loads(done.stdout), done.stderr
