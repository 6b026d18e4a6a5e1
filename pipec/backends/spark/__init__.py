"""The Spark backend: plans compiled to standalone PySpark jobs (see codegen.py and runtime.py)."""
from pipec.backends.spark.backend import BACKEND, SparkBackend, run_job

__all__ = ["BACKEND", "SparkBackend", "run_job"]
