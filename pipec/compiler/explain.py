"""`pipec explain`: the plan as a person reads it. Stages and the steps fused into each (with the
user's names and lines), why each stage ends, what is cached with its estimated saving and size,
what each source reads and which filters run while it scans, and everything the passes did.
`explain_json` holds the same facts for tools; `explain_text` renders them."""
from __future__ import annotations

from typing import Any

from pipec.compiler.ir import IRNode
from pipec.compiler.passes.exprs import expr_text
from pipec.compiler.passes.naming import describe, human_bytes, line_of
from pipec.compiler.plan import Plan
from pipec.compiler.types import TableType

_ESTIMATES = {
    "guessed": "estimates guessed from source sizes and per-step rates (no recorded statistics)",
    "recorded": "estimates from statistics recorded by earlier runs where there are some, else guessed",
    "none": "no estimates (optimisation off)",
}


def _node_json(node: IRNode, cached: set[str]) -> dict[str, Any]:
    return {"id": node.id, "step": node.step, "binding": node.binding, "line": line_of(node),
            "cached": node.id in cached}


def _sources_json(plan: Plan) -> list[dict[str, Any]]:
    ir = plan.ir
    sources = []
    for node in ir.nodes():
        if node.is_source and isinstance(node.output, TableType):
            scanned = [c.spec.scan_predicate(c.args) for c in ir.consumers(node.id)]
            filters = [expr_text(predicate) for predicate in scanned if predicate is not None]
            sources.append({"node": node.id, "binding": node.binding, "line": line_of(node),
                            "path": node.args.path, "columns": node.args.columns,
                            "all_columns": node.args.schema_.names, "filters": filters})
    return sources


def explain_json(plan: Plan) -> dict[str, Any]:
    """Every decision in the plan, as JSON-serialisable data."""
    ir = plan.ir
    cached = plan.cached_nodes
    return {
        "pipeline": ir.pipeline,
        "statistics": plan.statistics,
        "stages": [{"id": s.id, "boundary": s.boundary,
                    "nodes": [_node_json(ir.node(n), cached) for n in s.nodes]} for s in plan.stages],
        "cached": [{"node": c.node, "binding": ir.node(c.node).binding, "line": line_of(ir.node(c.node)),
                    "runs": c.runs, "seconds_saved": c.seconds_saved, "bytes": c.bytes} for c in plan.cached],
        "sources": _sources_json(plan),
        "records": [r.model_dump(mode="json") for r in plan.records],
    }


def explain_text(plan: Plan) -> str:
    """The plan in words, one section per kind of decision."""
    facts = explain_json(plan)
    ir = plan.ir
    lines = [f"pipeline {ir.pipeline}: {len(ir)} nodes in {len(plan.stages)} stages, "
             f"{len(plan.cached)} cached; {_ESTIMATES[plan.statistics]}"]
    for stage in facts["stages"]:
        lines += ["", f"stage {stage['id']}" + (f": ends because {stage['boundary']}" if stage["boundary"] else "")]
        for n in stage["nodes"]:
            line = f"line {n['line']}" if n["line"] else ""
            lines.append(f"  {line:<9} {n['step']:<14} {n['binding'] or n['id']}"
                         + ("  [cached]" if n["cached"] else ""))
    if plan.cached:
        lines += ["", "cached"]
        lines += [f"  {describe(ir.node(c.node))}: saves {c.seconds_saved:.3g} s, {human_bytes(c.bytes)}, "
                  f"computed {c.runs:g} times without caching" for c in plan.cached]
    lines += ["", "sources"]
    for s in facts["sources"]:
        columns = (f"reads all {len(s['all_columns'])} columns" if s["columns"] is None else
                   f"reads {len(s['columns'])} of {len(s['all_columns'])} columns: {', '.join(s['columns'])}")
        lines.append(f"  {describe(ir.node(s['node']))} {s['path']}: {columns}")
        lines += [f"    filter while scanning: {f}" for f in s["filters"]]
    if plan.records:
        lines += ["", "optimizer passes"]
        lines += [f"  {r.pass_name}: {r.message}" for r in plan.records]
    return "\n".join(lines) + "\n"
