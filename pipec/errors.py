"""The exceptions of pipec's Python API. Kept free of the compiler's imports, so that code that only
raises or catches them (the run store, the command line's fast path) loads nothing heavy."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipec.compiler.diagnostics import Diagnostic


class PipecError(Exception):
    """Raised by the library API for every failure that is the user's or the data's fault: a
    program with errors carries its diagnostics; the subclasses below carry a message instead."""

    def __init__(self, diagnostics: "list[Diagnostic]", message: str | None = None):
        self.diagnostics = diagnostics
        first = next((d for d in diagnostics if d.is_error), diagnostics[0] if diagnostics else None)
        super().__init__(message or (f"{first.code}: {first.message}" if first else "pipec error"))


class ArgumentError(PipecError, ValueError):
    """An API argument names nothing pipec knows (a target, an optimizer pass)."""

    def __init__(self, message: str):
        super().__init__([], message)


class RunError(PipecError):
    """A run failed because of its data, user code or environment. `error` is the runtime's own
    exception (e.g. `PipelineRunError`, with its file, column and row); its message is complete."""

    def __init__(self, error: Exception):
        super().__init__([], str(error))
        self.error = error
