"""The Spark backend behind the Backend protocol: compile a plan to a PySpark job, and run one."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any, Sequence

from pipec.backends.base import EXIT_FAILED, EXIT_OK, RunObserver, RunOptions, stated_params, unsupported_steps
from pipec.backends.spark import CAPABILITIES, codegen
from pipec.backends.spark.expressions import UnsupportedExpression
from pipec.compiler.diagnostics import Diagnostic
from pipec.compiler.ir import IR
from pipec.compiler.plan import Plan, unoptimized_plan
from pipec.runtime_contract import JOB_EVENTS_VARIABLE, param_argument, run_arguments
from pipec.stdlib.steps.load_model import engine_mismatches

INTERRUPTED_BY_SIGINT, INTERRUPTED_BY_SIGTERM = 130, 143  # 128 + the signal's number, as shells report


class SparkBackend:
    name = "spark"
    capabilities = CAPABILITIES

    @property
    def supported_steps(self) -> frozenset[str]:
        """The steps with a registered emitter."""
        return frozenset(codegen.EMITTERS)

    def check_supported(self, ir: IR) -> list[Diagnostic]:
        """E0601 for steps Spark cannot run, and for expressions it cannot translate."""
        problems = unsupported_steps(self, ir) + engine_mismatches(ir, "spark")
        if problems:
            return problems
        try:
            codegen.generate_job(unoptimized_plan(ir))
        except UnsupportedExpression as exc:
            return [Diagnostic(code="E0601", message=str(exc), span=exc.span,
                               label="not available on spark")]
        return []

    def compile(self, plan: Plan, out_dir: Path) -> list[Path]:
        return [codegen.compile(plan, out_dir)]

    def run(self, plan: Plan, params: dict[str, Any], workdir: Path, record: RunObserver,
            options: RunOptions) -> int:
        """`pipec run`: compile the job into a scratch folder and run it as `python job.py --param ...`
        in `workdir`; the job prints its own progress and errors (it exits 1 on bad data, as a
        local run does). A job whose outputs are all up to date is not started (spark/reuse.py)."""
        from pipec.backends.scratch import scratch_folder
        from pipec.backends.spark.reuse import job_reuse, remember_job, report_reused, restore_outputs, up_to_date
        from pipec.lineage.openlineage import run_events

        record.plan = plan
        reuse = job_reuse(plan, {**params, **options.run}, workdir, options)
        with scratch_folder("spark") as scratch, run_events(
                plan, stated_params(plan.ir, params, options.run), workdir, record.run_id, self.capabilities.engine) as events:
            if up_to_date(reuse):
                for path in restore_outputs(reuse, {**params, **options.run}, workdir):
                    print(f"restored {path} from the cache", file=sys.stderr)
                print(f"{plan.ir.pipeline}: every output is up to date; the Spark job was not started", file=sys.stderr)
                report_reused(reuse, record)
                events.completed()
                return EXIT_OK
            job = codegen.compile(plan, scratch.path)
            print(f"running {plan.ir.pipeline} as a local Spark job", file=sys.stderr)
            reported = scratch.path / "job-events.jsonl" if events.wanted else None
            done = run_job(job, params, workdir, capture=False, scratch_locks=[scratch.lock_fd], run=options.run,
                           events=reported)
            interrupted = done.returncode in (INTERRUPTED_BY_SIGINT, INTERRUPTED_BY_SIGTERM)
            rows = replay_job_events(reported, events)
            if done.returncode == EXIT_OK:
                remember_job(reuse, record)
                events.completed(rows=rows)
            else:
                events.failed(f"the Spark job exited with status {done.returncode}",
                              state="ABORT" if interrupted else "FAIL")
        if done.returncode == EXIT_OK or interrupted:  # the job said why it stopped
            return done.returncode
        return EXIT_FAILED

    def job_source(self, plan: Plan) -> str:
        """The source of the standalone PySpark job for `plan` (what an Airflow task runs)."""
        return codegen.generate_job(plan)


BACKEND = SparkBackend()


def replay_job_events(path: Path | None, events) -> dict[str, int]:
    """Give `events` (pipec/lineage/openlineage.py) the stage events the job reported in `path`
    (runtime.JobEvents), and return the rows of each output by its absolute local path."""
    if path is None or not path.exists():
        return {}
    rows: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["event"] == "output_rows":
            target = urllib.parse.urlparse(event["path"])
            if target.scheme in ("", "file"):
                rows[urllib.parse.unquote(target.path)] = event["rows"]
        else:
            events.on_event(event)
    return rows


def run_job(path: Path | str, params: dict[str, Any], workdir: Path | str,
            capture: bool = True, scratch_locks: Sequence[int] = (),
            run: dict[str, str] | None = None, events: Path | None = None) -> subprocess.CompletedProcess:
    """Run a compiled job as `python -P JOB --param name=value ...` in `workdir` (used by
    `pipec run --target spark`). Exit code 0: success, 1: data or check failure, 2: bad params.
    On Ctrl-C the job gets SIGINT and is waited for, then `JobInterrupted` is raised.

    `-P` keeps the job's folder off `sys.path`: a job is named after its pipeline, and a pipeline
    named `json` or `copy` would otherwise be imported in place of that module. The job holds
    `scratch_locks`, the locks of the scratch folder it is in (pipec.backends.scratch), and
    reports its stages and output rows in `events` (runtime_contract.JOB_EVENTS_VARIABLE) if given."""
    command = [sys.executable, "-P", str(Path(path).resolve())]
    for name, value in params.items():
        command += ["--param", f"{name}={value if isinstance(value, str) else param_argument(value)}"]
    if run is not None:  # the run context (runtime_contract.run_context); else the job's default
        command += run_arguments(run)
    pipe = subprocess.PIPE if capture else None
    environment = dict(os.environ)
    if events is not None:
        environment[JOB_EVENTS_VARIABLE] = str(events)
    with subprocess.Popen(command, cwd=workdir, stdout=pipe, stderr=pipe, text=True, env=environment,
                          pass_fds=scratch_locks) as job:
        try:
            stdout, stderr = job.communicate()
        except KeyboardInterrupt as exc:
            # let the job finish or drop its commit and say which (killing it could cut a commit)
            job.send_signal(signal.SIGINT)
            job.wait()
            raise JobInterrupted(job.returncode) from exc
    return subprocess.CompletedProcess(command, job.returncode, stdout, stderr)


class JobInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped `pipec run --target spark`; the job had the chance to report."""

    def __init__(self, returncode: int):
        super().__init__(returncode)
        # 130: the job printed what happened to its outputs; otherwise it died before it started
        self.message = "" if returncode == 130 else "interrupted before commit: no output was changed"
