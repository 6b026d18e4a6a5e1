"""Plan → one standalone PySpark application per pipeline.

The job is: a docstring saying how to run it, the embedded runtime (`runtime.py`, verbatim but for
its docstring), the declared params and schemas, then `pipeline(spark, params, outputs)` with one
commented block per plan stage, and `main(argv)`. Chains of DataFrame methods inside a stage are
written as one fluent expression; nodes the plan caches are persisted and unpersisted after the
last action that reads them. Every DataFrame carries its rows' defined order (docs/semantics.md) in
the runtime's hidden `ORDER` column, which each step keeps or composes and sinks drop.

Each step has one emitter, registered with `@emits` below; the Spark backend supports exactly the
steps registered here.
"""
from __future__ import annotations

import ast as pyast
import builtins
import keyword
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipec import runtime_contract
from pipec.backends import commit as commit_protocol
from pipec.backends import postgres as database
from pipec.backends.emitters import EmitterRegistry, step_location
from pipec.backends.spark import expressions as ex
from pipec.backends.spark.expressions import py_literal as lit
from pipec.compiler.ir import IRNode, NamedExpr
from pipec.compiler.partitions import partition_filter
from pipec.compiler.plan import Plan
from pipec.compiler.types import MetricsType, ModelType, Schema, TableType
from pipec.stdlib.estimators import LOWER_IS_BETTER
from pipec.stdlib.steps import STEPS
from pipec.stdlib.steps.database import run_items
from pipec.stdlib.steps.load_model import expected_signature
from pipec.stdlib.steps.tune import trials_type

LINE_LIMIT = 100
INDENT = "    "
STORAGE_LEVEL = "StorageLevel.MEMORY_AND_DISK"  # spill rather than recompute when memory is short
# The runtime is embedded as text, never imported here: it imports pyspark.
RUNTIME_FILE = Path(__file__).with_name("runtime.py")
EMBEDDED = {module.__name__: (Path(module.__file__), title)  # the pipec modules it imports, by name
            for module, title in ((commit_protocol, "commit protocol"), (database, "PostgreSQL support"),
                                  (runtime_contract, "runtime contract"))}


def runtime_source() -> str:
    """The runtime module's source without its docstring (the job has its own), with the source
    of each pipec module it imports (the commit protocol, the runtime contract) in place of the
    import (a job imports nothing from pipec). Read as text: compiling needs no pyspark."""
    lines = RUNTIME_FILE.read_text(encoding="utf-8").splitlines()
    tree = pyast.parse("\n".join(lines))
    imported = {line for line in lines if line.startswith(("import ", "from "))}  # __future__ too
    for node in reversed(tree.body):  # bottom up, so the line numbers above stay valid
        if not (isinstance(node, pyast.ImportFrom) and node.module in EMBEDDED):
            continue
        module, title = EMBEDDED[node.module]
        module_lines = module.read_text(encoding="utf-8").splitlines()
        body = [line for line in module_lines[pyast.parse("\n".join(module_lines)).body[0].end_lineno:]
                if line not in imported]
        lines[node.lineno - 1:node.end_lineno] = [
            "# " + "-" * 58 + f" the {title} (embedded from pipec)", *body,
            "# " + "-" * 58 + f" end of the {title}"]
    return "\n".join(lines[tree.body[0].end_lineno:]).strip() + "\n"


def _reserved_names() -> set[str]:
    """Names a pipeline variable must not shadow inside `pipeline()`."""
    tree = pyast.parse(runtime_source())
    names = {"spark", "params", "outputs", "pipeline", "main", "PARAMS"}
    for node in tree.body:
        if isinstance(node, (pyast.FunctionDef, pyast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (pyast.Import, pyast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (pyast.Assign, pyast.AnnAssign)):
            targets = node.targets if isinstance(node, pyast.Assign) else [node.target]
            names.update(n.id for t in targets for n in pyast.walk(t) if isinstance(n, pyast.Name))
    return names | set(keyword.kwlist) | set(dir(builtins))


# ---------------------------------------------------------------- formatting helpers
def call(function: str, args: list[str], indent: str = "") -> str:
    """`function(a, b)` on one line if it fits, else one argument per line (black's style)."""
    one_line = f"{function}({', '.join(args)})"
    if len(indent) + len(one_line) <= LINE_LIMIT and "\n" not in one_line:
        return one_line
    inner = indent + INDENT
    indented = [a.replace("\n", "\n" + inner) for a in args]
    body = "".join(f"{inner}{a},\n" for a in indented)
    return f"{function}(\n{body}{indent})"


def dict_text(items: list[tuple[str, str]], indent: str) -> str:
    one_line = "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if len(indent) + len(one_line) <= LINE_LIMIT - 20:
        return one_line
    inner = indent + INDENT
    return "{\n" + "".join(f"{inner}{k}: {v},\n" for k, v in items) + indent + "}"


def list_text(items: list[str], indent: str) -> str:
    one_line = "[" + ", ".join(items) + "]"
    if len(indent) + len(one_line) <= LINE_LIMIT - 20:
        return one_line
    inner = indent + INDENT
    return "[\n" + "".join(f"{inner}{item},\n" for item in items) + indent + "]"


def schema_text(schema: Schema) -> str:
    rows = [f"({lit(f.name)}, {lit(f.type.base)}, {lit(f.type.nullable)})" for f in schema.fields]
    return "[\n" + "".join(f"{INDENT}{r},\n" for r in rows) + "]"


def _atom(text: str) -> str:
    """`text` ready for a method call: parenthesised when it is an operator expression, so that
    `.alias()` applies to the whole of `F.weekday(x) + 1`, not to its last operand."""
    import ast as python_ast

    body = python_ast.parse(text, mode="eval").body
    return text if isinstance(body, (python_ast.Call, python_ast.Attribute, python_ast.Name,
                                     python_ast.Subscript, python_ast.Constant)) else f"({text})"


def _name_arg(name: str) -> str:
    """A column passed by name to a DataFrame method: a plain string when Spark reads it literally."""
    return lit(name) if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else ex.column_name(name)


# ---------------------------------------------------------------- the job
@dataclass
class _Chain:
    """A value being built: a head expression and the method calls appended to it."""

    head: str
    methods: list[str] = field(default_factory=list)

    def text(self, indent: str) -> str:
        one_line = self.head + "".join(self.methods)
        if not self.methods or ("\n" not in one_line and len(indent) + len(one_line) <= LINE_LIMIT - 24):
            return one_line
        inner = indent + INDENT
        lines = [part.replace("\n", "\n" + inner) for part in [self.head, *self.methods]]
        return "(\n" + "".join(f"{inner}{line}\n" for line in lines) + indent + ")"


class JobWriter:
    """Writes the job of one plan; one instance per generated file."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.ir = plan.ir
        self.reserved = _reserved_names()
        self.names: dict[str, str] = {}
        self.schemas: list[tuple[str, Schema]] = []  # module-level schema constants
        self.pending: dict[str, _Chain] = {}
        kept = {c for c in plan.cached_nodes if c in self.ir and isinstance(self.ir.node(c).output, TableType)}
        self.cached = {c for c in kept if not self._only_trained_on(c, kept)}

    def _only_trained_on(self, node_id: str, kept: set[str]) -> bool:
        """True for a table that only `fit` reads and that is a few row-wise steps from a kept
        table. MLlib estimators cache their own training vectors, so persisting the table too
        would store the rows twice; the few extra reads of it (the label lookup, MLlib's first
        passes) are cheap filters of the kept table."""
        consumers = self.ir.consumers(node_id)
        if not consumers or not all(STEPS[c.step].fits_model for c in consumers):
            return False
        node = self.ir.node(node_id)
        while STEPS[node.step].row_local and not STEPS[node.step].eager:  # a cheap row-wise step
            node = self.ir.node(node.inputs[0])
            if node.id in kept:
                return True
        return False

    # -- names
    def var(self, node_id: str) -> str:
        if node_id not in self.names:
            node = self.ir.node(node_id)
            base = re.sub(r"\W", "_", node.binding or node.id)
            base = base if base and not base[0].isdigit() else f"n_{base}"
            name = base
            while name in self.reserved or name in self.names.values():
                name += "_"
            self.names[node_id] = name
        return self.names[node_id]

    def schema_constant(self, node_id: str, schema: Schema) -> str:
        """A module-level constant holding `schema`, named after the node (deduplicated)."""
        base = name = f"{self.var(node_id).upper()}_SCHEMA"
        for suffix in range(2, len(self.schemas) + 3):
            existing = dict(self.schemas).get(name)
            if existing is None:
                self.schemas.append((name, schema))
                break
            if existing == schema:
                break
            name = f"{base}_{suffix}"
        return name

    # -- the whole file
    def write(self) -> str:
        body = self.pipeline_function()
        params = "".join(f"{INDENT}{lit(p.name)}: ({lit(str(p.type))}, {lit(p.default)}),\n"
                         for p in self.ir.params)
        parts = [
            self.docstring(),
            "# " + "=" * 60 + " runtime (embedded from pipec)\n" + runtime_source(),
            "# " + "=" * 60 + f" pipeline {self.ir.pipeline}\n"
            + "# Params: name -> (type, default). Override with --param name=value.\n"
            + ("PARAMS = {\n" + params + "}\n" if params else "PARAMS: dict[str, tuple[str, Any]] = {}\n"),
            *[f"{name} = {schema_text(schema)}\n" for name, schema in self.schemas],
            *(["# The database steps, checked against their live databases before any work.\n"
               "DATABASE = [\n" + "".join(f"{INDENT}{lit(t)},\n" for t in self.tables) + "]\n"]
              if self.tables else []),
            body,
            "def main(argv: list[str] | None = None) -> int:\n"
            f"{INDENT}return run_job({lit(self.ir.pipeline)}, PARAMS, pipeline, argv"
            f"{', confine_outputs=True' if self.ir.options.confine_outputs else ''}"
            f"{', jdbc=True' if self.tables else ''})\n",
            'if __name__ == "__main__":\n' f"{INDENT}sys.exit(main())\n",
        ]
        return "\n\n".join(p.rstrip("\n") + "\n" for p in parts)

    def docstring(self) -> str:
        lines = [f"Spark job for the pipeline `{self.ir.pipeline}`, generated by pipec."]
        if self.ir.doc:
            lines += ["", self.ir.doc.strip()]
        lines += ["", "Run it on a cluster with `spark-submit {0}.py [--param name=value ...]`, or locally"
                  " with".format(self.ir.pipeline),
                  "`python {0}.py` (master local[*] unless `spark.master` is configured).".format(self.ir.pipeline),
                  "Relative paths resolve against the working directory. It needs pyspark and polars."]
        if self.ir.params:
            lines += ["", "Params:"] + [f"    {p.name}: {p.type} = {lit(p.default)}" + (f"  ({p.doc})" if p.doc else "")
                                         for p in self.ir.params]
        text = "\n".join(lines).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        return f'"""{text}\n"""\n'

    def pipeline_function(self) -> str:
        stages = self.plan.ordered_stages
        last_action = self._last_actions([stage.id for stage in stages])
        blocks = []
        for stage in stages:
            title = f"--- stage {stage.id}: " + ", ".join(
                f"{self.ir.node(n).step} {self.var(n)}" if self.ir.node(n).binding else self.ir.node(n).step
                for n in stage.nodes) + (f" ({stage.boundary})" if stage.boundary else "")
            lines = ["# " + line for line in textwrap.wrap(title, LINE_LIMIT - len(INDENT) - 2,
                                                           subsequent_indent="    ")]
            lines.append(f"outputs.events.stage({lit(stage.id)})")
            for node_id in stage.nodes:
                with ex.in_step(self.ir.node(node_id).step):
                    lines += self.node_lines(self.ir.node(node_id), stage.nodes)
            for cached, stage_id in sorted(last_action.items()):
                if stage_id == stage.id:
                    lines.append(f"{self.var(cached)}.unpersist()  # its last consumer has run")
            blocks.append("\n".join(INDENT + line.replace("\n", "\n" + INDENT) if line else "" for line in lines))
        if self.tables:
            blocks.insert(0, f"{INDENT}check_databases(DATABASE, params, outputs)")
        signature = "def pipeline(spark: SparkSession, params: dict[str, Any], outputs: Outputs) -> None:\n"
        doc = f'{INDENT}"""The steps of `{self.ir.pipeline}`, in dependency order; sinks are staged in `outputs`."""\n'
        return signature + doc + "\n\n".join(blocks) + "\n"

    @property
    def tables(self) -> list[dict[str, Any]]:
        return run_items(self.ir)

    def _last_actions(self, emitted: list[str]) -> dict[str, str]:
        """For each cached node, the stage of the last action that still reads it (then it can go)."""
        return {cached: max(stages, key=emitted.index)
                for cached in self.cached if (stages := self._reading_stages(cached, emitted))}

    def _reading_stages(self, node_id: str, emitted: list[str]) -> list[str]:
        """Stages whose actions compute from `node_id`'s data. A model or metrics value does not
        keep its input, and a cached table stops the search once its first action has filled it."""
        stages = []
        for consumer in self.ir.consumers(node_id):
            if EMITTERS[consumer.step].action:
                stages.append(self.plan.stage_of(consumer.id).id)
            if not isinstance(consumer.output, TableType):
                continue
            below = self._reading_stages(consumer.id, emitted)
            if consumer.id in self.cached and below:
                below = [min(below, key=emitted.index)]
            stages += below
        return stages

    # -- one node
    def node_lines(self, node: IRNode, stage_nodes: list[str]) -> list[str]:
        emitter = emitter_of(node)
        if emitter.shape == SINK:
            return [emitter.write(self, node)]
        consumers = self.ir.consumers(node.id)
        consumer = consumers[0] if len(consumers) == 1 else None
        inline = (consumer is not None and consumer.id in stage_nodes and consumer.inputs.count(node.id) == 1
                  and consumer.inputs[0] == node.id and emitter_of(consumer).shape in (METHOD, CHECK)
                  and node.id not in self.cached)
        if emitter.shape == VALUE:
            chain = _Chain(emitter.write(self, node))
        else:
            chain = self.input_chain(node.inputs[0])
            if emitter.shape == METHOD:
                chain.methods.append(emitter.write(self, node))
        if inline:
            self.pending[node.id] = chain
            return []
        lines = [f"{self.var(node.id)} = {chain.text('')}"]
        if emitter.shape == CHECK:
            lines.append(emitter.write(self, node))
        if node.id in self.cached:
            lines.append(f"{self.var(node.id)} = {self.var(node.id)}.persist({STORAGE_LEVEL})")
        return lines

    def input_chain(self, node_id: str) -> _Chain:
        return self.pending.pop(node_id, None) or _Chain(self.var(node_id))

    def input_var(self, node_id: str) -> str:
        assert node_id not in self.pending, f"{node_id} was not assigned"
        return self.var(node_id)


# ---------------------------------------------------------------- one emitter per step
# How an emitter's text joins the job: a DataFrame method appended to its input's chain
# (`.filter(...)`), an expression making a new value (`split_rows(df, ...)`), a statement checking
# the node's variable, which holds its input's chain (`expect`), or a statement staging an output.
METHOD, VALUE, CHECK, SINK = "method", "value", "check", "sink"


@dataclass(frozen=True)
class Emitter:
    """How the job computes one step: `write(job, node)` gives its text, joined as `shape` says;
    `action` says that text runs a Spark action (it computes its input), after which a persisted
    input nothing else reads can be unpersisted."""

    write: Callable[[JobWriter, IRNode], str]
    shape: str
    action: bool


EMITTERS: EmitterRegistry[Emitter] = EmitterRegistry("spark")


def emits(*steps: str, shape: str, action: bool = False):
    """Register the decorated function as the emitter of `steps`."""
    def register(write: Callable[[JobWriter, IRNode], str]) -> Callable[[JobWriter, IRNode], str]:
        for name in steps:
            register_emitter(name, write, shape, action)
        return write

    return register


def register_emitter(step: str, write: Callable[[JobWriter, IRNode], str], shape: str, action: bool = False) -> None:
    """Make `write` the Spark job's text of `step` (`@emits` without the decorator: for a step
    defined outside pipec, registered with `pipec.stdlib.steps.register`)."""
    EMITTERS[step] = Emitter(write, shape, action)


unregister_emitter = EMITTERS.unregister
emitter_of = EMITTERS.of


# -- sources
@emits("read_csv", "read_parquet", "read_json", shape=VALUE)
def _read(job: JobWriter, node: IRNode) -> str:
    a = node.args
    fmt = node.step.removeprefix("read_")
    args = ["spark", lit(node.id), lit(fmt), f"resolve_path({lit(a.path)}, params)",
            job.schema_constant(node.id, a.schema_)]
    if fmt == "csv":
        if not a.header:
            args.append("header=False")
        if a.delimiter != ",":
            args.append(f"delimiter={lit(a.delimiter)}")
        if a.null_values:
            args.append(f"null_values={lit(a.null_values)}")
    if a.columns is not None:
        args.append(f"columns={lit(a.columns)}")
    if not a.partition_by:
        return call("numbered", [call("read_table", args)])
    args.insert(5, lit(a.partition_by))
    keep = partition_filter(job.ir, node.id)
    if keep is not None:
        args.append(f"keep=lambda partitions: partitions.filter({ex.column(keep)})")
    return call("read_partitioned", args)


@emits("read_table", "read_query", shape=VALUE)
def _read_database(job: JobWriter, node: IRNode) -> str:
    a = node.args
    args = ["spark", f"DATABASE[{[t['node'] for t in job.tables].index(node.id)}]", "params"]
    if a.columns is not None:
        args.append(f"columns={lit(a.columns)}")
    if getattr(a, "partition_column", None):
        args += [f"partition_column={lit(a.partition_column)}", f"partitions={a.partitions}"]
    return call("read_database", args)


# -- DataFrame methods
@emits("filter", shape=METHOD)
def _filter(job: JobWriter, node: IRNode) -> str:
    return f".filter({ex.column(node.args.predicate)})"


def _named(item: NamedExpr) -> str:
    if isinstance(item.expr, ex.ColumnRef) and item.expr.name == item.name:
        return _name_arg(item.name)
    return f"{_atom(ex.column(item.expr))}.alias({lit(item.name)})"


@emits("select", shape=METHOD)
def _select(job: JobWriter, node: IRNode) -> str:
    return call(".select", [*(_named(item) for item in node.args.items), "ORDER"])


@emits("derive", shape=METHOD)
def _derive(job: JobWriter, node: IRNode) -> str:
    return f".withColumns({dict_text([(lit(c.name), ex.column(c.expr)) for c in node.args.columns], '')})"


@emits("fill_null", shape=METHOD)
def _fill_null(job: JobWriter, node: IRNode) -> str:
    items = [(lit(v.name), f"F.coalesce({ex.column_name(v.name)}, {ex.column(v.expr)})") for v in node.args.values]
    return f".withColumns({dict_text(items, '')})"


@emits("drop", shape=METHOD)
def _drop(job: JobWriter, node: IRNode) -> str:
    return call(".drop", [lit(c) for c in node.args.columns])


@emits("drop_nulls", shape=METHOD)
def _drop_nulls(job: JobWriter, node: IRNode) -> str:
    return f".dropna(subset={lit(node.args.columns)})" if node.args.columns else ".dropna()"


@emits("distinct", shape=METHOD)
def _distinct(job: JobWriter, node: IRNode) -> str:
    columns = node.args.columns or job.plan.physical_columns(node.inputs[0])
    return call(".groupBy", [_name_arg(c) for c in columns]) + "\n.agg(first_order())"


@emits("rename", shape=METHOD)
def _rename(job: JobWriter, node: IRNode) -> str:
    return f".withColumnsRenamed({dict_text([(lit(old), lit(new)) for new, old in node.args.mapping], '')})"


@emits("sort", shape=METHOD)
def _sort(job: JobWriter, node: IRNode) -> str:
    keys = [f"{ex.column_name(k.column)}.{'desc' if k.descending else 'asc'}_nulls_last()" for k in node.args.keys]
    return f".transform(sorted_rows, {list_text(keys, '')})"


@emits("limit", shape=METHOD)
def _limit(job: JobWriter, node: IRNode) -> str:
    return f".transform(first_rows, {ex.value(node.args.n)})"


@emits("union", shape=METHOD)
def _union(job: JobWriter, node: IRNode) -> str:
    return "\n".join([".transform(union_part, 0)"] + [f".unionByName(union_part({job.input_var(other)}, {i}))"
                                                    for i, other in enumerate(node.inputs[1:], 1)])


@emits("join", shape=METHOD)
def _join(job: JobWriter, node: IRNode) -> str:
    """A USING join: keys appear once under the left name (coalesced for `full`), as pipec says."""
    a = node.args
    left, right = (job.plan.physical_columns(i) for i in node.inputs[:2])
    right_text = job.input_var(node.inputs[1])
    ordered = a.how not in ("semi", "anti")
    if ordered:
        right_text = f"with_right_order({right_text})"
    renames = [(lit(k.right), lit(k.left)) for k in a.on if k.right != k.left]
    if renames:
        right_text += f".withColumnsRenamed({dict_text(renames, '')})"
    how = {"semi": "left_semi", "anti": "left_anti"}.get(a.how, a.how)
    text = call(".join", [right_text, f"on={lit([k.left for k in a.on])}", f"how={lit(how)}"])
    if ordered:
        text += f"\n.transform(joined_order, {lit(a.how)})"
    keys = [k.left for k in a.on]
    right_keys = {k.right for k in a.on}
    natural = keys + [c for c in left if c not in keys]
    if a.how not in ("semi", "anti"):
        natural += [c for c in right if c not in right_keys]
    wanted = job.plan.physical_columns(node.id)
    if natural != wanted:
        text += "\n" + call(".select", [*(_name_arg(c) for c in wanted), "ORDER"])
    return text


@emits("aggregate", shape=METHOD)
def _aggregate(job: JobWriter, node: IRNode) -> str:
    a = node.args
    aggregates = [f"{_atom(ex.column(agg.expr))}.alias({lit(agg.name)})" for agg in a.aggregates]
    group = call(".groupBy", [_name_arg(c) for c in a.by]) + "\n" if a.by else ""
    return group + call(".agg", [*aggregates, "first_order()"])


@emits("expect", shape=CHECK, action=True)
def _expect(job: JobWriter, node: IRNode) -> str:
    checks = []
    for condition in node.args.conditions:
        observed = "[" + ", ".join(f"({lit(ex.describe(o))}, {ex.column(o)})"
                                   for o in ex.observed_values(condition)) + "]"
        checks.append(call("Expectation", [lit(ex.describe(condition)), ex.column(condition), observed], INDENT))
    return call("check_expectations", [job.var(node.id), "[\n" + "".join(
        f"{INDENT}{c},\n" for c in checks) + "]", "spark"])


# -- function steps
@emits("split", shape=VALUE)
def _split(job: JobWriter, node: IRNode) -> str:
    a = node.args
    args = [job.input_var(node.inputs[0]), ex.value(a.fraction), ex.value(a.seed), f"part={a.part}"]
    return call("split_rows", args + ([f"by={lit(a.by)}"] if a.by else []))


@emits("sample", shape=VALUE)
def _sample(job: JobWriter, node: IRNode) -> str:
    a = node.args
    return call("sample_rows", [job.input_var(node.inputs[0]), ex.value(a.fraction), ex.value(a.seed)])


@emits("python", shape=VALUE)
def _python(job: JobWriter, node: IRNode) -> str:
    a = node.args
    options = dict_text([(lit(o.name), ex.value(o.expr)) for o in a.options], "")
    return call("apply_python", [job.input_var(node.inputs[0]), lit(a.function),
                                 job.schema_constant(node.id, a.schema_), options])


@emits("fit", shape=VALUE, action=True)
def _fit(job: JobWriter, node: IRNode) -> str:
    a = node.args
    model: ModelType = node.output
    arguments = dict_text([(lit(p.name), ex.value(p.expr)) for p in a.params], "")
    features = list_text([f"({lit(f.name)}, {lit(f.type.base)}, {lit(f.type.nullable)})"
                          for f in model.features.fields], INDENT)
    # MLlib's result depends on how the rows are partitioned and ordered: in their order
    args = [f"in_order({job.input_var(node.inputs[0])})", lit(a.estimator), arguments,
            f"kind={lit(model.model_kind)}", f"features={features}"]
    if model.label is not None:
        args.append(f"label=({lit(model.label.name)}, {lit(model.label.type.base)})")
    return call("fit_model", args)


@emits("tune", shape=VALUE, action=True)
def _tune(job: JobWriter, node: IRNode) -> str:
    """The trials (part 1) come with the model that part 0 chose."""
    a = node.args
    if a.part == 1:
        return call("tune_trials", [job.input_var(node.inputs[1])])
    model: ModelType = node.output
    candidates = list_text([f"({lit(c.estimator)}, {dict_text([(lit(p.name), ex.value(p.expr)) for p in c.params], '')})"
                            for c in a.candidates], INDENT)
    features = list_text([f"({lit(f.name)}, {lit(f.type.base)}, {lit(f.type.nullable)})"
                          for f in model.features.fields], INDENT)
    trials = list_text([f"({lit(f.name)}, {lit(f.type.base)}, {lit(f.type.nullable)})"
                        for f in trials_type(a).schema_.fields], INDENT)
    return call("tune_model", [
        job.input_var(node.inputs[0]), candidates, f"kind={lit(model.model_kind)}", f"features={features}",
        f"label=({lit(model.label.name)}, {lit(model.label.type.base)})", f"metric={lit(a.metric)}",
        f"lower_is_better={a.metric in LOWER_IS_BETTER}", f"folds={lit(a.folds)}",
        f"holdout={ex.value(a.holdout) if a.holdout is not None else None}", f"seed={ex.value(a.seed)}",
        f"trials={trials}"])


@emits("predict", shape=VALUE)
def _predict(job: JobWriter, node: IRNode) -> str:
    return call("predict", [job.input_var(node.inputs[0]), job.input_var(node.inputs[1])])


@emits("evaluate", shape=VALUE, action=True)
def _evaluate(job: JobWriter, node: IRNode) -> str:
    a = node.args
    return call("evaluate", [job.input_var(node.inputs[0]), job.input_var(node.inputs[1]), f"label={lit(a.label)}",
                             f"task={lit(a.task)}", f"metrics={lit(a.metrics)}"])


@emits("load_model", shape=VALUE)
def _load_model(job: JobWriter, node: IRNode) -> str:
    expected = expected_signature(node.output)
    features = list_text([lit(feature) for feature in expected["features"]], INDENT)
    signature = dict_text([(lit("kind"), lit(expected["kind"])), (lit("features"), features),
                           (lit("label"), lit(expected["label"]))], "")
    return call("load_saved_model", [f"resolve_path({lit(node.args.path)}, params)", signature,
                                     lit(step_location(node))])


@emits("drift", shape=VALUE, action=True)
def _drift(job: JobWriter, node: IRNode) -> str:
    columns = list_text([f"({lit(c.name)}, {lit(c.numeric)})" for c in node.args.columns], INDENT)
    return call("drift", [job.input_var(node.inputs[0]), job.input_var(node.inputs[1]), columns,
                          lit(step_location(node))])


# -- sinks
@emits("write_csv", "write_parquet", "write_json", shape=SINK, action=True)
def _write(job: JobWriter, node: IRNode) -> str:
    source_node = job.ir.node(node.inputs[0])
    source = job.input_var(source_node.id)
    path = f"resolve_path({lit(node.args.path)}, params)"
    fmt = node.step.removeprefix("write_")
    if isinstance(source_node.output, MetricsType):
        return call("outputs.write_metrics", [source, lit(fmt), path])
    schema = job.schema_constant(source_node.id, source_node.schema_)
    if node.args.partition_by:
        partitions = Schema.of([(name, source_node.schema_.get(name)) for name in node.args.partition_by])
        return call("outputs.write_partitioned", [source, lit(fmt), path, schema,
                                                  job.schema_constant(node.id, partitions)])
    return call("outputs.write_table", [source, lit(fmt), path, schema])


@emits("write_table", shape=SINK, action=True)
def _write_database(job: JobWriter, node: IRNode) -> str:
    item = f"DATABASE[{[t['node'] for t in job.tables].index(node.id)}]"
    return call("outputs.write_database", [job.input_var(node.inputs[0]), item])


@emits("save_model", shape=SINK, action=True)
def _save_model(job: JobWriter, node: IRNode) -> str:
    path = f"resolve_path({lit(node.args.path)}, params)"
    return call("outputs.save_model", [job.input_var(node.inputs[0]), path])


def generate_job(plan: Plan) -> str:
    """The source of the standalone PySpark job for `plan`."""
    return JobWriter(plan).write()


def compile(plan: Plan, out_dir: Path | str) -> Path:  # noqa: A001 - the backend protocol's name
    """Write `<out_dir>/<pipeline>.py` and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{plan.ir.pipeline}.py"
    path.write_text(generate_job(plan), encoding="utf-8")
    return path
