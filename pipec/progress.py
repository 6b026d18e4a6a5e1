"""Progress lines for `pipec run`: one line per stage as it starts and finishes. On a terminal
the running stage's line is redrawn in place; elsewhere (CI logs, pipes) each event is a plain line."""
from __future__ import annotations

import time
from typing import Any, TextIO


class Progress:
    def __init__(self, stream: TextIO, stage_names: dict[str, str] | None = None):
        self.stream = stream
        self.tty = stream.isatty()
        self.names = stage_names or {}
        self.started: dict[str, float] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "stage_started":
            stage = event["stage"]
            self.started[stage] = time.perf_counter()
            self._write(f"  running {stage} {self.names.get(stage, '')}".rstrip(), final=False)
        elif kind == "stage_finished":
            stage = event["stage"]
            self._write(f"  done    {stage} {self.names.get(stage, '')}".rstrip()
                        + f"  {event.get('seconds', 0):.2f}s", final=True)
        elif kind == "stage_reused":
            stage = event["stage"]
            self._write(f"  reused  {stage} {self.names.get(stage, '')}".rstrip(), final=True)
        elif kind == "warning":
            self._write(f"  warning: {event.get('message')}", final=True)

    def _write(self, text: str, final: bool) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K" + text + ("\n" if final else ""))
        elif final:
            self.stream.write(text + "\n")
        self.stream.flush()


def stage_names(plan) -> dict[str, str]:
    """A stage's user-facing name: the bindings it computes."""
    names = {}
    for stage in plan.stages:
        bound = [plan.ir.node(n).binding for n in stage.nodes if plan.ir.node(n).binding]
        names[stage.id] = "(" + ", ".join(bound) + ")" if bound else ""
    return names
