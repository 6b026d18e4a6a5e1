"""cache_placement on hand-made cost graphs: runs, savings, the budget, and the backend's passes."""
from __future__ import annotations

from optimizer_helpers import checked

from pipec.backends.capabilities import Capabilities
from pipec.compiler.cost import NodeEstimate
from pipec.compiler.ir import IR, IRNode, LimitArgs, SinkArgs, SourceArgs, lit
from pipec.compiler.passes import cache_placement
from pipec.compiler.types import Schema, TableType

TABLE = TableType(schema_=Schema())


def graph(edges: dict[str, list[str]], sinks: dict[str, str]) -> IR:
    """Table nodes `name -> inputs`, plus sinks `sink -> what it writes`."""
    ir = IR("p")
    for name, inputs in edges.items():
        ir.add(IRNode(id=name, step="limit", args=LimitArgs(n=lit(1)), inputs=inputs, output=TABLE))
    for sink, source in sinks.items():
        ir.add(IRNode(id=sink, step="write_csv", args=SinkArgs(step="write_csv", path=sink), inputs=[source]))
    return ir


def costs(ir: IR, **given: tuple[float, float]) -> dict[str, NodeEstimate]:
    """(seconds, bytes) per node; anything not given is free and tiny."""
    return {n.id: NodeEstimate(rows=1, seconds=given.get(n.id, (0.0, 1))[0], bytes=given.get(n.id, (0.0, 1))[1])
            for n in ir.nodes()}


TWO_SHARED = graph({"s": [], "a": ["s"], "b": ["s"]},
                   {"a1": "a", "a2": "a", "a3": "a", "b1": "b", "b2": "b"})


def test_everything_worth_caching_fits_in_a_large_budget():
    est = costs(TWO_SHARED, a=(10.0, 100), b=(1.0, 2))
    chosen = cache_placement(TWO_SHARED, memory_budget=1000, estimates=est)
    # a: t=10, runs 3 -> saves 20 (0.2 s/byte); b: t=1, runs 2 -> saves 1 (0.5 s/byte); s: runs 5 but free
    assert [(c.node, c.runs, c.seconds_saved, c.bytes) for c in chosen] == [("b", 2, 1.0, 2), ("a", 3, 20.0, 100)]


def test_a_small_budget_prefers_the_higher_saving_per_byte():
    est = costs(TWO_SHARED, a=(10.0, 100), b=(1.0, 2))
    assert [c.node for c in cache_placement(TWO_SHARED, memory_budget=100, estimates=est)] == ["b"]
    assert [c.node for c in cache_placement(TWO_SHARED, memory_budget=101, estimates=est)] == ["b"]
    assert [c.node for c in cache_placement(TWO_SHARED, memory_budget=102, estimates=est)] == ["b", "a"]
    assert cache_placement(TWO_SHARED, memory_budget=1, estimates=est) == []


def test_runs_are_recomputed_after_each_choice():
    # s -> x -> y -> (y1, y2, y3) and x -> x1: caching y first leaves x read twice (y once, x1 once)
    ir = graph({"s": [], "x": ["s"], "y": ["x"]}, {"y1": "y", "y2": "y", "y3": "y", "x1": "x"})
    est = costs(ir, x=(4.0, 10), y=(1.0, 1))
    chosen = cache_placement(ir, memory_budget=100, estimates=est)
    # y: t = 5, runs 3 -> 10 s (10 per byte); x before: t = 4, runs 4 -> 12 s (1.2 per byte)
    # after y: x runs 2 -> saves 4 s. Reported savings are each node's share given the other:
    # with x cached, y takes 1 s to recompute -> saves 2 s.
    assert [(c.node, c.runs, c.seconds_saved) for c in chosen] == [("y", 3, 2.0), ("x", 2, 4.0)]


def test_a_node_made_useless_by_later_choices_is_released():
    # x (10 s per byte) is chosen first; then p (its only reader) is cached too, so x runs once
    ir = graph({"s": [], "x": ["s"], "p": ["x"]}, {"p1": "p", "p2": "p"})
    est = costs(ir, x=(10.0, 1), p=(1.0, 100))
    records = []
    chosen = cache_placement(ir, memory_budget=10_000, estimates=est, records=records)
    assert [(c.node, c.seconds_saved) for c in chosen] == [("p", 11.0)]
    assert [r.message.split(" ")[0] for r in records] == ["cached", "cached", "released"]


def test_spark_weights_an_iterative_fit_by_its_iterations_and_local_does_not():
    ir = checked("""
      t = read_csv("t.csv", schema={a: float, y: bool})
      train = t | filter(a > 0.0)
      m = train | fit(logistic_regression(max_iter=50), features=[a], label=y)
      m | save_model("m")
    """)
    est = {n.id: NodeEstimate(rows=1000, bytes=8000, seconds=0.5) for n in ir.nodes()}
    assert cache_placement(ir, backend="local", memory_budget=10**9, estimates=est) == []
    chosen = cache_placement(ir, backend="spark", memory_budget=10**9, estimates=est)
    assert [(c.node, c.runs) for c in chosen] == [("train", 50)]


def test_a_backend_record_alone_decides_how_often_a_fit_reads_and_what_keeping_costs():
    ir = checked("""
      t = read_csv("t.csv", schema={a: float, y: bool})
      train = t | filter(a > 0.0)
      m = train | fit(kmeans(k=2), features=[a])
      m | save_model("m")
    """)
    est = {n.id: NodeEstimate(rows=1000, bytes=8000, seconds=0.5) for n in ir.nodes()}
    toy = Capabilities(name="toy", fit_passes={"kmeans": 7})
    assert [(c.node, c.runs) for c in cache_placement(ir, backend=toy, memory_budget=10**9, estimates=est)] == [
        ("train", 7)]
    dear = Capabilities(name="toy", fit_passes={"kmeans": 7}, materialise_seconds_per_byte=1.0)
    assert cache_placement(ir, backend=dear, memory_budget=10**9, estimates=est) == []


def test_local_reads_a_source_once_so_its_reading_time_is_not_saved_again():
    # a source s (5 s to read) -> f (1 s), read by two sinks: on Spark caching f also saves
    # reading s again; the local backend holds s in memory after one read
    ir = IR("p")
    ir.add(IRNode(id="s", step="read_csv", output=TABLE, args=SourceArgs(step="read_csv", path="s.csv",
                                                                      schema_=Schema())))
    ir.add(IRNode(id="f", step="limit", args=LimitArgs(n=lit(1)), inputs=["s"], output=TABLE))
    for sink in ("o1", "o2"):
        ir.add(IRNode(id=sink, step="write_csv", args=SinkArgs(step="write_csv", path=sink), inputs=["f"]))
    est = costs(ir, s=(5.0, 10), f=(1.0, 10))
    spark = cache_placement(ir, backend="spark", memory_budget=100, estimates=est)
    local = cache_placement(ir, backend="local", memory_budget=100, estimates=est)
    assert [(c.node, c.seconds_saved) for c in spark] == [("f", 6.0)]
    assert [(c.node, c.seconds_saved) for c in local] == [("f", 1.0)]


def test_a_big_table_that_is_cheap_to_compute_again_is_not_worth_writing_into_memory():
    # read three times; computing it again takes 0.05 s: worth it for 1 MB, not for 1 GB
    ir = graph({"s": [], "a": ["s"]}, {"a1": "a", "a2": "a", "a3": "a"})
    small = cache_placement(ir, memory_budget=10**10, estimates=costs(ir, a=(0.05, 10**6)))
    big = cache_placement(ir, memory_budget=10**10, estimates=costs(ir, a=(0.05, 10**9)))
    assert [c.node for c in small] == ["a"] and big == []
