"""pipec: a compiler for declarative data and ML pipelines.

The Python API for tools that embed the compiler. Nothing here prints or exits; user mistakes
come back as `Diagnostic`s (or a `PipecError` carrying them from the functions that need a
valid program).

    >>> import pipec
    >>> diagnostics = pipec.check("examples/flights/flight_delays.pipe")
    >>> program = pipec.load("examples/flights/flight_delays.pipe", params={"seed": "7"})
    >>> plan = pipec.plan(program.pipelines["flight_delays"])
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipec.compiler.diagnostics import Diagnostic, PipecError

if TYPE_CHECKING:
    from pipec.compiler.check import Program
    from pipec.compiler.ir import IR
    from pipec.compiler.plan import Plan

__version__ = "0.1.0"
__all__ = ["Diagnostic", "PipecError", "check", "load", "plan", "compile", "run", "explain", "__version__"]


def _program(source: str | Path, params: dict[str, str] | None) -> "Program":
    from pipec.compiler.check import check_file, check_source

    if isinstance(source, Path) or ("\n" not in source and Path(source).is_file()):
        return check_file(source, params)
    return check_source(str(source), "<string>", params)


def check(source: str | Path, params: dict[str, str] | None = None) -> list[Diagnostic]:
    """Every diagnostic for a file path or source text (empty when all is well)."""
    return _program(source, params).diagnostics


def load(source: str | Path, params: dict[str, str] | None = None) -> "Program":
    """The checked program (its pipelines' IR); raises PipecError if it has errors."""
    program = _program(source, params)
    if not program.ok:
        raise PipecError(program.diagnostics)
    return program


def plan(ir: "IR", *, level: int = 1, disable: frozenset[str] = frozenset(), backend: str = "local",
         memory_budget: int | None = None, workdir: str | Path = ".", params: dict | None = None) -> "Plan":
    """Optimize one pipeline's IR into an executable plan (`level=0`: no optimisation).
    Statistics recorded by earlier runs in `workdir` replace the cost model's guesses."""
    from pipec.compiler.passes import optimize

    return optimize(ir, level=level, disable=frozenset(disable), backend=backend,
                    memory_budget=memory_budget, workdir=Path(workdir), params=params)


def compile(source: str | Path, target: str = "ir", out_dir: str | Path | None = None,
            params: dict[str, str] | None = None, level: int = 1) -> dict[str, object]:
    """Compile every pipeline of a file: IR JSON documents for `target="ir"`, otherwise the
    paths of the generated files under `out_dir`, keyed by pipeline name."""
    from pipec.backends.base import get_backend

    program = load(source, params)
    if target == "ir":
        return {name: ir.to_json() for name, ir in program.pipelines.items()}
    backend = get_backend(target)
    out = Path(out_dir or "out")
    results: dict[str, object] = {}
    for name, ir in program.pipelines.items():
        problems = backend.check_supported(ir)
        if any(d.is_error for d in problems):
            raise PipecError(problems)
        results[name] = backend.compile(plan(ir, level=level, backend=target), out)
    return results


def run(source: str | Path, params: dict[str, str] | None = None, workdir: str | Path = ".",
        pipeline: str | None = None, level: int = 1):
    """Run pipelines in-process on the local backend; returns {pipeline: RunResult}."""
    from pipec.backends.local.runner import run_plan

    program = load(source, params)
    selected = _select(program, pipeline)
    results = {}
    for name, ir in selected.items():
        p = plan(ir, level=level, workdir=workdir)
        results[name] = run_plan(p, {s.name: s.default for s in ir.params}, Path(workdir))
    return results


def explain(source: str | Path, params: dict[str, str] | None = None, backend: str = "local",
            level: int = 1, workdir: str | Path = ".") -> dict[str, str]:
    """The optimizer's decisions for every pipeline, as text a person reads."""
    from pipec.compiler.explain import explain_text

    program = load(source, params)
    return {name: explain_text(plan(ir, level=level, backend=backend, workdir=workdir))
            for name, ir in program.pipelines.items()}


def _select(program: "Program", pipeline: str | None) -> dict[str, "IR"]:
    if pipeline is None:
        return program.pipelines
    if pipeline not in program.pipelines:
        from pipec.compiler.suggest import did_you_mean
        raise PipecError([Diagnostic(code="E0106", message=f"no pipeline named `{pipeline}` in {program.path}",
                                     help=did_you_mean(pipeline, program.pipelines)
                                     or f"pipelines: {', '.join(program.pipelines)}")])
    return {pipeline: program.pipelines[pipeline]}
