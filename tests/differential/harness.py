"""Run one `.pipe` program under every optimizer setting on the local backend and compare what
its sinks wrote, byte for byte; check every written table against the checker's sink schema.

A program reads its data from `${data}` and writes under `${out}` (both params), so that each
setting runs in its own working directory with the same inputs.
"""
from __future__ import annotations

import io
import shutil
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipec.backends.local.runner import run_plan
from pipec.backends.local.runtime import PipelineRunError
from pipec.compiler.check import check_source
from pipec.compiler.passes import PASS_NAMES, optimize
from pipec.compiler.types import Schema
from pipec.runtime_contract import run_context

from generator import RUN_DATE
from sink_schema import check_written_table
from known_issues import KNOWN_ISSUES


@dataclass(frozen=True)
class Setting:
    """One way to compile: an -O level, passes turned off, and whether the run before it recorded
    statistics that this compile then uses."""

    name: str
    level: int = 1
    disable: frozenset[str] = frozenset()
    recorded_statistics: bool = False


SETTINGS = ([Setting("O0", level=0), Setting("O1"), Setting("O1+stats", recorded_statistics=True)]
            + [Setting(f"O1-{p}", disable=frozenset({p})) for p in PASS_NAMES])


@dataclass
class Outcome:
    """What one setting produced: the bytes of every file under `out/`, or the run's error."""

    files: dict[str, bytes] = field(default_factory=dict)
    error: str | None = None  # a PipelineRunError: the program fails; compared by presence only
    crash: str | None = None  # anything else: a bug in pipec

    def summary(self) -> str:
        if self.crash:
            return f"crash: {self.crash.strip().splitlines()[-1]}"
        return f"run error: {self.error}" if self.error is not None else f"files {sorted(self.files)}"


class Divergence(AssertionError):
    """The settings disagree, a setting crashed, or a written file contradicts its schema."""


def checked_ir(text: str, file: str = "fuzz.pipe"):
    """The only pipeline of `text`; a diagnostic is an error here (the generator writes valid programs)."""
    program = check_source(text, file)
    errors = [f"{d.code} {d.message} at {d.span}" for d in program.diagnostics if d.is_error]
    if errors:
        raise Divergence("the checker rejects a generated program:\n" + "\n".join(errors))
    (ir,) = program.pipelines.values()
    return ir


def run_setting(ir, setting: Setting, data: Path, workdir: Path) -> Outcome:
    """Run `ir` compiled with `setting` in a fresh `workdir`."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    params = {"data": str(data), "out": "out", **run_context(RUN_DATE)}
    try:
        runs = 2 if setting.recorded_statistics else 1
        for _ in range(runs):  # the first run records statistics, the second compiles with them
            plan = optimize(ir, level=setting.level, disable=setting.disable, workdir=workdir, params=params)
            run_plan(plan, params, workdir)
    except PipelineRunError as exc:
        return Outcome(error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except Exception:  # noqa: BLE001 - any other exception is the bug this harness looks for
        return Outcome(crash=traceback.format_exc())
    out = workdir / "out"
    files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    return Outcome(files=files)


def comparable(name: str, content: bytes) -> bytes:
    """The bytes compared: exactly the file, unless a known row-order issue is switched on, in
    which case a table's rows are compared as a sorted list (metrics JSON is one line)."""
    if "row_order" not in KNOWN_ISSUES:
        return content
    if name.endswith(".parquet"):
        frame = pl.read_parquet(io.BytesIO(content))
        return repr((frame.schema, sorted(frame.rows(), key=repr))).encode()
    lines = content.split(b"\n")
    return b"\n".join(lines[:1] + sorted(lines[1:])) if name.endswith(".csv") else b"\n".join(sorted(lines))


def differences(ir, outcomes: dict[str, Outcome]) -> list[str]:
    """Everything wrong with a set of outcomes, as readable lines (empty when all agree)."""
    problems = [f"{name}: {o.crash}" for name, o in outcomes.items() if o.crash]
    baseline_name = next(iter(outcomes))
    baseline = outcomes[baseline_name]
    for name, outcome in outcomes.items():
        if outcome.crash or baseline.crash:
            continue
        if (outcome.error is None) != (baseline.error is None) or outcome.files.keys() != baseline.files.keys():
            problems.append(f"{name} ({outcome.summary()}) differs from {baseline_name} ({baseline.summary()})")
            continue
        for file, content in outcome.files.items():
            if comparable(file, content) != comparable(file, baseline.files[file]):
                problems.append(f"{name}: {file} differs from {baseline_name}:\n--- {baseline_name}\n"
                                f"{_show(baseline.files[file])}\n--- {name}\n{_show(content)}")
    return problems


def _show(content: bytes, limit: int = 1500) -> str:
    text = content.decode(errors="replace")
    return text if len(text) <= limit else text[:limit] + "..."


def schema_problems(ir, outcome: Outcome, out: str = "out") -> list[str]:
    """Files whose columns, types or nulls contradict the schema the checker gave their sink (for
    a partitioned sink: each partition's data file, against the schema without the partition
    columns)."""
    problems = []
    for sink in ir.sinks():
        if sink.step == "save_model":
            continue
        relative = sink.args.path.replace("${out}/", "")
        source = ir.node(sink.inputs[0])
        if source.output.kind != "table":
            continue
        schema, written = source.schema_, [relative]
        if getattr(sink.args, "partition_by", None):
            schema = partition_file_schema(schema, sink.args.partition_by)
            written = [f for f in outcome.files if f.startswith(relative + "/") and "/part-" in f]
        for file in written:
            problem = file in outcome.files and check_written_table(file, outcome.files[file], schema)
            if problem:
                problems.append(f"{file} (sink {sink.id}): {problem}")
    return problems


def partition_file_schema(schema: Schema, partition_by: list[str]) -> Schema:
    """The columns a partitioned sink's files hold: its schema without the partition columns."""
    return Schema(fields=tuple(f for f in schema.fields if f.name not in partition_by))


def compare_settings(text: str, data: Path, workdir: Path, settings=SETTINGS) -> list[str]:
    """Run `text` under every setting; the problems found (empty when none)."""
    ir = checked_ir(text)
    outcomes = {s.name: run_setting(ir, s, data, workdir / s.name) for s in settings}
    problems = differences(ir, outcomes)
    baseline = outcomes[settings[0].name]
    if not baseline.crash and baseline.error is None:
        problems += schema_problems(ir, baseline)
    return problems
