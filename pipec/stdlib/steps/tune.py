"""`best, trials = t | tune([estimator(p=[v, ...]), ...], features=[...], label=col, folds=5, seed=0,
metric="...")`: model selection. List-valued hyper-parameters define a grid; every candidate of
every estimator is scored on the same seeded folds (or hold-out rows), the best one (ties: the
first in candidate order) is refitted on all the input, and the trials are a typed table.

Like `split` it gives two values, each its own IR node: the model (part 0) and the trials table
(part 1), which is computed from the model node, its second input (the run that chose the model
keeps its trials), so binding both never tunes twice."""
from __future__ import annotations

import itertools
from typing import Literal

from pipec.compiler import ast
from pipec.compiler.arguments import NamedExpr, lit
from pipec.compiler.model import Model
from pipec.compiler.suggest import did_you_mean
from pipec.compiler.types import Field, ModelType, Schema, TableType, col
from pipec.grammar.format import format_expr
from pipec.runtime_contract import BOUNDS
from pipec.stdlib.estimators import CLASSIFIER_METRICS, ESTIMATORS, REGRESSOR_METRICS
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.checking import bounded_arg, list_items, seed_arg, value_arg
from pipec.stdlib.steps.fit import _features as features_arg
from pipec.stdlib.steps.fit import estimator_call, hyperparameter_value, label_arg
from pipec.stdlib.steps.spec import BoundArgs, FanOut, Result, Step, StepContext

MAX_CANDIDATES = 256  # a grid larger than this is an error (E0408): say what you mean to try
DEFAULT_FOLDS = 5


class Candidate(Model):
    """One point of the grid: an estimator and a value for each of its hyper-parameters."""

    estimator: str
    params: list[NamedExpr]


class TuneArgs(Model):
    """`part` 0 is the chosen model, part 1 the trials table (whose second input is the part-0 node)."""

    step: Literal["tune"] = "tune"
    candidates: list[Candidate]
    features: list[str]
    label: str
    metric: str
    folds: int | None = None
    holdout: ast.Expr | None = None
    seed: ast.Expr
    part: Literal[0, 1] = 0


def _tune(ctx: StepContext, b: BoundArgs) -> Result | None:
    candidates = _candidates(ctx, b.get("candidates"))
    if candidates is None:
        return None
    kinds = {ESTIMATORS[c.estimator].kind for c in candidates}
    if kinds != {"classifier"} and kinds != {"regressor"}:
        ctx.error("E0409", "`tune` compares classifiers or regressors, all of one kind, but the candidates are "
                  + " and ".join(sorted(f"{k}s" for k in kinds)), b.get("candidates").span,
                  help="tune classifiers and regressors in two `tune` steps; a clusterer has no label to score")
        return None
    kind = kinds.pop()
    features = features_arg(ctx, b.get("features"))
    label, label_t = label_arg(ctx, b.get("label"), kind, features, "`tune` needs `label=`")
    metric = _metric(ctx, b.get("metric"), kind)
    folds, holdout = _validation(ctx, b)
    seed = seed_arg(ctx, b.get("seed"))
    if None in (features, label, metric, seed) or (folds is None and holdout is None):
        return None
    model = ModelType(model_kind=kind, estimator=" or ".join(dict.fromkeys(c.estimator for c in candidates)),
                      features=Schema.of([(f, ctx.schema.get(f)) for f in features]),
                      label=Field(name=label, type=label_t))
    return TuneArgs(candidates=candidates, features=features, label=label, metric=metric, folds=folds,
                    holdout=holdout, seed=seed), model


def _candidates(ctx: StepContext, e: ast.Expr) -> list[Candidate] | None:
    """Each estimator call's grid, in the order written: estimators in list order, then the
    Cartesian product of its hyper-parameters (in the estimator's order, the last varying fastest)."""
    if not isinstance(e, ast.ListExpr) or not e.items:
        ctx.error("E0304", "`tune` needs a list of estimators, e.g. `[logistic_regression(reg=[0.0, 0.1])]`",
                  e.span)
        return None
    candidates: list[Candidate] = []
    for item in e.items:
        est = estimator_call(ctx, item, "tune")
        if est is None:
            return None
        given = {a.name: a.value for a in item.args} if isinstance(item, ast.Call) else {}
        axes: list[list[NamedExpr]] = []
        for name, hyper in est.params.items():
            values = list_items(given[name]) if name in given else [None]
            if name in given and isinstance(given[name], ast.ListExpr) and not values:
                ctx.error("E0304", f"the grid of `{name}` is empty", given[name].span, help="list at least one value")
                return None
            axis = []
            for v in values:
                if v is None:
                    if hyper.default is None:
                        ctx.error("E0303", f"`{est.name}` needs the argument `{name}`", item.span)
                        return None
                    v = lit(hyper.default)
                else:
                    v = hyperparameter_value(ctx, v, name, hyper.type, est.name)
                    if v is None:
                        return None
                axis.append(NamedExpr(name=name, expr=v))
            axes.append(axis)
        size = 1
        for axis in axes:
            size *= len(axis)
        if len(candidates) + size > MAX_CANDIDATES:
            ctx.error("E0408", f"the grid has more than {MAX_CANDIDATES} candidates "
                      f"({len(candidates) + size} up to `{est.name}`)", item.span,
                      help="try fewer values per hyper-parameter; tune in two rounds, coarse then fine")
            return None
        candidates += [Candidate(estimator=est.name, params=list(point)) for point in itertools.product(*axes)]
    return candidates


def _metric(ctx: StepContext, e: ast.Expr | None, kind: str) -> str | None:
    allowed = CLASSIFIER_METRICS if kind == "classifier" else REGRESSOR_METRICS
    if e is None:
        return allowed[0]
    m = e.value if isinstance(e, ast.Literal_) and e.literal_type == "str" else None
    if m is None:
        ctx.error("E0304", "`metric` is a string, e.g. \"accuracy\"", e.span)
        return None
    if m not in allowed:
        other = REGRESSOR_METRICS if kind == "classifier" else CLASSIFIER_METRICS
        ctx.error("E0406", f"`{m}` is not a {kind} metric" + (" (it scores the other kind of model)"
                                                                if m in other else ""), e.span,
                  help=did_you_mean(m, allowed) or f"{kind} metrics: {', '.join(allowed)}")
        return None
    return m


def _validation(ctx: StepContext, b: BoundArgs) -> tuple[int | None, ast.Expr | None]:
    """k folds (a literal, at least 2) or a hold-out fraction; 5 folds when neither is given."""
    folds_e, holdout_e = b.get("folds"), b.get("holdout")
    if folds_e is not None and holdout_e is not None:
        ctx.error("E0304", "give `folds` or `holdout`, not both", holdout_e.span,
                  help="k folds score each candidate k times; a hold-out fraction once")
        return None, None
    if holdout_e is not None:
        return None, bounded_arg(ctx, holdout_e, "float", "`holdout`", BOUNDS["proper_fraction"])
    if folds_e is None:
        return DEFAULT_FOLDS, None
    v = value_arg(ctx, folds_e, "int", "`folds`")
    if v is None:
        return None, None
    if not isinstance(v, ast.Literal_) or v.value < 2:
        ctx.error("E0304", "`folds` must be a literal int of at least 2", folds_e.span,
                  help="the folds decide the generated plan: write the number, e.g. `folds=5`")
        return None, None
    return v.value, None


def trials_type(args: TuneArgs) -> TableType:
    """The trials table: candidate number (from 1), estimator, one nullable column per
    hyper-parameter of any candidate (null where the estimator has no such parameter), the metric
    (mean over the folds) and the seconds the candidate's folds took."""
    columns: dict[str, str] = {}
    for c in args.candidates:
        for p in c.params:
            columns.setdefault(p.name, ESTIMATORS[c.estimator].params[p.name].type)
    return TableType(schema_=Schema.of([("candidate", col("int")), ("estimator", col("str")),
                                        *[(n, col(t, nullable=True)) for n, t in columns.items()],
                                        (args.metric, col("float")), ("seconds", col("float"))]))


def _fan_out(args: TuneArgs) -> FanOut | None:
    """The chosen model's candidates, each scored on every round independently of the others."""
    if args.part == 1:
        return None
    return FanOut("candidate", tuple(f"{k}: {c.estimator}(" + ", ".join(f"{p.name}={format_expr(p.expr)}"
                                                                      for p in c.params) + ")"
                                     for k, c in enumerate(args.candidates, 1)))


def _reads(args: TuneArgs) -> set[str]:
    return set(args.features) | {args.label} if args.part == 0 else set()


def _lineage(args: TuneArgs, inputs) -> flow.ColumnFlow:
    """The chosen model is learned from the features and the label, as `fit`'s; in the trials
    table only the metric is computed from data (over the folds), the rest describes the grid."""
    learned = flow.on_columns([*args.features, args.label], flow.DIRECT,
                              flow.TRANSFORMATION if args.part == 0 else flow.AGGREGATION)
    if args.part == 0:
        return flow.ColumnFlow({flow.MODEL_COLUMN: learned}, rows_from=())
    return flow.ColumnFlow({name: learned if name == args.metric else ()
                            for name in trials_type(args).schema_.names}, rows_from=())


STEPS = [Step(
    "tune", _tune, "table", ("candidates",), ("features", "label", "metric", "folds", "holdout", "seed"),
    required=("candidates", "features", "label"), args=TuneArgs,
    signature='best, trials = tune([estimator(param=[v, ...]), ...], features=[col, ...], label=col, '
              'metric="accuracy", folds=5, seed=0)',
    doc="Score a grid of candidate estimators on seeded folds; the best, refitted on all rows, and the trials.",
    eager=True, fits_model=True, outputs=2, other_output=lambda args: args.model_copy(update={"part": 1}),
    other_type=trials_type, reads=_reads, needs=lambda args, inputs, index, wanted: _reads(args),
    rows_out=lambda args, rows_in, value: 1.0 if args.part == 0 else float(len(args.candidates)),
    seconds_per_row=2e-5,
    argument_values={"candidates": "estimator", "features": "column", "label": "column", "metric": "metric"},
    lineage=_lineage, fan_out=_fan_out,
)]
