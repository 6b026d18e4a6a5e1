"""Recording never holds a run up: an interrupted run does not wait for a record that cannot open."""
from __future__ import annotations

import os
import signal
import threading

import pytest

from pipec.backends.local.runner import RunInterrupted
from pipec.compiler.check import check_source
from pipec.runs import record
from pipec.runs.store import open_store


def test_an_interrupted_run_does_not_wait_for_a_stuck_opening(tmp_path, monkeypatch, capsys):
    """Ctrl-C can leave an import lock taken by the main thread; an opening that needs it waits
    forever. Here the opening waits forever on purpose: the interrupted run still ends at once."""
    never = threading.Event()
    monkeypatch.setattr(record.RunRecorder, "_open", lambda self: never.wait())
    monkeypatch.setattr(record, "INTERRUPTED_WAIT_SECONDS", 0.2)
    program = check_source('pipeline p() {\n  read_csv("in.csv", schema={a: int}) | write_csv("o.csv")\n}\n',
                           "p.pipe")
    ir = program.pipelines["p"]
    raised = []

    def interrupted_run() -> None:
        try:
            with record.recording(f"sqlite:///{tmp_path / 'runs.db'}", workdir=tmp_path, file="p.pipe",
                                  sources=program.sources, ir=ir, target="local", engine="polars", opt_level=1,
                                  params={}, overridden=set(), argv=["pipec", "run", "p.pipe"]):
                raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raised.append(exc)

    run = threading.Thread(target=interrupted_run, daemon=True)  # a hang fails the test, never blocks it
    run.start()
    run.join(timeout=10)
    never.set()
    assert not run.is_alive(), "the interrupted run waited for its record"
    assert raised and "run not recorded: the run store was still being opened" in capsys.readouterr().err


def test_ctrl_c_while_a_finished_run_is_being_recorded_waits_for_the_record(tmp_path, monkeypatch):
    """The outputs are written when the record is closed: a signal then lets the record finish
    and says that the outputs were written (not "no output was changed")."""
    finish = record.RunRecorder._finish

    def interrupted_finish(self, *args):
        os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of writing the record
        finish(self, *args)

    monkeypatch.setattr(record.RunRecorder, "_finish", interrupted_finish)
    program = check_source('pipeline p() {\n  read_csv("in.csv", schema={a: int}) | write_csv("o.csv")\n}\n',
                           "p.pipe")
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with pytest.raises(RunInterrupted, match="interrupted after the run ended: all its outputs were written"):
        with record.recording(url, workdir=tmp_path, file="p.pipe", sources=program.sources,
                              ir=program.pipelines["p"], target="spark", engine="spark", opt_level=1, params={},
                              overridden=set(), argv=["pipec", "run", "p.pipe"]) as recorder:
            recorder.exit_code = 0
    assert [r["status"] for r in open_store(url).list_runs()] == ["succeeded"]
