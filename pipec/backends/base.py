"""The protocol every backend implements, and the registry that finds one by name.

A backend says which steps it supports so that a missing one is a compile error (E0601) naming
the step and the backend, never a crash at run time. Each backend is a package under
`pipec/backends/`: its `__init__.py` declares the backend's `CAPABILITIES` (what the optimizer
plans with) and imports nothing heavy, and its `backend.py` holds `BACKEND`. Adding a backend is
that folder plus its line in `BACKENDS` (pipec/backends/__init__.py).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

from pipec.backends import BACKENDS  # name -> the backend's package; imported only when asked for
from pipec.backends.capabilities import Capabilities

if TYPE_CHECKING:  # kept light: a backend package's __init__ imports this module
    from pipec.compiler.diagnostics import Diagnostic
    from pipec.compiler.ir import IR
    from pipec.compiler.plan import Plan

EXIT_OK, EXIT_FAILED = 0, 1  # what `Backend.run` returns: success, a problem in the pipeline or its data


class RunObserver(Protocol):
    """What `pipec run` records of a run (`pipec.runs.record.RunRecorder`). A backend that runs
    stages in this process gives it the plan, the result and each stage event; others leave it."""

    plan: Any
    result: Any
    run_id: str

    def on_event(self, event: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class RunOptions:
    """What `pipec run` asks of a run besides its plan and params: the run context's values
    (`runtime_contract.run_context`), and whether stored results may be reused (backends that
    keep none ignore it), and where they are stored (None: the working directory's `.pipec/cache/`)."""

    run: dict[str, str]
    use_cache: bool = True
    rerun: frozenset[str] = frozenset()
    cache_dir: str | None = None


def stated_params(ir: IR, params: dict[str, Any], run: dict[str, str]) -> dict[str, Any]:
    """The params a run states (its record, its OpenLineage events): the pipeline's params, and
    the run's dates only when a step reads them (otherwise every run would look different)."""
    return {**params, **run} if ir.uses_run_context() else dict(params)


@runtime_checkable
class Backend(Protocol):
    name: str
    supported_steps: frozenset[str]
    capabilities: Capabilities  # what the optimizer plans with for this backend

    def check_supported(self, ir: IR) -> list[Diagnostic]:
        """One E0601 error per node whose step this backend cannot run."""
        ...

    def compile(self, plan: Plan, out_dir: Path) -> list[Path]:
        """Write the backend's program for `plan` under `out_dir`; returns the files written."""
        ...

    def run(self, plan: Plan, params: dict[str, Any], workdir: Path, record: RunObserver,
            options: RunOptions) -> int:
        """`pipec run`: run `plan` with `params` (relative paths resolving in `workdir`), printing
        its progress and outcome; returns the exit code (a run error may also be raised as a
        `PipelineRunError`, which the command reports). Ctrl-C arrives as KeyboardInterrupt."""
        ...


def unsupported_steps(backend: Backend, ir: IR) -> list[Diagnostic]:
    """The shared implementation of `check_supported`."""
    from pipec.compiler.diagnostics import Diagnostic

    return [
        Diagnostic(code="E0601", message=f"the {backend.name} backend does not support the step `{node.step}`",
                   span=node.span, label=f"`{node.step}` is not available on {backend.name}",
                   help=f"supported steps: {', '.join(sorted(backend.supported_steps))}")
        for node in ir.nodes() if node.step not in backend.supported_steps
    ]


def _package(name: str):
    if name not in BACKENDS:
        raise KeyError(f"unknown backend `{name}` (known: {', '.join(sorted(BACKENDS))})")
    return importlib.import_module(BACKENDS[name])


def get_backend(name: str) -> Backend:
    """The backend called `name` (`local`, `spark`, `airflow`)."""
    return _package(name).BACKEND


def capabilities_of(backend: str | Capabilities) -> Capabilities:
    """The capabilities the optimizer plans with for the backend called `backend` (a record
    passes through: Airflow running the Spark job plans with Spark's); cheap to call."""
    if isinstance(backend, Capabilities):
        return backend
    return _package(backend).CAPABILITIES


def backend_on_demand(module: str, names: frozenset[str]) -> Callable[[str], object]:
    """A package's `__getattr__` that imports its `module` (the backend, which may need pyspark or
    Airflow) only when one of `names` is first asked for, so reading `CAPABILITIES` stays cheap."""
    def attribute(name: str) -> object:
        if name not in names:
            raise AttributeError(f"module {module.rpartition('.')[0]!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return attribute
