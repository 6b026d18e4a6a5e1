"""`pipec lineage FILE.pipe` output: the static column lineage as JSON (for tools), text (for
people) and Mermaid (a picture of source columns flowing into sink columns)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pipec.compiler.ir import IRNode
from pipec.lineage.columns import Lineage, PipelineLineage, SinkLineage
from pipec.runtime_contract import substitute
from pipec.stdlib.steps.column_flow import INDIRECT


def node_path(lineage: PipelineLineage, node: IRNode) -> str:
    """Where a source or sink points, with the pipeline's params (as given with -p) filled in."""
    return substitute(node.args.path, {p.name: p.default for p in lineage.ir.params})


def _unknown(lineage: PipelineLineage, node_id: str) -> dict[str, Any]:
    node = lineage.node(node_id)
    span = node.span
    return {"node": node_id, "step": node.step, "function": getattr(node.args, "function", None),
            "at": f"{span.file}:{span.line}:{span.column}"}


def lineage_json(lineage: PipelineLineage, l: Lineage) -> dict[str, Any]:
    """Origins grouped by source column, each with its transformations (sorted, so stable)."""
    grouped: dict[tuple[str, str], list[dict[str, str]]] = {}
    for o in sorted(l.origins):
        grouped.setdefault((o.source, o.column), []).append({"type": o.type, "subtype": o.subtype})
    inputs = []
    for (source, column), how in grouped.items():
        node = lineage.node(source)
        inputs.append({"source": node_path(lineage, node), "node": source, "binding": node.binding,
                       "column": column, "transformations": how})
    return {"inputs": inputs, "unknown": [_unknown(lineage, n) for n in sorted(l.unknown)]}


def sink_json(lineage: PipelineLineage, sink: SinkLineage, column: str | None = None) -> dict[str, Any]:
    names = [column] if column else list(sink.value.columns)
    return {"path": node_path(lineage, sink.node), "step": sink.node.step, "node": sink.node.id,
            "from": sink.input.binding,
            "columns": [{"name": n, **lineage_json(lineage, sink.value.columns[n])} for n in names],
            "rows": lineage_json(lineage, sink.value.dataset)}


def _source_name(entry: dict[str, Any]) -> str:
    """`binding.column`, or `file.column` for a source read inside a chain (it has no name)."""
    return f"{entry['binding'] or Path(entry['source']).name}.{entry['column']}"


def _text_lines(entry: dict[str, Any], indent: str) -> list[str]:
    lines = []
    for i in entry["inputs"]:
        how = ", ".join(f"{t['type']} {t['subtype']}" for t in i["transformations"])
        lines.append(f"{indent}{_source_name(i):<28} {how}  ({i['source']})")
    for u in entry["unknown"]:
        what = f"python(\"{u['function']}\")" if u["function"] else u["step"]
        lines.append(f"{indent}unknown: computed by {what} at {u['at']}; pipec cannot see through user code")
    if not lines:
        lines.append(f"{indent}(no source column: a constant, or a count of rows)")
    return lines


def sink_text(pipeline: str, sink: dict[str, Any]) -> str:
    lines = [f"{pipeline}: {sink['path']} ({sink['step']}{', from ' + sink['from'] if sink['from'] else ''})"]
    for column in sink["columns"]:
        lines.append(f"  {column['name']}")
        lines += _text_lines(column, "    ")
    lines.append("  every row (which rows, in which order)")
    lines += _text_lines(sink["rows"], "    ")
    return "\n".join(lines)


def _id(*parts: str) -> str:
    return "c_" + "".join(ch if ch.isalnum() else "_" for ch in "__".join(parts))


def sinks_mermaid(pipeline: str, sinks: list[dict[str, Any]]) -> str:
    """Source columns on the left, sink columns on the right; INDIRECT edges dashed; a column
    computed by user code points from a box that says so."""
    lines = ["flowchart LR", f"  %% column lineage of pipeline {pipeline}"]
    declared: set[str] = set()

    def declare(node_id: str, label: str, shape=('["', '"]')) -> str:
        if node_id not in declared:
            declared.add(node_id)
            lines.append(f"  {node_id}{shape[0]}{label.replace(chr(34), '#quot;')}{shape[1]}")
        return node_id

    for sink in sinks:
        for column in sink["columns"]:
            target = declare(_id(sink["path"], column["name"]), f"{sink['path']}: {column['name']}", ('[/"', '"/]'))
            for i in column["inputs"]:
                source = declare(_id(i["source"], i["column"]), f"{i['source']}: {i['column']}", ('[("', '")]'))
                for t in i["transformations"]:
                    arrow = "-.->" if t["type"] == INDIRECT else "-->"
                    lines.append(f"  {source} {arrow}|{t['subtype']}| {target}")
            for u in column["unknown"]:
                box = declare(_id("unknown", u["node"]), f"unknown: {u['step']} {u['function'] or ''} at {u['at']}")
                lines.append(f"  {box} -.-> {target}")
    return "\n".join(lines)
