"""The Airflow backend: one Airflow 3 TaskFlow DAG file per pipeline, one task per plan stage."""
from __future__ import annotations

from pipec.backends.airflow.backend import AirflowBackend, run_dag

BACKEND = AirflowBackend()

__all__ = ["AirflowBackend", "BACKEND", "run_dag"]
