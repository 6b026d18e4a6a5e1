"""One SparkSession for every test that needs Spark (the Spark backend's and the cross-backend
suite's): a JVM start costs seconds, so it is started once, configured like a job's.

Spark tests never skip: without pyspark or Java the fixture fails, and so do they.
"""
from __future__ import annotations

import os
import sys

import pytest

@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession  # an ImportError here fails the tests that need Spark

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
