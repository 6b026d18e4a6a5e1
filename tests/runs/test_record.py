"""Recording never holds a run up: an interrupted run does not wait for a record that cannot open."""
from __future__ import annotations

import threading

from pipec.compiler.check import check_source
from pipec.runs import record


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
