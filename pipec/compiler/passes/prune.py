"""Remove every node whose output reaches no sink: an unused binding is a warning for the user and
dead code for every backend."""
from __future__ import annotations

from pipec.compiler.ir import IR
from pipec.compiler.passes.naming import describe
from pipec.compiler.plan import PassRecord


def prune(ir: IR, records: list[PassRecord] | None = None) -> IR:
    """A copy of `ir` without the nodes that no sink depends on.

    >>> from pipec.compiler.ir import IRNode, LimitArgs, SinkArgs, lit
    >>> ir = IR("p")
    >>> for node in [IRNode(id="a", step="limit", args=LimitArgs(n=lit(1))),
    ...              IRNode(id="unused", step="limit", args=LimitArgs(n=lit(2)), inputs=["a"]),
    ...              IRNode(id="out", step="write_csv", args=SinkArgs(step="write_csv", path="o.csv"),
    ...                     inputs=["a"])]:
    ...     _ = ir.add(node)
    >>> sorted(prune(ir).ids())
    ['a', 'out']
    """
    out = ir.copy()
    needed = {s.id for s in out.sinks()}
    to_visit = list(needed)
    while to_visit:  # everything the sinks read, directly or not
        for producer in out.producers(to_visit.pop()):
            if producer not in needed:
                needed.add(producer)
                to_visit.append(producer)
    for node in [n for n in out.nodes() if n.id not in needed]:
        out.remove(node.id)
        if records is not None:
            records.append(PassRecord(pass_name="prune", nodes=[node.id],
                                      message=f"removed {describe(node)}: it reaches no sink"))
    return out
