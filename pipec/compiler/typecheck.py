"""Checking one pipeline: options, params, bindings and the schema of every value after every
step, producing its IR. Bindings are checked on demand in dependency order (a name may be used
before it is bound), which also finds cycles."""
from __future__ import annotations

import datetime as dt
from typing import Any

from pipec.compiler import ast
from pipec.compiler.diagnostics import Diagnostics, Label
from pipec.compiler.expressions import NULL, ExprContext, check_expr
from pipec.compiler.gc_pause import gc_paused
from pipec.compiler.ir import IR, TASK_GRANULARITIES, IRNode, Options, ParamSpec
from pipec.compiler.schemas import param_type
from pipec.compiler.span import Span
from pipec.compiler.suggest import did_you_mean, listing
from pipec.compiler.types import ModelType, ParamType, Schema, TableType, ValueType
from pipec.runtime_contract import parse_param
from pipec.stdlib.steps import STEPS, StepContext, bind, input_matches

OPTION_TYPES = {"schedule": "str?", "start": "date", "catchup": "bool", "retries": "int",
                "retry_delay": "duration", "timeout": "duration", "owner": "str", "tags": "list[str]",
                "confine_outputs": "bool", "tasks": "str"}


# Airflow's limits on what becomes a DAG's id and tags (airflow.sdk: ID_LEN, TAG_MAX_LEN). A DAG
# file breaking them fails to import, so they are checked here, for every target.
AIRFLOW_ID_MAX = 250
AIRFLOW_TAG_MAX = 100


class _Failed(Exception):
    """A binding that could not be typed (already reported); dependents stay quiet."""


class PipelineChecker:
    def __init__(self, pipeline: ast.Pipeline, schemas: dict[str, Schema], diags: Diagnostics,
                 overrides: dict[str, str] | None = None,
                 step_inputs: dict[Span, ValueType] | None = None):
        self.p = pipeline
        self.schemas = schemas
        self.diags = diags
        self.overrides = overrides or {}
        self.params: dict[str, ParamType] = {}
        self.param_decls: dict[str, ast.ParamDecl] = {}
        self.overridden: set[str] = set()
        self.ir = IR(pipeline.name, doc=pipeline.doc, source=pipeline.span.file)
        self.bindings: dict[str, tuple[ast.Binding, int]] = {}
        self.values: dict[str, tuple[str, ValueType] | None] = {}
        self.in_progress: list[str] = []
        self.used: set[str] = set()
        self.ids: set[str] = set()
        # The editor's view (pipec.lsp): the value each step call receives, by the call's span.
        self.step_inputs = step_inputs if step_inputs is not None else {}

    # ------------------------------------------------------------ entry point
    @gc_paused()
    def check(self) -> IR | None:
        errors_before = sum(d.is_error for d in self.diags.items)
        if len(self.p.name) > AIRFLOW_ID_MAX:
            self.diags.error("E0107", f"the pipeline name is {len(self.p.name)} characters long; "
                             f"at most {AIRFLOW_ID_MAX} are allowed", self.p.name_span,
                             help="choose a shorter name: it becomes the Airflow DAG id, which Airflow "
                                  f"limits to {AIRFLOW_ID_MAX} characters")
        self.ir.options = self._options()
        self.ir.params = self._params()
        sinks = self._collect_statements()
        self.used = self._referenced_names()
        for name in self.bindings:
            self._value_of(name)
        for k, stmt in enumerate(sinks, 1):
            try:
                self._chain(stmt.value, f"sink{k}", [], stmt.doc, is_sink_statement=True)
            except _Failed:
                pass
        for name, (b, i) in self.bindings.items():
            if name not in self.used and self.values.get(name) is not None:
                self.diags.warning("W0001", f"`{name}` is never used", b.targets[i].span,
                                   label="bound here but no sink reads it",
                                   help="write it with a sink, or remove it (the optimizer drops it)")
        if not sinks and not self.diags.has_errors:
            self.diags.warning("W0002", f"pipeline `{self.p.name}` has no sink, so running it does nothing",
                               self.p.name_span, help='end a chain with a sink, e.g. `| write_csv("out/x.csv")`')
        errors = sum(d.is_error for d in self.diags.items) - errors_before
        return None if errors else self.ir

    # ------------------------------------------------------------ options and params
    def _options(self) -> Options:
        values: dict[str, Any] = {}
        for opt in self.p.options:
            if opt.name not in OPTION_TYPES:
                self.diags.error("E0110", f"unknown pipeline option `{opt.name}`", opt.name_span,
                                 help=did_you_mean(opt.name, OPTION_TYPES)
                                 or f"options are {', '.join(OPTION_TYPES)}")
                continue
            if opt.name in values:
                self.diags.error("E0110", f"option `{opt.name}` is given twice", opt.name_span)
                continue
            value = self._option_value(opt)
            if value is not _BAD:
                values[opt.name] = value
        return Options(**values)

    def _option_value(self, opt: ast.Option) -> Any:
        want = OPTION_TYPES[opt.name]
        v = opt.value
        ok, value = _literal_value(v, want.rstrip("?"))
        if want.endswith("?") and isinstance(v, ast.Literal_) and v.literal_type == "null":
            return None
        if isinstance(v, ast.RunRef):
            self._run_value_too_late(v, f"option `{opt.name}`", "options are fixed when the pipeline is compiled")
            return _BAD
        if isinstance(v, ast.ParamRef):
            self.diags.error("E0111", f"option `{opt.name}` must be a literal: parameters are set per run, "
                             "options when the pipeline is compiled", v.span, help=_example(opt.name))
            return _BAD
        if not ok or (opt.name == "retries" and value < 0):
            self.diags.error("E0111", f"option `{opt.name}` must be {_describe(want)}"
                             + (" that is not negative" if ok else ""), v.span, help=_example(opt.name))
            return _BAD
        if opt.name == "tasks" and value not in TASK_GRANULARITIES:
            self.diags.error("E0111", "option `tasks` must be " + " or ".join(f'"{v}"' for v in TASK_GRANULARITIES)
                             + f", not {value!r}",
                             v.span, help=_example(opt.name))
            return _BAD
        if opt.name == "tags":
            for item, tag in zip(v.items, value):
                if len(tag) > AIRFLOW_TAG_MAX:
                    self.diags.error("E0111", f"a tag is at most {AIRFLOW_TAG_MAX} characters long "
                                     f"(Airflow's limit), but this one has {len(tag)}", item.span,
                                     help="shorten the tag; put longer text in the pipeline's doc string")
                    return _BAD
        return value

    def _params(self) -> list[ParamSpec]:
        specs: list[ParamSpec] = []
        for decl in self.p.body:
            if not isinstance(decl, ast.ParamDecl):
                continue
            if decl.name in self.params:
                first = next(d for d in self.p.body if isinstance(d, ast.ParamDecl) and d.name == decl.name)
                self.diags.error("E0120", f"parameter `{decl.name}` is declared twice", decl.name_span,
                                 labels=[Label(span=first.name_span, message="first declared here")],
                                 help="remove one of them, or give it another name")
                continue
            t = param_type(decl.type, self.diags)
            if t is None:
                continue
            ok, default = _literal_value(decl.default, str(t))
            if isinstance(decl.default, ast.RunRef):
                self._run_value_too_late(decl.default, f"the default of `{decl.name}`",
                                         "a default is fixed when the pipeline is compiled")
                continue
            if not ok:
                self.diags.error("E0122", f"the default of `{decl.name}` must be {_describe(str(t))}",
                                 decl.default.span, label=f"`{decl.name}` is declared as {t}")
                continue
            self.params[decl.name] = t
            self.param_decls[decl.name] = decl
            specs.append(ParamSpec(name=decl.name, type=t, default=default, doc=decl.doc))
        for name, text in self.overrides.items():
            spec = next((s for s in specs if s.name == name), None)
            if spec is None:
                self.diags.error("E0124", f"pipeline `{self.p.name}` has no parameter `{name}`", None,
                                 help=did_you_mean(name, self.params)
                                 or (f"its parameters: {listing(self.params)}" if self.params else "it declares no parameters"))
                continue
            ok, value = parse_param_text(text, spec.type)
            if not ok:
                self.diags.error("E0124", f"`-p {name}={text}`: {value}", None,
                                 help=f"`{name}` is {_describe(str(spec.type))}")
                continue
            spec.default = value
            self.overridden.add(name)
        return specs

    def _run_value_too_late(self, v: ast.RunRef, what: str, why: str) -> None:
        self.diags.error("E0125", f"{what} cannot be `run.{v.field}`: run values are known only when a run "
                         f"starts, and {why}", v.span, label="known only when a run starts",
                         help="use `run.<field>` inside the steps, e.g. `filter(day == run.date)`")

    def param_value(self, name: str) -> tuple[Any, str, Label | None]:
        """The value `$name` has in this check (its `-p` override, else its default), where that
        value comes from, and a label on the declaration when it is the default."""
        spec = next(s for s in self.ir.params if s.name == name)
        if name in self.overridden:
            return spec.default, f"`-p {name}={self.overrides[name]}`", None
        decl = self.param_decls[name]
        return spec.default, f"the default of `${name}`", Label(span=decl.default.span,
                                                                 message=f"`${name}` defaults to {spec.default!r}")

    # ------------------------------------------------------------ bindings
    def _collect_statements(self) -> list[ast.SinkStatement]:
        sinks = []
        for stmt in self.p.body:
            if isinstance(stmt, ast.SinkStatement):
                sinks.append(stmt)
            elif isinstance(stmt, ast.Binding):
                for i, target in enumerate(stmt.targets):
                    if target.name in self.bindings or target.name in self.params:
                        first = self.bindings.get(target.name)
                        self.diags.error("E0130", f"the name `{target.name}` is bound twice", target.span,
                                         labels=[Label(span=first[0].targets[first[1]].span, message="first bound here")]
                                         if first else [], help="names are unique inside a pipeline: rename one")
                        continue
                    self.bindings[target.name] = (stmt, i)
        return sinks

    def _referenced_names(self) -> set[str]:
        """Bound names that some chain mentions, found syntactically so that a mistake earlier in
        a chain does not also produce an "unused" warning for what the chain reads later."""
        from pipec.compiler.expressions import children

        found: set[str] = set()

        def walk(e: ast.Expr) -> None:
            if isinstance(e, ast.ColumnRef) and e.name in self.bindings:
                found.add(e.name)
            for c in children(e):
                walk(c)

        for stmt in self.p.body:
            if isinstance(stmt, (ast.Binding, ast.SinkStatement)):
                walk(stmt.value.head)
                for call in stmt.value.steps:
                    walk(call)
        return found

    def _value_of(self, name: str) -> tuple[str, ValueType] | None:
        if name in self.values:
            return self.values[name]
        stmt, index = self.bindings[name]
        if name in self.in_progress:
            cycle = self.in_progress[self.in_progress.index(name):] + [name]
            self.diags.error("E0132", f"`{name}` depends on itself: {' -> '.join(cycle)}",
                             stmt.targets[index].span, help="a pipeline is a graph without cycles; "
                             "compute the value from an earlier one")
            for n in cycle:
                self.values.setdefault(n, None)
            return None
        self.in_progress.append(name)
        try:
            names = [t.name for t in stmt.targets]
            results = self._chain(stmt.value, "_".join(names), names, stmt.doc)
            for n, r in zip(names, results):
                self.values[n] = r
        except _Failed:
            for t in stmt.targets:
                self.values.setdefault(t.name, None)
        finally:
            self.in_progress.remove(name)
        return self.values[name]

    def binding(self, ref: ast.Expr, what: str) -> tuple[str, ValueType] | None:
        """Resolve a bare name used as a value (join's right side, predict's model, ...)."""
        if not isinstance(ref, ast.ColumnRef):
            self.diags.error("E0304", f"{what} must be the name of a value bound in this pipeline", ref.span)
            return None
        if ref.name not in self.bindings:
            self.diags.error("E0131", f"`{ref.name}` is not bound in pipeline `{self.p.name}`", ref.span,
                             help=did_you_mean(ref.name, self.bindings)
                             or (f"bound names: {listing(self.bindings)}" if self.bindings else None))
            return None
        return self._value_of(ref.name)

    def upstream_model(self, node_id: str) -> tuple[str, ModelType] | None:
        """The model node id and type of the nearest step that predicts (`predict`) up the main-input
        path of `node_id`."""
        node = self.ir.node(node_id)
        while not node.spec.predicts:
            if not node.inputs:
                return None
            node = self.ir.node(node.inputs[0])
        model_id = node.inputs[1]
        model = self.ir.node(model_id).output
        return (model_id, model) if isinstance(model, ModelType) else None

    # ------------------------------------------------------------ chains
    def _chain(self, chain: ast.Chain, prefix: str, targets: list[str], doc: str | None,
               is_sink_statement: bool = False) -> list[tuple[str, ValueType]]:
        steps = list(chain.steps)
        head = chain.head
        failed = False
        if isinstance(head, ast.Call) and head.name in STEPS and STEPS[head.name].is_source:
            current = None
            steps.insert(0, head)
        elif isinstance(head, ast.ColumnRef):
            current = self.binding(head, "the start of a chain")
            if current is None:
                raise _Failed
            current = (current[0], current[1], f"`{head.name}`")
        else:
            self._bad_head(head)
            raise _Failed
        if not steps:
            self.diags.error("E0306", "this statement only renames a value", chain.span,
                             help=f"use `{head.name}` directly instead of binding it again")
            raise _Failed
        for i, call in enumerate(steps):
            last = i == len(steps) - 1
            step = STEPS.get(call.name)
            if step is None:
                self.diags.error("E0301", f"unknown step `{call.name}`", call.name_span,
                                 help=did_you_mean(call.name, STEPS, "the step")
                                 or f"steps: {listing(sorted(STEPS))}")
                raise _Failed
            if step.is_source and current is not None:
                self.diags.error("E0306", f"`{call.name}` reads a source and cannot follow `|`", call.name_span,
                                 help="start a new chain with it: `name = read_...(...)`")
                raise _Failed
            if step.sink and not (last and is_sink_statement):
                self.diags.error("E0307", f"`{call.name}` is a sink: it must end a chain that is not bound to a name",
                                 call.name_span,
                                 help="end the chain with this sink; write further steps or sinks as "
                                 "statements of their own" if is_sink_statement else
                                 f"remove `{', '.join(targets)} =`: a chain that ends in a sink is a "
                                 "statement of its own, and the sink gives no value to bind")
                raise _Failed
            if last and is_sink_statement and not step.sink:
                self.diags.error("E0307", "the result of this chain is not used", chain.span,
                                 help="bind it to a name (`x = ...`) or end it with a sink such as `| write_csv(\"out/x.csv\")`")
                raise _Failed
            two_outputs = step.outputs == 2
            if two_outputs != (last and len(targets) == 2) or len(targets) > 2:
                self._split_misuse(step, call, targets, chain)
                raise _Failed
            if two_outputs:
                return self._split(step, call, current, targets, doc)
            node_id = self._node_id(prefix, i, call.name, last, is_sink_statement)
            try:
                out = self._apply(step, call, current, node_id, doc if last else None,
                                  binding=(targets[0] if last and targets else None))
            except _Failed:
                if current is None or not step.schema_preserving:
                    raise
                failed, out = True, (current[0], current[1])  # go on checking the rest of the chain
            current = (out[0], out[1], f"the result of `{call.name}`")
        if failed:
            raise _Failed
        return [(current[0], current[1])] if current[1] is not None else []

    def _split(self, step, call: ast.Call, current, targets: list[str], doc: str | None):
        """`a, b = t | split(...)` becomes two IR nodes, one per side (`other_output` gives the second's args)."""
        _, output = self._apply(step, call, current, targets[0], doc, binding=targets[0])
        first = self.ir.node(targets[0])
        second = {"id": targets[1], "binding": targets[1], "args": step.other_output(first.args)}
        if step.other_type is not None:
            second.update(output=step.other_type(second["args"]), inputs=[first.inputs[0], first.id])
        self.ir.add(first.model_copy(update=second))
        self.ids.update(targets)
        return [(targets[0], output), (targets[1], second.get("output", output))]

    def _apply(self, step, call: ast.Call, current, node_id: str, doc: str | None, binding: str | None):
        value = current[1] if current else None
        if value is not None:
            self.step_inputs[call.span] = value
        if current is not None and not input_matches(step, value):
            kind = {"table": "a table", "model": "a model", "metrics": "metrics",
                    "table|metrics": "a table or metrics"}.get(step.input, step.input)
            self.diags.error("E0305", f"`{call.name}` needs {kind}, but {current[2]} is {value}",
                             call.name_span, label=f"applied to {current[2]}")
            raise _Failed
        bound = bind(step, call, self.diags)
        if bound is None:
            raise _Failed
        ctx = StepContext(call=call, input=value, input_id=current[0] if current else None,
                          input_name=current[2] if current else "the source", params=self.params,
                          schemas=self.schemas, diags=self.diags, resolver=self)
        result = step.rule(ctx, bound)
        if result is None:
            raise _Failed
        args, output = result
        inputs = ([current[0]] if current else []) + ctx.extra_inputs
        self.ir.add(IRNode(id=node_id, step=call.name, args=args, inputs=inputs, output=output,
                           binding=binding, span=call.span, doc=doc))
        return node_id, output

    def _node_id(self, prefix: str, i: int, step: str, last: bool, sink: bool) -> str:
        base = f"{prefix}_{step}" if sink and last else (prefix if last else f"{prefix}__{i}_{step}")
        node_id, n = base, 1
        while node_id in self.ids or (node_id != prefix and node_id in self.bindings):
            n += 1
            node_id = f"{base}_{n}"
        self.ids.add(node_id)
        return node_id

    def _bad_head(self, head: ast.Expr) -> None:
        if isinstance(head, ast.Call) and head.name in STEPS:
            self.diags.error("E0306", f"`{head.name}` needs an input", head.name_span,
                             help=f"apply it to a value: `x | {head.name}(...)`")
        elif isinstance(head, ast.Call):
            self.diags.error("E0301", f"unknown step `{head.name}`", head.name_span,
                             help=did_you_mean(head.name, STEPS, "the step")
                             or "a chain starts with a source such as `read_csv(...)` or a bound name")
        else:
            self.diags.error("E0306", "a chain starts with a source such as `read_csv(...)` or a bound name",
                             head.span)

    def _split_misuse(self, step, call: ast.Call, targets: list[str], chain: ast.Chain) -> None:
        if step.outputs == 2 and step.other_type is not None:
            self.diags.error("E0133", f"`{step.name}` gives two values: bind both, as the last step of the chain",
                             call.span, help=f"write `best, trials = table | {step.name}(...)`")
        elif step.outputs == 2:
            self.diags.error("E0133", "`split` gives two tables: bind both, as the last step of the chain",
                             call.span, help="write `train, test = table | split(fraction=0.8)`")
        else:
            self.diags.error("E0133", f"{len(targets)} names are bound, but only `split` gives two values",
                             chain.span, help="bind one name, or end the chain with `| split(...)`")


class _Bad:
    pass


_BAD = _Bad()


def _describe(t: str) -> str:
    return {"str?": "a string or null", "date": 'a date string such as "2013-01-01"', "bool": "true or false",
            "int": "an integer", "float": "a number", "str": "a string",
            "duration": "a duration such as 5m", "list[str]": 'a list of strings such as ["a", "b"]'}.get(
        t, f"a {t}")


def _example(option: str) -> str:
    return {"schedule": 'e.g. schedule="@daily" or schedule="0 6 * * *"', "start": 'e.g. start="2013-01-01"',
            "retry_delay": "e.g. retry_delay=5m", "timeout": "e.g. timeout=2h", "tags": 'e.g. tags=["ml"]',
            "retries": "e.g. retries=2", "catchup": "e.g. catchup=false", "owner": 'e.g. owner="ml-team"',
            "confine_outputs": "e.g. confine_outputs=true",
            "tasks": " or ".join(f'tasks="{v}"' for v in TASK_GRANULARITIES)}[option]


def _literal_value(e: ast.Expr, t: str) -> tuple[bool, Any]:
    """The JSON value of a literal of written type `t` (int widens to float)."""
    if t.startswith("list["):
        if not isinstance(e, ast.ListExpr):
            return False, None
        items = [_literal_value(i, t[5:-1]) for i in e.items]
        return all(ok for ok, _ in items), [v for _, v in items]
    if isinstance(e, ast.Unary) and e.op == "-" and isinstance(e.operand, ast.Literal_):
        ok, v = _literal_value(e.operand, t)
        return (ok and t in ("int", "float")), (-v if ok and t in ("int", "float") else None)
    if not isinstance(e, ast.Literal_):
        return False, None
    kind, v = e.literal_type, e.value
    if t == "float" and kind in ("int", "float"):
        return True, float(v)
    if t == "date" and kind == "str":
        try:
            return True, dt.date.fromisoformat(v).isoformat()
        except ValueError:
            return False, None
    return (kind == t), v


def parse_param_text(text: str, t: ParamType) -> tuple[bool, Any]:
    """Parse a `-p name=value` value with the runtimes' own parser (a Spark job's `--param` and an
    Airflow run conf read it the same way); returns (ok, value or reason)."""
    try:
        return True, parse_param(str(t), text)
    except ValueError as exc:
        return False, str(exc)
