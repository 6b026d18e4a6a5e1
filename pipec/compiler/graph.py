"""Pictures of a pipeline's IR for `pipec graph`: Mermaid (renders on GitHub) and Graphviz dot."""
from __future__ import annotations

import json

from pipec.compiler.ir import IR, IRNode

_SHAPES = {"source": ('[("', '")]'), "sink": ('[/"', '"/]'), "step": ('["', '"]')}


def _label(node: IRNode) -> str:
    name = f"{node.binding}: " if node.binding else ""
    return f"{name}{node.step}"


def _kind(node: IRNode) -> str:
    return "source" if node.is_source else "sink" if node.is_sink else "step"


def _safe(node_id: str) -> str:
    return "n_" + "".join(c if c.isalnum() else "_" for c in node_id)


def to_mermaid(ir: IR) -> str:
    lines = ["flowchart TD", f"  %% pipeline {ir.pipeline}"]
    for node in ir.nodes():
        left, right = _SHAPES[_kind(node)]
        lines.append(f"  {_safe(node.id)}{left}{_label(node).replace(chr(34), '#quot;')}{right}")
    for node in ir.nodes():
        lines.extend(f"  {_safe(i)} --> {_safe(node.id)}" for i in node.inputs)
    return "\n".join(lines)


def to_dot(ir: IR) -> str:
    shapes = {"source": "cylinder", "sink": "parallelogram", "step": "box"}
    lines = [f"digraph {json.dumps(ir.pipeline)} {{", "  rankdir=TB;"]
    for node in ir.nodes():
        lines.append(f"  {json.dumps(node.id)} [label={json.dumps(_label(node))}, shape={shapes[_kind(node)]}];")
    for node in ir.nodes():
        lines.extend(f"  {json.dumps(i)} -> {json.dumps(node.id)};" for i in node.inputs)
    lines.append("}")
    return "\n".join(lines)
