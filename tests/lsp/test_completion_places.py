"""What completion offers in each kind of place that is not a column (those: test_completion_columns)."""
from __future__ import annotations

import pytest

from pipec.lsp.analysis import analyse
from pipec.lsp.completion import complete

HEAD = 'pipeline p {\n  param n: int = 1\n  a = read_csv("a.csv", schema={x: int, y: str?})\n'


@pytest.mark.parametrize("text, expected", [
    ("", ["import", "schema", "pipeline"]),
    ("schema S {\n  a: ", ["int", "float", "bool", "str", "date", "timestamp"]),
    ("pipeline p {\n  param x: ", ["int", "float", "bool", "str", "date", "duration", "list[str]", "list[int]"]),
    ("pipeline p(owner=\"me\", ", ["schedule=", "start=", "catchup=", "retries=", "retry_delay=", "timeout=", "tags=", "confine_outputs=", "tasks="]),
    (HEAD + "  b = ", ["read_csv", "read_parquet", "read_json", "read_table", "read_query", "load_model", "a"]),
    (HEAD + "  ", ["a", "param"]),
    (HEAD + "  b = a | join(", ["on=", "how=", "a"]),
    (HEAD + "  b = a | join(a, how=", ['"inner"', '"left"', '"right"', '"full"', '"semi"', '"anti"']),
    (HEAD + "  b = a | filter(x > $", ["n"]),
    (HEAD + "  b = a | filter(", ["x", "y"]),      # the pipeline's `}` is not written yet
    (HEAD + "  b = a | limit(5)\n  c = b | select(", ["x", "y"]),
    (HEAD + "  b = a | filter(x > 1)  # a comment ", []),
    (HEAD + '  b = a | write_csv("out/', []),
    (HEAD + "  m = a | fit(kmeans(", ["k=", "seed="]),
    (HEAD + '  r = a | evaluate(label=x, metrics=["acc',
     ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "rmse", "mae", "r2"]),
])
def test_completion_offers(text: str, expected: list[str]):
    analysis = analyse(text, "/virtual/t.pipe")
    assert [item.label for item in complete(analysis, len(text))] == expected


def test_step_names_after_a_bar_leave_out_sources():
    text = HEAD + "  b = a\n    | "
    labels = [item.label for item in complete(analyse(text, "/virtual/t.pipe"), len(text))]
    assert labels[:3] == ["filter", "select", "derive"] and "write_csv" in labels
    assert not {"read_csv", "read_parquet", "read_json", "read_table", "read_query", "load_model"} & set(labels)
