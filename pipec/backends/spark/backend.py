"""The Spark backend behind the Backend protocol: compile a plan to a PySpark job, and run one."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

from pipec.backends.base import unsupported_steps
from pipec.backends.spark import CAPABILITIES, codegen
from pipec.backends.spark.expressions import UnsupportedExpression
from pipec.compiler.diagnostics import Diagnostic
from pipec.compiler.ir import IR
from pipec.compiler.plan import Plan, unoptimized_plan
from pipec.runtime_contract import param_argument, run_arguments


class SparkBackend:
    name = "spark"
    capabilities = CAPABILITIES

    @property
    def supported_steps(self) -> frozenset[str]:
        """The steps with a registered emitter."""
        return frozenset(codegen.EMITTERS)

    def check_supported(self, ir: IR) -> list[Diagnostic]:
        """E0601 for steps Spark cannot run, and for expressions it cannot translate."""
        problems = unsupported_steps(self, ir)
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

    def job_source(self, plan: Plan) -> str:
        """The source of the standalone PySpark job for `plan` (what an Airflow task runs)."""
        return codegen.generate_job(plan)


BACKEND = SparkBackend()


def run_job(path: Path | str, params: dict[str, Any], workdir: Path | str,
            capture: bool = True, scratch_locks: Sequence[int] = (),
            run: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a compiled job as `python -P JOB --param name=value ...` in `workdir` (used by
    `pipec run --target spark`). Exit code 0: success, 1: data or check failure, 2: bad params.
    On Ctrl-C the job gets SIGINT and is waited for, then `JobInterrupted` is raised.

    `-P` keeps the job's folder off `sys.path`: a job is named after its pipeline, and a pipeline
    named `json` or `copy` would otherwise be imported in place of that module. The job holds
    `scratch_locks`, the locks of the scratch folder it is in (pipec.backends.scratch)."""
    command = [sys.executable, "-P", str(Path(path).resolve())]
    for name, value in params.items():
        command += ["--param", f"{name}={value if isinstance(value, str) else param_argument(value)}"]
    if run is not None:  # the run context (runtime_contract.run_context); else the job's default
        command += run_arguments(run)
    pipe = subprocess.PIPE if capture else None
    with subprocess.Popen(command, cwd=workdir, stdout=pipe, stderr=pipe, text=True, env=dict(os.environ),
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
