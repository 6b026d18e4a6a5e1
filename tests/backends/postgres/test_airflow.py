"""The PostgreSQL steps in a compiled DAG run with `dag.test()`: the tasks read the connection
from the Airflow Connection named in the pipeline (here AIRFLOW_CONN_WAREHOUSE, not
PIPEC_CONN_WAREHOUSE), the commit task writes the table with the file sinks, and neither the
DAG folder nor the run's files hold the password."""
from __future__ import annotations

from pg_case import PIPELINE, RATES_CSV, expected_report, no_secret_in, rows

from pipec import plan
from pipec.backends.airflow import AirflowBackend
from pipec.backends.airflow.run import run_dag_file
from pipec.compiler.check import check_source


def test_dag_reads_and_writes_through_its_connection(airflow_home, warehouse, monkeypatch, tmp_path):
    monkeypatch.delenv("PIPEC_CONN_WAREHOUSE")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", warehouse)
    (tmp_path / "work").mkdir()
    program = check_source(PIPELINE, str(tmp_path / "work" / "report.pipe"))
    backend = AirflowBackend(base_dir=tmp_path / "work", storage_root=str(tmp_path / "storage"))
    dag_file = backend.compile(plan(program.pipelines["pg_report"], backend="airflow"), tmp_path / "dags")[0]
    (tmp_path / "work" / "rates.csv").write_text(RATES_CSV)
    assert '"connection": "warehouse"' in (dag_file.parent / "pipec_support" / "pg_report_stages.py").read_text()

    result = run_dag_file(dag_file, {}, airflow_home=airflow_home)
    assert result.ok, result.error
    assert rows(warehouse, "SELECT carrier, name, flights, total_delay, rate FROM report ORDER BY carrier") \
        == expected_report()
    ids = [int(line.split(",")[0]) for line in (tmp_path / "work" / "out" / "flights.csv").read_text().splitlines()[1:]]
    assert ids == [1, 2, 3, 4, 5, 6]
    assert rows(warehouse, "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'pipec_stage_%'") \
        == [(0,)]
    assert no_secret_in(tmp_path, result.log, result.error or "") == []
