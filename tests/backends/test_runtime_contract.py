"""The runtime contract (pipec/runtime_contract.py): the one parser of param text, durations,
`${name}`, the split draw, the argument bounds and the error kinds that the checker, the local
runtime, generated Spark jobs and generated DAGs all share."""
from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from pipec import runtime_contract as contract
from pipec.backends.local import runtime as local_runtime
from pipec.cli import _guarded, build_parser
from pipec.compiler import ast
from pipec.compiler.check import check_source
from pipec.stdlib.estimators import ESTIMATORS


@pytest.mark.parametrize("text, value", [
    ("true", True), ("TRUE", True), ("1", True), ("yes", True),
    ("false", False), ("False", False), ("0", False), ("no", False),
])
def test_one_boolean_parser_for_every_entry_point(text, value):
    assert contract.parse_param("bool", text) is value
    source = f'pipeline p() {{\n  param on: bool = false\n  read_csv("in.csv", schema={{a: int}}) | write_csv("o_${{on}}.csv")\n}}\n'
    checked = check_source(source, params={"on": text})
    assert checked.ok and checked.pipelines["p"].params[0].default is value


@pytest.mark.parametrize("text", ["maybe", "", "2", "truee"])
def test_a_bad_boolean_is_rejected_with_the_same_words_everywhere(text):
    with pytest.raises(ValueError, match=f"`{text}` is not true or false"):
        contract.parse_param("bool", text)


@pytest.mark.parametrize("value, seconds", [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400),
                                             ("90", 90), (90, 90), (" 5m ", 300)])
def test_durations(value, seconds):
    assert contract.parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["1.5h", "5 x", "m", "-5m", "٣m", 1.5, True])
def test_a_duration_is_a_whole_number_of_seconds_or_units(value):
    with pytest.raises(ValueError, match="is not a duration such as 5m"):
        contract.parse_duration(value)


def test_a_duration_literal_in_a_pipe_file_is_read_by_the_contract():
    checked = check_source('pipeline p(retry_delay=5m, timeout=2h) {\n'
                           '  read_csv("in.csv", schema={a: int}) | write_csv("o.csv")\n}\n')
    options = checked.pipelines["p"].options
    assert (options.retry_delay, options.timeout) == (300, 7200)


@pytest.mark.parametrize("type_name, value", [
    ("int", 42), ("float", 0.25), ("bool", True), ("str", "a,b ${x}"), ("date", "2024-02-29"),
    ("duration", 300), ("list[int]", [1, 2]), ("list[str]", ["a,b", "c"]), ("list[bool]", [True, False]),
])
def test_a_command_line_argument_reads_back_as_the_value(type_name, value):
    """`pipec run --target spark` and Airflow's Spark task pass values to a job this way."""
    assert contract.parse_param(type_name, contract.param_argument(value)) == value


def test_json_values_of_a_run_conf_parse_as_their_text_does():
    assert contract.parse_param("float", 1) == 1.0
    assert contract.parse_param("list[date]", ["2024-01-01"]) == ["2024-01-01"]
    assert contract.parse_param("date", dt.date(2024, 1, 1)) == "2024-01-01"
    for type_name, value in [("int", True), ("int", 1.5), ("str", 3), ("list[int]", 3), ("list[int]", "[1,")]:
        with pytest.raises(ValueError):
            contract.parse_param(type_name, value)


def test_substitute_writes_values_as_every_runtime_does():
    params = {"on": True, "ids": [1, 2], "day": dt.date(2024, 1, 2), "x": 1.5}
    assert contract.substitute("${on}/${ids}/${day}/${x}/$x/${ x}", params) == "true/1,2/2024-01-02/1.5/$x/${ x}"
    with pytest.raises(contract.PipelineRunError, match=r"`\$\{nope\}` in '\$\{nope\}.csv' names no param"):
        contract.substitute("${nope}.csv", params)


def test_the_split_draw_is_the_documented_formula_divided_exactly():
    """polars divides by a literal through its reciprocal, which was 1 ulp off Spark's (and the
    documented) u for about a third of the keys."""
    keys = list(range(0, 3_000_000, 7))
    documented = [((k % 1_000_003) * 7919 + (42 % 1_000_003) * 104729 + 1) % 1_000_003 / 1_000_003 for k in keys]
    assert [contract.draw_numerator(k, 42) / contract.SPLIT_PRIME for k in keys] == documented
    frame = pl.DataFrame({"k": keys + [None]})
    drawn = frame.select(local_runtime.split_draw("k", 42)).to_series().to_list()
    assert drawn == documented + [documented[0]]  # a null key counts as 0


@pytest.mark.parametrize("bound, good, bad, schema", [
    ("proper_fraction", [0.5, 1e-9], [0, 1, 1.5, -0.1, float("nan")], {"exclusiveMinimum": 0, "exclusiveMaximum": 1}),
    ("nonzero_fraction", [1, 0.5], [0, 1.01], {"exclusiveMinimum": 0, "maximum": 1}),
    ("row_count", [0, 10], [-1], {"minimum": 0}),
])
def test_bounds(bound, good, bad, schema):
    for value in good:
        assert contract.check_bound(bound, value, "x") == value
    for value in bad:
        with pytest.raises(contract.ParamError, match=f"x must be .*, but it is {value!r}"):
            contract.check_bound(bound, value, "x")
    assert contract.BOUNDS[bound].json_schema() == schema


def _fit_source(estimator: str, argument: str, value) -> str:
    kind = ESTIMATORS[estimator].kind
    given = [f"{argument}={value}"] + (["k=2"] if kind == "clusterer" and argument != "k" else [])
    label = {"classifier": ", label=y", "regressor": ", label=r"}.get(kind, "")
    return ('pipeline p() {\n  t = read_csv("in.csv", schema={a: int, y: bool, r: float})\n'
            f'  t | fit({estimator}({", ".join(given)}), features=[a]{label}) | save_model("m")\n}}\n')


def test_hyperparameter_minimums_are_the_checkers():
    """The checker rejects a hyper-parameter below the contract's minimum, and accepts the minimum."""
    used = set()
    for estimator in ESTIMATORS.values():
        for name in estimator.params:
            bound = contract.hyperparameter_bound(name)
            if bound is None:
                continue
            used.add(name)
            assert not check_source(_fit_source(estimator.name, name, bound.minimum)).errors, (estimator.name, name)
            checked = check_source(_fit_source(estimator.name, name, bound.minimum - 1))
            assert [d.code for d in checked.errors] == ["E0304"], (estimator.name, name)
            assert f"must be at least {bound.minimum}" in checked.errors[0].message
    assert used == set(contract.HYPERPARAMETER_MINIMUMS)  # every minimum is some estimator's
    assert contract.check_hyperparameters("kmeans", {"k": 2, "seed": -5}) == {"k": 2, "seed": -5}
    with pytest.raises(contract.ParamError, match="`reg` of `linear_regression` must be at least 0, but it is -0.5"):
        contract.check_hyperparameters("linear_regression", {"reg": -0.5})


def test_the_bounds_are_the_checkers(tmp_path):
    """A value the checker rejects for `-p` is the value a runtime rejects when it arrives later,
    and each step declares (its `bounds` hook) the bound its typing rule checked."""
    source = '''pipeline p() {
  param f: float = 0.5
  param g: float = 0.5
  param n: int = 3
  param trees: int = 10
  t = read_csv("in.csv", schema={a: int, y: bool})
  a, b = t | split(fraction=$f, seed=1)
  a | sample($g) | limit($n) | write_csv("o.csv")
  b | fit(random_forest_classifier(n_trees=$trees), features=[a], label=y) | save_model("m")
}
'''
    cases = [("f", "1.0", "proper_fraction"), ("g", "0", "nonzero_fraction"), ("n", "-1", "row_count")]
    for name, text, bound in cases:
        checked = check_source(source, params={name: text})
        assert [d.code for d in checked.errors] == ["E0124"], (name, text)
        assert contract.BOUNDS[bound].requirement in checked.errors[0].message
        with pytest.raises(contract.ParamError):
            contract.check_bound(bound, contract.parse_param("float", text), name)
    checked = check_source(source, params={"trees": "0"})
    assert [d.code for d in checked.errors] == ["E0124"] and "at least 1" in checked.errors[0].message
    with pytest.raises(contract.ParamError, match="at least 1"):
        contract.check_hyperparameters("random_forest_classifier", {"n_trees": 0})
    ir = check_source(source).pipelines["p"]
    declared = {(e.name, b) for node in ir.nodes() for e, b in node.spec.bounds(node.args)
                if isinstance(e, ast.ParamRef)}
    assert declared == {("f", contract.BOUNDS["proper_fraction"]), ("g", contract.BOUNDS["nonzero_fraction"]),
                        ("n", contract.BOUNDS["row_count"]), ("trees", contract.hyperparameter_bound("n_trees"))}


def test_error_kinds_choose_the_exit_code(capsys):
    """`pipec` reports a run's error by its kind: data problems exit 1, a bad param value 2."""
    parser = build_parser()
    args = parser.parse_args(["check", "x.pipe"])
    for kind, code in [(contract.PipelineRunError, 1), (contract.ExpectationFailed, 1), (contract.ParamError, 2)]:
        def failing(args, kind=kind):
            raise kind("it went wrong")
        assert _guarded(failing, args, parser) == code
        assert capsys.readouterr().err == "error: it went wrong\n"
    assert local_runtime.PipelineRunError is contract.PipelineRunError  # the names generated code sees


def test_the_contract_imports_only_the_standard_library():
    """It is embedded into Spark jobs and copied beside DAGs, where pipec is not installed."""
    code = ("import sys, importlib.util as u; s = u.spec_from_file_location('c', sys.argv[1]); "
            "m = u.module_from_spec(s); s.loader.exec_module(m); "
            "print(sorted(n for n in sys.modules if n.split('.')[0] in {'pipec', 'polars', 'pyspark', 'pydantic'}))")
    out = subprocess.run([sys.executable, "-I", "-c", code, str(Path(contract.__file__))],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("path, why", [
    ("out/a.csv", None), ("./a.csv", None), ("a/../b.csv", None), ("/data/a.csv", "is absolute"),
    ("C:/a.csv", "is absolute"), ("s3a://bucket/a.csv", "is absolute"), ("~/a.csv", "starts with `~` (the home directory)"),
    (".", "is the base directory itself"), ("a/..", "is the base directory itself"),
    ("../a.csv", "climbs out of it with `..`"), ("a/../../b.csv", "climbs out of it with `..`"),
])
def test_confine_outputs_is_one_rule_for_the_checker_and_the_runtimes(path, why):
    assert contract.outside_base_dir(path) == why
    if why is None:
        contract.confined_sink(path, path, True)
    else:
        with pytest.raises(contract.ParamError, match="confine_outputs=true"):
            contract.confined_sink(path, path, True)
    contract.confined_sink(path, path, False)  # without the option any path is fine


def test_the_local_runtime_checks_hyperparameters_that_arrive_at_run_time():
    """A DAG's `fit` task gets its estimator arguments from the run conf; the checker never saw them."""
    with pytest.raises(contract.ParamError, match="`k` of `kmeans` must be at least 1, but it is 0"):
        local_runtime._estimator("kmeans", {"k": 0, "seed": 1}, rows=10)
    assert local_runtime._estimator("kmeans", {"k": 2, "seed": 1}, rows=10).n_clusters == 2


# ---------------------------------------------------------------- the run context
def test_a_run_date_gives_its_day_as_the_interval():
    assert contract.run_context("2013-01-02") == {
        "run.date": "2013-01-02", "run.logical_date": "2013-01-02T00:00:00Z",
        "run.interval_start": "2013-01-02T00:00:00Z", "run.interval_end": "2013-01-03T00:00:00Z"}


def test_run_times_are_read_as_utc_and_written_as_iso_text():
    values = contract.run_context("2013-01-02T23:30:00-02:00", "2013-01-03T00:00:00.5Z", "2013-01-04")
    assert values == {"run.date": "2013-01-03", "run.logical_date": "2013-01-03T01:30:00Z",
                      "run.interval_start": "2013-01-03T00:00:00.500000Z",
                      "run.interval_end": "2013-01-04T00:00:00Z"}
    empty = contract.run_context(dt.datetime(2013, 1, 2, 6, tzinfo=dt.timezone.utc), "2013-01-02T06:00:00Z",
                                 "2013-01-02T06:00:00Z")
    assert (empty["run.interval_start"], empty["run.interval_end"]) == ("2013-01-02T00:00:00Z", "2013-01-03T00:00:00Z")


@pytest.mark.parametrize("schedule, logical, end", [
    ("@hourly", "2013-01-02T05:00:00Z", "2013-01-02T06:00:00Z"),
    ("@daily", "2013-01-02", "2013-01-03T00:00:00Z"),
    ("@weekly", "2013-01-06", "2013-01-13T00:00:00Z"),  # Sundays
    ("@monthly", "2013-02-01", "2013-03-01T00:00:00Z"),  # February, not 31 days
    ("@yearly", "2012-01-01", "2013-01-01T00:00:00Z"),
    ("*/15 * * * *", "2013-01-02T05:07:00Z", "2013-01-02T05:15:00Z"),
    ("0 6 * * mon-fri", "2013-01-04T06:00:00Z", "2013-01-07T06:00:00Z"),  # Friday to Monday
    ("0 0 13 * 5", "2013-01-04", "2013-01-11T00:00:00Z"),  # the 13th or a Friday, as cron reads both
    ("0 0 29 2 *", "2013-01-01", "2016-02-29T00:00:00Z"),
])
def test_without_an_interval_a_scheduled_run_covers_its_schedules_period_from_the_run_date(schedule, logical, end):
    values = contract.run_context(logical, schedule=schedule)
    assert (values["run.interval_start"], values["run.interval_end"]) == (values["run.logical_date"], end)


def test_an_interval_given_or_no_cron_schedule_keeps_the_interval_or_the_day():
    assert contract.run_context("2013-01-02", "2013-01-02T05:00:00Z", "2013-01-02T06:00:00Z", "@daily") == \
        contract.run_context("2013-01-02", "2013-01-02T05:00:00Z", "2013-01-02T06:00:00Z")
    for schedule in (None, "@once", "@continuous"):
        assert contract.run_context("2013-01-02T05:00:00Z", schedule=schedule)["run.interval_end"] == "2013-01-03T00:00:00Z"


@pytest.mark.parametrize("schedule", ["0 0 * *", "61 * * * *", "0 0 31 2 *", "*/0 * * * *", "@fortnightly"])
def test_a_schedule_that_is_not_cron_or_never_fires_is_a_value_error(schedule):
    with pytest.raises(ValueError, match=f"schedule `{re.escape(schedule)}`"):
        contract.run_context("2013-01-02", schedule=schedule)


def test_the_default_run_is_now_in_utc():
    before = dt.datetime.now(dt.timezone.utc).date()
    values = contract.run_context()
    assert values["run.date"] in {before.isoformat(), dt.datetime.now(dt.timezone.utc).date().isoformat()}


@pytest.mark.parametrize("logical, start, end, words", [
    ("yesterday", None, None, "is not a date or a timestamp"),
    ("2013-01-02", "2013-01-02", None, "needs both its start and its end"),
    ("2013-01-02", "2013-01-03", "2013-01-02", "ends (2013-01-02T00:00:00Z) before it starts"),
])
def test_bad_run_values_say_what_is_wrong(logical, start, end, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        contract.run_context(logical, start, end)


def test_run_values_substitute_in_strings_and_stay_as_written_until_known():
    values = contract.run_context("2013-01-02")
    assert contract.substitute("d=${run.date}/${run.interval_end}", values) == "d=2013-01-02/2013-01-03T00:00:00Z"
    assert contract.substitute("d=${run.date}/${x}", {"x": 1}) == "d=${run.date}/1"
    with pytest.raises(contract.PipelineRunError, match="names no param"):
        contract.substitute("${runs}", {})


def test_a_spark_job_reads_the_run_arguments_back_as_the_same_values():
    from pipec.backends.spark.runtime import parse_params

    values = contract.run_context("2013-01-02T06:00:00Z", "2013-01-01", "2013-01-02")
    parsed = parse_params({}, contract.run_arguments(values), "p")
    assert parsed["run.date"] == dt.date(2013, 1, 2)
    assert {key: contract.param_text(value) for key, value in parsed.items()} == values


def test_a_spark_job_refuses_a_bad_run_date_before_spark_starts(capsys):
    from pipec.backends.spark.runtime import parse_params

    with pytest.raises(SystemExit) as stopped:
        parse_params({}, ["--run-date", "2013-13-01"], "p")
    assert stopped.value.code == 2
    assert "run context: `2013-13-01` is not a date or a timestamp" in capsys.readouterr().err
