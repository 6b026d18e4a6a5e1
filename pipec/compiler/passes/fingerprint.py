"""What makes two nodes the same computation: the step, all its arguments with every source position
left out, and (for the structural hash) the same for all its inputs, recursively.

CSE merges nodes with equal signatures and equal inputs; recorded statistics are keyed by the
structural hash, so they survive edits elsewhere in the file (moved lines, new unrelated steps).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from pipec.compiler.ir import IR, IRNode, SourceArgs

_POSITION_KEYS = frozenset({"span", "name_span"})


def _without_positions(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_positions(v) for k, v in value.items() if k not in _POSITION_KEYS}
    if isinstance(value, list):
        return [_without_positions(v) for v in value]
    return value


def signature(node: IRNode) -> str:
    """The step and all of its arguments, ignoring spans, as canonical JSON.

    The one argument left out is a source's pushed-down column list (`SourceArgs.columns`): it is a
    decision of projection pushdown, not part of what the source computes, so that statistics
    recorded for a source survive a change in what is read. It is chosen by its field on that
    argument type: other steps' `columns` (derive, drop, drop_nulls, distinct) are what they compute.

    >>> from pipec.compiler.ir import ColumnsArgs
    >>> drop = lambda *cs: IRNode(id="d", step="drop", args=ColumnsArgs(step="drop", columns=list(cs)))
    >>> signature(drop("a")) == signature(drop("b"))
    False
    """
    pushed_down = {"columns"} if isinstance(node.args, SourceArgs) else None
    args = _without_positions(node.args.model_dump(mode="json", exclude=pushed_down))
    return json.dumps([node.step, args], sort_keys=True, separators=(",", ":"))


def structural_hashes(ir: IR) -> dict[str, str]:
    """Each node's structural hash: its signature plus the structural hashes of its inputs.

    >>> from pipec.compiler.ir import IRNode, LimitArgs, lit
    >>> ir = IR("p")
    >>> _ = ir.add(IRNode(id="a", step="limit", args=LimitArgs(n=lit(3))))
    >>> len(structural_hashes(ir)["a"])
    16
    """
    hashes: dict[str, str] = {}
    for node in ir.nodes():
        payload = json.dumps([signature(node), [hashes[i] for i in node.inputs]])
        hashes[node.id] = hashlib.sha256(payload.encode()).hexdigest()[:16]
    return hashes
