"""The IR: a networkx DiGraph of typed step nodes, one per pipeline, serialisable as "pipec-ir/1".

Every step argument has a typed model below, so backends read `node.args.predicate` rather than
digging through raw call arguments. Edges run from producer to consumer; the order of a node's
inputs is `node.inputs` (main input first, then e.g. the right side of a join or the model of
`predict`).

>>> ir = IR(pipeline="p")
>>> _ = ir.add(IRNode(id="a", step="limit", args=LimitArgs(n=lit(3))))
>>> ir.to_json()["version"]
'pipec-ir/1'
"""
from __future__ import annotations

import json
from typing import Annotated, Any, Iterator, Literal, Union

import networkx as nx
from pydantic import BaseModel, Field

from pipec.compiler.ast import Expr, Literal_
from pipec.compiler.span import UNKNOWN_SPAN, Span
from pipec.compiler.types import MetricsType, ModelType, ParamType, Schema, TableType, col

IR_VERSION = "pipec-ir/1"


def lit(value: Any) -> Literal_:
    """A typed literal expression for arguments the compiler fills in itself."""
    kind = {bool: "bool", int: "int", float: "float", str: "str"}[type(value)]
    return Literal_(span=UNKNOWN_SPAN, value=value, literal_type=kind, type=col(kind))


class NamedExpr(BaseModel):
    name: str
    expr: Expr


class SortKey(BaseModel):
    column: str
    descending: bool = False


class JoinKey(BaseModel):
    left: str
    right: str


# ----------------------------------------------------------- step arguments
class SourceArgs(BaseModel):
    """`columns` is filled by projection pushdown: the only columns any sink needs."""

    step: Literal["read_csv", "read_parquet", "read_json"]
    path: str
    schema_: Schema
    header: bool = True
    delimiter: str = ","
    null_values: list[str] = []
    columns: list[str] | None = None


class FilterArgs(BaseModel):
    step: Literal["filter"] = "filter"
    predicate: Expr


class SelectArgs(BaseModel):
    step: Literal["select"] = "select"
    items: list[NamedExpr]


class DeriveArgs(BaseModel):
    step: Literal["derive"] = "derive"
    columns: list[NamedExpr]


class ColumnsArgs(BaseModel):
    """drop, drop_nulls and distinct take a list of columns (empty means all for the last two)."""

    step: Literal["drop", "drop_nulls", "distinct"]
    columns: list[str] = []


class RenameArgs(BaseModel):
    step: Literal["rename"] = "rename"
    mapping: list[tuple[str, str]]  # (new, old)


class FillNullArgs(BaseModel):
    step: Literal["fill_null"] = "fill_null"
    values: list[NamedExpr]


class SortArgs(BaseModel):
    step: Literal["sort"] = "sort"
    keys: list[SortKey]


class LimitArgs(BaseModel):
    step: Literal["limit"] = "limit"
    n: Expr


class SampleArgs(BaseModel):
    step: Literal["sample"] = "sample"
    fraction: Expr
    seed: Expr


class UnionArgs(BaseModel):
    step: Literal["union"] = "union"


class JoinArgs(BaseModel):
    step: Literal["join"] = "join"
    on: list[JoinKey]
    how: Literal["inner", "left", "right", "full", "semi", "anti"] = "inner"


class AggregateArgs(BaseModel):
    step: Literal["aggregate"] = "aggregate"
    by: list[str] = []
    aggregates: list[NamedExpr]


class SplitArgs(BaseModel):
    """One side of `split`: `part` 0 keeps the rows whose draw is below `fraction`, part 1 the rest."""

    step: Literal["split"] = "split"
    fraction: Expr
    seed: Expr
    by: str | None = None
    part: Literal[0, 1]


class PythonArgs(BaseModel):
    step: Literal["python"] = "python"
    function: str
    schema_: Schema
    options: list[NamedExpr] = []


class FitArgs(BaseModel):
    step: Literal["fit"] = "fit"
    estimator: str
    params: list[NamedExpr] = []
    features: list[str]
    label: str | None = None


class PredictArgs(BaseModel):
    step: Literal["predict"] = "predict"


class EvaluateArgs(BaseModel):
    step: Literal["evaluate"] = "evaluate"
    label: str
    task: Literal["classification", "regression"]
    metrics: list[str]


class ExpectArgs(BaseModel):
    """`on` says what the conditions read: aggregates over a table, or metric names."""

    step: Literal["expect"] = "expect"
    on: Literal["table", "metrics"]
    conditions: list[Expr]


class SinkArgs(BaseModel):
    step: Literal["write_csv", "write_parquet", "write_json", "save_model"]
    path: str


StepArgs = Annotated[
    Union[SourceArgs, FilterArgs, SelectArgs, DeriveArgs, ColumnsArgs, RenameArgs, FillNullArgs,
          SortArgs, LimitArgs, SampleArgs, UnionArgs, JoinArgs, AggregateArgs, SplitArgs, PythonArgs,
          FitArgs, PredictArgs, EvaluateArgs, ExpectArgs, SinkArgs],
    Field(discriminator="step"),
]

OutputType = Annotated[Union[TableType, ModelType, MetricsType], Field(discriminator="kind")]


class IRNode(BaseModel):
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
    def is_sink(self) -> bool:
        return self.step in SINK_STEPS

    @property
    def is_source(self) -> bool:
        return self.step in SOURCE_STEPS

    @property
    def schema_(self) -> Schema:
        assert isinstance(self.output, TableType), f"{self.id} does not produce a table"
        return self.output.schema_


SOURCE_STEPS = frozenset({"read_csv", "read_parquet", "read_json"})
SINK_STEPS = frozenset({"write_csv", "write_parquet", "write_json", "save_model"})


class ParamSpec(BaseModel):
    """A pipeline parameter: its declared type and its default as a plain JSON value
    (dates as ISO strings, durations as seconds)."""

    name: str
    type: ParamType
    default: Any
    doc: str | None = None


class Options(BaseModel):
    """Orchestration options; durations are seconds."""

    schedule: str | None = None
    start: str | None = None
    catchup: bool = False
    retries: int | None = None
    retry_delay: int | None = None
    timeout: int | None = None
    owner: str | None = None
    tags: list[str] = []


class IR:
    """A checked pipeline as a DAG of `IRNode`s (graph attribute "node"), plus its params and options."""

    def __init__(self, pipeline: str, *, doc: str | None = None, options: Options | None = None,
                 params: list[ParamSpec] | None = None, source: str | None = None):
        self.pipeline = pipeline
        self.doc = doc
        self.options = options or Options()
        self.params = params or []
        self.source = source
        self.graph: nx.DiGraph = nx.DiGraph()

    # -- building and editing
    def add(self, node: IRNode) -> IRNode:
        self.graph.add_node(node.id, node=node)
        for i in node.inputs:
            self.graph.add_edge(i, node.id)
        return node

    def remove(self, node_id: str) -> None:
        self.graph.remove_node(node_id)

    def replace(self, node: IRNode) -> None:
        """Swap in a new version of an existing node (same id), rewiring its input edges."""
        for pred in list(self.graph.predecessors(node.id)):
            self.graph.remove_edge(pred, node.id)
        self.graph.nodes[node.id]["node"] = node
        for i in node.inputs:
            self.graph.add_edge(i, node.id)

    def redirect(self, old: str, new: str) -> None:
        """Make every consumer of `old` read `new` instead."""
        for consumer in list(self.consumers(old)):
            self.replace(consumer.model_copy(update={"inputs": [new if i == old else i for i in consumer.inputs]}))

    # -- reading
    def node(self, node_id: str) -> IRNode:
        return self.graph.nodes[node_id]["node"]

    def __contains__(self, node_id: str) -> bool:
        return node_id in self.graph

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def nodes(self) -> Iterator[IRNode]:
        """Nodes in a deterministic topological order (ties broken by id)."""
        for node_id in nx.lexicographical_topological_sort(self.graph):
            yield self.node(node_id)

    def consumers(self, node_id: str) -> list[IRNode]:
        return [self.node(s) for s in sorted(self.graph.successors(node_id))]

    def sinks(self) -> list[IRNode]:
        return [n for n in self.nodes() if n.is_sink]

    def param(self, name: str) -> ParamSpec:
        return next(p for p in self.params if p.name == name)

    def copy(self) -> "IR":
        return IR.from_json(self.to_json())

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
