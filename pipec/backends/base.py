"""The protocol every backend implements, and the registry that finds one by name.

A backend says which steps it supports so that a missing one is a compile error (E0601) naming
the step and the backend, never a crash at run time.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol, runtime_checkable

from pipec.compiler.diagnostics import Diagnostic
from pipec.compiler.ir import IR
from pipec.compiler.plan import Plan

# name -> "module:attribute" of an object implementing Backend; imported only when asked for
BACKENDS: dict[str, str] = {
    "local": "pipec.backends.local:BACKEND",
    "spark": "pipec.backends.spark:BACKEND",
    "airflow": "pipec.backends.airflow:BACKEND",
}


@runtime_checkable
class Backend(Protocol):
    name: str
    supported_steps: frozenset[str]

    def check_supported(self, ir: IR) -> list[Diagnostic]:
        """One E0601 error per node whose step this backend cannot run."""
        ...

    def compile(self, plan: Plan, out_dir: Path) -> list[Path]:
        """Write the backend's program for `plan` under `out_dir`; returns the files written."""
        ...


def unsupported_steps(backend: Backend, ir: IR) -> list[Diagnostic]:
    """The shared implementation of `check_supported`."""
    return [
        Diagnostic(code="E0601", message=f"the {backend.name} backend does not support the step `{node.step}`",
                   span=node.span, label=f"`{node.step}` is not available on {backend.name}",
                   help=f"supported steps: {', '.join(sorted(backend.supported_steps))}")
        for node in ir.nodes() if node.step not in backend.supported_steps
    ]


def get_backend(name: str) -> Backend:
    """The backend called `name` (`local`, `spark`, `airflow`)."""
    if name not in BACKENDS:
        raise KeyError(f"unknown backend `{name}` (known: {', '.join(sorted(BACKENDS))})")
    module, _, attribute = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)
