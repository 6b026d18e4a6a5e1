"""The standard library steps of LANGUAGE.md section 7: the registry.

Each step is one module of this package (related steps share one: the sources, the sinks, the
steps that take a list of columns) holding its IR argument model, its `Step` spec (signature,
docs, typing rule, flags and the hooks the passes and the cost model ask) and nothing else; see
"How to add a step" in docs/architecture.md. A typing rule takes the step call and the types of
its inputs and returns the typed IR arguments and the output type, reporting every mistake it
finds through `StepContext.diags`.
"""
from __future__ import annotations

from typing import Callable

from pipec.stdlib.steps import (aggregate, columns, database, derive, drift, evaluate, expect, fill_null, filter, fit,
                                join, limit, load_model, predict, python, rename, sample, select, sinks, sort, sources,
                                split, tune, union)
from pipec.stdlib.steps.spec import BoundArgs, Choices, Step, StepContext, bind, input_matches

__all__ = ["SIGNATURES", "SINKS", "STEPS", "BoundArgs", "Choices", "Step", "StepContext", "bind", "input_matches",
           "on_registry_change", "register", "step_spec", "unregister"]

# In the order of LANGUAGE.md, which completion lists and the support matrix follow (and the IR's
# argument union, whose order its JSON schema shows).
STEPS: dict[str, Step] = {step.name: step for step in [
    *sources.STEPS, *database.READS, *filter.STEPS, *select.STEPS, *derive.STEPS, columns.DROP, *rename.STEPS, *fill_null.STEPS,
    columns.DROP_NULLS, columns.DISTINCT, *sort.STEPS, *limit.STEPS, *sample.STEPS, *union.STEPS, *join.STEPS,
    *aggregate.STEPS, *split.STEPS, *python.STEPS, *fit.STEPS, *tune.STEPS, *load_model.STEPS, *predict.STEPS,
    *evaluate.STEPS, *drift.STEPS, *expect.STEPS, *sinks.STEPS, *database.WRITES,
]}

SINKS = frozenset(name for name, step in STEPS.items() if step.sink)

SIGNATURES = {name: step.signature for name, step in STEPS.items()}


def step_spec(name: str) -> Step:
    """The spec of the step `name` (a KeyError for a name that is no step)."""
    return STEPS[name]


_listeners: list[Callable[[], None]] = []


def on_registry_change(listener: Callable[[], None]) -> None:
    """Call `listener` whenever a step is registered or unregistered (the IR rebuilds its
    argument union from the registry)."""
    _listeners.append(listener)


def register(step: Step) -> None:
    """Add a step defined outside this package (a test's toy step, a plugin) to the registry; the
    steps of the standard library are listed above instead."""
    STEPS[step.name] = step
    _changed()


def unregister(name: str) -> None:
    """Remove a step that `register` added."""
    del STEPS[name]
    _changed()


def _changed() -> None:
    global SINKS
    SINKS = frozenset(name for name, step in STEPS.items() if step.sink)
    SIGNATURES.clear()
    SIGNATURES.update({name: step.signature for name, step in STEPS.items()})
    for listener in _listeners:
        listener()
