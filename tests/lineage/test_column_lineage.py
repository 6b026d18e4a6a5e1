"""Static column lineage (pipec/lineage/columns.py over the steps' `lineage` hooks) against
hand-made answers: every step kind, composed along the pipeline, in OpenLineage's vocabulary."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipec.compiler.check import check_file
from pipec.lineage.columns import lineage_of
from pipec.lineage.render import sink_json
from pipec.stdlib.steps import STEPS
from pipec.stdlib.steps.spec import Step

PIPELINE = '''schema A { id: int, x: float?, g: str, y: int }
schema B { id: int, w: float }
pipeline p() {
  a = read_csv("a.csv", schema=A)
  b = read_csv("b.csv", schema=B)
  c = read_csv("c.csv", schema={g: str, y: int})

  t = a
    | filter(y > 0)
    | join(b, on=[id], how="left")
    | fill_null(x = 0.0)
    | derive(z = x * w, k = if(y > 5, g, "small"))
    | rename(group = g)
    | select(id, group, z, k)
    | sort(-z)
    | limit(10)
  t | write_csv("t.csv")

  a2 = a | select(g, y)
  totals = a2 | union(c) | drop_nulls() | aggregate(by=[g], total = sum(y), n = count()) | distinct(g, total)
  totals | write_csv("totals.csv")

  m_in = a | drop(g) | drop_nulls(x)
  train, test = m_in | split(fraction=0.5, seed=1, by=id)
  model = train | fit(linear_regression(), features=[x], label=y)
  scored = test | sample(0.5, seed=2) | predict(model) | expect(row_count() >= 0)
  scored | write_csv("scored.csv")
  model | save_model("model")
  report = scored | evaluate(label=y, metrics=["rmse"])
  report | write_json("metrics.json")

  full = a | select(id, y) | join(b, on=[id], how="full")
  full | write_csv("full.csv")

  py = a | python("mymod:fn", schema={id: int, v: float}) | derive(v2 = v + 1.0)
  mixed = py | join(b, on=[id])
  mixed | write_csv("mixed.csv")
}
'''


@pytest.fixture(scope="module")
def sinks(tmp_path_factory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("lineage")
    (folder / "p.pipe").write_text(PIPELINE)
    program = check_file(str(folder / "p.pipe"), {})
    assert program.ok, program.diagnostics
    lineage = lineage_of(program.pipelines["p"])
    return {Path(s["path"]).name: s for s in (sink_json(lineage, sink) for sink in lineage.sinks)}


def flat(entry: dict) -> dict[str, set[str]]:
    """{"a.x": {"DIRECT TRANSFORMATION", ...}}, plus "?" naming the nodes where lineage is lost."""
    out = {f"{Path(i['source']).stem}.{i['column']}": {f"{t['type']} {t['subtype']}" for t in i["transformations"]}
           for i in entry["inputs"]}
    if entry["unknown"]:
        out["?"] = {u["step"] for u in entry["unknown"]}
    return out


def columns(sink: dict) -> dict[str, dict[str, set[str]]]:
    return {c["name"]: flat(c) for c in sink["columns"]}


ID, TR, AGG = "DIRECT IDENTITY", "DIRECT TRANSFORMATION", "DIRECT AGGREGATION"


def test_row_steps_join_derive_rename_fill_null_select_sort_limit(sinks):
    t = sinks["t.csv"]
    assert columns(t) == {
        "id": {"a.id": {ID}},
        "group": {"a.g": {ID}},
        "z": {"a.x": {TR}, "b.w": {TR}},
        "k": {"a.g": {TR}, "a.y": {"INDIRECT CONDITIONAL"}},
    }
    assert flat(t["rows"]) == {"a.y": {"INDIRECT FILTER"}, "a.id": {"INDIRECT JOIN"}, "b.id": {"INDIRECT JOIN"},
                               "a.x": {"INDIRECT SORT"}, "b.w": {"INDIRECT SORT"}}


def test_union_drop_nulls_aggregate_distinct(sinks):
    totals = sinks["totals.csv"]
    assert columns(totals) == {"g": {"a.g": {ID}, "c.g": {ID}}, "total": {"a.y": {AGG}, "c.y": {AGG}}}
    both = {"INDIRECT FILTER", "INDIRECT GROUP_BY"}
    assert flat(totals["rows"]) == {"a.g": both, "a.y": both, "c.g": both, "c.y": both}


def test_a_count_has_no_source_column(tmp_path):
    (tmp_path / "p.pipe").write_text(PIPELINE.replace("distinct(g, total)", "select(g, n)"))
    program = check_file(str(tmp_path / "p.pipe"), {})
    lineage = lineage_of(program.pipelines["p"])
    totals = next(sink_json(lineage, s) for s in lineage.sinks if s.node.args.path == "totals.csv")
    assert columns(totals)["n"] == {}


def test_predict_the_features_are_direct_and_the_training_data_indirect(sinks):
    scored = sinks["scored.csv"]
    assert columns(scored) == {
        "id": {"a.id": {ID}}, "x": {"a.x": {ID}}, "y": {"a.y": {ID}},
        # the row's own feature (DIRECT), what the model learned from (INDIRECT TRANSFORMATION)
        # and what chose the training rows: drop_nulls(x), split(by=id) (INDIRECT FILTER)
        "prediction": {"a.x": {TR, "INDIRECT TRANSFORMATION", "INDIRECT FILTER"},
                       "a.y": {"INDIRECT TRANSFORMATION"}, "a.id": {"INDIRECT FILTER"}},
    }
    # drop_nulls(x), split(by=id), sample (a hash of the whole row)
    assert flat(scored["rows"]) == {"a.x": {"INDIRECT FILTER"}, "a.id": {"INDIRECT FILTER"},
                                    "a.y": {"INDIRECT FILTER"}}


def test_a_model_folder_and_metrics(sinks):
    assert columns(sinks["model"]) == {"model": {"a.x": {TR, "INDIRECT FILTER"}, "a.y": {TR},
                                                 "a.id": {"INDIRECT FILTER"}}}
    assert sinks["model"]["rows"] == {"inputs": [], "unknown": []}
    rmse = columns(sinks["metrics.json"])["rmse"]
    assert rmse == {"a.y": {AGG, "INDIRECT TRANSFORMATION"}, "a.x": {AGG, "INDIRECT TRANSFORMATION", "INDIRECT FILTER"},
                    "a.id": {"INDIRECT FILTER"}}


def test_a_full_join_key_comes_from_both_sides(sinks):
    assert columns(sinks["full.csv"]) == {"id": {"a.id": {ID}, "b.id": {ID}}, "y": {"a.y": {ID}}, "w": {"b.w": {ID}}}


def test_lineage_through_user_code_is_unknown_never_guessed(sinks):
    mixed = sinks["mixed.csv"]
    assert columns(mixed) == {"id": {"?": {"python"}}, "v": {"?": {"python"}}, "v2": {"?": {"python"}},
                              "w": {"b.w": {ID}}}
    assert flat(mixed["rows"]) == {"b.id": {"INDIRECT JOIN"}, "?": {"python"}}
    unknown = mixed["columns"][0]["unknown"][0]
    assert unknown["function"] == "mymod:fn" and unknown["at"].endswith("p.pipe:35:12")


def test_every_step_answers_for_its_lineage():
    """A new step must say how its columns flow (user code: what its user declared, else unknown)."""
    default = Step.__dataclass_fields__["lineage"].default
    silent = {name for name, step in STEPS.items() if not step.is_source and not step.sink and step.lineage is default}
    assert silent == set()


DECLARED = '''schema Sale { id: int, price: float, qty: int }
pipeline d() {
  sales = read_csv("sales.csv", schema=Sale)
  priced = sales | filter(qty > 0)
    | python("shop:add_total", schema={id: int, total: float, note: str}, rate=0.2,
             lineage=columns(total = [price, qty], id = id))
  priced | sort(total) | write_csv("priced.csv")
}
'''


def test_python_lineage_is_what_the_user_declared_and_the_rest_unknown(tmp_path):
    """Declared columns are DIRECT TRANSFORMATION of the inputs named (the code is not seen, so
    never IDENTITY); an undeclared column and the rows (the function may drop some) stay unknown."""
    (tmp_path / "d.pipe").write_text(DECLARED)
    program = check_file(str(tmp_path / "d.pipe"), {})
    assert program.ok, program.diagnostics
    node = next(n for n in program.pipelines["d"].nodes() if n.step == "python")
    assert node.args.lineage == {"total": ["price", "qty"], "id": ["id"]}
    assert [o.name for o in node.args.options] == ["rate"]  # the function does not get `lineage`
    lineage = lineage_of(program.pipelines["d"])
    (sink,) = [sink_json(lineage, s) for s in lineage.sinks]
    assert columns(sink) == {"id": {"sales.id": {TR}}, "total": {"sales.price": {TR}, "sales.qty": {TR}},
                             "note": {"?": {"python"}}}
    assert flat(sink["rows"]) == {"sales.qty": {"INDIRECT FILTER", "INDIRECT SORT"}, "sales.price": {"INDIRECT SORT"},
                                  "?": {"python"}}


@pytest.mark.parametrize("declaration, code, at", [
    ("columns(totl = [price])", "E0170", "totl"),
    ("columns(total = [prise])", "E0171", "prise"),
    ("columns(total = [price * 2])", "E0172", "price * 2"),
    ("[price]", "E0172", "[price]"),
    ("columns(total = [price], total = [qty])", "E0172", "total = [qty]"),
])
def test_a_bad_lineage_declaration_is_a_located_error(tmp_path, declaration, code, at):
    text = DECLARED.replace("columns(total = [price, qty], id = id)", declaration)
    (tmp_path / "d.pipe").write_text(text)
    program = check_file(str(tmp_path / "d.pipe"), {})
    (error,) = [d for d in program.diagnostics if d.severity == "error"]
    assert error.code == code and text[error.span.start:].startswith(at), error


def test_semi_join_split_without_by_and_expect_on_metrics(tmp_path):
    (tmp_path / "q.pipe").write_text('''schema A { id: int, x: float, late: bool }
schema B { id: int, w: float }
pipeline q() {
  a = read_csv("a.csv", schema=A)
  b = read_parquet("b.parquet", schema=B) | filter(w > 0.0)
  known = a | join(b, on=[id], how="semi")
  train, test = known | split(fraction=0.5, seed=1)
  model = train | fit(logistic_regression(), features=[x], label=late)
  test | predict(model) | evaluate(label=late, metrics=["accuracy"]) | expect(accuracy > 0.5) | write_json("m.json")
  test | write_csv("test.csv")
}
''')
    program = check_file(str(tmp_path / "q.pipe"), {})
    assert program.ok, program.diagnostics
    lineage = lineage_of(program.pipelines["q"])
    found = {Path(s["path"]).name: s for s in (sink_json(lineage, sink) for sink in lineage.sinks)}
    test = found["test.csv"]
    # a semi join brings no right column, but the right side's keys and rows decide the left rows;
    # a split without `by` draws by a hash of the whole row
    assert columns(test) == {"id": {"a.id": {ID}}, "x": {"a.x": {ID}}, "late": {"a.late": {ID}}}
    assert flat(test["rows"]) == {"a.id": {"INDIRECT JOIN", "INDIRECT FILTER"}, "b.id": {"INDIRECT JOIN"},
                                  "b.w": {"INDIRECT FILTER"}, "a.x": {"INDIRECT FILTER"},
                                  "a.late": {"INDIRECT FILTER"}}
    accuracy = columns(found["m.json"])["accuracy"]  # expect passes the metrics on unchanged
    assert accuracy["a.late"] == {AGG, "INDIRECT TRANSFORMATION", "INDIRECT FILTER"}
    assert accuracy["a.x"] == {AGG, "INDIRECT TRANSFORMATION", "INDIRECT FILTER"}
