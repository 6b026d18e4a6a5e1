"""The Airflow backend: one Airflow 3 TaskFlow DAG file per pipeline, one task per plan stage.

Planning (polars tasks): a shuffle ends a stage, that is a task; each task reads its own sources.
With `--engine spark` the DAG runs one Spark job, planned with Spark's capabilities
(`AirflowBackend.capabilities`).
"""
from pipec.backends.base import backend_on_demand
from pipec.backends.capabilities import Capabilities

CAPABILITIES = Capabilities(name="airflow", shuffle_ends_stage=True)

__getattr__ = backend_on_demand("pipec.backends.airflow.backend", frozenset({"AirflowBackend", "BACKEND", "run_dag"}))
