"""What a step is: the `Step` spec every step module fills in, and what its typing rule receives.

A step answers for itself (as DataFusion's plan nodes or Ibis' operations do), so the checker,
the optimizer passes, the cost model, `explain` and the editor support ask its spec instead of
testing its name. Every hook takes the step's typed IR arguments and the types of its inputs
(never the IR), and its default is the conservative answer: a pass that asks an unknown step
keeps everything where it is.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

from pydantic import BaseModel

from pipec.compiler import ast
from pipec.compiler.diagnostics import Diagnostics, Label
from pipec.compiler.expressions import ExprContext, Mode
from pipec.compiler.suggest import did_you_mean
from pipec.compiler.types import MetricsType, ModelType, ParamType, Schema, TableType, ValueType
from pipec.runtime_contract import Bound

if TYPE_CHECKING:
    from pipec.stdlib.steps.column_flow import ColumnFlow


class Resolver(Protocol):
    """What a typing rule may ask of the pipeline checker."""

    def binding(self, ref: ast.Expr, what: str) -> tuple[str, ValueType] | None: ...
    def upstream_model(self, node_id: str) -> tuple[str, ModelType] | None: ...
    def param_value(self, name: str) -> tuple[object, str, Label | None]: ...


@dataclass
class StepContext:
    call: ast.Call
    input: ValueType | None
    input_id: str | None
    input_name: str
    params: dict[str, ParamType]
    schemas: dict[str, Schema]
    diags: Diagnostics
    resolver: Resolver
    extra_inputs: list[str] = field(default_factory=list)

    def expr_ctx(self, schema: Schema, mode: Mode = Mode.ROW, metrics: tuple[str, ...] = (),
                 groups_may_be_empty: bool = False) -> ExprContext:
        return ExprContext(schema=schema, params=self.params, diags=self.diags, what=self.input_name,
                           mode=mode, metrics=metrics, groups_may_be_empty=groups_may_be_empty)

    def error(self, code: str, message: str, span, **kw) -> None:
        self.diags.error(code, message, span, **kw)

    @property
    def schema(self) -> Schema:
        assert isinstance(self.input, TableType)
        return self.input.schema_


@dataclass
class BoundArgs:
    """A call's arguments matched to a step's parameters."""

    named: dict[str, ast.Arg]
    items: list[ast.Arg]  # positional extras and `name = expr` items, in written order

    def get(self, name: str) -> ast.Expr | None:
        a = self.named.get(name)
        return a.value if a else None


Result = tuple[BaseModel, "ValueType | None"]  # (typed IR args, output type)
Rule = Callable[[StepContext, BoundArgs], "Result | None"]
Inputs = list["ValueType | None"]  # the output types of a node's inputs, main input first
Route = list[tuple[int, ast.Expr]]  # (input index, the conjunct rewritten for that input)


@dataclass(frozen=True)
class Choices:
    """An argument whose value is one of a few strings (offered quoted by the editor)."""

    values: tuple[str, ...]
    detail: str


def every_column(args: BaseModel, inputs: Inputs, index: int, wanted: set[str]) -> set[str]:
    """The conservative `needs`: every column of the input."""
    value = inputs[index]
    return set(value.schema_.names) if isinstance(value, TableType) else set()


def needs_what_it_reads(reads: Callable[[BaseModel], set[str]]):
    """The `needs` of a step that passes its input's columns through: what its consumers need
    plus what it reads itself."""
    return lambda args, inputs, index, wanted: wanted | reads(args)


def moves_filters_past(creates: Callable[[BaseModel, "Inputs"], "set[str] | None"] = lambda args, inputs: set()):
    """The `route_filter` of a step that keeps its input's rows as they are: a conjunct moves
    below it unchanged unless it reads a column the step computes (`creates`)."""
    def route(args: BaseModel, inputs: "Inputs", part: ast.Expr, used: set[str]) -> "Route | None":
        created = creates(args, inputs)
        return None if created is None or used & created else [(0, part)]
    return route


def as_many_rows(args: BaseModel, rows_in: list[float], value: Callable[[ast.Expr], Any]) -> float:
    """The default `rows_out`: as many rows as the main input."""
    return rows_in[0] if rows_in else 1.0


@dataclass(frozen=True)
class FanOut:
    """A step's independent items (see `Step.fan_out`): what they are, and a label for each, in
    the order in which the step's runtime numbers them (from 0)."""

    item: str  # what one item is, a noun: "candidate"
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    """One standard-library step: signature, typing rule, flags, and the hooks the passes ask."""

    name: str
    rule: Rule
    input: str  # "none" (source), "table", "model", "metrics", "table|metrics", "any"
    positional: tuple[str, ...] = ()  # names of positional parameters, in order
    keywords: tuple[str, ...] = ()    # named parameters
    variadic: bool = False            # extra positional arguments allowed (select, drop, sort, ...)
    named_items: bool = False         # `name = expr` items allowed (derive, aggregate, select, ...)
    required: tuple[str, ...] = ()
    args: type[BaseModel] | None = None  # its IR argument model (one of the `pipec-ir/1` args)
    signature: str = ""               # as the docs and the editor show it
    doc: str = ""                     # one line, shown on hover
    # -- flags
    row_local: bool = False           # computes each output row from one input row
    shuffle: bool = False             # needs to see all rows (join, aggregate, sort, distinct)
    schema_preserving: bool = False   # its output has its input's columns (checking goes on past a mistake)
    deterministic: bool = True        # the same input gives the same output (user code may not)
    sink: bool = False                # writes a pipeline output (a file or a model folder)
    external: bool = False            # reads or writes a database: its stage is never reused from the cache
    fits_model: bool = False          # its output is a trained model
    eager: bool = False               # runs on materialised rows (pandas / scikit-learn / user code)
    user_code: bool = False           # calls a function of the user's project
    gate: bool = False                # a quality gate: fails the run, passes its input through
    makes_metrics: bool = False       # its output is a metrics record
    predicts: bool = False            # adds a model's predictions (its second input is the model)
    conditions: bool = False          # its arguments are conditions (`name = value` is a typo for `==`)
    outputs: int = 1                  # values it gives: two for a split, bound as `a, b = ...`
    # -- hooks: columns
    reads: Callable[[BaseModel], set[str]] = lambda args: set()
    """The columns its arguments name or read, whether or not its consumers use the result."""
    creates: Callable[[BaseModel, Inputs], "set[str] | None"] = lambda args, inputs: None
    """The output columns whose values it computes (not passed through unchanged under the same
    name); None: every output column."""
    needs: Callable[[BaseModel, Inputs, int, set[str]], set[str]] = every_column
    """The columns of input `index` it needs when its consumers need `wanted` of its output."""
    evaluates: Callable[[BaseModel], list[ast.Expr]] = lambda args: []
    """The expressions it computes values with (whose rows must not change if they can overflow)."""
    lineage: Callable[[BaseModel, Inputs], "ColumnFlow | None"] = lambda args, inputs: None
    """Which input columns each output column comes from, and how (`column_flow.py`); None: not
    known (user code), which `pipec lineage` reports as such instead of guessing."""
    # -- hooks: predicate pushdown
    route_filter: Callable[[BaseModel, Inputs, ast.Expr, set[str]], "Route | None"] = \
        lambda args, inputs, part, used: None
    """Where a filter conjunct `part` (reading the columns `used`) may move below it with the same
    rows: (input index, rewritten conjunct) pairs, or None when it must stay above."""
    scan_predicate: Callable[[BaseModel], "ast.Expr | None"] = lambda args: None
    """The predicate a reader can apply while it scans, when this step reads a source directly."""
    # -- hooks: the cost model
    rows_out: Callable[[BaseModel, list[float], Callable[[ast.Expr], Any]], float] = as_many_rows
    """Its output rows for the rows of its inputs; `value` gives a literal's or param's value."""
    seconds_per_row: float = 1e-7     # per input row (single core, order of magnitude)
    row_work: Callable[[float], float] = lambda rows: 1
    """How many times it handles each row (a sort compares log2(rows) times)."""
    seconds_per_byte: float = 0.0     # sources and sinks: per byte read or written
    disk_row_bytes: Callable[[Schema, Callable[..., int]], float] | None = None
    """Sources: the bytes of one row in the file, given the cost model's `row_width(schema, text=False)`."""
    # -- hooks: the checker, the runtimes and the editor
    bounds: Callable[[BaseModel], list[tuple[ast.Expr, Bound]]] = lambda args: []
    """Its arguments that must lie in a range of the runtime contract, with that range (the
    checker checks them; a DAG's trigger form checks a param that feeds one)."""
    other_output: Callable[[BaseModel], BaseModel] | None = None
    """For `outputs == 2`: the arguments of the second value, from the first's."""
    other_type: Callable[[BaseModel], ValueType] | None = None
    """For `outputs == 2` when the second value is of another type (`tune`'s trials): its type,
    from its arguments. It is then computed from the first value (its second input), not again."""
    reusable: Callable[[BaseModel], bool] = lambda args: True
    """Whether a stored output of an earlier run may stand in for running it (incremental reruns);
    False also keeps everything downstream of it from being reused."""
    fan_out: Callable[[BaseModel], "FanOut | None"] = lambda args: None
    """Independent items of its work that an orchestrator may run as one task each (`tune`'s
    candidates, Airflow's mapped tasks); None: it runs as one piece."""
    argument_values: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """What values the editor offers, by argument name ("*": further positional items, "...":
    any argument not listed): "binding", "column", "estimator", "metric", or `Choices`."""

    @property
    def is_source(self) -> bool:
        return self.input == "none"

    def argument_value(self, argument: str) -> "str | Choices | None":
        return self.argument_values.get(argument, self.argument_values.get("..."))


def bind(step: Step, call: ast.Call, diags: Diagnostics) -> BoundArgs | None:
    named: dict[str, ast.Arg] = {}
    items: list[ast.Arg] = []
    positional = list(step.positional)
    ok = True
    for a in call.args:
        if a.name is None:
            if positional:
                named[positional.pop(0)] = a
            elif step.variadic:
                items.append(a)
            else:
                diags.error("E0302", f"`{step.name}` takes no more positional arguments", a.span,
                            help=signature_help(step))
                ok = False
        elif a.name in named:
            diags.error("E0302", f"argument `{a.name}` is given twice", a.name_span or a.span)
            ok = False
        elif a.name in step.keywords or a.name in step.positional:
            if a.name in step.positional:
                positional.remove(a.name)
            named[a.name] = a
        elif step.named_items:
            items.append(a)
        else:
            known = [*step.positional, *step.keywords]
            diags.error("E0302", f"`{step.name}` has no argument `{a.name}`", a.name_span or a.span,
                        help=did_you_mean(a.name, known) or (
                            f"use `==` to compare: `{step.name}({a.name} == ...)`; `=` names an argument"
                            if step.conditions else signature_help(step)))
            ok = False
    for r in step.required:
        if r not in named:
            diags.error("E0303", f"`{step.name}` needs the argument `{r}`", call.span,
                        help=signature_help(step))
            ok = False
    return BoundArgs(named, items) if ok else None


def signature_help(step: Step) -> str:
    return f"see `{step.name}` in docs/language.md: {step.signature or step.name + '(...)'}"


def input_matches(step: Step, value: ValueType) -> bool:
    kinds = {"table": TableType, "model": ModelType, "metrics": MetricsType}
    if step.input == "any":
        return True
    return any(isinstance(value, kinds[k]) for k in step.input.split("|"))
