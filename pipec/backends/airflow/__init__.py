"""The Airflow backend: one Airflow 3 TaskFlow DAG file per pipeline, one task per plan stage."""
