"""The `pipec` command. Exit codes: 0 ok, 1 user errors (program or data), 2 usage errors.

Heavy modules are imported inside the commands that need them, so `pipec check` stays fast.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

from pipec.backends import BACKENDS
from pipec.runtime_contract import PipelineRunError, parse_interval, run_context

EXIT_OK, EXIT_USER, EXIT_USAGE = 0, 1, 2
TARGETS = ("ir", *BACKENDS)


class UsageError(Exception):
    """A command line that cannot be carried out as written (exit 2)."""


class CheckFailed(Exception):
    """The program's diagnostics are printed; exit with `status`."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


def _status(program) -> int:
    """Exit 2 when only the command line is at fault (a bad `-p`), else 1."""
    return EXIT_USAGE if program.bad_command_line else EXIT_USER


def _params(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"-p expects name=value, got `{pair}`")
        out[name.strip()] = value
    return out


def _print_diagnostics(program_or_diags, target: str, action: str, fmt: str = "text", sources=None) -> None:
    from pipec.compiler.render import render_json, render_terminal, should_color, summary_line

    diags = getattr(program_or_diags, "diagnostics", program_or_diags)
    sources = getattr(program_or_diags, "sources", sources)
    if fmt == "json":
        print(render_json(diags))
        return
    color = should_color(sys.stderr)
    sys.stderr.write(render_terminal(diags, sources, color=color))
    line = summary_line(diags, target, action=action, color=color)
    if line:
        print(line, file=sys.stderr)


def _load(path: str, params: dict[str, str], action: str):
    """The checked program; raises CheckFailed after printing its errors."""
    from pipec.compiler.check import check_file

    program = check_file(path, params)
    if not program.ok:
        _print_diagnostics(program, path, action)
        raise CheckFailed(_status(program))
    if program.diagnostics:
        _print_diagnostics(program, path, action)
    return program


# ------------------------------------------------------------------ commands
def cmd_check(args) -> int:
    worst = EXIT_OK
    everything = []
    for path in args.files:
        from pipec.compiler.check import check_file

        program = check_file(path, _params(args.param))
        everything.extend(program.diagnostics)
        if args.format == "text":
            _print_diagnostics(program, path, "check")
            if program.ok:
                names = ", ".join(program.pipelines) or "no pipelines"
                print(f"ok: {path} ({names})")
        if not program.ok:
            worst = max(worst, _status(program))
        elif args.connect and not _databases_match(program, _params(args.param)):
            worst = max(worst, EXIT_USER)
    if args.format == "json":
        _print_diagnostics(everything, "", "check", "json")
    return worst


def _databases_match(program, params: dict[str, Any]) -> bool:
    """`check --connect`: compare every database step's schema with its live database, as a run
    starts by doing (connections resolved from PIPEC_CONN_<NAME>); prints each mismatch."""
    from pipec.backends.local import runtime as rt
    from pipec.stdlib.steps.database import run_items

    ok = True
    for name, ir in program.pipelines.items():
        items = run_items(ir)
        if not items:
            continue
        try:
            rt.check_databases(rt.RunContext({**{p.name: p.default for p in ir.params}, **params}), items,
                               drop_stale=False)
            print(f"ok: {name}: {len(items)} database step(s) match their databases")
        except rt.PipelineRunError as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            ok = False
    return ok


def cmd_compile(args) -> int:
    program = _load(args.file, _params(args.param), "compile")
    if args.target == "ir":
        _job_events(args, program)
        document = {name: ir.to_json() for name, ir in program.pipelines.items()}
        text = json.dumps(document if len(document) != 1 else next(iter(document.values())), indent=2)
        if args.output:
            Path(args.output).write_text(text + "\n")
            print(f"wrote {args.output}", file=sys.stderr)
        else:
            print(text)
        return EXIT_OK
    backend = _backend(args)
    out = Path(args.output or f"out/{args.target}")
    status = EXIT_OK
    for name, ir in program.pipelines.items():
        problems = backend.check_supported(ir)
        if problems:
            _print_diagnostics(problems, args.file, "compile", sources=program.sources)
            status = EXIT_USER
            continue
        for written in backend.compile(_plan(args, ir, backend.capabilities), out):
            print(f"wrote {written}")
    _job_events(args, program)
    return status


def _job_events(args, program) -> None:
    """OpenLineage job events of the compiled pipelines, when OpenLineage is configured."""
    from pipec.lineage.openlineage import emit_job_events

    emit_job_events(program.pipelines.values(), lambda ir: {p.name: p.default for p in ir.params},
                    Path(getattr(args, "base_dir", None) or "."))


def _backend(args):
    """The backend to compile for; Airflow takes its engine and default locations from flags."""
    if args.target == "airflow":
        from pipec.backends.airflow import AirflowBackend

        return AirflowBackend(base_dir=getattr(args, "base_dir", None),
                              storage_root=getattr(args, "storage_root", None), engine=args.engine)
    from pipec.backends.base import get_backend

    return get_backend(args.target)


def _plan(args, ir, backend):
    """The plan for `backend`: a backend's name or the capabilities to plan with."""
    from pipec import plan

    try:
        return plan(ir, level=args.opt_level, disable=frozenset(args.disable), backend=backend,
                    memory_budget=_bytes(args.memory_budget), workdir=getattr(args, "workdir", None) or ".")
    except ValueError as exc:  # an unknown pass name in --disable
        raise UsageError(str(exc)) from None


def _bytes(text: str | None) -> int | None:
    if text is None:
        return None
    units = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    t = text.strip().lower().rstrip("ib").rstrip("b") if text.lower().endswith(("b", "ib")) else text.strip().lower()
    try:
        return int(float(t[:-1]) * units[t[-1]]) if t and t[-1] in units else int(t)
    except (ValueError, KeyError):
        raise UsageError(f"--memory-budget expects a size such as 512M or 4G, got `{text}`") from None


def cmd_run(args) -> int:
    from pipec.backends.local import up_to_date

    _terminate_like_interrupt()
    key = up_to_date.command_key(args.argv)
    replayed = up_to_date.replay(args, key)  # an unchanged pipeline: answered without compiling
    if replayed is not None:
        return replayed
    program = _load(args.file, _params(args.param), "run")
    from pipec import _select
    from pipec.backends.base import RunOptions, capabilities_of, get_backend, stated_params

    selected = _select(program, args.pipeline)
    workdir = Path(args.workdir or ".")
    if not capabilities_of(args.target).run_cache_options and (args.no_cache or args.rerun or args.cache_dir):
        raise UsageError(f"--no-cache, --rerun and --cache-dir do not apply to --target {args.target}: its tasks "
                         "reuse what the cache under the storage root holds (`pipec cache gc --target "
                         f"{args.target}` removes entries, so that their stages run again)")
    runs = {name: _run_values(args, ir.options.schedule if ir.uses_run_context() else None)
            for name, ir in selected.items()}
    finished: list[str] = []
    ran = []
    for name, ir in selected.items():
        run = runs[name]
        params = {s.name: s.default for s in ir.params}
        try:
            with _recorded(args, program, ir, stated_params(ir, params, run), workdir) as record:
                plan = _plan(args, ir, args.target)
                _check_rerun(args.rerun, plan)
                options = RunOptions(run=run, use_cache=not args.no_cache, rerun=frozenset(args.rerun),
                                     cache_dir=_cache_dir(args))
                status = get_backend(args.target).run(plan, params, workdir, record, options)
                record.exit_code = status
        except KeyboardInterrupt as exc:
            if finished:
                exc.add_note(f"(finished before: {', '.join(finished)})")
            raise
        if status != EXIT_OK:
            return status
        finished.append(name)
        ran.append((ir, record, {**params, **run}))
    if args.target == "local":
        _remember(args, key, program, ran)
    return EXIT_OK


def _remember(args, key: str, program, ran: list) -> None:
    """Snapshot what the next run of this command needs to skip the compiler (up_to_date.py).
    The run is over and its record written: Ctrl-C waits for the snapshot, which only saves time."""
    from pipec.backends.commit import signals_deferred
    from pipec.backends.local import up_to_date
    from pipec.backends.local.runner import RunInterrupted

    with signals_deferred() as arrived:
        up_to_date.remember(args, key, program, ran, lambda ir: _plan(args, ir, "local"))
    if arrived:
        raise RunInterrupted("interrupted after the run ended: all its outputs were written")


def _run_values(args, schedule: str | None) -> dict[str, str]:
    """The run context (`run.*`) of a pipeline's run: `--run-date` (default: now, UTC) and
    `--interval` (default: the period of the pipeline's cron `schedule` that starts at the run
    date, else the run date's day; with `--interval` alone, the run date is its start)."""
    try:
        start, end = parse_interval(args.interval) if args.interval else (None, None)
        return run_context(args.run_date or start, start, end, schedule)
    except ValueError as exc:
        raise UsageError(f"--run-date/--interval: {exc}") from None


def _recorded(args, program, ir, params: dict, workdir: Path):
    """The run's record in the run store (docs/runs.md), opened now and closed when the run ends."""
    from pipec.backends.base import capabilities_of
    from pipec.runs.record import recording
    from pipec.runs.store import RunStoreError, store_url

    try:
        url = store_url(args.runs_db, workdir)
    except RunStoreError as exc:
        raise UsageError(f"--runs-db: {exc}") from None
    return recording(url, workdir=workdir, file=args.file, sources=program.sources, ir=ir, target=args.target,
                     engine=capabilities_of(args.target).engine, opt_level=args.opt_level,
                     params=params, overridden=set(_params(args.param)), argv=args.argv,
                     given_by=capabilities_of(args.target).param_origin)


def _terminate_like_interrupt() -> None:
    """`pipec run` treats SIGTERM (a service manager, `kill`) exactly like Ctrl-C."""
    import signal

    def interrupt(number, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _cache_dir(args) -> str | None:
    """Where the output cache lives: `--cache-dir`, else $PIPEC_CACHE_DIR, else None (the working
    directory's .pipec/cache/); a URL must name a file system fsspec knows."""
    from pipec.cache.remote import cache_location

    location = cache_location(args.cache_dir)
    if location and "://" in location:
        from fsspec.core import url_to_fs

        try:
            url_to_fs(location)
        except (ValueError, ImportError) as exc:
            raise UsageError(f"--cache-dir {location}: {exc}") from None
    return location


def _check_rerun(names: list[str], plan) -> None:
    """`--rerun` names nodes of the plan (an id or a binding)."""
    from pipec.backends.local.reuse import known_nodes

    unknown = sorted(set(names) - known_nodes(plan))
    if unknown:
        raise UsageError(f"--rerun: no node {', '.join(unknown)} in pipeline {plan.ir.pipeline} (its names: "
                         f"{', '.join(sorted(n.binding for n in plan.ir.nodes() if n.binding))})")


def cmd_status(args) -> int:
    """Which stages a local run would rerun and why, without running anything."""
    program = _load(args.file, _params(args.param), "status")
    from pipec import _select
    from pipec.backends.local.reuse import Reuse

    report = []
    for name, ir in _select(program, args.pipeline).items():
        plan = _plan(args, ir, "local")
        params = {s.name: s.default for s in ir.params}
        reuse = Reuse(plan, params, Path(args.workdir or "."), cache_dir=_cache_dir(args))
        nodes = [{"node": node_id, "binding": ir.node(node_id).binding, "step": ir.node(node_id).step,
                  "stage": stage.id, "outcome": "reuse" if reuse.decisions[stage.id].reuse else "rerun",
                  "reasons": reuse.decisions[stage.id].reasons}
                 for stage in plan.ordered_stages for node_id in stage.nodes]
        report.append({"pipeline": name, "nodes": nodes})
    if args.format == "json":
        print(json.dumps(report if len(report) != 1 else report[0], indent=2))
        return EXIT_OK
    for pipeline in report:
        rerun = [n for n in pipeline["nodes"] if n["outcome"] == "rerun"]
        print(f"pipeline {pipeline['pipeline']}: " + (f"{len(rerun)} of {len(pipeline['nodes'])} nodes would rerun"
                                                     if rerun else "up to date, nothing would rerun"))
        for n in pipeline["nodes"]:
            shown = n["node"] if n["binding"] in (None, n["node"]) else f"{n['node']} ({n['binding']})"
            print(f"  {shown:<32} {n['outcome']:<6} {'; '.join(n['reasons'])}")
    return EXIT_OK


def cmd_explain(args) -> int:
    program = _load(args.file, _params(args.param), "explain")
    from pipec.compiler.explain import explain_json, explain_text

    # Airflow plans with its engine's rules (as Spark with --engine spark); others by name, so
    # that explaining loads no backend (nor pyspark)
    planned_for = _backend(args).capabilities if args.target == "airflow" else args.target
    plans = {name: _plan(args, ir, planned_for) for name, ir in program.pipelines.items()}
    if args.format == "json":
        print(json.dumps({n: explain_json(p) for n, p in plans.items()}, indent=2))
    else:
        print("\n\n".join(explain_text(p) for p in plans.values()))
    return EXIT_OK


def cmd_graph(args) -> int:
    program = _load(args.file, _params(args.param), "graph")
    from pipec.compiler.graph import to_dot, to_mermaid

    render = to_mermaid if args.format == "mermaid" else to_dot
    print("\n".join(render(ir) for ir in program.pipelines.values()))
    return EXIT_OK


def cmd_fmt(args) -> int:
    from pipec.compiler.check import UnreadableSource, read_source
    from pipec.grammar import parse_source
    from pipec.grammar.format import format_module

    status = EXIT_OK
    for path in args.files:
        if path.endswith((".yaml", ".yml")):
            print(f"{path}: YAML files are not formatted (only .pipe)", file=sys.stderr)
            continue
        try:
            text = read_source(Path(path))
        except UnreadableSource as exc:
            print(f"error: cannot read `{path}`: {exc.reason}", file=sys.stderr)
            status = EXIT_USER
            continue
        try:
            module, diags = parse_source(text, path)
            formatted = None if any(d.is_error for d in diags) else format_module(module, text)
        except RecursionError:
            from pipec.compiler.check import too_deep

            diags, formatted = [too_deep(path)], None
        if formatted is None:
            _print_diagnostics(diags, path, "format", sources={path: text})
            status = EXIT_USER
            continue
        if formatted == text:
            continue
        if args.check:
            print(f"would reformat {path}")
            status = EXIT_USER
        else:
            Path(path).write_text(formatted, encoding="utf-8")
            print(f"reformatted {path}")
    return status


def cmd_debug(args) -> int:
    if args.stage == "ast":
        from pipec.compiler.check import UnreadableSource, read_source
        from pipec.grammar import parse_source

        try:
            text = read_source(Path(args.file))
        except UnreadableSource as exc:
            print(f"error: cannot read `{args.file}`: {exc.reason}", file=sys.stderr)
            return EXIT_USER
        module, diags = parse_source(text, args.file)
        if diags:
            _print_diagnostics(diags, args.file, "parse", sources={args.file: text})
        print(module.model_dump_json(indent=2, exclude_none=True))
        return EXIT_USER if any(d.is_error for d in diags) else EXIT_OK
    program = _load(args.file, _params(args.param), "compile")
    for name, ir in program.pipelines.items():
        if args.stage == "ir":
            print(ir.dumps())
        else:
            from pipec.compiler.explain import explain_json

            print(json.dumps(explain_json(_plan(args, ir, args.target)), indent=2))
    return EXIT_OK


def cmd_lineage(args) -> int:
    from pipec.lineage.command import LineageUsageError, file_provenance, is_pipeline_file, static_lineage

    try:
        if is_pipeline_file(args.target):
            if args.runs_db:
                raise UsageError("--runs-db goes with an output file, not a pipeline file")
            return static_lineage(_load(args.target, _params(args.param), "trace"), args.pipeline, args.column,
                                  args.format)
        if args.column or args.format == "mermaid" or args.param or args.pipeline:
            raise UsageError("--column, --pipeline, -p and --format mermaid go with a pipeline file (.pipe)")
        return file_provenance(args.target, args.format, args.runs_db, args.workdir)
    except LineageUsageError as exc:
        raise UsageError(str(exc)) from None


def cmd_lsp(args) -> int:
    try:
        from pipec.lsp.server import serve
    except ImportError as exc:
        print(f"error: `pipec lsp` needs the `lsp` extra ({exc.name} is missing): "
              "pip install 'pipec[lsp]'", file=sys.stderr)
        return EXIT_USER
    return serve()


# ------------------------------------------------------------------ argument parsing
def _common(p: argparse.ArgumentParser, *, optimize: bool = False, target: bool = False) -> None:
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a pipeline parameter (type-checked against its declaration)")
    if optimize:
        p.add_argument("-O", dest="opt_level", type=int, choices=(0, 1), default=1,
                       help="-O0 turns the optimizer off (default: -O1)")
        p.add_argument("--disable", action="append", default=[], metavar="PASS",
                       help="turn one optimizer pass off (cse, predicate_pushdown, "
                            "projection_pushdown, fusion, cache_placement)")
        p.add_argument("--memory-budget", metavar="SIZE", help="memory for cached nodes, e.g. 2G "
                       "(default: a quarter of RAM)")
    if target:
        p.add_argument("--target", choices=tuple(BACKENDS), default="local",
                       help="the backend to plan for (default: local)")


def build_parser() -> argparse.ArgumentParser:
    from pipec import __version__

    parser = argparse.ArgumentParser(prog="pipec", description="Compile declarative data and ML "
                                     "pipelines to Airflow, Spark or a local run.")
    parser.add_argument("--version", action="version", version=f"pipec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("check", help="type-check files and report every problem")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--connect", action="store_true",
                   help="also compare the schemas of database steps with the live databases (PIPEC_CONN_<NAME>)")
    _common(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("compile", help="compile to IR JSON, a Spark job or an Airflow DAG")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--target", choices=TARGETS, default="ir")
    p.add_argument("-o", "--output", metavar="PATH", help="output file (ir) or folder (spark, airflow)")
    p.add_argument("--engine", choices=("polars", "spark"), default="polars",
                   help="airflow only: the engine the tasks run (default: polars)")
    p.add_argument("--base-dir", metavar="DIR", help="airflow only: where the DAG resolves relative "
                   "paths by default (its `base_dir` param; a relative DIR is relative to the DAG's folder; "
                   "default: $PIPEC_BASE_DIR where the DAG is deployed, else the DAG's folder)")
    p.add_argument("--storage-root", metavar="URI", help="airflow only: where tasks hand data to each "
                   "other (a path or fsspec URI; default: $PIPEC_STORAGE_ROOT where the DAG is deployed, "
                   "else <base_dir>/.pipec/airflow)")
    _common(p, optimize=True)
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("run", help="run pipelines (locally by default)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--workdir", metavar="DIR", help="where relative paths resolve (default: .)")
    p.add_argument("--pipeline", metavar="NAME", help="run only this pipeline of the file")
    p.add_argument("--run-date", metavar="DATE", help="the run's logical date, `run.date` (an ISO date "
                   "or timestamp, UTC; default: now)")
    p.add_argument("--interval", metavar="START/END", help="the run's data interval, `run.interval_start`/"
                   "`run.interval_end` (ISO dates or timestamps; default: the run date's day)")
    p.add_argument("--runs-db", metavar="URL", help="record the run in this store (sqlite:///PATH or "
                   "postgresql://...; default: $PIPEC_RUNS_DB, else .pipec/runs.db in the working directory)")
    p.add_argument("--no-cache", action="store_true", help="compute every node again, reusing nothing "
                   "(what it computes is still stored for later runs)")
    p.add_argument("--rerun", action="append", default=[], metavar="NODE", help="compute NODE (a name or "
                   "node id) and everything that depends on it again; may be repeated")
    p.add_argument("--cache-dir", metavar="URL", help="where node outputs are cached: a folder or an fsspec "
                   "URL such as s3://bucket/cache (default: $PIPEC_CACHE_DIR, else .pipec/cache in the working "
                   "directory, which also keeps a local copy of what a URL's cache served)")
    _common(p, optimize=True, target=True)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="which nodes a local run would rerun, and why (runs nothing)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--workdir", metavar="DIR", help="where relative paths resolve (default: .)")
    p.add_argument("--pipeline", metavar="NAME", help="only this pipeline of the file")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--cache-dir", metavar="URL", help="the output cache, as for `pipec run`")
    _common(p, optimize=True)
    p.set_defaults(func=cmd_status, target="local")

    p = sub.add_parser("explain", help="show the optimized plan and why")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--workdir", metavar="DIR", help="where recorded statistics live (default: .)")
    p.add_argument("--engine", choices=("polars", "spark"), default="polars",
                   help="airflow only: the engine the tasks run, whose rules the plan follows")
    _common(p, optimize=True, target=True)
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("graph", help="print the pipeline graph as Mermaid or Graphviz dot")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    _common(p)
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser("fmt", help="rewrite .pipe files in the canonical layout")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--check", action="store_true", help="only report files that would change (exit 1)")
    p.set_defaults(func=cmd_fmt)

    p = sub.add_parser("debug", help="print an intermediate form (ast, ir, plan) as JSON")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--stage", choices=("ast", "ir", "plan"), required=True)
    _common(p, optimize=True, target=True)
    p.set_defaults(func=cmd_debug)

    p = sub.add_parser("lineage", help="column lineage of a pipeline file, or which run wrote an output file")
    p.add_argument("target", metavar="FILE.pipe|PATH", help="a pipeline file (static column lineage) or an "
                   "output file or model folder (the recorded run that wrote it)")
    p.add_argument("--column", metavar="SINK.COLUMN", help="only this column of this sink (its path, file "
                   "name or binding)")
    p.add_argument("--pipeline", metavar="NAME", help="only this pipeline of the file")
    p.add_argument("--format", choices=("text", "json", "mermaid"), default="text")
    p.add_argument("--workdir", metavar="DIR", help="whose .pipec/runs.db (default: .)")
    p.add_argument("--runs-db", metavar="URL", help="the run store (default: $PIPEC_RUNS_DB, else sqlite in .pipec/)")
    _common(p)
    p.set_defaults(func=cmd_lineage)

    p = sub.add_parser("lsp", help="serve editors: a language server over stdin/stdout")
    p.set_defaults(func=cmd_lsp)

    from pipec.runs.commands import add_commands

    add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = ["pipec", *(sys.argv[1:] if argv is None else argv)]
    return _guarded(args.func, args, parser)


def _guarded(func: Callable, args, parser: argparse.ArgumentParser) -> int:
    """Turn every expected failure into a message and an exit code; never a traceback for users."""
    from pipec.errors import PipecError

    try:
        return func(args)
    except UsageError as exc:
        parser.error(str(exc))
    except CheckFailed as exc:
        return exc.status
    except PipecError as exc:
        if exc.diagnostics:
            _print_diagnostics(exc.diagnostics, getattr(args, "file", ""), args.command)
        else:
            print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt as exc:
        # a run says what happened to its outputs; anything else was interrupted before a run
        message = " ".join([getattr(exc, "message", "interrupted: no output was changed"),
                            *getattr(exc, "__notes__", [])]).strip()
        if message:  # empty when a Spark job has said it itself
            print(message, file=sys.stderr)
        return 130
    except BrokenPipeError:  # `pipec compile ... | head`: the reader has gone, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if isinstance(exc, PipelineRunError):  # a run's error kind says its exit code
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        if os.environ.get("PIPEC_DEBUG"):
            raise
        print(f"internal error: {type(exc).__name__}: {exc}\n"
              "This is a bug in pipec, not in your pipeline; rerun with PIPEC_DEBUG=1 for details.",
              file=sys.stderr)
        return 3
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
