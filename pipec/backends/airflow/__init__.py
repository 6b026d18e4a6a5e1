"""The Airflow backend: one Airflow 3 TaskFlow DAG file per pipeline, one task per plan stage.

Planning (polars tasks): a stage is a task, and a task boundary costs a process start, imports and a
round trip through storage, so joins, aggregates and cached tables stay inside a task (the local
engine runs them in memory); what ends a task is a model fit, a quality gate (each is retried on
its own), the input of a `tune` (whose candidates are scored by one mapped task each), and the
pipeline's independent branches (separate tasks, run in parallel). The option
`tasks="fine"` also ends a task at every shuffle and cached table; `tasks="coarse"` only between
independent branches and before a `tune`.
With `--engine spark` the DAG runs one Spark job, planned with Spark's capabilities
(`AirflowBackend.capabilities`).
"""
from pipec.backends.base import backend_on_demand
from pipec.backends.capabilities import Capabilities

CAPABILITIES = Capabilities(
    name="airflow", cache_ends_stage=False, gate_ends_stage=True, fan_out_starts_stage=True,
    param_origin="airflow conf", run_cache_options=False,
    granularity={"fine": {"shuffle_ends_stage": True, "cache_ends_stage": True},
                 "coarse": {"gate_ends_stage": False, "model_ends_stage": False}})

__getattr__ = backend_on_demand("pipec.backends.airflow.backend", frozenset({"AirflowBackend", "BACKEND", "run_dag"}))
