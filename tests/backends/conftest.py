"""Session fixtures shared by the backend tests and the cross-backend suite.

- `spark`: one SparkSession (a JVM start costs seconds), configured like a job's.
- `airflow_home`: a throwaway Airflow home with a migrated SQLite metadata DB. Airflow reads its
  configuration when it is first imported, so the environment is set here, at import time,
  before any test imports Airflow.

Neither skips: without pyspark, Java or Airflow the fixtures fail, and so do the tests.
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

import pytest

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="pipec-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """A migrated metadata DB, shared by every `dag.test()` run of the session."""
    from pipec.backends.airflow.run import migrate_metadata_db

    migrate_metadata_db(AIRFLOW_HOME)
    return AIRFLOW_HOME

@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession  # an ImportError here fails the tests that need Spark

    logging.getLogger("py4j").setLevel(logging.ERROR)  # no "closing connection" lines at exit

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Python workers: this venv, with pyarrow
    session = (
        SparkSession.builder.master("local[2]")
        .appName("pipec-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
