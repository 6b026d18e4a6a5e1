"""The IR: a DAG of typed step nodes, one per pipeline, serialisable as "pipec-ir/1" and offered
as a networkx DiGraph (`IR.graph`).

Every step argument has a typed model (defined by its step module, pipec/stdlib/steps/), so
backends read `node.args.predicate` rather than digging through raw call arguments. Edges run
from producer to consumer; the order of a node's inputs is `node.inputs` (main input first, then
e.g. the right side of a join or the model of `predict`).

>>> ir = IR(pipeline="p")
>>> _ = ir.add(IRNode(id="a", step="limit", args=LimitArgs(n=lit(3))))
>>> ir.to_json()["version"]
'pipec-ir/1'
"""
from __future__ import annotations

import heapq
import json
from typing import TYPE_CHECKING, Annotated, Any, Callable, Iterable, Iterator, Mapping, TypeVar, Union

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from pipec.compiler.arguments import NamedExpr, lit
from pipec.compiler.model import Model
from pipec.compiler.span import UNKNOWN_SPAN, Span
from pipec.compiler.types import MetricsType, ModelType, ParamType, Schema, TableType
from pipec.stdlib.steps import STEPS, on_registry_change
# The step argument models, re-exported where the backends have always found them.
from pipec.stdlib.steps.aggregate import AggregateArgs
from pipec.stdlib.steps.columns import ColumnsArgs
from pipec.stdlib.steps.derive import DeriveArgs
from pipec.stdlib.steps.evaluate import EvaluateArgs
from pipec.stdlib.steps.expect import ExpectArgs
from pipec.stdlib.steps.fill_null import FillNullArgs
from pipec.stdlib.steps.filter import FilterArgs
from pipec.stdlib.steps.fit import FitArgs
from pipec.stdlib.steps.join import JoinArgs, JoinKey
from pipec.stdlib.steps.limit import LimitArgs
from pipec.stdlib.steps.predict import PredictArgs
from pipec.stdlib.steps.python import PythonArgs
from pipec.stdlib.steps.rename import RenameArgs
from pipec.stdlib.steps.sample import SampleArgs
from pipec.stdlib.steps.select import SelectArgs
from pipec.stdlib.steps.sinks import SinkArgs
from pipec.stdlib.steps.sort import SortArgs, SortKey
from pipec.stdlib.steps.sources import SourceArgs
from pipec.stdlib.steps.split import SplitArgs
from pipec.stdlib.steps.union import UnionArgs

if TYPE_CHECKING:
    import networkx as nx

IR_VERSION = "pipec-ir/1"
V = TypeVar("V")




def _step_args() -> Any:
    """The union of every step's argument model, in registry order, told apart by their `step`."""
    return Annotated[Union[tuple(dict.fromkeys(spec.args for spec in STEPS.values()))], Field(discriminator="step")]


# Built from the registry: a new step's argument model joins the IR by itself.
StepArgs = _step_args()

OutputType = Annotated[Union[TableType, ModelType, MetricsType], Field(discriminator="kind")]


class IRNode(Model):
    """One step application. `output` is None for sinks; `binding` is the user's name, if any."""

    id: str
    step: str
    args: StepArgs
    inputs: list[str] = []
    output: OutputType | None = None
    binding: str | None = None
    span: Span = UNKNOWN_SPAN
    doc: str | None = None

    @property
    def spec(self):
        """The step's `Step` spec: its flags and the hooks the passes ask."""
        return STEPS[self.step]

    @property
    def is_sink(self) -> bool:
        return self.spec.sink

    @property
    def is_source(self) -> bool:
        return self.spec.is_source

    @property
    def schema_(self) -> Schema:
        assert isinstance(self.output, TableType), f"{self.id} does not produce a table"
        return self.output.schema_


def _rebuild_step_args() -> None:
    """A step registered at run time (`pipec.stdlib.steps.register`) joins `IRNode.args`."""
    IRNode.model_fields["args"] = FieldInfo.from_annotation(_step_args())
    IRNode.model_rebuild(force=True)


on_registry_change(_rebuild_step_args)


class ParamSpec(Model):
    """A pipeline parameter: its declared type and its default as a plain JSON value
    (dates as ISO strings, durations as seconds)."""

    name: str
    type: ParamType
    default: Any
    doc: str | None = None


# The values of the option `tasks`: finer or coarser tasks than the backend's default.
TASK_GRANULARITIES = ("fine", "coarse")


class Options(Model):
    """Orchestration options; durations are seconds."""

    schedule: str | None = None
    start: str | None = None
    catchup: bool = False
    retries: int | None = None
    retry_delay: int | None = None
    timeout: int | None = None
    owner: str | None = None
    tags: list[str] = []
    confine_outputs: bool = False  # sinks must stay inside the base directory (checked by pipec check)
    tasks: str | None = None  # an orchestrator's task granularity: one of TASK_GRANULARITIES


def _mentions_run(value: Any) -> bool:
    """Whether an argument model holds a `run.*` expression or a `${run.*}` in a string.

    A direct walk over the models' fields in plain loops, without dumping every argument (see
    Span for why its dumps once swallowed a Ctrl-C)."""
    if isinstance(value, BaseModel):
        if getattr(value, "kind", None) == "run":
            return True
        value = [getattr(value, name) for name in type(value).model_fields]
    elif isinstance(value, dict):
        value = list(value.values())
    elif isinstance(value, Span) or not isinstance(value, (list, tuple)):
        return isinstance(value, str) and "${run." in value
    for item in value:
        if _mentions_run(item):
            return True
    return False


class IRCycleError(ValueError):
    """The graph has a cycle, so it has no topological order (a bug in whatever built it)."""


def lexicographical_topological_order(successors: Mapping[V, Iterable[V]],
                                      key: Callable[[V], Any] | None = None) -> list[V]:
    """The vertices of a DAG (`successors` lists every vertex) in topological order, taking the
    ready vertex with the smallest key first: networkx's lexicographical_topological_sort, for
    unique keys, without importing networkx. Raises `IRCycleError` if there is a cycle."""
    key = key or (lambda vertex: vertex)
    waiting: dict[V, int] = {}
    for consumers in successors.values():
        for consumer in consumers:
            waiting[consumer] = waiting.get(consumer, 0) + 1
    ready = [(key(v), v) for v in successors if v not in waiting]
    heapq.heapify(ready)
    order: list[V] = []
    while ready:
        _, vertex = heapq.heappop(ready)
        order.append(vertex)
        for consumer in successors[vertex]:
            waiting[consumer] -= 1
            if not waiting[consumer]:
                del waiting[consumer]
                heapq.heappush(ready, (key(consumer), consumer))
    if waiting:
        raise IRCycleError(f"the graph has a cycle through {sorted(map(str, waiting))}")
    return order


class IR:
    """A checked pipeline as a DAG of `IRNode`s, plus its params and options.

    The edges live in two adjacency dicts rather than in a networkx DiGraph: `pipec check` then
    does without networkx (a tenth of a second to import), and the topological order, which the
    passes and backends ask for all the time, is sorted once per change of the edges instead of on
    every call. `graph` offers the same DAG as a networkx DiGraph. Nodes are values: editing one
    means `replace` with a `model_copy`, never changing it in place, so copies share nodes.
    """

    def __init__(self, pipeline: str, *, doc: str | None = None, options: Options | None = None,
                 params: list[ParamSpec] | None = None, source: str | None = None):
        self.pipeline = pipeline
        self.doc = doc
        self.options = options or Options()
        self.params = params or []
        self.source = source
        self._nodes: dict[str, IRNode] = {}
        # Every vertex, including an input that was never added (networkx's add_edge semantics).
        self._succ: dict[str, dict[str, None]] = {}
        self._pred: dict[str, dict[str, None]] = {}
        self._order: tuple[str, ...] | None = None
        self._graph: nx.DiGraph | None = None

    # -- building and editing
    def add(self, node: IRNode) -> IRNode:
        self._vertex(node.id)
        self._nodes[node.id] = node
        for i in node.inputs:
            self._link(i, node.id)
        self._edges_changed()
        return node

    def remove(self, node_id: str) -> None:
        for producer in self._pred.pop(node_id):
            del self._succ[producer][node_id]
        for consumer in self._succ.pop(node_id):
            del self._pred[consumer][node_id]
        self._nodes.pop(node_id, None)
        self._edges_changed()

    def replace(self, node: IRNode) -> None:
        """Swap in a new version of an existing node (same id), rewiring its input edges."""
        same_inputs = self._pred[node.id].keys() == set(node.inputs)
        for producer in self._pred[node.id]:
            del self._succ[producer][node.id]
        self._pred[node.id] = {}
        self._nodes[node.id] = node
        for i in node.inputs:
            self._link(i, node.id)
        self._graph = None
        if not same_inputs:
            self._order = None

    def redirect(self, old: str, new: str) -> None:
        """Make every consumer of `old` read `new` instead."""
        for consumer in list(self.consumers(old)):
            self.replace(consumer.model_copy(update={"inputs": [new if i == old else i for i in consumer.inputs]}))

    def _vertex(self, node_id: str) -> None:
        if node_id not in self._succ:
            self._succ[node_id] = {}
            self._pred[node_id] = {}

    def _link(self, producer: str, consumer: str) -> None:
        self._vertex(producer)
        self._succ[producer][consumer] = None
        self._pred[consumer][producer] = None

    def _edges_changed(self) -> None:
        self._order = None
        self._graph = None

    # -- reading
    def node(self, node_id: str) -> IRNode:
        return self._nodes[node_id]

    def __contains__(self, node_id: str) -> bool:
        return node_id in self._succ

    def __len__(self) -> int:
        return len(self._succ)

    def nodes(self) -> Iterator[IRNode]:
        """Nodes in a deterministic topological order (ties broken by id)."""
        for node_id in self.order():
            yield self._nodes[node_id]

    def order(self) -> tuple[str, ...]:
        """The node ids in the order of `nodes()`; raises `IRCycleError` if there is none."""
        if self._order is None:
            self._order = tuple(lexicographical_topological_order(self._succ))
        return self._order

    def is_acyclic(self) -> bool:
        try:
            self.order()
        except IRCycleError:
            return False
        return True

    def ids(self) -> list[str]:
        """Every node id, in the order they were added (`order()` for a topological one)."""
        return list(self._succ)

    def edges(self) -> Iterator[tuple[str, str]]:
        """(producer id, consumer id) pairs."""
        for producer, consumers in self._succ.items():
            for consumer in consumers:
                yield producer, consumer

    def producers(self, node_id: str) -> list[str]:
        """The ids with an edge into `node_id` (normally its `inputs`, without repeats)."""
        return list(self._pred[node_id])

    def consumers(self, node_id: str) -> list[IRNode]:
        return [self._nodes[s] for s in sorted(self._succ[node_id])]

    def input_types(self, node: IRNode) -> list[Any]:
        """The output types of `node`'s inputs, main input first: what a step's hooks are given."""
        return [self._nodes[i].output for i in node.inputs]

    def consumer_count(self, node_id: str) -> int:
        return len(self._succ[node_id])

    def sinks(self) -> list[IRNode]:
        return [n for n in self.nodes() if n.is_sink]

    def param(self, name: str) -> ParamSpec:
        return next(p for p in self.params if p.name == name)

    def uses_run_context(self) -> bool:
        """Whether a step reads a `run.*` value (in an expression, or `${run.date}` in a path):
        then the run's dates matter, and an orchestrator must give the run a data interval."""
        return _mentions_run([node.args for node in self._nodes.values()])

    def copy(self) -> "IR":
        """An IR with its own graph over the same (never mutated) nodes."""
        out = IR(self.pipeline, doc=self.doc, source=self.source, options=self.options.model_copy(deep=True),
                 params=[p.model_copy(deep=True) for p in self.params])
        out._nodes = dict(self._nodes)
        out._succ = {v: dict(s) for v, s in self._succ.items()}
        out._pred = {v: dict(p) for v, p in self._pred.items()}
        out._order = self._order
        return out

    @property
    def graph(self) -> "nx.DiGraph":
        """The DAG as a read-only networkx DiGraph (node attribute "node"), built on first use."""
        if self._graph is None:
            import networkx as nx

            graph = nx.DiGraph()
            for node_id in self._succ:
                graph.add_node(node_id, **({"node": self._nodes[node_id]} if node_id in self._nodes else {}))
            graph.add_edges_from(self.edges())
            self._graph = nx.freeze(graph)
        return self._graph

    # -- serialisation
    def to_json(self) -> dict[str, Any]:
        return {
            "version": IR_VERSION,
            "pipeline": self.pipeline,
            "doc": self.doc,
            "source": self.source,
            "options": self.options.model_dump(mode="json"),
            "params": [p.model_dump(mode="json") for p in self.params],
            "nodes": [n.model_dump(mode="json", exclude_none=True) for n in self.nodes()],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "IR":
        if data.get("version") != IR_VERSION:
            raise ValueError(f"not a {IR_VERSION} document (version {data.get('version')!r})")
        ir = cls(data["pipeline"], doc=data.get("doc"), source=data.get("source"),
                 options=Options.model_validate(data.get("options", {})),
                 params=[ParamSpec.model_validate(p) for p in data.get("params", [])])
        for raw in data["nodes"]:
            ir.add(IRNode.model_validate(raw))
        return ir
