"""Common subexpression elimination: KeystoneML's EquivalentNodeMergeRule. Two nodes with the same
step, the same arguments (source positions aside) and the same inputs compute the same value, so
one of them is enough. Merging two sources lets their consumers merge in turn, so the rule runs
to a fixpoint. Sinks are never merged: each is a write the user asked for."""
from __future__ import annotations

from pipec.compiler.ir import IR
from pipec.compiler.passes.fingerprint import signature
from pipec.compiler.passes.naming import describe
from pipec.compiler.plan import PassRecord


def cse(ir: IR, records: list[PassRecord] | None = None) -> IR:
    """A copy of `ir` in which equivalent nodes are merged into the first of them (topologically).

    >>> from pipec.compiler.ir import IRNode, LimitArgs, SinkArgs, lit
    >>> ir = IR("p")
    >>> for node in [IRNode(id="a", step="limit", args=LimitArgs(n=lit(1))),
    ...              IRNode(id="b", step="limit", args=LimitArgs(n=lit(1))),
    ...              IRNode(id="o1", step="write_csv", args=SinkArgs(step="write_csv", path="1"), inputs=["a"]),
    ...              IRNode(id="o2", step="write_csv", args=SinkArgs(step="write_csv", path="2"), inputs=["b"])]:
    ...     _ = ir.add(node)
    >>> cse(ir).node("o2").inputs
    ['a']
    """
    out = ir.copy()
    signatures: dict[str, str] = {}  # merging rewires inputs, never arguments: one per node
    merged_any = True
    while merged_any:
        merged_any = False
        first_with: dict[tuple[str, tuple[str, ...]], str] = {}
        for node_id in [n.id for n in out.nodes()]:
            node = out.node(node_id)  # re-read: an earlier merge may have rewired its inputs
            if node.is_sink:
                continue
            if node_id not in signatures:
                signatures[node_id] = signature(node)
            key = (signatures[node_id], tuple(node.inputs))
            keep = first_with.setdefault(key, node_id)
            if keep != node_id:
                if records is not None:
                    records.append(PassRecord(
                        pass_name="cse", nodes=[node_id, keep],
                        message=f"merged {describe(node)} into {describe(out.node(keep))}: "
                                "same step, arguments and inputs"))
                out.redirect(node_id, keep)
                out.remove(node_id)
                merged_any = True
    return out
