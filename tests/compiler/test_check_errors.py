"""Wrong programs: each gives the right code on the right line, a message naming the offending
thing, and a rendered diagnostic that is snapshot-tested (tests/compiler/snapshots/)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipec.compiler.render import render_terminal


F = 'flights = read_csv("f.csv", schema=Flight, null_values=["NA"])\n'
W = 'weather = read_csv("w.csv", schema=Weather)\n'

# (name, pipeline body, expected code, 1-based line within the body, words the message must contain)
CASES = [
    ("unknown_column", F + 'x = flights | filter(arr_delayy > 15)\nx | write_csv("o.csv")',
     "E0201", 2, "arr_delayy"),
    ("unknown_column_in_select", F + 'x = flights | select(carier)\nx | write_csv("o.csv")', "E0201", 2, "carier"),
    ("unknown_param", F + 'x = flights | filter(distance > $min)\nx | write_csv("o.csv")', "E0123", 2, "$min"),
    ("unknown_param_in_string", 'x = read_csv("${dir}/f.csv", schema=Flight)\nx | write_csv("o.csv")',
     "E0123", 1, "dir"),
    ("filter_not_bool", F + 'x = flights | filter(distance + 1)\nx | write_csv("o.csv")', "E0208", 2, "bool"),
    ("string_plus", F + 'x = flights | derive(y = carrier + origin)\nx | write_csv("o.csv")', "E0202", 2, "strings"),
    ("compare_str_int", F + 'x = flights | filter(carrier > 3)\nx | write_csv("o.csv")', "E0202", 2, "compare"),
    ("function_arg_type", F + 'x = flights | derive(y = lower(distance))\nx | write_csv("o.csv")',
     "E0203", 2, "lower"),
    ("unknown_function", F + 'x = flights | derive(y = lowercase(carrier))\nx | write_csv("o.csv")',
     "E0204", 2, "lowercase"),
    ("function_arity", F + 'x = flights | derive(y = substr(carrier, 1))\nx | write_csv("o.csv")',
     "E0205", 2, "substr"),
    ("aggregate_outside", F + 'x = flights | derive(m = mean(distance))\nx | write_csv("o.csv")',
     "E0206", 2, "mean"),
    ("column_outside_aggregate", F + 'x = flights | aggregate(by=[carrier], d = distance)\nx | write_csv("o.csv")',
     "E0207", 2, "distance"),
    ("cast_bad_type", F + 'x = flights | derive(y = cast(distance, integer))\nx | write_csv("o.csv")',
     "E0121", 2, "type"),
    ("join_collision", F + W + 'x = flights | join(weather, on=[origin])\nx | write_csv("o.csv")',
     "E0310", 3, "time_hour"),
    ("join_key_missing", F + W + 'x = flights | join(weather, on=[dest])\nx | write_csv("o.csv")',
     "E0201", 3, "dest"),
    ("join_bad_how", F + W + 'x = flights | select(origin, time_hour) | join(weather, on=[origin, time_hour], how="outer")\n'
     'x | write_csv("o.csv")', "E0304", 3, "outer"),
    ("join_int_with_float_key", 'l = read_csv("l.csv", schema={k: int, a: str})\nr = read_csv("r.csv", schema={k: float, b: str})\n'
     'x = l | join(r, on=[k])\nx | write_csv("o.csv")', "E0312", 3, "float"),
    ("join_right_column_named_like_left_key", 'l = read_csv("l.csv", schema={g: int, a: str})\n'
     'r = read_csv("r.csv", schema={h: int, g: str})\nx = l | join(r, on=[g == h], how="left")\nx | write_csv("o.csv")',
     "E0310", 3, "`g`"),
    ("join_right_key_named_like_left_column", 'l = read_csv("l.csv", schema={k: int, x: int})\n'
     'r = read_csv("r.csv", schema={x: int, v: str})\nx = l | join(r, on=[k == x], how="right")\nx | write_csv("o.csv")',
     "E0310", 3, "`x`"),
    ("round_digits_column", F + 'x = flights | derive(r = round(distance, year))\nx | write_csv("o.csv")',
     "E0210", 2, "constant"),
    ("union_mismatch", F + W + 'x = flights | union(weather)\nx | write_csv("o.csv")', "E0313", 3, "union"),
    ("nullable_feature", F + 'ok = flights | filter(arr_delay is not null) | derive(late = arr_delay > 15)\n'
     'm = ok | fit(logistic_regression(), features=[dep_delay], label=late)\nm | save_model("m")',
     "E0402", 3, "dep_delay"),
    ("timestamp_feature", F + 'ok = flights | filter(arr_delay is not null) | derive(late = arr_delay > 15)\n'
     'm = ok | fit(logistic_regression(), features=[time_hour], label=late)\nm | save_model("m")',
     "E0401", 3, "time_hour"),
    ("unknown_estimator", F + 'ok = flights | filter(arr_delay is not null) | derive(late = arr_delay > 15)\n'
     'm = ok | fit(logistic_regresion(), features=[distance], label=late)\nm | save_model("m")',
     "E0404", 3, "logistic_regresion"),
    ("regressor_bool_label", F + 'ok = flights | filter(arr_delay is not null) | derive(late = arr_delay > 15)\n'
     'm = ok | fit(linear_regression(), features=[distance], label=late)\nm | save_model("m")',
     "E0403", 3, "late"),
    ("predict_missing_feature", F + 'ok = flights | filter(arr_delay is not null)\n'
     'm = ok | fit(linear_regression(), features=[distance], label=arr_delay)\n'
     's = ok | select(carrier) | predict(m)\ns | write_csv("s.csv")', "E0405", 4, "distance"),
    ("wrong_metric", F + 'ok = flights | filter(arr_delay is not null)\n'
     'm = ok | fit(linear_regression(), features=[distance], label=arr_delay)\n'
     'r = ok | predict(m) | evaluate(label=arr_delay, metrics=["accuracy"])\nr | write_json("r.json")',
     "E0406", 4, "accuracy"),
    ("unknown_step", F + 'x = flights | filtr(distance > 3)\nx | write_csv("o.csv")', "E0301", 2, "filtr"),
    ("unknown_step_argument", F + 'x = flights | join(flights, keys=[year])\nx | write_csv("o.csv")',
     "E0302", 2, "keys"),
    ("missing_step_argument", 'x = read_csv("f.csv")\nx | write_csv("o.csv")', "E0303", 1, "schema"),
    ("unknown_schema", 'x = read_csv("f.csv", schema=Flights)\nx | write_csv("o.csv")', "E0104", 1, "Flights"),
    ("unbound_name", 'x = flight | limit(3)\nx | write_csv("o.csv")', "E0131", 1, "flight"),
    ("binding_cycle", 'a = b | limit(1)\nb = a | limit(2)\na | write_csv("o.csv")', "E0132", 1, "itself"),
    ("bound_twice", F + 'flights = read_csv("g.csv", schema=Flight)\nflights | write_csv("o.csv")',
     "E0130", 2, "flights"),
    ("sink_in_binding", F + 'x = flights | write_csv("o.csv")', "E0307", 2, "sink"),
    ("chain_result_unused", F + 'flights | limit(3)', "E0307", 2, "not used"),
    ("split_one_name", F + 'x = flights | split(fraction=0.5)\nx | write_csv("o.csv")', "E0133", 2, "split"),
    ("split_by_str", F + 'a, b = flights | split(fraction=0.5, by=carrier)\na | write_csv("a.csv")\n'
     'b | write_csv("b.csv")', "E0304", 2, "int column"),
    ("step_on_model", F + 'ok = flights | filter(arr_delay is not null)\n'
     'm = ok | fit(linear_regression(), features=[distance], label=arr_delay)\n'
     'x = m | filter(distance > 1)\nx | write_csv("x.csv")', "E0305", 4, "filter"),
    ("param_default_type", 'param n: int = 2.5\nx = read_csv("f.csv", schema=Flight) | limit($n)\nx | write_csv("o.csv")',
     "E0122", 1, "n"),
    ("param_unknown_type", 'param n: integer = 2\nx = read_csv("f.csv", schema=Flight)\nx | write_csv("o.csv")',
     "E0121", 1, "integer"),
    ("null_derive", F + 'x = flights | derive(y = null)\nx | write_csv("o.csv")', "E0203", 2, "null"),
    ("filter_null", F + 'x = flights | filter(null)\nx | write_csv("o.csv")', "E0208", 2, "always null"),
    ("python_cache_not_a_bool", F + 'x = flights | python("m:f", schema={carrier: str}, cache="no")\n'
     'x | write_csv("o.csv")', "E0304", 2, "`cache` takes `true` or `false`"),
    ("sample_fraction_above_one", F + 'x = flights | sample(1.5)\nx | write_csv("o.csv")', "E0304", 2, "1.5"),
    ("kmeans_zero_clusters", F + 'm = flights | fit(kmeans(k=0), features=[distance])\nm | save_model("m")',
     "E0304", 2, "at least 1"),
    ("multiclass_metric_without_features", F + 'ok = flights | filter(dep_delay is not null)\n'
     'm = ok | fit(logistic_regression(), features=[dep_delay, distance], label=carrier)\n'
     'r = ok | predict(m) | select(carrier, prediction, probability) | evaluate(label=carrier, metrics=["roc_auc"])\n'
     'r | write_json("r.json")', "E0405", 4, "dep_delay"),
    ("param_declared_twice", 'param n: int = 1\nparam n: int = 2\nx = read_csv("f.csv", schema=Flight) | limit($n)\n'
     'x | write_csv("o.csv")', "E0120", 2, "twice"),
]

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.mark.parametrize("name,body,code,line,words", CASES, ids=[c[0] for c in CASES])
def test_wrong_program_reports_code_line_and_name(program, prelude_lines, name, body, code, line, words):
    p = program(body)
    assert not p.ok
    first = p.errors[0]
    assert first.code == code, [(d.code, d.message) for d in p.errors]
    assert first.span is not None and first.span.line == prelude_lines + 1 + line
    assert words in first.message + " " + (first.label or ""), first.message
    rendered = render_terminal(p.errors, p.sources)
    assert "Traceback" not in rendered
    snapshot = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("PIPEC_UPDATE_SNAPSHOTS") or not snapshot.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        snapshot.write_text(rendered)
    assert rendered == snapshot.read_text()


def test_unknown_option_and_bad_option_value(program):
    p = program('x = read_csv("f.csv", schema=Flight)\nx | write_csv("o.csv")',
                header='pipeline p(schedul="@daily", retries="two")')
    assert [(d.code, d.help) for d in p.errors][:1] == [("E0110", "did you mean `schedule`?")]
    assert [d.code for d in p.errors] == ["E0110", "E0111"]


def test_all_errors_of_a_file_are_reported_in_one_run(program):
    body = F + W + ('a = flights | filter(arr_delayy > 1)\nb = weather | derive(t = lower(temp))\n'
                    'c = flights | fit(kmeans(), features=[distance])\n'
                    'a | write_csv("a.csv")\nb | write_csv("b.csv")\nc | save_model("c")')
    p = program(body)
    assert [d.code for d in p.errors] == ["E0201", "E0203", "E0303"]


def test_missing_import_and_import_cycle(tmp_path):
    from pipec.compiler.check import check_file

    (tmp_path / "a.pipe").write_text('import "b.pipe"\nimport "missing.pipe"\n')
    (tmp_path / "b.pipe").write_text('import "a.pipe"\nschema S { x: int }\n')
    p = check_file(tmp_path / "a.pipe")
    codes = sorted(d.code for d in p.errors)
    assert codes == ["E0101", "E0102"]
    missing = next(d for d in p.errors if d.code == "E0101")
    assert missing.span.line == 2 and "missing.pipe" in missing.message


def test_unused_binding_is_a_warning_not_an_error(program):
    p = program(F + 'x = flights | limit(1)\ny = flights | limit(2)\nx | write_csv("o.csv")')
    assert p.ok
    assert [(d.code, d.severity) for d in p.diagnostics] == [("W0001", "warning")]
    assert "`y`" in p.diagnostics[0].message


def test_negative_retries_and_options_from_params_are_rejected(program):
    p = program('x = read_csv("f.csv", schema=Flight)\nx | write_csv("o.csv")',
                header='pipeline p(retries=-1, owner=$who)')
    assert [(d.code, d.message.split(":")[0]) for d in p.errors] == [
        ("E0111", "option `retries` must be an integer that is not negative"),
        ("E0111", "option `owner` must be a literal")]


def test_too_deeply_nested_expression_is_a_diagnostic_not_a_crash(program):
    p = program('x = read_csv("f.csv", schema={a: int}) | filter(' + " + ".join(["a"] * 3000) + ' > 0)\n'
                'x | write_csv("o.csv")')
    assert [d.code for d in p.errors] == ["E0006"]


T = 'param p: float = 0.5\nparam n: int = 10\nt = read_csv("f.csv", schema={a: int, b: float, l: bool})\n'


@pytest.mark.parametrize("step", ["sample($p)", "split(fraction=$p)", "limit($n)"])
def test_numeric_arguments_may_be_params(program, step):
    chain = f"a, b = t | {step}\nb | write_csv(\"b.csv\")\na | write_csv(\"a.csv\")" if "split" in step \
        else f"x = t | {step}\nx | write_csv(\"x.csv\")"
    assert program(T + chain).ok
    assert program(T + chain, params={"p": "0.25", "n": "0"}).ok


@pytest.mark.parametrize("chain,params,words", [
    ('x = t | sample($p)', {"p": "1.5"}, "`fraction` must be above 0 and at most 1"),
    ('x, y = t | split(fraction=$p)', {"p": "1"}, "`fraction` must be between 0 and 1"),
    ('x = t | limit($n)', {"n": "-1"}, "must be at least 0"),
    ('m = t | fit(random_forest_classifier(n_trees=$n), features=[a], label=l)', {"n": "0"},
     "`n_trees` of `random_forest_classifier` must be at least 1"),
    ('m = t | fit(logistic_regression(reg=$p), features=[a], label=l)', {"p": "-1"},
     "`reg` of `logistic_regression` must be at least 0"),
    ('m = t | fit(kmeans(k=$n), features=[a, b])', {"n": "0"}, "`k` of `kmeans` must be at least 1"),
])
def test_param_values_are_checked_like_literals(program, prelude_lines, chain, params, words):
    """An override (`-p`, or `params=` of the API) is E0124 at the argument; a bad default is E0304
    with a label on the declaration."""
    p = program(T + chain + '\nx | write_csv("x.csv")')
    overridden = program(T + chain + '\nx | write_csv("x.csv")', params=params)
    bad = overridden.errors[0]
    assert bad.code == "E0124" and words in bad.message and "$" in bad.message
    assert bad.span.line == prelude_lines + 1 + 4
    assert not any(d.code in ("E0124", "E0304") for d in p.errors)
    name, value = next(iter(params.items()))
    defaulted = program(T.replace(f"param {name}:", f"param {name}:").replace(
        {"p": "= 0.5", "n": "= 10"}[name], f"= {value}") + chain + '\nx | write_csv("x.csv")')
    bad = defaulted.errors[0]
    assert bad.code == "E0304" and words in bad.message and bad.labels[0].span.line == prelude_lines + 1 + (1 if name == "p" else 2)


def test_two_sinks_of_one_path_are_an_error_with_both_locations(program, prelude_lines):
    p = program('param dir: str = "out"\nt = read_csv("in.csv", schema={x: int})\n'
                't | write_csv("${dir}/x.csv")\nt | limit(1) | write_csv("./out/../out/x.csv")')
    (bad,) = p.errors
    assert bad.code == "E0140" and "`out/x.csv`" in bad.message
    assert (bad.span.line, bad.labels[0].span.line) == (prelude_lines + 5, prelude_lines + 4)
    assert program('param dir: str = "out"\nt = read_csv("in.csv", schema={x: int})\n'
                   't | write_csv("${dir}/x.csv")\nt | limit(1) | write_csv("./out/../out/x.csv")',
                   params={"dir": "elsewhere"}).ok


def test_sink_over_a_source_of_the_file_is_an_error_also_across_pipelines():
    from pipec.compiler.check import check_source

    text = ('pipeline a() {\n  t = read_csv("in.csv", schema={x: int})\n  t | write_csv("out/x.csv")\n}\n'
            'pipeline b() {\n  t = read_csv("./out/x.csv", schema={x: int})\n  t | write_csv("out/y.csv")\n'
            '  t | write_csv("out/x.csv")\n}\n'
            'pipeline c() {\n  t = read_csv("/data/in.csv", schema={x: int})\n  t | write_csv("data/in.csv")\n}\n')
    p = check_source(text, "f.pipe")
    assert sorted((d.code, d.span.line) for d in p.errors) == [("E0140", 8), ("E0141", 3)]
    assert "(pipelines `a` and `b`)" in next(d for d in p.errors if d.code == "E0140").message


@pytest.mark.parametrize("path", ["../x.csv", "/tmp/x.csv", "~/x.csv", "out/../../x.csv", "${dest}/x.csv", "."])
def test_confine_outputs_rejects_sinks_outside_the_base_directory(program, prelude_lines, path):
    body = f'param dest: str = ".."\nt = read_csv("in.csv", schema={{x: int}})\nt | write_csv("{path}")'
    p = program(body, header="pipeline p(confine_outputs=true)")
    assert [d.code for d in p.errors] == ["E0142"] and p.errors[0].span.line == prelude_lines + 4
    assert program(body).ok


def test_confine_outputs_accepts_paths_below_the_base_directory_and_checks_overrides(program):
    body = 'param dest: str = "out"\nt = read_csv("../in.csv", schema={x: int})\nt | write_csv("${dest}/./a/../x.csv")'
    assert program(body, header="pipeline p(confine_outputs=true)").ok
    bad = program(body, params={"dest": "/"}, header="pipeline p(confine_outputs=true)")
    assert [d.code for d in bad.errors] == ["E0142"] and "is absolute" in bad.errors[0].message


def test_airflow_limits_are_checked_for_every_target(program, prelude_lines):
    """A tag over 100 characters or a DAG id over 250 breaks the DAG import; both are found here."""
    body = 'x = read_csv("f.csv", schema=Flight)\nx | write_csv("o.csv")'
    p = program(body, header='pipeline p(tags=["ok", "' + "t" * 101 + '"])')
    assert [d.code for d in p.errors] == ["E0111"] and "101" in p.errors[0].message
    assert program(body, header='pipeline p(tags=["' + "t" * 100 + '"])').ok
    p = program(body, header="pipeline " + "p" * 251 + "()")
    assert [d.code for d in p.errors] == ["E0107"] and p.errors[0].span.line == prelude_lines + 1
    assert program(body, header="pipeline " + "p" * 250 + "()").ok


@pytest.mark.parametrize("step", ["filter", "expect"])
def test_sql_equals_in_a_condition_suggests_double_equals(program, step):
    p = program(F + f'x = flights | {step}(carrier = "AA")\nx | write_csv("o.csv")')
    assert p.errors[0].code == "E0302" and "use `==`" in p.errors[0].help


def test_tasks_option_takes_fine_or_coarse(program):
    body = 'x = read_csv("f.csv", schema={a: int})\nx | write_csv("o.csv")'
    p = program(body, header='pipeline p(tasks="tiny")')
    assert [(d.code, d.message, d.help) for d in p.errors] == [
        ("E0111", "option `tasks` must be \"fine\" or \"coarse\", not 'tiny'", 'tasks="fine" or tasks="coarse"')]
    assert program(body, header='pipeline p(tasks="coarse")').ok
