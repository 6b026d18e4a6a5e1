"""The optimizer's invariants, checked after every pass in one place (as polars asserts the output
schema after its optimizer): a pass that breaks one is a bug in pipec, never the user's mistake,
so it raises `OptimizerInvariantError` naming the pass."""
from __future__ import annotations

from pipec.compiler.ir import IR
from pipec.compiler.plan import CacheDecision, Stage


class OptimizerInvariantError(RuntimeError):
    """An internal error: an optimizer pass produced an invalid graph or plan."""

    def __init__(self, pass_name: str, problem: str):
        self.pass_name = pass_name
        super().__init__(f"internal error in optimizer pass `{pass_name}`: {problem} "
                         f"(please report this; `--disable {pass_name}` works around it)")


def _sink_input_types(ir: IR) -> dict[str, object]:
    return {s.id: ir.node(s.inputs[0]).output for s in ir.sinks()}


def check_ir(pass_name: str, before: IR, after: IR) -> None:
    """After a rewriting pass: acyclic, every input exists, and every sink sees the same type."""
    for node_id in after.ids():
        try:
            node = after.node(node_id)
        except KeyError:
            raise OptimizerInvariantError(pass_name, f"an edge points to missing node {node_id}") from None
        missing = [i for i in node.inputs if i not in after]
        if missing:
            raise OptimizerInvariantError(pass_name, f"node {node.id} reads missing node(s) {missing}")
        if set(after.producers(node.id)) != set(node.inputs):
            raise OptimizerInvariantError(pass_name, f"the edges into {node.id} disagree with its inputs")
    if not after.is_acyclic():
        import networkx as nx  # only to name the cycle in the error

        raise OptimizerInvariantError(pass_name, f"the graph has a cycle: {nx.find_cycle(after.graph)}")
    old, new = _sink_input_types(before), _sink_input_types(after)
    if old.keys() != new.keys():
        raise OptimizerInvariantError(pass_name, f"the sinks changed from {sorted(old)} to {sorted(new)}")
    changed = [s for s in old if old[s] != new[s]]
    if changed:
        s = changed[0]
        raise OptimizerInvariantError(pass_name, f"sink {s} now receives {new[s]} instead of {old[s]}")


def check_cached(pass_name: str, ir: IR, cached: list[CacheDecision]) -> None:
    """Cache decisions name existing nodes, each once."""
    names = [c.node for c in cached]
    unknown = [n for n in names if n not in ir]
    if unknown or len(set(names)) != len(names):
        raise OptimizerInvariantError(pass_name, f"bad cache decisions {names}")


def check_stages(pass_name: str, ir: IR, stages: list[Stage]) -> None:
    """Every node is in exactly one stage, and the stages can run in their listed order."""
    position = {n: k for k, stage in enumerate(stages) for n in stage.nodes}
    listed = [n for stage in stages for n in stage.nodes]
    if len(listed) != len(set(listed)) or set(listed) != set(ir.ids()):
        raise OptimizerInvariantError(pass_name, "the stages do not cover every node exactly once")
    for producer, consumer in ir.edges():
        if position[producer] > position[consumer]:
            raise OptimizerInvariantError(
                pass_name, f"stage of {consumer} runs before the stage of its input {producer}")
