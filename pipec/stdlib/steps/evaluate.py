"""`evaluate(label=col, metrics=[...])`: metrics of the predictions against the label column."""
from __future__ import annotations

from typing import Literal

from pipec.compiler import ast
from pipec.compiler.model import Model
from pipec.compiler.suggest import did_you_mean
from pipec.compiler.types import MetricsType
from pipec.stdlib.estimators import CLASSIFIER_METRICS, REGRESSOR_METRICS
from pipec.stdlib.steps.checking import column_names, list_items
from pipec.stdlib.steps.predict import MODEL_OUTPUTS, model_features
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext

# With more than two classes these need every class's probability, which the backends compute by
# rescoring the rows with the model (the step's second input).
_PER_CLASS_METRICS = frozenset({"roc_auc", "log_loss"})


class EvaluateArgs(Model):
    step: Literal["evaluate"] = "evaluate"
    label: str
    task: Literal["classification", "regression"]
    metrics: list[str]


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
    probabilistic = sorted(_PER_CLASS_METRICS & set(metrics))
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



def _needs(args: EvaluateArgs, inputs, index: int, wanted: set[str]) -> set[str]:
    rescores = args.task == "classification" and bool(_PER_CLASS_METRICS & set(args.metrics))
    return {args.label} | MODEL_OUTPUTS | (model_features(inputs[1]) if rescores else set())


def _lineage(args: EvaluateArgs, inputs) -> flow.ColumnFlow:
    """Each metric aggregates the label and the predictions it compares (`probability` for
    `roc_auc` and `log_loss`); with more than two classes those rescore the rows with the model."""
    model = inputs[1]
    rescores = args.task == "classification" and model.label.type.base != "bool"
    columns = {}
    for metric in args.metrics:
        per_class = metric in _PER_CLASS_METRICS
        compared = flow.on_columns([args.label, "probability" if per_class else "prediction"], flow.DIRECT,
                                   flow.AGGREGATION)
        if per_class and rescores:
            compared += (*flow.on_columns(model.features.names, flow.DIRECT, flow.AGGREGATION),
                         flow.Edge(1, flow.MODEL_COLUMN, flow.INDIRECT, flow.TRANSFORMATION))
        columns[metric] = compared
    return flow.ColumnFlow(columns)


STEPS = [Step(
    "evaluate", _evaluate, "table", keywords=("label", "metrics"), required=("label",), args=EvaluateArgs,
    signature='evaluate(label=col, metrics=["accuracy", ...])',
    doc="Compute metrics of the predictions against the label column.", eager=True, makes_metrics=True,
    reads=lambda args: {args.label} | MODEL_OUTPUTS, needs=_needs,
    rows_out=lambda args, rows_in, value: 1.0, seconds_per_row=1e-7,
    argument_values={"label": "column", "metrics": "metric"},
    lineage=_lineage,
)]
