"""The YAML form loads into the same AST as the `.pipe` form, with spans into the YAML file."""
from __future__ import annotations

from pathlib import Path

from grammar_helpers import parse_ok, without_spans
from pipec.grammar import parse_yaml

LANGUAGE_PIPE = """
import "schemas.pipe"

\"\"\"Train and evaluate a late-arrival classifier every day.\"\"\"
pipeline flight_delays(schedule="@daily", start="2013-01-01", retries=2, retry_delay=5m) {
  param data_dir: str = "data/nycflights13"
  param min_distance: float = 200.0
  param seed: int = 42
  param tags: list[str] = ["a", "b"]
  flights = read_csv("${data_dir}/flights.csv", schema=Flight, null_values=["NA"])
  features = flights
    | filter(arr_delay is not null and distance >= $min_distance)
    | join(weather, on=[origin, time_hour], how="left")
    | derive(late=arr_delay > 15, log_distance=log(distance))
    | select(carrier, origin, log_distance, late)
  train, test = features | split(fraction=0.8, seed=$seed)
  model = train | fit(logistic_regression(max_iter=200), features=[log_distance], label=late)
  scored = test | predict(model) | sort(-late, carrier) | limit(10)
  weather = read_json("w.json", schema={origin: str, time_hour: timestamp?})
  scored | write_parquet("out/scored.parquet")
}
"""

LANGUAGE_YAML = """\
imports: [schemas.pipe]
pipeline: flight_delays
description: Train and evaluate a late-arrival classifier every day.
options: {schedule: "@daily", start: "2013-01-01", retries: 2, retry_delay: 5m}
params:
  data_dir: {type: str, default: data/nycflights13}
  min_distance: {type: float, default: 200.0}
  seed: {type: int, default: 42}
  tags: {type: "list[str]", default: [a, b]}
steps:
  flights: {read_csv: {path: "${data_dir}/flights.csv", schema: Flight, null_values: [NA]}}
  features:
    from: flights
    do:
      - filter: arr_delay is not null and distance >= $min_distance
      - join: {right: weather, on: [origin, time_hour], how: left}
      - derive: {late: arr_delay > 15, log_distance: log(distance)}
      - select: [carrier, origin, log_distance, late]
  "train, test": {from: features, do: [{split: {fraction: 0.8, seed: $seed}}]}
  model:
    from: train
    do:
      - fit: {estimator: "logistic_regression(max_iter=200)", features: [log_distance], label: late}
  scored: {from: test, do: [{predict: model}, {sort: [-late, carrier]}, {limit: {n: 10}}]}
  weather: {read_json: {path: w.json, schema: {origin: str, time_hour: timestamp?}}}
sinks:
  - {from: scored, write_parquet: out/scored.parquet}
"""


def parse_yaml_ok(text: str):
    module, diagnostics = parse_yaml(text, "f.pipe.yaml")
    assert diagnostics == [], [d.message for d in diagnostics]
    return module


def test_yaml_and_pipe_give_the_same_ast():
    assert without_spans(parse_yaml_ok(LANGUAGE_YAML)) == without_spans(parse_ok(LANGUAGE_PIPE))


def test_example_yaml_twin_matches_its_pipe_file():
    folder = Path(__file__).parents[2] / "examples" / "flights"
    yaml_module = parse_yaml_ok((folder / "flight_delays.pipe.yaml").read_text())
    pipe_module = parse_ok((folder / "flight_delays.pipe").read_text())
    assert without_spans(yaml_module) == without_spans(pipe_module)


def test_spans_point_into_the_yaml_file():
    module = parse_yaml_ok(LANGUAGE_YAML)
    pipeline = module.declarations[1]
    features = next(s for s in pipeline.body if s.kind == "binding"
                    and s.targets[0].name == "features")
    predicate = features.value.steps[0].args[0].value
    line = LANGUAGE_YAML.splitlines()[predicate.span.line - 1]
    assert line[predicate.span.column - 1:].startswith("arr_delay is not null")
    assert LANGUAGE_YAML[predicate.right.span.start:predicate.right.span.end] == \
        "distance >= $min_distance"
    split = next(s for s in pipeline.body if len(getattr(s, "targets", [])) == 2)
    assert [LANGUAGE_YAML[t.span.start:t.span.end] for t in split.targets] == ["train", "test"]


def test_yaml_1_2_keeps_on_and_no_as_strings():
    module = parse_yaml_ok("pipeline: p\nsteps:\n  j: {from: a, do: [{join: {right: b, on: [k], "
                           "how: left}}]}\n  no: {from: a, do: [{filter: \"on == 1\"}]}\n")
    join = module.declarations[0].body[0].value.steps[0]
    assert [a.name for a in join.args] == [None, "on", "how"]
    assert module.declarations[0].body[1].targets[0].name == "no"


def test_errors_point_into_the_yaml():
    text = "pipeline: p\nsteps:\n  a: {from: b, do: [{filter: x >}]}\nbogus: 1\n"
    _, diagnostics = parse_yaml(text, "f.pipe.yaml")
    assert [(d.code, d.span.line) for d in diagnostics] == [("E0001", 3), ("E0011", 4)]
    expression_error = diagnostics[0]
    assert text[expression_error.span.start - 3:expression_error.span.start] == "x >"


def test_bad_yaml_and_bad_shapes_are_diagnostics():
    _, diagnostics = parse_yaml("pipeline: p\nsteps: [1, 2\n", "f.yaml")
    assert diagnostics[0].code == "E0010" and diagnostics[0].span.line == 3
    _, diagnostics = parse_yaml("pipeline: p\nsteps:\n  a: 3\n", "f.yaml")
    assert diagnostics[0].code == "E0012" and diagnostics[0].span.line == 3
    _, diagnostics = parse_yaml("pipeline: p\nsteps:\n  a: {from: b, do: [7]}\n", "f.yaml")
    assert diagnostics[0].code == "E0012"
    _, diagnostics = parse_yaml("pipeline: p\nparams:\n  n: {type: int}\n", "f.yaml")
    assert diagnostics[0].code == "E0013" and "default" in diagnostics[0].message
