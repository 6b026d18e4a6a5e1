"""What the optimizer needs to know about a backend, as data.

Fusion and cache placement read these fields and never compare backend names (as sqlglot's rules
read a dialect's settings), so a new backend plans correctly by declaring its record, and Airflow
running the Spark job plans with Spark's record. Each backend declares its record in its folder's
`capabilities.py`, which imports nothing heavy: planning never loads pyspark or Airflow.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

# writing a table into memory once (about 1 GB/s), what caching it costs beyond computing it
MATERIALISE_SECONDS_PER_BYTE = 1e-9


@dataclass(frozen=True)
class Capabilities:
    # how stage comments and `explain` name the engine the plan runs on
    name: str
    # the library that computes the results (run records and OpenLineage events name it)
    engine: str = "polars"
    # how the params given to `pipec run` reach the run (their origin in the run record)
    param_origin: str = "-p"
    # `pipec run --no-cache / --rerun / --cache-dir` steer the run's reuse (False: the generated
    # tasks decide it themselves, from the cache under their storage root)
    run_cache_options: bool = True
    # a step that needs all rows at once (a `shuffle` step: join, aggregate, sort, distinct)
    # starts a new stage, because the engine exchanges data between workers there
    shuffle_ends_stage: bool = False
    # a cached table ends its stage, its consumers read the materialised copy from another stage
    # (False: its consumers share its stage, which keeps the table in memory)
    cache_ends_stage: bool = True
    # a `fit` ends its stage: the model is trained eagerly and handed on (and, as a task of its own
    # on an orchestrator, retried on its own)
    model_ends_stage: bool = True
    # a quality gate (`expect`) ends its stage, so that its failure names, and its retry reruns,
    # only the work up to the gate
    gate_ends_stage: bool = False
    # a step whose work is independent items (`Step.fan_out`) starts its stage: its input is
    # stored, so that one task per item (a mapped task) can read it
    fan_out_starts_stage: bool = False
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
    # the pipeline option `tasks` ("fine" | "coarse", see TASK_GRANULARITIES): the fields above
    # each value sets; a backend that lists none plans the same whatever the option says
    granularity: Mapping[str, Mapping[str, bool]] = field(default_factory=dict, hash=False)

    def for_tasks(self, tasks: str | None) -> "Capabilities":
        """These rules as the pipeline option `tasks` adjusts them (unchanged when it is unset)."""
        if tasks is None or tasks not in self.granularity:
            return self
        return replace(self, **self.granularity[tasks])
