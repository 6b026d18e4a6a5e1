"""Diagnostics are data: the checker collects them, renderers turn them into text or JSON."""
from __future__ import annotations

from typing import Literal

from pipec.compiler.model import Model
from pipec.compiler.span import Span

Severity = Literal["error", "warning"]


class Label(Model):
    """A secondary place in the source that explains the main one ("first bound here")."""

    span: Span
    message: str


class Diagnostic(Model):
    """One error or warning: a code (documented under docs/errors/), the smallest span, and a fix."""

    code: str
    severity: Severity = "error"
    message: str
    span: Span | None = None
    label: str | None = None
    labels: list[Label] = []
    help: str | None = None
    notes: list[str] = []

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class Diagnostics:
    """A collector that lets every compiler stage report as many problems as it finds in one run."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def error(self, code: str, message: str, span: Span | None, *, label: str | None = None,
              help: str | None = None, notes: list[str] | None = None,
              labels: list[Label] | None = None) -> Diagnostic:
        return self._add(Diagnostic(code=code, message=message, span=span, label=label, help=help,
                                    notes=notes or [], labels=labels or []))

    def warning(self, code: str, message: str, span: Span | None, *, label: str | None = None,
                help: str | None = None, notes: list[str] | None = None) -> Diagnostic:
        return self._add(Diagnostic(code=code, severity="warning", message=message, span=span,
                                    label=label, help=help, notes=notes or []))

    def extend(self, diagnostics: list[Diagnostic]) -> None:
        for d in diagnostics:
            self._add(d)

    def _add(self, d: Diagnostic) -> Diagnostic:
        if d not in self.items:
            self.items.append(d)
        return d

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)
