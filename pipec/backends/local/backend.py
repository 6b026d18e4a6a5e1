"""The local backend behind the Backend protocol: the module `pipec run` executes, written out."""
from __future__ import annotations

from pathlib import Path

from pipec.backends.base import unsupported_steps
from pipec.backends.local import CAPABILITIES
from pipec.backends.local.codegen import EMITTERS, generate_module
from pipec.compiler.diagnostics import Diagnostic
from pipec.compiler.ir import IR
from pipec.compiler.plan import Plan


class LocalBackend:
    name = "local"
    capabilities = CAPABILITIES

    @property
    def supported_steps(self) -> frozenset[str]:
        """The steps with a registered emitter."""
        return frozenset(EMITTERS)

    def check_supported(self, ir: IR) -> list[Diagnostic]:
        return unsupported_steps(self, ir)

    def compile(self, plan: Plan, out_dir: Path) -> list[Path]:
        """Write the generated module (what `pipec run` executes) for inspection."""
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{plan.ir.pipeline}_local.py"
        target.write_text(generate_module(plan, "pipec.backends.local.runtime"))
        return [target]

    def stage_module(self, plan: Plan, runtime_module: str) -> str:
        """The source of the module with one function per stage, importing the runtime under the
        name `runtime_module` (what an Airflow task runs)."""
        return generate_module(plan, runtime_module)

    @property
    def runtime_file(self) -> Path:
        """The runtime a stage module imports: self-contained, so it can be copied beside a DAG."""
        return Path(__file__).with_name("runtime.py")


BACKEND = LocalBackend()
