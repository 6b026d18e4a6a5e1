"""Airflow DAG file that builds the flight-delays DAG from dagfactory_flight_delays.yaml with
dag-factory (installed by bench/airflow_parse.py outside the project venv)."""
import os
import sys

from dagfactory import load_yaml_dags

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # flight_delays_callables, which the YAML names

load_yaml_dags(globals_dict=globals(), config_filepath=os.path.join(HERE, "dagfactory_flight_delays.yaml"))
