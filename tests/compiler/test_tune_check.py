"""`tune`: the grid, the metric and the validation are checked where they are written, and a
correct call types its two values (the model and the trials table)."""
from __future__ import annotations

import pytest

from pipec.compiler.types import ModelType, TableType
from pipec.stdlib.steps.tune import MAX_CANDIDATES

DATA = ('flights = read_csv("f.csv", schema=Flight, null_values=["NA"])\n'
        '  | filter(arr_delay is not null)\n'
        '  | derive(late = arr_delay > 15)\n')


def tune_body(candidates: str, rest: str = 'metric="roc_auc"') -> str:
    return (DATA + f"best, trials = flights | tune({candidates}, features=[distance, carrier], label=late, {rest})\n"
            'trials | write_csv("t.csv")\nbest | save_model("m")')


TUNE_LINE = 4  # the line of the `tune` call within the body

# (name, candidates, other arguments, code, the text the error points at, words of the message)
CASES = [
    ("grid_value_of_wrong_type", 'random_forest_classifier(n_trees=[10, 2.5])', 'metric="roc_auc"', "E0304", "2.5",
     "`n_trees` of `random_forest_classifier` must be an int"),
    ("grid_value_out_of_range", 'logistic_regression(reg=[0.1, -1.0])', 'metric="roc_auc"', "E0304", "-1.0",
     "at least 0"),
    ("unknown_metric", 'logistic_regression()', 'metric="roc_aux"', "E0406", '"roc_aux"', "roc_aux"),
    ("metric_of_the_other_kind", 'logistic_regression()', 'metric="rmse"', "E0406", '"rmse"',
     "not a classifier metric"),
    ("grid_too_large", 'random_forest_classifier(n_trees=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], '
     'max_depth=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], seed=[1, 2, 3])', 'metric="roc_auc"', "E0408",
     "random_forest_classifier(", f"more than {MAX_CANDIDATES} candidates"),
    ("mixed_kinds", 'logistic_regression(), random_forest_regressor()', 'metric="roc_auc"', "E0409", "[logistic",
     "classifiers and regressors"),
    ("unknown_estimator", 'logistic_regresion()', 'metric="roc_auc"', "E0404", "logistic_regresion",
     "unknown estimator"),
    ("folds_and_holdout", 'logistic_regression()', 'folds=3, holdout=0.2', "E0304", "0.2", "not both"),
    ("one_fold", 'logistic_regression()', 'folds=1', "E0304", "1", "at least 2"),
    ("holdout_out_of_range", 'logistic_regression()', 'holdout=1.5', "E0304", "1.5", "between 0 and 1"),
]


@pytest.mark.parametrize("name,candidates,rest,code,at,words", CASES, ids=[c[0] for c in CASES])
def test_wrong_tune_is_diagnosed_where_it_is_written(program, prelude_lines, name, candidates, rest, code, at, words):
    body = tune_body(f"[{candidates}]", rest)
    p = program(body)
    assert not p.ok
    first = p.errors[0]
    assert first.code == code, [(d.code, d.message) for d in p.errors]
    assert words in first.message, first.message
    line = body.splitlines()[TUNE_LINE - 1]
    assert first.span.line == prelude_lines + 1 + TUNE_LINE
    # the span starts at the offending text (the last occurrence: values repeat in a grid)
    assert first.span.column == line.rindex(at) + 1


def test_tune_gives_a_model_and_a_typed_trials_table(program):
    body = tune_body('[logistic_regression(reg=[0.0, 0.5]), random_forest_classifier(n_trees=[5, 10], max_depth=3)]',
                     'metric="log_loss", folds=3, seed=7')
    p = program(body)
    assert p.ok, [(d.code, d.message) for d in p.errors]
    (ir,) = p.pipelines.values()
    best, trials = ir.node("best"), ir.node("trials")
    assert isinstance(best.output, ModelType) and best.output.model_kind == "classifier"
    assert best.output.features.names == ["distance", "carrier"] and best.output.label.name == "late"
    assert trials.inputs == [best.inputs[0], "best"]  # the trials come with the model: tuning runs once
    assert isinstance(trials.output, TableType)
    assert [(f.name, str(f.type)) for f in trials.output.schema_.fields] == [
        ("candidate", "int"), ("estimator", "str"), ("max_iter", "int?"), ("reg", "float?"), ("n_trees", "int?"),
        ("max_depth", "int?"), ("seed", "int?"), ("log_loss", "float"), ("seconds", "float")]
    grid = [(c.estimator, {p.name: p.expr.value for p in c.params}) for c in best.args.candidates]
    assert grid == [("logistic_regression", {"max_iter": 100, "reg": 0.0}),
                    ("logistic_regression", {"max_iter": 100, "reg": 0.5}),
                    ("random_forest_classifier", {"n_trees": 5, "max_depth": 3, "seed": 0}),
                    ("random_forest_classifier", {"n_trees": 10, "max_depth": 3, "seed": 0})]
    assert best.args.folds == 3 and best.args.metric == "log_loss"


def test_a_param_in_the_grid_is_checked_with_its_value(program):
    p = program("param reg: float = -2.0\n" + tune_body("[logistic_regression(reg=[0.0, $reg])]"))
    assert [e.code for e in p.errors] == ["E0304"] and "$reg" in p.errors[0].message


def test_binding_one_name_to_tune_is_an_error(program):
    p = program(DATA + 'best = flights | tune([logistic_regression()], features=[distance], label=late)\n'
                'best | save_model("m")')
    assert [e.code for e in p.errors] == ["E0133"] and "`tune` gives two values" in p.errors[0].message
