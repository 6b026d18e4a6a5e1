"""Bad data names file, column and row and leaves no output; failed runs keep earlier outputs."""
from __future__ import annotations

import pytest

from pipec.backends.local.runtime import ExpectationFailed, PipelineRunError

SOURCE = """
schema Row { id: int, when: timestamp, score: float? }
pipeline t() {
  rows = read_csv("in.csv", schema=Row, null_values=["NA"])
  rows | write_csv("out/copy.csv")
  rows | expect(row_count() >= 2, max(score) < 10.0) | write_csv("out/checked.csv")
}
"""
GOOD = "id,when,score\n1,2013-01-01T10:00:00Z,1.5\n2,2013-01-01 11:00:00,NA\n"


def outputs(workdir):
    return sorted(p.name for p in (workdir / "out").iterdir()) if (workdir / "out").exists() else []


@pytest.mark.parametrize("text, column, row, words", [
    ("id,score\n1,2.0\n", "when", None, "missing column `when`"),
    ("id,when,score\n1,2013-01-01T10:00:00Z,1.5\n2,yesterday,2.0\n", "when", 2, "'yesterday' is not a valid timestamp"),
    ("id,when,score\n1,2013-01-01T10:00:00Z,1.5\nx2,2013-01-01T10:00:00Z,1.5\n", "id", 2, "'x2' is not a valid int"),
    ("id,when,score\n1,2013-01-01T10:00:00Z,1.5\n2,2013-01-01T10:00:00Z,1\nNA,2013-01-01T10:00:00Z,2\n", "id", 3,
     "null in a column declared `int`"),
])
def test_bad_data_names_file_column_and_row(run_pipe, text, column, row, words):
    with pytest.raises(PipelineRunError) as info:
        run_pipe(SOURCE, files={"in.csv": text})
    error = info.value
    assert words in error.message
    assert error.column == column and error.row == row
    assert error.file.endswith("in.csv") and "in.csv" in error.message
    if row:
        assert f"row {row}" in error.message
    assert outputs(run_pipe.workdir) == []


def test_extra_column_is_a_warning(run_pipe):
    result = run_pipe(SOURCE, files={"in.csv": "id,when,score,extra\n1,2013-01-01T10:00:00Z,1.5,x\n"
                                               "2,2013-01-02T10:00:00Z,2.5,y\n"})
    assert any("`extra`" in w for w in result.warnings)
    assert outputs(run_pipe.workdir) == ["checked.csv", "copy.csv"]


def test_failing_expect_keeps_earlier_outputs_and_writes_nothing(run_pipe):
    run_pipe(SOURCE, files={"in.csv": GOOD})
    before = (run_pipe.workdir / "out" / "copy.csv").read_text()
    with pytest.raises(ExpectationFailed) as info:
        run_pipe(SOURCE, files={"in.csv": "id,when,score\n7,2013-01-01T10:00:00Z,12.5\n"})
    message = info.value.message
    assert "`row_count() >= 2` (observed: row_count() = 1)" in message
    assert "`max(score) < 10.0` (observed: max(score) = 12.5)" in message
    assert (run_pipe.workdir / "out" / "copy.csv").read_text() == before  # the copy sink was not committed
    assert outputs(run_pipe.workdir) == ["checked.csv", "copy.csv"]  # and no temp files are left


def test_interrupt_leaves_no_partial_file(run_pipe, monkeypatch):
    from pipec.backends.local import runtime

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runtime, "expect", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_pipe(SOURCE, files={"in.csv": GOOD})
    assert outputs(run_pipe.workdir) == []


def test_missing_file_is_a_clear_error(run_pipe):
    with pytest.raises(PipelineRunError, match=r"in\.csv: no such file"):
        run_pipe(SOURCE)


def test_param_substitution_in_paths(run_pipe):
    source = """
pipeline t() {
  param name: str = "in"
  rows = read_csv("${name}.csv", schema={id: int})
  rows | write_csv("out/${name}_copy.csv")
}
"""
    (run_pipe.workdir / "other.csv").write_text("id\n5\n")
    result = run_pipe(source, params={"name": "other"})
    assert result.sinks[0].path.endswith("out/other_copy.csv") and result.sinks[0].rows == 1
