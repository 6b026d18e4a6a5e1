"""The PostgreSQL steps in a generated Spark job (one JVM start, so one test): a read split into
three JDBC partitions on `id` and a query, joined with a CSV file and written back, equal the
independent pandas computation, and the table read gives the same rows in the same order
(byte-identical CSV) as the local backend."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pg_case import PIPELINE, expected_report, no_secret_in, rows

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.spark
def test_spark_job_reads_partitioned_and_writes_back(warehouse, project):
    (project / "report.pipe").write_text(PIPELINE.replace("key=[id])", "key=[id], partition_column=id, partitions=3)"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    local = subprocess.run([sys.executable, "-m", "pipec.cli", "run", "report.pipe"], cwd=project, env=env,
                           capture_output=True, text=True, timeout=300)
    assert local.returncode == 0, local.stderr
    local_csv = (project / "out" / "flights.csv").read_bytes()
    import psycopg

    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute("DROP TABLE report")
    spark = subprocess.run([sys.executable, "-m", "pipec.cli", "run", "report.pipe", "--target", "spark"],
                           cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert spark.returncode == 0, spark.stderr[-3000:]
    assert rows(warehouse, "SELECT carrier, name, flights, total_delay, rate FROM report ORDER BY carrier") \
        == expected_report()
    assert (project / "out" / "flights.csv").read_bytes() == local_csv
    assert rows(warehouse, "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'pipec_stage_%'") \
        == [(0,)]
    assert no_secret_in(project, spark.stdout, spark.stderr) == []
