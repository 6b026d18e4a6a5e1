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

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pipec.errors import ArgumentError, PipecError, RunError

if TYPE_CHECKING:
    from pipec.backends.capabilities import Capabilities
    from pipec.compiler.diagnostics import Diagnostic
    from pipec.compiler.check import Program
    from pipec.compiler.ir import IR
    from pipec.compiler.plan import Plan

__version__ = "0.1.0"
__all__ = ["Diagnostic", "PipecError", "ArgumentError", "RunError", "check", "load", "plan", "compile",
           "run", "explain", "__version__"]


def __getattr__(name: str):
    """`pipec.Diagnostic` on first use: importing pipec loads no compiler, so that `pipec run` of
    an unchanged pipeline can answer before the compiler is needed (PEP 562)."""
    if name == "Diagnostic":
        from pipec.compiler.diagnostics import Diagnostic

        return Diagnostic
    raise AttributeError(f"module 'pipec' has no attribute {name!r}")


PIPELINE_SUFFIXES = (".pipe", ".pipe.yaml", ".yaml", ".yml")


def is_path(source: "str | os.PathLike[str]") -> bool:
    """How every function here tells a file from source text: an `os.PathLike`, or a one-line str
    that ends in .pipe, .pipe.yaml, .yaml or .yml or names an existing file, is a path (a missing
    file is then E0100); any other str is the pipeline text itself."""
    if isinstance(source, os.PathLike):
        return True
    return "\n" not in source and (source.endswith(PIPELINE_SUFFIXES) or Path(source).is_file())


def _program(source: "str | os.PathLike[str]", params: dict[str, str] | None) -> "Program":
    from pipec.compiler.check import check_file, check_source

    if is_path(source):
        return check_file(source, params)
    return check_source(source, "<string>", params)


def check(source: "str | os.PathLike[str]", params: dict[str, str] | None = None) -> list[Diagnostic]:
    """Every diagnostic for a file path or source text (empty when all is well); see `is_path`
    for which a str is."""
    return _program(source, params).diagnostics


def load(source: str | Path, params: dict[str, str] | None = None) -> "Program":
    """The checked program (its pipelines' IR); raises PipecError if it has errors."""
    program = _program(source, params)
    if not program.ok:
        raise PipecError(program.diagnostics)
    return program


def plan(ir: "IR", *, level: int = 1, disable: frozenset[str] = frozenset(),
         backend: "str | Capabilities" = "local", memory_budget: int | None = None, workdir: str | Path = ".",
         params: dict | None = None) -> "Plan":
    """Optimize one pipeline's IR into an executable plan (`level=0`: no optimisation).
    Statistics recorded by earlier runs in `workdir` replace the cost model's guesses.
    `backend` is a backend's name or the capabilities to plan with (a backend's `capabilities`).
    An unknown `backend` or pass in `disable` raises ArgumentError."""
    from pipec.backends.base import BACKENDS
    from pipec.compiler.passes import PASS_NAMES, optimize

    if isinstance(backend, str):
        _known(backend, BACKENDS, "backend")
    for name in disable:
        _known(name, PASS_NAMES, "optimizer pass")
    return optimize(ir, level=level, disable=frozenset(disable), backend=backend,
                    memory_budget=memory_budget, workdir=Path(workdir), params=params)


def compile(source: str | Path, target: str = "ir", out_dir: str | Path | None = None,
            params: dict[str, str] | None = None, level: int = 1) -> dict[str, object]:
    """Compile every pipeline of a file: IR JSON documents for `target="ir"`, otherwise the
    paths of the generated files under `out_dir`, keyed by pipeline name."""
    from pipec.backends.base import BACKENDS, get_backend

    _known(target, ["ir", *BACKENDS], "target")
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
        results[name] = backend.compile(plan(ir, level=level, backend=backend.capabilities), out)
    return results


def run(source: str | Path, params: dict[str, str] | None = None, workdir: str | Path = ".",
        pipeline: str | None = None, level: int = 1, run_date: str | None = None,
        interval: tuple[str, str] | None = None):
    """Run pipelines in-process on the local backend; returns {pipeline: RunResult}. A failure
    of the data, user code or environment raises RunError (its `error` is the runtime's own).
    `run_date` and `interval` (START, END) set the run context as `pipec run --run-date` and
    `--interval` do (ISO dates or timestamps; a bad one is a ValueError; without `interval`, the
    period of the pipeline's schedule that starts at `run_date`)."""
    from pipec.backends.local.runner import run_plan
    from pipec.backends.local.runtime import PipelineRunError
    from pipec.runtime_contract import run_context

    start, end = interval or (None, None)
    program = load(source, params)
    selected = _select(program, pipeline)
    results = {}
    for name, ir in selected.items():
        context = run_context(run_date or start, start, end, ir.options.schedule if ir.uses_run_context() else None)
        p = plan(ir, level=level, workdir=workdir)
        try:
            results[name] = run_plan(p, {**context, **{s.name: s.default for s in ir.params}}, Path(workdir))
        except PipelineRunError as exc:
            raise RunError(exc) from exc
    return results


def explain(source: str | Path, params: dict[str, str] | None = None, backend: str = "local",
            level: int = 1, workdir: str | Path = ".") -> dict[str, str]:
    """The optimizer's decisions for every pipeline, as text a person reads."""
    from pipec.compiler.explain import explain_text

    program = load(source, params)
    return {name: explain_text(plan(ir, level=level, backend=backend, workdir=workdir))
            for name, ir in program.pipelines.items()}


def _known(name: str, known, what: str) -> None:
    """Raise ArgumentError, with a did-you-mean, when `name` is not one of `known`."""
    from pipec.compiler.suggest import did_you_mean

    if name not in known:
        raise ArgumentError(f"unknown {what} `{name}`; "
                            + (did_you_mean(name, known) or f"known: {', '.join(known)}"))


def _select(program: "Program", pipeline: str | None) -> dict[str, "IR"]:
    if pipeline is None:
        return program.pipelines
    if pipeline not in program.pipelines:
        from pipec.compiler.diagnostics import Diagnostic
        from pipec.compiler.suggest import did_you_mean
        raise PipecError([Diagnostic(code="E0106", message=f"no pipeline named `{pipeline}` in {program.path}",
                                     help=did_you_mean(pipeline, program.pipelines)
                                     or f"pipelines: {', '.join(program.pipelines)}")])
    return {pipeline: program.pipelines[pipeline]}
