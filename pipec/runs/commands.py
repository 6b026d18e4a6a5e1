"""`pipec runs [show RUN | diff A B]` and `pipec cache ls | verify | gc`: their arguments, and
how they print (text for people, `--format json` for tools)."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import Any

EXIT_OK, EXIT_USER, EXIT_USAGE = 0, 1, 2


def add_commands(sub) -> None:
    """Register `runs` and `cache` on the `pipec` parser's subcommands."""
    p = sub.add_parser("runs", help="list recorded runs; `runs show RUN`, `runs diff A B`")
    runs = p.add_subparsers(dest="runs_command", metavar="ACTION")
    _store_options(p)
    p.add_argument("--pipeline", metavar="NAME", help="only the runs of this pipeline")
    p.add_argument("-n", "--limit", type=int, default=20, metavar="N", help="the N newest runs (default: 20; 0: all)")
    p.set_defaults(func=cmd_runs)
    show = runs.add_parser("show", help="everything recorded about one run")
    show.add_argument("run", metavar="RUN", help="`last`, `last~N` or (a unique prefix of) a run id")
    _store_options(show)
    show.set_defaults(func=cmd_runs_show)
    diff = runs.add_parser("diff", help="what differs between two runs")
    diff.add_argument("a", metavar="A")
    diff.add_argument("b", metavar="B")
    _store_options(diff)
    diff.set_defaults(func=cmd_runs_diff)

    p = sub.add_parser("cache", help="the cache of node outputs: ls, verify, gc")
    p.add_argument("action", choices=("ls", "verify", "gc"))
    p.add_argument("--workdir", metavar="DIR", help="whose .pipec/cache (default: .)")
    p.add_argument("--target", choices=("local", "airflow"), default=None,
                   help="airflow: the stage cache of generated DAGs under their storage root (default: local)")
    p.add_argument("--storage-root", metavar="URL", help="airflow: the DAGs' storage root, a path or fsspec URL "
                   "(default: $PIPEC_STORAGE_ROOT, else <workdir>/.pipec/airflow, as `pipec run --target airflow`)")
    p.add_argument("--cache-dir", metavar="DIR", help="local: the cache folder `pipec run --cache-dir` used "
                   "(default: $PIPEC_CACHE_DIR, else <workdir>/.pipec/cache)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--keep-last", type=int, metavar="N",
                   help="gc: keep only what the N most recent runs used (airflow: the N of each DAG)")
    p.add_argument("--older-than", metavar="DURATION", help="gc: remove what was not used for this long (30m, 12h, 7d)")
    p.set_defaults(func=cmd_cache)


def _store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("text", "json"), default=argparse.SUPPRESS)
    p.add_argument("--workdir", metavar="DIR", default=argparse.SUPPRESS,
                   help="whose .pipec/runs.db (default: .)")
    p.add_argument("--runs-db", metavar="URL", default=argparse.SUPPRESS,
                   help="the run store (default: $PIPEC_RUNS_DB, else sqlite in .pipec/)")


def _with_store(action):
    """Open the store the arguments name, run `action(store, args)`, and turn the store's
    errors into a message and an exit code. Reading never creates a store: where none exists,
    `pipec runs` lists nothing and `show`/`diff` find no run."""
    def command(args) -> int:
        from pipec.runs.store import NoStore, RunStoreError, open_store, store_url

        try:
            url = store_url(getattr(args, "runs_db", None), getattr(args, "workdir", None) or ".")
            if url is None:
                raise RunStoreError("recording runs is off (--runs-db off or PIPEC_RUNS_DB=off): there is no "
                                    "run store to read", usage=True)
            store = open_store(url, create=False)
            try:
                return action(store, args)
            finally:
                store.close()
        except NoStore as exc:
            if action is _list_runs:
                print(f"{exc} (`pipec run` records them)")
                return EXIT_OK
            print(f"error: {exc}: there is no run to show", file=sys.stderr)
            return EXIT_USAGE
        except RunStoreError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE if exc.usage else EXIT_USER
    return command


def _json_out(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=False, default=str))


def _fmt(args) -> str:
    return getattr(args, "format", "text")


# ------------------------------------------------------------------ pipec runs
def _list_runs(store, args) -> int:
    runs = store.list_runs(args.pipeline, args.limit or None)
    if _fmt(args) == "json":
        _json_out([_summary(r) for r in runs])
        return EXIT_OK
    if not runs:
        print(f"no runs recorded in {store.where}")
        return EXIT_OK
    rows = [("RUN", "STARTED (UTC)", "PIPELINE", "TARGET", "STATUS", "SECONDS")]
    for r in runs:
        seconds = f"{r['seconds']:.2f}" if r["seconds"] is not None else "-"
        rows.append((r["run_id"][:12], _when(r["started_at"]), r["pipeline"], r["target"], r["status"], seconds))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return EXIT_OK


cmd_runs = _with_store(_list_runs)


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    keys = ("run_id", "pipeline", "status", "target", "engine", "opt_level", "started_at", "ended_at",
            "seconds", "exit_code")
    return {k: run[k] for k in keys}


def _when(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else "-"


@_with_store
def cmd_runs_show(store, args) -> int:
    run = store.load(store.resolve(args.run))
    if _fmt(args) == "json":
        _json_out(run)
        return EXIT_OK
    print(format_run(run))
    return EXIT_OK


def format_run(run: dict[str, Any]) -> str:
    """`pipec runs show` as text."""
    lines = [f"run {run['run_id']}: {run['pipeline']} {run['status']}"
             + (f" (exit {run['exit_code']})" if run["exit_code"] is not None else ""),
             f"  file     {run['pipeline_file']}",
             f"  code     source {_short(run['source_digest'])}  IR {_short(run['ir_digest'])}",
             f"  target   {run['target']} ({run['engine']}), -O{run['opt_level']}",
             f"  when     {_when(run['started_at'])} .. {_when(run['ended_at'])} UTC"
             + (f" ({run['seconds']:.2f}s)" if run["seconds"] is not None else ""),
             f"  where    {run['host']} pid {run['pid']}, {run['workdir']}",
             "  versions " + ", ".join(f"{k} {v}" for k, v in sorted(run["versions"].items())),
             "  command  " + " ".join(run["argv"])]
    if run["error"]:
        lines.append(f"  error    {run['error']}")
    if run["params"]:
        lines.append("params")
        lines += [f"  {name} = {_value(p['value'])}  ({p['origin']})" for name, p in run["params"].items()]
    if run["nodes"]:
        lines.append("nodes")
        for n in run["nodes"]:
            measured = [f"{n['seconds']:.2f}s" if n["seconds"] is not None else "",
                        f"{n['rows']:,} rows" if n["rows"] is not None else ""]
            name = n["node"] if n["binding"] in (None, n["node"]) else f"{n['node']} ({n['binding']})"
            lines.append(f"  {name:<24} {n['step']:<13} {n['outcome']:<7} {' '.join(m for m in measured if m):<22}"
                         f" {'; '.join(n['reasons'])}".rstrip())
    for role in ("inputs", "modules", "outputs"):
        if run[role]:
            lines.append(role)
            lines += [f"  {f['path']}  {_short(f['digest'])}" for f in run[role]]
    if run["metrics"]:
        lines.append("metrics")
        for name, values in run["metrics"].items():
            lines.append(f"  {name}: " + ", ".join(f"{k} = {_value(v)}" for k, v in values.items()))
    if run["expectations"]:
        lines.append("expectations")
        lines += [f"  {e['binding'] or e['node']}: {'passed' if e['passed'] else 'FAILED'}"
                  for e in run["expectations"]]
    return "\n".join(lines)


def _short(digest: str | None) -> str:
    """A digest cut for reading (`--format json` has it whole)."""
    return "unreadable" if digest is None else digest[:digest.rindex(":") + 17]


def _value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, float) else f"{value:.6g}"


@_with_store
def cmd_runs_diff(store, args) -> int:
    from pipec.runs.diff import diff_runs, format_diff

    a, b = store.load(store.resolve(args.a)), store.load(store.resolve(args.b))
    difference = diff_runs(a, b)
    if _fmt(args) == "json":
        _json_out(difference)
    else:
        print(format_diff(difference))
    return EXIT_OK


# ------------------------------------------------------------------ pipec cache
def cmd_cache(args) -> int:
    if args.action != "gc" and (args.keep_last is not None or args.older_than is not None):
        print("error: --keep-last and --older-than go with `pipec cache gc`", file=sys.stderr)
        return EXIT_USAGE
    if args.target == "local" and args.storage_root is not None:
        print("error: --storage-root goes with `--target airflow`", file=sys.stderr)
        return EXIT_USAGE
    if args.cache_dir is not None and (args.target == "airflow" or args.storage_root is not None):
        print("error: --cache-dir goes with the local cache, not `--target airflow`", file=sys.stderr)
        return EXIT_USAGE
    try:
        store = _cache_store(args)
    except ValueError as exc:  # a URL that names no file system fsspec knows, or a cache at a URL
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _cache_action(args, store)
    except (OSError, ImportError) as exc:  # unreachable, no credentials, no driver for the protocol
        print(f"error: the cache in {store.root}: {exc}", file=sys.stderr)
        return EXIT_USER


def _cache_store(args):
    """The working directory's cache (or the folder of `--cache-dir`, $PIPEC_CACHE_DIR), or
    (`--target airflow`, `--storage-root`) the stage cache
    of generated DAGs under the storage root that a DAG compiled without --storage-root uses
    when run here: $PIPEC_STORAGE_ROOT, else <workdir>/.pipec/airflow."""
    import os

    if args.target is None and args.storage_root is None or args.target == "local":
        from pipec.backends.commit import is_url
        from pipec.cache.remote import cache_location, cache_store

        location = cache_location(args.cache_dir)
        if location and is_url(location):
            raise ValueError(f"the cache at {location} is a URL: `pipec cache` works on a folder (the working "
                             "directory's .pipec/cache/ holds the copy of what its runs used)")
        return cache_store(args.workdir or ".", location)
    from pipec.backends.airflow.cache import StorageRootCache
    from pipec.backends.airflow.dagfile import STORAGE_ROOT_VARIABLE

    if args.storage_root is None:
        args.storage_root = (os.environ.get(STORAGE_ROOT_VARIABLE)
                             or os.path.join(args.workdir or ".", ".pipec", "airflow"))
    try:
        return StorageRootCache(args.storage_root)
    except ValueError as exc:
        raise ValueError(f"--storage-root {args.storage_root}: {exc}") from None


def _cache_action(args, store) -> int:
    """`ls`, `verify` or `gc` of either cache (both have the interface of pipec/cache/objects.py)."""
    from pipec.cache.objects import parse_duration

    if args.action == "ls":
        entries = [store.describe(e) for e in store.entries()]
        if args.format == "json":
            _json_out(entries)
        elif not entries:
            print(f"the cache in {store.root} is empty")
        for e in entries if args.format == "text" else []:
            stored, used = (datetime.fromtimestamp(e[t], timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
                            for t in ("created", "last_used"))
            print(f"{e['key'][:16]}  {e['size']:>12,} B  stored {stored}  used {used}  {store.summary(e)}")
        return EXIT_OK
    if args.action == "verify":
        problems = store.verify()
        if args.format == "json":
            _json_out([{"key": p.key, "problem": p.problem} for p in problems])
        else:
            for p in problems:
                print(f"{p.key}: {p.problem}")
            print(f"{len(store.entries())} entries checked, {len(problems)} broken"
                  + (" (`pipec cache gc` removes them; the next run recomputes them)" if problems else ""))
        return EXIT_USER if problems else EXIT_OK
    if args.keep_last is not None and args.keep_last < 0:
        print("error: --keep-last expects a count of 0 or more", file=sys.stderr)
        return EXIT_USAGE
    try:
        older = parse_duration(args.older_than) if args.older_than is not None else None
    except ValueError as exc:
        print(f"error: --older-than {exc}", file=sys.stderr)
        return EXIT_USAGE
    done = store.gc(keep_last=args.keep_last, older_than=older)
    if args.format == "json":
        _json_out(vars(done))
    else:
        print(f"removed {done.entries} entries and {done.objects} objects ({done.bytes:,} bytes), "
              f"{done.temporary} temporary files")
    return EXIT_OK

