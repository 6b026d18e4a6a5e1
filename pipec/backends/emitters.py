"""The registry every backend's code generator keeps: one emitter per step, by step name.

Its keys are the backend's supported steps, so E0601 and the support matrix follow from it; what
an emitter holds is the backend's own business (the local backend's code and imports, the Spark
job's text and shape)."""
from __future__ import annotations

from typing import TypeVar

from pipec.compiler.ir import IRNode

E = TypeVar("E")


class EmitterRegistry(dict[str, E]):
    def __init__(self, backend: str) -> None:
        super().__init__()
        self.backend = backend

    def of(self, node: IRNode) -> E:
        """The emitter of `node`'s step."""
        emitter = self.get(node.step)
        if emitter is None:  # `check_supported` reports it first (E0601)
            raise ValueError(f"the {self.backend} backend has no code for step `{node.step}`")
        return emitter

    def unregister(self, step: str) -> None:
        """Remove a step's emitter (one registered for a step defined outside pipec)."""
        del self[step]


def step_location(node: IRNode) -> str:
    """`step at file:line:col`: how generated code names a step in the errors it raises at run time."""
    return f"{node.step} at {node.span.file}:{node.span.line}:{node.span.column}"
