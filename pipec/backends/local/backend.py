"""The local backend behind the Backend protocol: the module `pipec run` executes, written out."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pipec.backends.base import EXIT_OK, RunObserver, RunOptions, stated_params, unsupported_steps
from pipec.backends.local import CAPABILITIES
from pipec.backends.local.codegen import EMITTERS, generate_module
from pipec.compiler.diagnostics import Diagnostic
from pipec.compiler.ir import IR
from pipec.compiler.plan import Plan
from pipec.stdlib.steps.load_model import engine_mismatches


class LocalBackend:
    name = "local"
    capabilities = CAPABILITIES

    @property
    def supported_steps(self) -> frozenset[str]:
        """The steps with a registered emitter."""
        return frozenset(EMITTERS)

    def check_supported(self, ir: IR) -> list[Diagnostic]:
        return unsupported_steps(self, ir) + engine_mismatches(ir, "scikit-learn")

    def compile(self, plan: Plan, out_dir: Path) -> list[Path]:
        """Write the generated module (what `pipec run` executes) for inspection."""
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{plan.ir.pipeline}_local.py"
        target.write_text(generate_module(plan, "pipec.backends.local.runtime"))
        return [target]

    def run(self, plan: Plan, params: dict[str, Any], workdir: Path, record: RunObserver,
            options: RunOptions) -> int:
        """`pipec run`: run the stages in this process (reusing stored stage results unless told
        not to), showing their progress, and print what was written; the record and the
        OpenLineage events get the plan, the result and every stage event."""
        from pipec.backends.local.runner import RunInterrupted, run_plan
        from pipec.backends.local.summary import format_summary
        from pipec.lineage.openlineage import run_events
        from pipec.progress import Progress, stage_names

        record.plan = plan
        print(f"running {plan.ir.pipeline} ({len(plan.stages)} stages)", file=sys.stderr)
        progress = Progress(sys.stderr, stage_names(plan))
        with run_events(plan, stated_params(plan.ir, params, options.run), workdir, record.run_id,
                        self.capabilities.engine) as events:
            result = record.result = run_plan(
                plan, {**params, **options.run}, workdir, on_event=lambda e: (progress(e), record.on_event(e), events.on_event(e)),
                use_cache=options.use_cache, rerun=options.rerun, cache_dir=options.cache_dir)
            events.completed(result)
        try:
            print(format_summary(result))
        except KeyboardInterrupt as exc:
            raise RunInterrupted(f"interrupted after commit: all {len(result.sinks)} outputs were written") from exc
        return EXIT_OK

    def stage_module(self, plan: Plan, runtime_module: str) -> str:
        """The source of the module with one function per stage, importing the runtime under the
        name `runtime_module` (what an Airflow task runs)."""
        return generate_module(plan, runtime_module)

    @property
    def runtime_file(self) -> Path:
        """The runtime a stage module imports: self-contained, so it can be copied beside a DAG."""
        return Path(__file__).with_name("runtime.py")


BACKEND = LocalBackend()
