"""`pipec run` stops on a Ctrl-C wherever it lands, also while it writes the IR into the run's
record (`IR.to_json`) or fingerprints the plan's nodes (`signature`): exit 130, a one-line message,
no traceback, no output written. A Ctrl-C landing in pydantic's call to Span's serializer there
was once lost (the run went on) or reported as an internal error (exit 3)."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipec.cli import main
from pipec.compiler.ir import IR
from pipec.compiler.passes.cse import cse
from tests.support.interrupts import calls_made_by, run_with_sigint_at_call

PIPELINE = '''pipeline tiny() {
  rows = read_csv("in.csv", schema={a: int, b: str?})
  rows | filter(a > 1) | write_csv("out/tiny.csv")
}
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIPEC_RUNS_DB", raising=False)
    (tmp_path / "in.csv").write_text("a,b\n2,x\n1,\n3,z\n")
    (tmp_path / "tiny.pipe").write_text(PIPELINE)
    return tmp_path


# CSE asks the signature of every node (the first node, a source, has no spans: `signature` alone
# would not reach one).
@pytest.mark.parametrize("work", [IR.to_json, cse], ids=["to_json", "signature"])
def test_a_ctrl_c_in_the_run_is_exit_130_without_a_traceback(capsys, project, work):
    def run() -> int:
        return main(["run", "tiny.pipe"])

    calls = calls_made_by(run, within=work)
    assert calls > 1 and (project / "out" / "tiny.csv").exists()
    (project / "out" / "tiny.csv").unlink()
    capsys.readouterr()
    for number in range(1, calls + 1):
        assert run_with_sigint_at_call(run, number, within=work) == 130, f"SIGINT at call {number}"
        _, err = capsys.readouterr()
        assert err.strip().splitlines()[-1] == "interrupted: no output was changed"
        assert "Traceback" not in err and "internal error" not in err
        assert not (project / "out" / "tiny.csv").exists()
