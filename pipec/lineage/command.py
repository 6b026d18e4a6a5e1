"""`pipec lineage`: the static column lineage of a pipeline file, or the run that wrote an output
file. Mistakes on the command line exit 2; a file that no recorded run wrote exits 1."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from pipec.compiler.suggest import did_you_mean
from pipec.lineage.columns import lineage_of
from pipec.lineage.render import sink_json, sink_text, sinks_mermaid

EXIT_OK, EXIT_USER, EXIT_USAGE = 0, 1, 2
PIPELINE_SUFFIXES = (".pipe", ".pipe.yaml", ".yaml", ".yml")


class LineageUsageError(Exception):
    """The command line asks for something that is not there (exit 2)."""


def is_pipeline_file(target: str) -> bool:
    return target.endswith(PIPELINE_SUFFIXES)


def static_lineage(program, pipeline: str | None, column: str | None, fmt: str) -> int:
    """Print the lineage of every sink column of the file's pipelines (or of one `SINK.COLUMN`)."""
    from pipec import _select

    found: dict[str, list[dict]] = {}
    for name, ir in _select(program, pipeline).items():
        lineage = lineage_of(ir)
        found[name] = [sink_json(lineage, s) for s in lineage.sinks]
    if column is not None:
        found = _one_column(found, column)
    if fmt == "json":
        print(json.dumps([{"pipeline": name, "sinks": sinks} for name, sinks in found.items()], indent=2))
    elif fmt == "mermaid":
        print("\n\n".join(sinks_mermaid(name, sinks) for name, sinks in found.items()))
    else:
        print("\n\n".join(sink_text(name, s) for name, sinks in found.items() for s in sinks))
    return EXIT_OK


def _one_column(found: dict[str, list[dict]], wanted: str) -> dict[str, list[dict]]:
    """`SINK.COLUMN`: SINK is a sink's path, its file name or the binding it writes; the column
    is what follows the dot that makes both match (a file name has dots too)."""
    sinks = [(name, s) for name, sinks in found.items() for s in sinks]
    near_miss = None
    for cut in [i for i, ch in enumerate(wanted) if ch == "."]:
        sink_name, column = wanted[:cut], wanted[cut + 1:]
        for name, s in sinks:
            if sink_name not in (s["path"], Path(s["path"]).name, s["from"]):
                continue
            match = [c for c in s["columns"] if c["name"] == column]
            if match:
                return {name: [{**s, "columns": match}]}
            if near_miss is None:
                names = [c["name"] for c in s["columns"]]
                hint = did_you_mean(column, names)
                near_miss = f"sink `{sink_name}` has no column `{column}`" + (
                    f"; {hint}" if hint else f": it has {', '.join(names)}")
    if near_miss:
        raise LineageUsageError(near_miss)
    known = ", ".join(f"{Path(s['path']).name}" for _, s in sinks)
    raise LineageUsageError(f"`{wanted}` names no sink column: write SINK.COLUMN with SINK one of {known} "
                            "(or its path, or the binding it writes)")


def file_provenance(path: str, fmt: str, runs_db: str | None, workdir: str | None) -> int:
    """Which recorded run wrote `path` (docs/lineage.md)."""
    from pipec.lineage.provenance import find_writer, provenance_json, provenance_text
    from pipec.runs.store import NoStore, RunStoreError, open_store, store_url

    target = Path(path)
    if not target.exists():
        raise LineageUsageError(f"no file or folder `{path}`")
    try:
        url = store_url(runs_db, workdir or ".")
        if url is None:
            raise LineageUsageError("recording runs is off (--runs-db off or PIPEC_RUNS_DB=off): there is no run "
                                    "store to look the file up in")
        store = open_store(url, create=False)
    except NoStore as exc:
        print(f"{path}: not produced by pipec: {exc}", file=sys.stderr)
        return EXIT_USER
    except RunStoreError as exc:
        if exc.usage:
            raise LineageUsageError(str(exc)) from None
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER
    try:
        found = find_writer(store, target)
    finally:
        store.close()
    print(json.dumps(provenance_json(found), indent=2) if fmt == "json" else provenance_text(found))
    return EXIT_OK if found.run is not None else EXIT_USER

