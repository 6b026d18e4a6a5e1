"""`fit(estimator(...), features=[col, ...], label=col)`: train an estimator; the result is a model."""
from __future__ import annotations

from typing import Literal

from pipec.compiler import ast
from pipec.compiler.arguments import NamedExpr, lit
from pipec.compiler.model import Model
from pipec.compiler.suggest import did_you_mean
from pipec.compiler.types import ColumnType, Field, ModelType, Schema
from pipec.runtime_contract import hyperparameter_bound
from pipec.stdlib.estimators import ESTIMATORS, Estimator
from pipec.stdlib.steps.checking import bounded_arg, column_names, list_items, value_arg
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext


class FitArgs(Model):
    step: Literal["fit"] = "fit"
    estimator: str
    params: list[NamedExpr] = []
    features: list[str]
    label: str | None = None


def hyperparameter_value(ctx: StepContext, e: ast.Expr, name: str, type_: str, estimator: str) -> ast.Expr | None:
    """A hyper-parameter's value: of its type, and at least the runtime contract's minimum for it
    when there is one (the bound every backend checks again at run time)."""
    bound = hyperparameter_bound(name)
    what = f"`{name}` of `{estimator}`"
    return value_arg(ctx, e, type_, what) if bound is None else bounded_arg(ctx, e, type_, what, bound)


def _fit(ctx: StepContext, b: BoundArgs) -> Result | None:
    est_e = b.get("estimator")
    est = estimator_call(ctx, est_e, "fit")
    if est is None:
        return None
    if isinstance(est_e, ast.ColumnRef):
        est_e = ast.Call(span=est_e.span, name=est_e.name, name_span=est_e.span, args=[])
    params: list[NamedExpr] = []
    given = {a.name: a for a in est_e.args}
    for pname, hyper in est.params.items():
        if pname in given:
            v = hyperparameter_value(ctx, given[pname].value, pname, hyper.type, est.name)
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
        label, label_t = label_arg(ctx, b.get("label"), est.kind, features,
                                   f"`fit` with the {est.kind} `{est.name}` needs `label=`")
        if label is None:
            return None
    if features is None:
        return None
    model = ModelType(model_kind=est.kind, estimator=est.name,
                      features=Schema.of([(f, ctx.schema.get(f)) for f in features]),
                      label=Field(name=label, type=label_t) if label else None)
    return FitArgs(estimator=est.name, params=params, features=features, label=label), model


def estimator_call(ctx: StepContext, e: ast.Expr, step: str) -> Estimator | None:
    """The estimator an `estimator(name=value, ...)` call names, when it exists and takes those
    arguments (a bare name is a call without arguments)."""
    if isinstance(e, ast.ColumnRef):
        e = ast.Call(span=e.span, name=e.name, name_span=e.span, args=[])
    if not isinstance(e, ast.Call) or e.name not in ESTIMATORS:
        name = getattr(e, "name", None)
        ctx.error("E0404", f"unknown estimator `{name}`" if name else f"`{step}` needs an estimator",
                  getattr(e, "name_span", e.span),
                  help=(did_you_mean(name, ESTIMATORS) if name else None)
                  or f"estimators: {', '.join(ESTIMATORS)}")
        return None
    est = ESTIMATORS[e.name]
    for a in e.args:
        if a.name is None or a.name not in est.params:
            ctx.error("E0302", f"`{est.name}` has no {'positional arguments' if a.name is None else f'argument `{a.name}`'}",
                      a.name_span or a.span,
                      help=(did_you_mean(a.name, est.params) if a.name else None)
                      or f"its arguments: {', '.join(est.params)}")
            return None
    return est


def label_arg(ctx: StepContext, e: ast.Expr | None, kind: str, features: list[str] | None,
              missing: str) -> tuple[str | None, ColumnType | None]:
    """The label column of a classifier or regressor: present, of a type that suits the kind,
    not nullable and not a feature."""
    if e is None:
        ctx.error("E0303", missing, ctx.call.span)
        return None, None
    names = column_names(ctx, [e], "`label`")
    if names is None:
        return None, None
    label, label_t = names[0], ctx.schema.get(names[0])
    allowed = ("bool", "int", "str") if kind == "classifier" else ("int", "float")
    if label_t.base not in allowed:
        ctx.error("E0403", f"a {kind} needs a {' / '.join(allowed)} label, but `{label}` is {label_t}",
                  e.span, help="use a classifier for categories and a regressor for numbers"
                  if kind == "regressor" else "cast it, or use a regressor for continuous values")
        return None, None
    if label_t.nullable:
        ctx.error("E0402", f"the label `{label}` is nullable ({label_t})", e.span,
                  help=f"drop rows without a label first: `| filter({label} is not null)`")
        return None, None
    if label in (features or []):
        ctx.error("E0403", f"`{label}` is both a feature and the label", e.span)
        return None, None
    return label, label_t


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



def _reads(args: FitArgs) -> set[str]:
    return set(args.features) | ({args.label} if args.label else set())


def _lineage(args: FitArgs, inputs) -> flow.ColumnFlow:
    """The model's parameters are computed from its features and label, over the rows it is
    fitted on (so their row-level lineage goes with the model, not with any table's rows)."""
    learned = flow.on_columns([*args.features, *([args.label] if args.label else [])], flow.DIRECT,
                              flow.TRANSFORMATION)
    return flow.ColumnFlow({flow.MODEL_COLUMN: learned}, rows_from=())


STEPS = [Step(
    "fit", _fit, "table", ("estimator",), ("features", "label"), required=("estimator", "features"),
    args=FitArgs, signature="fit(estimator(...), features=[col, ...], label=col)",
    doc="Train an estimator on feature columns and a label: the result is a model.",
    eager=True, fits_model=True, reads=_reads, needs=lambda args, inputs, index, wanted: _reads(args),
    rows_out=lambda args, rows_in, value: 1.0, seconds_per_row=2e-6,
    argument_values={"estimator": "estimator", "features": "column", "label": "column"},
    lineage=_lineage,
    bounds=lambda args: [(p.expr, bound) for p in args.params if (bound := hyperparameter_bound(p.name))],
)]
