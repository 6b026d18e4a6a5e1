"""What the optimizer needs to know about a backend, as data.

Fusion and cache placement read these fields and never compare backend names (as sqlglot's rules
read a dialect's settings), so a new backend plans correctly by declaring its record, and Airflow
running the Spark job plans with Spark's record. Each backend declares its record in its folder's
`capabilities.py`, which imports nothing heavy: planning never loads pyspark or Airflow.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from pipec.compiler.cost import MATERIALISE_SECONDS_PER_BYTE


@dataclass(frozen=True)
class Capabilities:
    # how stage comments and `explain` name the engine the plan runs on
    name: str
    # a step that needs all rows at once (a `shuffle` step: join, aggregate, sort, distinct)
    # starts a new stage, because the engine exchanges data between workers there
    shuffle_ends_stage: bool = False
    # why a step running user code gets stages of its own, in words ("" when it shares them)
    user_code_runs_apart: str = ""
    # every source is read into memory once, so a second read of it costs nothing
    keeps_sources: bool = False
    # how often a `fit` reads its input, per estimator: a number of passes or (the hyper-parameter
    # that sets it, its default); an estimator not listed makes one. None: a fit collects its
    # input once and trains on its own copy (scikit-learn)
    fit_passes: Mapping[str, int | tuple[str, int]] | None = field(default=None, hash=False)
    # seconds to write one byte of a table into memory, what caching it costs beyond computing it
    materialise_seconds_per_byte: float = MATERIALISE_SECONDS_PER_BYTE
