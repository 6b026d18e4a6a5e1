"""Programs that must check, and the schemas and IR they produce."""
from __future__ import annotations

from pathlib import Path

from pipec.compiler.check import check_file, check_source
from pipec.compiler.types import ModelType, TableType, col


LANGUAGE_EXAMPLE = Path(__file__).parent / "data" / "language_example.pipe"


def schema_of(p, node_id):
    out = p.pipelines["p"].node(node_id).output
    assert isinstance(out, TableType)
    return {f.name: str(f.type) for f in out.schema_.fields}


def test_language_md_example_checks_with_every_step_typed():
    p = check_file(LANGUAGE_EXAMPLE)
    assert p.ok, [d.message for d in p.diagnostics]
    ir = p.pipelines["flight_delays"]
    assert ir.options.schedule == "@daily" and ir.options.retry_delay == 300
    assert ir.options.tags == ["flights", "ml"]
    assert [s.name for s in ir.params] == ["data_dir", "min_distance", "seed"]
    features = ir.node("features").output.schema_
    assert [(f.name, str(f.type)) for f in features.fields] == [
        ("carrier", "str"), ("origin", "str"), ("log_distance", "float"), ("temp", "float"),
        ("wind_speed", "float"), ("late", "bool")]
    model = ir.node("model").output
    assert isinstance(model, ModelType) and model.model_kind == "classifier"
    assert model.label.type == col("bool")
    scored = ir.node("scored").output.schema_
    assert scored.get("prediction") == col("bool") and scored.get("probability") == col("float")
    assert ir.node("report").output.names == ("accuracy", "roc_auc")
    by_carrier = ir.node("by_carrier").output.schema_
    assert [(f.name, str(f.type)) for f in by_carrier.fields] == [
        ("carrier", "str"), ("flights", "int"), ("late_rate", "float")]
    assert {n.step for n in ir.sinks()} == {"write_parquet", "write_csv", "write_json", "save_model"}


def test_filter_is_not_null_narrows_and_comparison_keeps_nullability(program, flights_source):
    p = program(flights_source + 'x = flights | filter(arr_delay is not null and dep_delay > 0)\n'
                                 '  | derive(late = arr_delay > 15, early = dep_delay < 0)\n'
                                 'x | write_csv("o.csv")')
    assert p.ok, p.diagnostics
    s = schema_of(p, "x")
    assert s["arr_delay"] == "float" and s["dep_delay"] == "float?"
    assert s["late"] == "bool" and s["early"] == "bool?"


def test_join_left_makes_right_columns_nullable_and_keeps_keys_once(program, flights_source):
    p = program(flights_source + 'x = flights | join(weather, on=[origin, time_hour], how="left")\n'
                                 'x | write_csv("o.csv")')
    assert p.ok, p.diagnostics
    s = schema_of(p, "x")
    assert list(s)[-2:] == ["temp", "wind_speed"] and s["origin"] == "str"
    assert list(s).count("origin") == 1


def test_join_with_differently_named_keys_and_full_join(program, flights_source):
    p = program(flights_source + 'w = weather | rename(o = origin)\n'
                                 'x = flights | select(origin, time_hour, carrier)'
                                 ' | join(w, on=[origin == o, time_hour], how="full")\n'
                                 'x | write_csv("o.csv")')
    assert p.ok, p.diagnostics
    assert schema_of(p, "x") == {"origin": "str", "time_hour": "timestamp", "carrier": "str?",
                                 "temp": "float?", "wind_speed": "float?"}


def test_aggregate_output_is_by_columns_then_aggregates(program, flights_source):
    p = program(flights_source + 'x = flights | aggregate(by=[carrier, origin], n = count(), '
                                 'avg = mean(arr_delay), total = sum(year), sd = std(distance), '
                                 'late = mean(cast(arr_delay > 15, float)))\n'
                                 'x | write_csv("o.csv")')
    assert p.ok, p.diagnostics
    assert schema_of(p, "x") == {"carrier": "str", "origin": "str", "n": "int", "avg": "float?",
                                 "total": "int", "sd": "float?", "late": "float?"}


def test_every_table_step_types(program, flights_source):
    body = flights_source + '''
a = flights | select(carrier, d = distance * 2) | rename(dist = d) | drop(carrier)
b = flights | fill_null(dep_delay = 0, tailnum = "?") | drop_nulls(arr_delay) | distinct(carrier, origin)
c = flights | sort(-distance, carrier) | limit(10) | sample(0.5, seed=3)
d = flights | union(flights) | select(year) | derive(y2 = year // 2, m = year % 7, f = year / 2)
t1, t2 = flights | split(fraction=0.7, seed=1, by=year)
e = flights | python("mymod:fn", schema={carrier: str, n: int}, factor=2)
a | write_csv("a.csv")
b | write_csv("b.csv")
c | write_json("c.json")
d | write_parquet("d.parquet")
t1 | write_csv("t1.csv")
t2 | write_csv("t2.csv")
e | write_csv("e.csv")
'''
    p = program(body)
    assert p.ok, [d.message for d in p.diagnostics]
    assert schema_of(p, "a") == {"dist": "float"}
    assert schema_of(p, "b") == {"carrier": "str", "origin": "str"}
    assert schema_of(p, "d") == {"year": "int", "y2": "int", "m": "int", "f": "float"}
    ir = p.pipelines["p"]
    assert ir.node("t1").args.part == 0 and ir.node("t2").args.part == 1
    assert ir.node("t1").inputs == ir.node("t2").inputs == ["flights"]
    assert schema_of(p, "e") == {"carrier": "str", "n": "int"}


def test_expression_functions_type(program, flights_source):
    body = flights_source + '''x = flights | select(
  a = abs(dep_delay), b = round(distance, 1), c = floor(distance), d = sqrt(distance),
  e = lower(carrier), f = length(carrier), g = contains(carrier, "A"), h = substr(carrier, 1, 2),
  i = concat(carrier, "-", origin), j = replace(carrier, "A", "B"), k = coalesce(dep_delay, 0.0),
  l = if(distance > 100, "far", "near"), m = year(time_hour), n = weekday(time_hour), o = date(time_hour),
  q = cast(year, str), r = cast("12", int), s = origin in ["JFK", "LGA"], t = pow(distance, 2),
  u = time_hour >= "2013-06-01T00:00:00Z", v = not (distance > 3) or tailnum is null)
x | write_csv("x.csv")'''
    p = program(body)
    assert p.ok, [d.message for d in p.diagnostics]
    assert schema_of(p, "x") == {
        "a": "float?", "b": "float", "c": "float", "d": "float", "e": "str", "f": "int", "g": "bool",
        "h": "str", "i": "str", "j": "str", "k": "float", "l": "str", "m": "int", "n": "int",
        "o": "date", "q": "str", "r": "int?", "s": "bool", "t": "float", "u": "bool", "v": "bool"}


def test_models_regressor_clusterer_and_metrics(program, flights_source):
    body = flights_source + '''ok = flights | filter(arr_delay is not null and dep_delay is not null)
reg = ok | fit(linear_regression(reg=0.1), features=[dep_delay, distance, carrier], label=arr_delay)
km = ok | fit(kmeans(k=3), features=[dep_delay, distance])
scored = ok | predict(reg)
clusters = ok | predict(km)
m = scored | evaluate(label=arr_delay, metrics=["rmse", "r2"]) | expect(r2 > 0.1, rmse < 100)
checked = scored | expect(row_count() > 10, mean(arr_delay) < 60)
m | write_json("m.json")
clusters | write_csv("c.csv")
checked | write_csv("s.csv")
km | save_model("km")'''
    p = program(body)
    assert p.ok, [d.message for d in p.diagnostics]
    assert schema_of(p, "clusters")["prediction"] == "int" and "probability" not in schema_of(p, "clusters")
    assert schema_of(p, "scored")["prediction"] == "float"
    ir = p.pipelines["p"]
    assert ir.node("reg").args.params[0].expr.value == 0.1
    assert ir.node("m__0_evaluate").args.task == "regression"
    assert [n.expr.value for n in ir.node("km").args.params] == [3, 0]


def test_int_label_regressor_predicts_float_and_evaluate_reads_the_model(program, flights_source):
    body = flights_source + '''reg = flights | fit(linear_regression(), features=[distance], label=month)
clf = flights | fit(logistic_regression(), features=[distance], label=carrier)
by_month = flights | predict(reg) | evaluate(label=month, metrics=["rmse"])
by_carrier = flights | predict(clf) | filter(distance > 100) | evaluate(label=carrier, metrics=["log_loss"])
by_month | write_json("m.json")
by_carrier | write_json("c.json")'''
    p = program(body)
    assert p.ok, [d.message for d in p.diagnostics]
    ir = p.pipelines["p"]
    assert ir.node("by_month__0_predict").output.schema_.get("prediction") == col("float")
    assert ir.node("by_carrier__0_predict").output.schema_.get("prediction") == col("str")
    assert ir.node("by_month").inputs == ["by_month__0_predict", "reg"]
    assert ir.node("by_carrier").inputs == ["by_carrier__1_filter", "clf"]


def test_bindings_may_be_used_before_they_are_bound(program):
    p = program('b | write_csv("b.csv")\nb = a | limit(1)\na = read_csv("a.csv", schema={x: int})')
    assert p.ok, p.diagnostics
    assert p.pipelines["p"].node("b").inputs == ["a"]


def test_param_overrides_are_type_checked_and_applied(program):
    body = 'param n: int = 3\nparam when: date = "2013-01-01"\nparam names: list[str] = ["a"]\n' \
           'a = read_csv("${names}.csv", schema={x: int}) | limit($n)\na | write_csv("o.csv")'
    p = program(body, {"n": "7", "when": "2014-02-03", "names": "x,y"})
    assert p.ok, p.diagnostics
    assert [s.default for s in p.pipelines["p"].params] == [7, "2014-02-03", ["x", "y"]]
    bad = program(body, {"n": "seven"})
    assert [d.code for d in bad.errors] == ["E0124"]


def test_several_pipelines_one_broken_does_not_hide_the_other():
    src = ('pipeline good() {\n  a = read_csv("a.csv", schema={x: int})\n  a | write_csv("o.csv")\n}\n'
           'pipeline bad() {\n  a = read_csv("a.csv", schema={x: int}) | filter(y > 1)\n  a | write_csv("o.csv")\n}\n')
    p = check_source(src, "two.pipe")
    assert list(p.pipelines) == ["good"] and p.failed == ["bad"]


def test_pipe_and_yaml_forms_give_identical_ir():
    root = Path(__file__).parents[2] / "examples" / "flights"
    a = check_file(root / "flight_delays.pipe")
    b = check_file(root / "flight_delays.pipe.yaml")
    assert a.ok and b.ok, (a.diagnostics, b.diagnostics)

    def strip(doc):
        if isinstance(doc, dict):
            return {k: strip(v) for k, v in doc.items() if k not in ("span", "name_span", "source")}
        if isinstance(doc, list):
            return [strip(v) for v in doc]
        return doc

    assert strip(a.pipelines["flight_delays"].to_json()) == strip(b.pipelines["flight_delays"].to_json())


def test_aggregates_without_by_may_see_no_rows_so_only_counts_stay_non_nullable(program, flights_source):
    p = program(flights_source + 'x = flights | filter(distance > 1e9) | aggregate(n = count(), '
                                 'k = count_distinct(carrier), total = sum(year), avg = mean(distance), '
                                 'lo = min(year), hi = max(carrier), mid = median(distance), '
                                 'zero = coalesce(sum(year), 0))\n'
                                 'x | write_csv("o.csv")')
    assert p.ok, p.diagnostics
    assert schema_of(p, "x") == {"n": "int", "k": "int", "total": "int?", "avg": "float?", "lo": "int?",
                                 "hi": "str?", "mid": "float?", "zero": "int"}


def test_full_join_key_is_nullable_when_either_side_key_is(program):
    p = program('l = read_csv("l.csv", schema={k: int?, a: int})\nr = read_csv("r.csv", schema={k: int, b: int})\n'
                'x = l | join(r, on=[k], how="full")\ny = r | join(l, on=[k], how="full")\n'
                'x | write_csv("x.csv")\ny | write_csv("y.csv")')
    assert p.ok, p.diagnostics
    assert schema_of(p, "x")["k"] == "int?" and schema_of(p, "y")["k"] == "int?"


def test_backticked_new_column_names_are_columns_of_the_output(program):
    p = program('t = read_csv("t.csv", schema={a: int})\n'
                'x = t | derive(`late flight` = a > 15) | rename(`a a` = a) | filter(`late flight`)\n'
                'x | write_csv("o.csv")')
    assert p.ok, p.diagnostics
    assert schema_of(p, "x") == {"a a": "int", "late flight": "bool"}
