"""The Python API (`pipec.check/load/plan/compile/run`): which argument is a path, and every
failure that is the user's or the data's fault is a PipecError."""
from __future__ import annotations

from pathlib import Path

import pytest

import pipec
from pipec.backends.local.runtime import PipelineRunError

TINY = '''pipeline tiny() {
  rows = read_csv("in.csv", schema={a: int})
  rows | write_csv("out.csv")
}
'''


@pytest.mark.parametrize("name", ["missing.pipe", "missing.pipe.yaml", "dir/missing.yaml"])
def test_a_missing_pipeline_file_is_e0100_not_parsed_as_text(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert [d.code for d in pipec.check(name)] == ["E0100"]
    assert [d.code for d in pipec.check(Path(name))] == ["E0100"]
    with pytest.raises(pipec.PipecError) as raised:
        pipec.load(name)
    assert raised.value.diagnostics[0].code == "E0100"


def test_source_text_and_existing_files_are_told_apart(tmp_path):
    (tmp_path / "tiny.txt").write_text(TINY)
    assert pipec.check(TINY) == []
    assert pipec.check(str(tmp_path / "tiny.txt")) == []


def test_run_failure_on_data_is_a_pipec_error_keeping_the_runtime_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text("a\n1\nlots\n")
    with pytest.raises(pipec.RunError) as raised:
        pipec.run(TINY, workdir=tmp_path)
    assert isinstance(raised.value, pipec.PipecError)
    assert isinstance(raised.value.error, PipelineRunError) and "in.csv" in str(raised.value)


def test_unknown_target_backend_and_pass_are_pipec_errors_with_a_suggestion():
    with pytest.raises(pipec.ArgumentError, match="did you mean `spark`"):
        pipec.compile(TINY, target="spork")
    ir = pipec.load(TINY).pipelines["tiny"]
    with pytest.raises(pipec.ArgumentError, match="did you mean `local`"):
        pipec.plan(ir, backend="locla")
    with pytest.raises(pipec.ArgumentError, match="did you mean `fusion`"):
        pipec.plan(ir, disable=frozenset({"fusionn"}))
