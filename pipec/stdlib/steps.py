"""The standard library steps of LANGUAGE.md section 7: each step's signature and typing rule.

A typing rule takes the step call and the types of its inputs and returns the typed IR arguments
and the output type, reporting every mistake it finds through `StepContext.diags`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Protocol

from pipec.compiler import ast
from pipec.compiler.diagnostics import Diagnostics, Label
from pipec.compiler.expressions import (NULL, ExprContext, Mode, check_expr, check_predicate,
                                        conjuncts, unknown_column)
from pipec.compiler.ir import (AggregateArgs, ColumnsArgs, DeriveArgs, EvaluateArgs, ExpectArgs,
                               FillNullArgs, FilterArgs, FitArgs, JoinArgs, JoinKey, LimitArgs,
                               NamedExpr, PredictArgs, PythonArgs, RenameArgs, SampleArgs, SelectArgs,
                               SinkArgs, SortArgs, SortKey, SourceArgs, SplitArgs, UnionArgs, lit)
from pipec.compiler.schemas import schema_from_fields
from pipec.compiler.suggest import did_you_mean, listing
from pipec.compiler.types import (ColumnType, MetricsType, ModelType, ParamType, Schema, TableType,
                                  ValueType, col, unify_numeric)
from pipec.stdlib.estimators import CLASSIFIER_METRICS, ESTIMATORS, REGRESSOR_METRICS


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


Result = tuple[object, ValueType | None]  # (typed IR args, output type)
Rule = Callable[[StepContext, "BoundArgs"], "Result | None"]


@dataclass(frozen=True)
class Step:
    name: str
    rule: Rule
    input: str  # "none" (source), "table", "model", "metrics", "table|metrics", "any"
    positional: tuple[str, ...] = ()  # names of positional parameters, in order
    keywords: tuple[str, ...] = ()    # named parameters
    variadic: bool = False            # extra positional arguments allowed (select, drop, sort, ...)
    named_items: bool = False         # `name = expr` items allowed (derive, aggregate, select, ...)
    required: tuple[str, ...] = ()
    row_local: bool = False           # computes each output row from one input row
    shuffle: bool = False             # needs to see all rows (join, aggregate, sort, distinct)
    sink: bool = False                # writes a pipeline output (a file or a model folder)
    fits_model: bool = False          # its output is a trained model
    eager: bool = False               # runs on materialised rows (pandas / scikit-learn / user code)
    user_code: bool = False           # calls a function of the user's project
    gate: bool = False                # a quality gate: fails the run, passes its input through
    makes_metrics: bool = False       # its output is a metrics record

    @property
    def is_source(self) -> bool:
        return self.input == "none"


@dataclass
class BoundArgs:
    """A call's arguments matched to a step's parameters."""

    named: dict[str, ast.Arg]
    items: list[ast.Arg]  # positional extras and `name = expr` items, in written order

    def get(self, name: str) -> ast.Expr | None:
        a = self.named.get(name)
        return a.value if a else None


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
                            help=_signature_help(step))
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
                            if step.name in CONDITION_STEPS else _signature_help(step)))
            ok = False
    for r in step.required:
        if r not in named:
            diags.error("E0303", f"`{step.name}` needs the argument `{r}`", call.span,
                        help=_signature_help(step))
            ok = False
    return BoundArgs(named, items) if ok else None


# Steps whose arguments are conditions, where `name = value` is a SQL habit for `name == value`.
CONDITION_STEPS = ("filter", "expect")


def _signature_help(step: Step) -> str:
    return f"see `{step.name}` in docs/language.md: {SIGNATURES.get(step.name, step.name + '(...)')}"


# ---------------------------------------------------------------- argument helpers
def string_arg(ctx: StepContext, e: ast.Expr, what: str) -> str | None:
    """A string literal argument; `$p` becomes the template `${p}`. Unknown `${x}` are errors."""
    if isinstance(e, ast.ParamRef):
        e = ast.Literal_(span=e.span, value="${" + e.name + "}", literal_type="str")
    if not (isinstance(e, ast.Literal_) and e.literal_type == "str"):
        ctx.error("E0304", f"{what} must be a string", e.span, help='write it in quotes, e.g. "out/x.csv"')
        return None
    return e.value if check_interpolation(e, ctx.params, ctx.diags) else None


_INTERP = re.compile(r"\$\{([^}]*)\}")


def check_interpolation(e: ast.Literal_, params: dict[str, ParamType], diags: Diagnostics) -> bool:
    ok = True
    for m in _INTERP.finditer(e.value):
        name = m.group(1)
        if name not in params:
            diags.error("E0123", f"unknown parameter `${{{name}}}` in a string", e.span,
                        help=did_you_mean(name, params) or "declare it: `param name: type = default`")
            ok = False
    return ok


def value_arg(ctx: StepContext, e: ast.Expr, want: str, what: str) -> ast.Expr | None:
    """A literal or `$param` scalar argument of type `want` (int also fits float)."""
    if isinstance(e, (ast.Literal_, ast.ParamRef)) or (isinstance(e, ast.Unary) and e.op == "-"
                                                      and isinstance(e.operand, ast.Literal_)):
        t = check_expr(e, ctx.expr_ctx(Schema()))
        if t is None:
            return None
        if t is not NULL and (t.base == want or (want == "float" and t.base == "int")):
            return e
        ctx.error("E0304", f"{what} must be {'an' if want == 'int' else 'a'} {want}, not {t if t is not NULL else 'null'}",
                  e.span)
        return None
    ctx.error("E0304", f"{what} must be a literal {want} or a `$parameter`", e.span)
    return None


def bounded_arg(ctx: StepContext, e: ast.Expr, want: str, what: str, accept: Callable[[float], bool],
                requirement: str, help: str | None = None) -> ast.Expr | None:
    """`value_arg` whose value must also satisfy `accept`. A `$param` is checked with the value it
    has in this check (its `-p` override, else its default), so a value that reaches a backend
    never needs the backend's own check; a bad override is E0124 (a bad command line)."""
    v = value_arg(ctx, e, want, what)
    if v is None:
        return None
    if isinstance(v, ast.ParamRef):
        value, origin, label = ctx.resolver.param_value(v.name)
        if isinstance(value, (int, float)) and not accept(value):
            ctx.diags.error("E0124" if label is None else "E0304",
                            f"{what} must be {requirement}, but it is `${v.name}`, whose value is {value!r} "
                            f"({origin})", v.span, labels=[label] if label else None,
                            help=help or f"give `${v.name}` a value that is {requirement}")
            return None
        return v
    value = literal_of(v)
    if isinstance(value, (int, float)) and not accept(value):
        ctx.error("E0304", f"{what} must be {requirement}, not {value}", v.span, help=help)
        return None
    return v


def literal_of(e: ast.Expr) -> object:
    if isinstance(e, ast.Unary) and isinstance(e.operand, ast.Literal_):
        return -e.operand.value
    return e.value if isinstance(e, ast.Literal_) else None


def column_names(ctx: StepContext, exprs: list[ast.Expr], what: str, schema: Schema | None = None) -> list[str] | None:
    """Plain column names (each must exist in `schema`, by default the input's)."""
    schema = ctx.schema if schema is None else schema
    names: list[str] = []
    ok = True
    for e in exprs:
        if not isinstance(e, ast.ColumnRef):
            ctx.error("E0304", f"{what} must be column names", e.span, help="write a bare column name")
            ok = False
        elif e.name not in schema:
            unknown_column(ctx.diags, e.name, e.span, schema, ctx.input_name)
            ok = False
        else:
            e.type = schema.get(e.name)
            names.append(e.name)
    return names if ok else None


def list_items(e: ast.Expr) -> list[ast.Expr]:
    return list(e.items) if isinstance(e, ast.ListExpr) else [e]


def schema_arg(ctx: StepContext, e: ast.Expr) -> Schema | None:
    if isinstance(e, ast.SchemaLiteral):
        return schema_from_fields(e.fields, ctx.diags)
    if isinstance(e, ast.ColumnRef):
        s = ctx.schemas.get(e.name)
        if s is None:
            ctx.error("E0104", f"unknown schema `{e.name}`", e.span,
                      help=did_you_mean(e.name, ctx.schemas) or "declare it with `schema Name { ... }` or import it",
                      notes=[f"known schemas: {listing(sorted(ctx.schemas))}"] if ctx.schemas else [])
        return s
    ctx.error("E0304", "`schema` must be a schema name or a literal `{column: type, ...}`", e.span)
    return None


def no_duplicates(ctx: StepContext, pairs: list[tuple[str, ast.Node]]) -> bool:
    seen: set[str] = set()
    for name, node in pairs:
        if name in seen:
            ctx.error("E0209", f"the output has two columns named `{name}`", node.span,
                      help="give one of them another name")
            return False
        seen.add(name)
    return True


def table(pairs: list[tuple[str, ColumnType]]) -> TableType:
    return TableType(schema_=Schema.of(pairs))


def named_exprs(ctx: StepContext, items: list[ast.Arg], what: str, mode: Mode = Mode.ROW,
                schema: Schema | None = None, groups_may_be_empty: bool = False,
                ) -> list[tuple[ast.Arg, ColumnType]] | None:
    """`name = expr` items, each typed against the input."""
    out = []
    ok = True
    for a in items:
        if a.name is None:
            ctx.error("E0304", f"{what} must be written `name = expression`", a.span)
            ok = False
            continue
        t = check_expr(a.value, ctx.expr_ctx(ctx.schema if schema is None else schema, mode,
                                             groups_may_be_empty=groups_may_be_empty))
        if t is NULL:
            ctx.error("E0203", f"the type of `{a.name} = null` is unknown", a.value.span,
                      help="write `cast(null, T)` with the type you want")
            t = None
        if t is None:
            ok = False
        else:
            out.append((a, t))
    return out if ok else None


# ---------------------------------------------------------------- sources and sinks
def _source(ctx: StepContext, b: BoundArgs) -> Result | None:
    path = string_arg(ctx, b.get("path"), "the path")
    schema = schema_arg(ctx, b.get("schema"))
    header, delimiter, nulls = True, ",", []
    if (e := b.get("header")) is not None:
        header = literal_of(value_arg(ctx, e, "bool", "`header`") or e)
    if (e := b.get("delimiter")) is not None:
        delimiter = string_arg(ctx, e, "`delimiter`")
        if delimiter is not None and len(delimiter) != 1:
            ctx.error("E0304", "`delimiter` must be one character", e.span)
            delimiter = None
    if (e := b.get("null_values")) is not None:
        nulls = []
        for item in list_items(e):
            s = string_arg(ctx, item, "each of `null_values`")
            nulls.append(s)
    if path is None or schema is None or delimiter is None or None in nulls:
        return None
    return SourceArgs(step=ctx.call.name, path=path, schema_=schema, header=bool(header),
                      delimiter=delimiter, null_values=nulls), TableType(schema_=schema)


def _sink(ctx: StepContext, b: BoundArgs) -> Result | None:
    path = string_arg(ctx, b.get("path"), "the path")
    if ctx.call.name == "write_json" and isinstance(ctx.input, MetricsType):
        pass
    elif ctx.call.name == "save_model" and not isinstance(ctx.input, ModelType):
        return _wrong_input(ctx, "a model")
    elif ctx.call.name != "save_model" and not isinstance(ctx.input, TableType):
        return _wrong_input(ctx, "a table" + (" or metrics" if ctx.call.name == "write_json" else ""))
    return (SinkArgs(step=ctx.call.name, path=path), None) if path is not None else None


def _wrong_input(ctx: StepContext, wanted: str) -> None:
    ctx.error("E0305", f"`{ctx.call.name}` needs {wanted}, but {ctx.input_name} is {ctx.input}",
              ctx.call.name_span, label=f"applied to {ctx.input_name}")
    return None


# ---------------------------------------------------------------- table steps
def _filter(ctx: StepContext, b: BoundArgs) -> Result | None:
    pred = b.get("predicate")
    if check_predicate(pred, ctx.expr_ctx(ctx.schema), "filter") is None:
        return None
    narrowed = {c.operand.name for c in conjuncts(pred)
                if isinstance(c, ast.IsNull) and c.negated and isinstance(c.operand, ast.ColumnRef)}
    schema = [(f.name, f.type.with_nullable(False) if f.name in narrowed else f.type)
              for f in ctx.schema.fields]
    return FilterArgs(predicate=pred), table(schema)


def _select(ctx: StepContext, b: BoundArgs) -> Result | None:
    if not b.items:
        ctx.error("E0303", "`select` needs at least one column", ctx.call.span)
        return None
    items: list[NamedExpr] = []
    pairs: list[tuple[str, ColumnType]] = []
    ok = True
    for a in b.items:
        if a.name is None and not isinstance(a.value, ast.ColumnRef):
            ctx.error("E0304", "a `select` item is a column or `name = expression`", a.span)
            ok = False
            continue
        typed = named_exprs(ctx, [a if a.name else a.model_copy(update={"name": a.value.name})], "")
        if typed is None:
            ok = False
            continue
        (arg, t), = typed
        items.append(NamedExpr(name=arg.name, expr=a.value))
        pairs.append((arg.name, t))
    if not ok or not no_duplicates(ctx, [(n, a) for (n, _), a in zip(pairs, b.items)]):
        return None
    return SelectArgs(items=items), table(pairs)


def _derive(ctx: StepContext, b: BoundArgs) -> Result | None:
    typed = named_exprs(ctx, b.items, "`derive` items")
    if not typed:
        if typed == []:
            ctx.error("E0303", "`derive` needs at least one `name = expression`", ctx.call.span)
        return None
    if not no_duplicates(ctx, [(a.name, a) for a, _ in typed]):
        return None
    new = {a.name: t for a, t in typed}
    pairs = [(f.name, new.pop(f.name, f.type)) for f in ctx.schema.fields] + list(new.items())
    return DeriveArgs(columns=[NamedExpr(name=a.name, expr=a.value) for a, _ in typed]), table(pairs)


def _drop(ctx: StepContext, b: BoundArgs) -> Result | None:
    names = column_names(ctx, [a.value for a in b.items], "`drop` arguments")
    if names is None:
        return None
    if not names:
        ctx.error("E0303", "`drop` needs at least one column", ctx.call.span)
        return None
    return ColumnsArgs(step="drop", columns=names), table(
        [(f.name, f.type) for f in ctx.schema.fields if f.name not in names])


def _drop_nulls(ctx: StepContext, b: BoundArgs) -> Result | None:
    names = column_names(ctx, [a.value for a in b.items], "`drop_nulls` arguments")
    if names is None:
        return None
    which = set(names) or set(ctx.schema.names)
    return ColumnsArgs(step="drop_nulls", columns=names), table(
        [(f.name, f.type.with_nullable(False) if f.name in which else f.type) for f in ctx.schema.fields])


def _distinct(ctx: StepContext, b: BoundArgs) -> Result | None:
    names = column_names(ctx, [a.value for a in b.items], "`distinct` arguments")
    if names is None:
        return None
    kept = [(n, ctx.schema.get(n)) for n in names] if names else [(f.name, f.type) for f in ctx.schema.fields]
    return ColumnsArgs(step="distinct", columns=names), table(kept)


def _rename(ctx: StepContext, b: BoundArgs) -> Result | None:
    mapping: list[tuple[str, str]] = []
    ok = True
    for a in b.items:
        if a.name is None or not isinstance(a.value, ast.ColumnRef):
            ctx.error("E0304", "`rename` items are written `new_name = old_name`", a.span)
            ok = False
        elif a.value.name not in ctx.schema:
            unknown_column(ctx.diags, a.value.name, a.value.span, ctx.schema, ctx.input_name)
            ok = False
        else:
            a.value.type = ctx.schema.get(a.value.name)
            mapping.append((a.name, a.value.name))
    if not ok:
        return None
    renamed = dict((old, new) for new, old in mapping)
    pairs = [(renamed.get(f.name, f.name), f.type) for f in ctx.schema.fields]
    if not no_duplicates(ctx, [(n, ctx.call) for n, _ in pairs]):
        return None
    return RenameArgs(mapping=mapping), table(pairs)


def _fill_null(ctx: StepContext, b: BoundArgs) -> Result | None:
    values: list[NamedExpr] = []
    filled: dict[str, bool] = {}
    ok = True
    for a in b.items:
        if a.name is None:
            ctx.error("E0304", "`fill_null` items are written `column = value`", a.span)
            ok = False
            continue
        target = ctx.schema.get(a.name)
        if target is None:
            unknown_column(ctx.diags, a.name, a.name_span or a.span, ctx.schema, ctx.input_name)
            ok = False
            continue
        t = check_expr(a.value, ctx.expr_ctx(ctx.schema))
        if t is None:
            ok = False
            continue
        if t is NULL or unify_numeric(target, t) is None or (target.base == "int" and t.base == "float"):
            ctx.error("E0202", f"`{a.name}` is {target}, so it cannot be filled with "
                      f"{'null' if t is NULL else t}", a.value.span, label="this value")
            ok = False
            continue
        values.append(NamedExpr(name=a.name, expr=a.value))
        filled[a.name] = t.nullable
    if not ok:
        return None
    return FillNullArgs(values=values), table(
        [(f.name, f.type.with_nullable(filled[f.name]) if f.name in filled else f.type)
         for f in ctx.schema.fields])


def _sort(ctx: StepContext, b: BoundArgs) -> Result | None:
    keys: list[SortKey] = []
    for a in b.items:
        e, desc = a.value, False
        if isinstance(e, ast.Unary) and e.op == "-":
            e, desc = e.operand, True
        names = column_names(ctx, [e], "`sort` keys (a column, or `-column` for descending)")
        if names is None or a.name is not None:
            return None
        keys.append(SortKey(column=names[0], descending=desc))
    if not keys:
        ctx.error("E0303", "`sort` needs at least one column", ctx.call.span)
        return None
    return SortArgs(keys=keys), ctx.input


def _limit(ctx: StepContext, b: BoundArgs) -> Result | None:
    n = bounded_arg(ctx, b.get("n"), "int", "the number of rows of `limit`", lambda v: v >= 0,
                    "at least 0")
    return (LimitArgs(n=n), ctx.input) if n is not None else None


def _fraction(ctx: StepContext, e: ast.Expr | None, default: float) -> ast.Expr | None:
    if e is None:
        return lit(default)
    # `sample` may keep every row (1.0); a `split` side must get some rows and leave some.
    if default == 1.0:
        return bounded_arg(ctx, e, "float", "`fraction`", lambda v: 0 < v <= 1, "above 0 and at most 1",
                           help="a fraction of the rows, e.g. 0.1")
    return bounded_arg(ctx, e, "float", "`fraction`", lambda v: 0 < v < 1, "between 0 and 1",
                       help="a fraction of the rows, e.g. 0.8")


def _sample(ctx: StepContext, b: BoundArgs) -> Result | None:
    fraction = _fraction(ctx, b.get("fraction"), 1.0)
    seed = value_arg(ctx, b.get("seed"), "int", "`seed`") if b.get("seed") is not None else lit(0)
    if fraction is None or seed is None:
        return None
    return SampleArgs(fraction=fraction, seed=seed), ctx.input


def _split(ctx: StepContext, b: BoundArgs) -> Result | None:
    fraction = _fraction(ctx, b.get("fraction"), 0.8)
    seed = value_arg(ctx, b.get("seed"), "int", "`seed`") if b.get("seed") is not None else lit(0)
    by = None
    if (e := b.get("by")) is not None:
        names = column_names(ctx, [e], "`by`")
        if names is None:
            return None
        by = names[0]
        if ctx.schema.get(by).base != "int":
            ctx.error("E0304", f"`split(by=...)` needs an int column, but `{by}` is {ctx.schema.get(by)}",
                      e.span, help="derive an integer key first, e.g. `derive(key = year * 10000 + month * 100 + day)`")
            return None
    if fraction is None or seed is None:
        return None
    return SplitArgs(fraction=fraction, seed=seed, by=by, part=0), ctx.input


def _union(ctx: StepContext, b: BoundArgs) -> Result | None:
    others = [b.get("other"), *[a.value for a in b.items]]
    merged = {f.name: f.type for f in ctx.schema.fields}
    ok = True
    for e in others:
        ref = ctx.resolver.binding(e, "the table to union with")
        if ref is None:
            ok = False
            continue
        node_id, other = ref
        if not isinstance(other, TableType):
            ctx.error("E0305", f"`union` needs tables, but `{e.name}` is {other}", e.span)
            ok = False
            continue
        ctx.extra_inputs.append(node_id)
        mismatch = _schema_difference(ctx.schema, other.schema_)
        if mismatch:
            ctx.error("E0313", f"`union` needs the same columns on both sides, but {mismatch}", e.span,
                      label=f"`{e.name}` has {other.schema_}", help="use `select` or `cast` to line them up")
            ok = False
            continue
        for f in other.schema_.fields:
            merged[f.name] = unify_numeric(merged[f.name], f.type)
    return (UnionArgs(), table(list(merged.items()))) if ok else None


def _schema_difference(a: Schema, b: Schema) -> str | None:
    missing = [n for n in a.names if n not in b]
    extra = [n for n in b.names if n not in a]
    if missing or extra:
        parts = ([f"the other side lacks {', '.join(missing)}"] if missing else []) + \
                ([f"has extra {', '.join(extra)}"] if extra else [])
        return " and ".join(parts)
    for f in a.fields:
        o = b.get(f.name)
        if f.type.base != o.base:
            return f"`{f.name}` is {f.type} on one side and {o} on the other"
    return None


JOIN_HOWS = ("inner", "left", "right", "full", "semi", "anti")


def _join(ctx: StepContext, b: BoundArgs) -> Result | None:
    right_e = b.get("right")
    ref = ctx.resolver.binding(right_e, "the right side of the join")
    how = "inner"
    if (e := b.get("how")) is not None:
        how = string_arg(ctx, e, "`how`")
        if how is not None and how not in JOIN_HOWS:
            ctx.error("E0304", f"unknown join type `{how}`", e.span,
                      help=did_you_mean(how, JOIN_HOWS) or f"use one of: {', '.join(JOIN_HOWS)}")
            how = None
    if ref is None or how is None:
        return None
    right_id, right = ref
    if not isinstance(right, TableType):
        ctx.error("E0305", f"`join` needs a table on the right, but `{right_e.name}` is {right}", right_e.span)
        return None
    ctx.extra_inputs.append(right_id)
    left_s, right_s = ctx.schema, right.schema_
    right_name = f"`{right_e.name}`"
    keys: list[JoinKey] = []
    ok = True
    for item in list_items(b.get("on")):
        if isinstance(item, ast.ColumnRef):
            lname, rname, lspan, rspan = item.name, item.name, item.span, item.span
        elif (isinstance(item, ast.Binary) and item.op == "==" and isinstance(item.left, ast.ColumnRef)
              and isinstance(item.right, ast.ColumnRef)):
            lname, rname, lspan, rspan = item.left.name, item.right.name, item.left.span, item.right.span
        else:
            ctx.error("E0304", "a join key is a column on both sides, or `left_col == right_col`", item.span)
            ok = False
            continue
        lt, rt = left_s.get(lname), right_s.get(rname)
        if lt is None:
            unknown_column(ctx.diags, lname, lspan, left_s, ctx.input_name)
        if rt is None:
            unknown_column(ctx.diags, rname, rspan, right_s, right_name)
        if lt is None or rt is None:
            ok = False
            continue
        if lt.base != rt.base:  # not even int with float: engines compare those differently
            ctx.error("E0312", f"join key `{lname}` is {lt} on the left but `{rname}` is {rt} on the right",
                      item.span, help=f"cast one side so that the keys have the same type, e.g. "
                      f"`| derive({rname} = cast({rname}, {lt.base}))` on the right side before joining")
            ok = False
            continue
        keys.append(JoinKey(left=lname, right=rname))
    if not ok:
        return None
    if not keys:
        ctx.error("E0303", "`join` needs at least one key in `on=[...]`", ctx.call.span)
        return None
    left_keys = {k.left for k in keys}
    right_keys = {k.right for k in keys}
    # A name on both sides must be a key on both: the output has each key once, under its left name.
    shared = [f.name for f in right_s.fields
              if f.name in left_s and not (f.name in right_keys and f.name in left_keys)]
    if shared and how not in ("semi", "anti"):
        names = ", ".join(f"`{n}`" for n in shared)
        ctx.error("E0310", f"column{'s' if len(shared) > 1 else ''} {names} "
                  f"{'are' if len(shared) > 1 else 'is'} on both sides of the join", right_e.span,
                  label=f"{right_name} also has {names}",
                  help=f"rename on one side, e.g. `| rename({shared[0]}_right = {shared[0]})`, or keep only "
                       f"the columns you need with `| select(...)` before joining",
                  notes=["a name on both sides must be a join key on both sides (`on=[name]`)"])
        return None
    if how in ("semi", "anti"):
        return JoinArgs(on=keys, how=how), ctx.input
    key_of_left = {k.left: k.right for k in keys}
    pairs: list[tuple[str, ColumnType]] = []
    for f in left_s.fields:
        if f.name in key_of_left:
            lt, rt = f.type, right_s.get(key_of_left[f.name])
            merged = unify_numeric(lt, rt)
            # Null keys never match: a kept unmatched row brings its own side's (maybe null) key.
            nullable = {"inner": False, "left": lt.nullable, "right": rt.nullable,
                        "full": lt.nullable or rt.nullable}[how]
            pairs.append((f.name, merged.with_nullable(nullable)))
        else:
            pairs.append((f.name, f.type.with_nullable(f.type.nullable or how in ("right", "full"))))
    for f in right_s.fields:
        if f.name not in right_keys:
            pairs.append((f.name, f.type.with_nullable(f.type.nullable or how in ("left", "full"))))
    return JoinArgs(on=keys, how=how), table(pairs)


def _aggregate(ctx: StepContext, b: BoundArgs) -> Result | None:
    by: list[str] = []
    if (e := b.get("by")) is not None:
        names = column_names(ctx, list_items(e), "`by`")
        if names is None:
            return None
        by = names
    # Every group of a `by` has a row; without `by` the one group may have none.
    typed = named_exprs(ctx, b.items, "aggregates", Mode.AGGREGATE, groups_may_be_empty=not by)
    if typed is None:
        return None
    if not typed:
        ctx.error("E0303", "`aggregate` needs at least one `name = aggregate(...)`", ctx.call.span,
                  help="for example `aggregate(by=[carrier], flights = count())`")
        return None
    pairs = [(n, ctx.schema.get(n)) for n in by] + [(a.name, t) for a, t in typed]
    if not no_duplicates(ctx, [(n, ctx.call) for n, _ in pairs]):
        return None
    return AggregateArgs(by=by, aggregates=[NamedExpr(name=a.name, expr=a.value) for a, _ in typed]), table(pairs)


_FUNCTION_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def _python(ctx: StepContext, b: BoundArgs) -> Result | None:
    fn = string_arg(ctx, b.get("function"), "the function")
    if fn is not None and not _FUNCTION_REF.match(fn):
        ctx.error("E0304", f"`{fn}` is not a function reference", b.get("function").span,
                  help='write it as "package.module:function"')
        fn = None
    schema = schema_arg(ctx, b.get("schema"))
    options: list[NamedExpr] = []
    for a in b.items:
        if a.name is None:
            ctx.error("E0302", "`python` takes its options as `name = value`", a.span)
            return None
        if isinstance(a.value, ast.ListExpr):
            ctx.error("E0304", "`python` options are single values", a.value.span)
            return None
        v = check_expr(a.value, ctx.expr_ctx(Schema()))
        if v is None:
            return None
        options.append(NamedExpr(name=a.name, expr=a.value))
    if fn is None or schema is None:
        return None
    return PythonArgs(function=fn, schema_=schema, options=options), TableType(schema_=schema)


# ---------------------------------------------------------------- machine learning
def _fit(ctx: StepContext, b: BoundArgs) -> Result | None:
    est_e = b.get("estimator")
    if isinstance(est_e, ast.ColumnRef):
        est_e = ast.Call(span=est_e.span, name=est_e.name, name_span=est_e.span, args=[])
    if not isinstance(est_e, ast.Call) or est_e.name not in ESTIMATORS:
        name = getattr(est_e, "name", None)
        ctx.error("E0404", f"unknown estimator `{name}`" if name else "`fit` needs an estimator",
                  getattr(est_e, "name_span", est_e.span),
                  help=(did_you_mean(name, ESTIMATORS) if name else None)
                  or f"estimators: {', '.join(ESTIMATORS)}")
        return None
    est = ESTIMATORS[est_e.name]
    params: list[NamedExpr] = []
    given = {a.name: a for a in est_e.args}
    for a in est_e.args:
        if a.name is None or a.name not in est.params:
            ctx.error("E0302", f"`{est.name}` has no {'positional arguments' if a.name is None else f'argument `{a.name}`'}",
                      a.name_span or a.span,
                      help=(did_you_mean(a.name, est.params) if a.name else None)
                      or f"its arguments: {', '.join(est.params)}")
            return None
    for pname, hyper in est.params.items():
        if pname in given:
            minimum = hyper.minimum
            v = bounded_arg(ctx, given[pname].value, hyper.type, f"`{pname}` of `{est.name}`",
                            lambda x: minimum is None or x >= minimum, f"at least {minimum}")
            if v is None:
                return None
        elif hyper.default is None:
            ctx.error("E0303", f"`{est.name}` needs the argument `{pname}`", est_e.span)
            return None
        else:
            v = lit(hyper.default)
        params.append(NamedExpr(name=pname, expr=v))
    features = _features(ctx, b.get("features"))
    label, label_t = None, None
    if est.kind == "clusterer":
        if b.get("label") is not None:
            ctx.error("E0403", f"`{est.name}` is a clusterer and takes no label", b.get("label").span,
                      help="remove `label=`")
            return None
    else:
        e = b.get("label")
        if e is None:
            ctx.error("E0303", f"`fit` with the {est.kind} `{est.name}` needs `label=`", ctx.call.span)
            return None
        names = column_names(ctx, [e], "`label`")
        if names is None:
            return None
        label, label_t = names[0], ctx.schema.get(names[0])
        allowed = ("bool", "int", "str") if est.kind == "classifier" else ("int", "float")
        if label_t.base not in allowed:
            ctx.error("E0403", f"a {est.kind} needs a {' / '.join(allowed)} label, but `{label}` is {label_t}",
                      e.span, help="use a classifier for categories and a regressor for numbers"
                      if est.kind == "regressor" else "cast it, or use a regressor for continuous values")
            return None
        if label_t.nullable:
            ctx.error("E0402", f"the label `{label}` is nullable ({label_t})", e.span,
                      help=f"drop rows without a label first: `| filter({label} is not null)`")
            return None
        if label in (features or []):
            ctx.error("E0403", f"`{label}` is both a feature and the label", e.span)
            return None
    if features is None:
        return None
    from pipec.compiler.types import Field
    model = ModelType(model_kind=est.kind, estimator=est.name,
                      features=Schema.of([(f, ctx.schema.get(f)) for f in features]),
                      label=Field(name=label, type=label_t) if label else None)
    return FitArgs(estimator=est.name, params=params, features=features, label=label), model


def _features(ctx: StepContext, e: ast.Expr | None) -> list[str] | None:
    names = column_names(ctx, list_items(e), "`features`")
    if names is None:
        return None
    ok = bool(names)
    if not names:
        ctx.error("E0303", "`fit` needs at least one feature", e.span)
    for item, n in zip(list_items(e), names):
        t = ctx.schema.get(n)
        if t.base not in ("int", "float", "bool", "str"):
            ctx.error("E0401", f"feature `{n}` is {t}; features must be numeric, bool or str", item.span,
                      help=f"derive a number from it, e.g. `derive({n}_month = month({n}))`")
            ok = False
        elif t.nullable:
            ctx.error("E0402", f"feature `{n}` is nullable ({t})", item.span,
                      label="may hold null",
                      help=f"fill it, `| fill_null({n} = ...)`, or drop those rows, `| filter({n} is not null)`",
                      notes=["models cannot be fitted on missing values"])
            ok = False
    return names if ok else None


def _predict(ctx: StepContext, b: BoundArgs) -> Result | None:
    model_e = b.get("model")
    ref = ctx.resolver.binding(model_e, "the model")
    if ref is None:
        return None
    model_id, model = ref
    if not isinstance(model, ModelType):
        ctx.error("E0305", f"`predict` needs a model, but `{getattr(model_e, 'name', '?')}` is {model}",
                  model_e.span, help="pass the result of `fit(...)`")
        return None
    ctx.extra_inputs.append(model_id)
    ok = True
    for f in model.features.fields:
        t = ctx.schema.get(f.name)
        if t is None:
            ctx.error("E0405", f"the model needs the feature `{f.name}`, which {ctx.input_name} lacks",
                      ctx.call.span, help=did_you_mean(f.name, ctx.schema.names)
                      or "apply the same steps to this table as to the training table",
                      notes=[f"available columns: {listing(ctx.schema.names)}"])
            ok = False
        elif t.nullable or not (t.base == f.type.base or (f.type.base == "float" and t.base == "int")):
            ctx.error("E0405", f"feature `{f.name}` is {t} here but the model was fitted on {f.type}",
                      ctx.call.span, help="fill or filter nulls and cast so that the types match")
            ok = False
    if not ok:
        return None
    # A regressor's estimate is a real number even for an `int` label (rounding would hide its error).
    if model.model_kind == "classifier":
        prediction_t = model.label.type.with_nullable(False)
    else:
        prediction_t = col("float" if model.model_kind == "regressor" else "int")
    pairs = [(f.name, f.type) for f in ctx.schema.fields if f.name not in ("prediction", "probability")]
    pairs.append(("prediction", prediction_t))
    if model.model_kind == "classifier":
        pairs.append(("probability", col("float")))
    return PredictArgs(), table(pairs)


def _evaluate(ctx: StepContext, b: BoundArgs) -> Result | None:
    """The model that made the predictions is a second input: multi-class `roc_auc` and `log_loss`
    need every class's probability, which the backends compute from the features with it."""
    upstream = ctx.resolver.upstream_model(ctx.input_id) if ctx.input_id else None
    model = upstream[1] if upstream else None
    if model is None or model.model_kind == "clusterer":
        ctx.error("E0407", "`evaluate` needs a table with predictions of a classifier or regressor",
                  ctx.call.span, help="apply `| predict(model)` first")
        return None
    names = column_names(ctx, [b.get("label")], "`label`")
    if names is None:
        return None
    label = names[0]
    label_t = ctx.schema.get(label)
    if model.label and label_t.base != model.label.type.base:
        ctx.error("E0403", f"`{label}` is {label_t} but the model predicts {model.label.type}",
                  b.get("label").span)
        return None
    if label_t.nullable:
        ctx.error("E0402", f"the label `{label}` is nullable ({label_t})", b.get("label").span,
                  help=f"`| filter({label} is not null)` before evaluating")
        return None
    allowed = CLASSIFIER_METRICS if model.model_kind == "classifier" else REGRESSOR_METRICS
    metrics: list[str] = []
    e = b.get("metrics")
    for item in list_items(e) if e is not None else []:
        m = item.value if isinstance(item, ast.Literal_) and item.literal_type == "str" else None
        if m is None:
            ctx.error("E0304", "metrics are strings, e.g. \"accuracy\"", item.span)
            return None
        if m not in allowed:
            ctx.error("E0406", f"`{m}` is not a {model.model_kind} metric", item.span,
                      help=did_you_mean(m, allowed) or f"{model.model_kind} metrics: {', '.join(allowed)}")
            return None
        metrics.append(m)
    metrics = metrics or list(allowed[:1])
    probabilistic = sorted({"roc_auc", "log_loss"} & set(metrics))
    missing = [f for f in model.features.names if f not in ctx.schema]
    if probabilistic and model.label.type.base != "bool" and missing:
        # With more than two classes these need every class's probability, recomputed from the features.
        ctx.error("E0405", f"`{probabilistic[0]}` of a classifier with a {model.label.type.base} label needs "
                  f"the model's features, but {ctx.input_name} lacks {', '.join(f'`{m}`' for m in missing)}",
                  ctx.call.span, help="evaluate the table that `predict` produced, before dropping columns")
        return None
    task = "classification" if model.model_kind == "classifier" else "regression"
    ctx.extra_inputs.append(upstream[0])
    return EvaluateArgs(label=label, task=task, metrics=metrics), MetricsType(names=tuple(metrics))


def _expect(ctx: StepContext, b: BoundArgs) -> Result | None:
    if isinstance(ctx.input, ModelType):
        return _wrong_input(ctx, "a table or metrics")
    on_metrics = isinstance(ctx.input, MetricsType)
    conditions = [a.value for a in b.items]
    if not conditions or any(a.name is not None for a in b.items):
        ctx.error("E0304", "`expect` takes conditions, e.g. `expect(row_count() > 0)`", ctx.call.span)
        return None
    ok = True
    for c in conditions:
        ectx = (ctx.expr_ctx(Schema(), Mode.EXPECT_METRICS, ctx.input.names) if on_metrics
                else ctx.expr_ctx(ctx.schema, Mode.EXPECT_TABLE, groups_may_be_empty=True))
        if check_predicate(c, ectx, "expect") is None:
            ok = False
    return (ExpectArgs(on="metrics" if on_metrics else "table", conditions=conditions), ctx.input) if ok else None


_SOURCE_KW = ("schema", "header", "delimiter", "null_values")
STEPS: dict[str, Step] = {s.name: s for s in [
    Step("read_csv", _source, "none", ("path",), _SOURCE_KW, required=("path", "schema")),
    Step("read_parquet", _source, "none", ("path",), ("schema",), required=("path", "schema")),
    Step("read_json", _source, "none", ("path",), ("schema",), required=("path", "schema")),
    Step("filter", _filter, "table", ("predicate",), required=("predicate",), row_local=True),
    Step("select", _select, "table", variadic=True, named_items=True, row_local=True),
    Step("derive", _derive, "table", named_items=True, row_local=True),
    Step("drop", _drop, "table", variadic=True, row_local=True),
    Step("rename", _rename, "table", named_items=True, row_local=True),
    Step("fill_null", _fill_null, "table", named_items=True, row_local=True),
    Step("drop_nulls", _drop_nulls, "table", variadic=True, row_local=True),
    Step("distinct", _distinct, "table", variadic=True, shuffle=True),
    Step("sort", _sort, "table", variadic=True, shuffle=True),
    Step("limit", _limit, "table", ("n",), required=("n",)),
    Step("sample", _sample, "table", ("fraction",), ("seed",), required=("fraction",), row_local=True),
    Step("union", _union, "table", ("other",), variadic=True, required=("other",)),
    Step("join", _join, "table", ("right",), ("on", "how"), required=("right", "on"), shuffle=True),
    Step("aggregate", _aggregate, "table", keywords=("by",), named_items=True, shuffle=True),
    Step("split", _split, "table", keywords=("fraction", "seed", "by"), row_local=True),
    Step("python", _python, "table", ("function",), ("schema",), named_items=True,
         required=("function", "schema"), eager=True, user_code=True),
    Step("fit", _fit, "table", ("estimator",), ("features", "label"), required=("estimator", "features"),
         eager=True, fits_model=True),
    Step("predict", _predict, "table", ("model",), required=("model",), row_local=True, eager=True),
    Step("evaluate", _evaluate, "table", keywords=("label", "metrics"), required=("label",), eager=True,
         makes_metrics=True),
    Step("expect", _expect, "any", variadic=True, gate=True),
    Step("write_csv", _sink, "table", ("path",), required=("path",), sink=True),
    Step("write_parquet", _sink, "table", ("path",), required=("path",), sink=True),
    Step("write_json", _sink, "table|metrics", ("path",), required=("path",), sink=True),
    Step("save_model", _sink, "model", ("path",), required=("path",), sink=True),
]}

SINKS = frozenset(name for name, step in STEPS.items() if step.sink)

SIGNATURES = {
    "read_csv": 'read_csv(path, schema=S, header=true, delimiter=",", null_values=[])',
    "read_parquet": "read_parquet(path, schema=S)", "read_json": "read_json(path, schema=S)",
    "filter": "filter(predicate)", "select": "select(col, new = expr, ...)",
    "derive": "derive(new = expr, ...)", "drop": "drop(col, ...)", "rename": "rename(new = old, ...)",
    "fill_null": "fill_null(col = value, ...)", "drop_nulls": "drop_nulls(col, ...)",
    "distinct": "distinct(col, ...)", "sort": "sort(col, -col, ...)", "limit": "limit(n)",
    "sample": "sample(fraction, seed=0)", "union": "union(other, ...)",
    "join": 'join(right, on=[col, left_col == right_col], how="inner")',
    "aggregate": "aggregate(by=[col, ...], name = agg(...), ...)",
    "split": "split(fraction=0.8, seed=0, by=col)", "python": 'python("module:function", schema=S, option=value)',
    "fit": "fit(estimator(...), features=[col, ...], label=col)", "predict": "predict(model)",
    "evaluate": 'evaluate(label=col, metrics=["accuracy", ...])', "expect": "expect(condition, ...)",
    "write_csv": "write_csv(path)", "write_parquet": "write_parquet(path)", "write_json": "write_json(path)",
    "save_model": "save_model(path)",
}


def input_matches(step: Step, value: ValueType) -> bool:
    kinds = {"table": TableType, "model": ModelType, "metrics": MetricsType}
    if step.input == "any":
        return True
    return any(isinstance(value, kinds[k]) for k in step.input.split("|"))
