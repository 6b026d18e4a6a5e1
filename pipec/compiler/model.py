"""The base of pipec's pydantic models: validators built on first use.

Pydantic builds a model's validator when its class is created, a few milliseconds per model.
A `pipec run` whose stages are all reused spends most of its time starting up, and one pipeline
uses only some of the step argument models; with `defer_build` a model's validator is built the
first time it validates instead (bench/RESULTS.md, "unchanged reruns").
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(defer_build=True)
