"""`predict(model)`: the input with the model's predictions added as `prediction` (and, for a
classifier, `probability`)."""
from __future__ import annotations

from typing import Literal

from pipec.compiler.model import Model
from pipec.compiler.suggest import did_you_mean, listing
from pipec.compiler.types import ModelType, col
from pipec.stdlib.steps.checking import table
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext, moves_filters_past

# The columns `predict` adds (replacing input columns of those names).
MODEL_OUTPUTS = frozenset({"prediction", "probability"})


class PredictArgs(Model):
    step: Literal["predict"] = "predict"


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
    pairs = [(f.name, f.type) for f in ctx.schema.fields if f.name not in MODEL_OUTPUTS]
    pairs.append(("prediction", prediction_t))
    if model.model_kind == "classifier":
        pairs.append(("probability", col("float")))
    return PredictArgs(), table(pairs)



def model_features(model) -> set[str]:
    """The feature columns of a model input (none when it is not a model)."""
    return set(model.features.names) if isinstance(model, ModelType) else set()


def _lineage(args: PredictArgs, inputs) -> flow.ColumnFlow:
    """A prediction is computed from the row's features (DIRECT) by a model learned from the
    training table's features and label: those, and what chose the training rows, are INDIRECT
    inputs of the prediction (subtype TRANSFORMATION: OpenLineage has no subtype for "learned
    from")."""
    table, model = inputs[0], inputs[1]
    columns = flow.same_columns([n for n in flow.column_names(table) if n not in MODEL_OUTPUTS])
    made = (*flow.on_columns(model.features.names, flow.DIRECT, flow.TRANSFORMATION),
            flow.Edge(1, flow.MODEL_COLUMN, flow.INDIRECT, flow.TRANSFORMATION))
    columns["prediction"] = made
    if model.model_kind == "classifier":
        columns["probability"] = made
    return flow.ColumnFlow(columns)


STEPS = [Step(
    "predict", _predict, "table", ("model",), required=("model",), args=PredictArgs,
    signature="predict(model)", doc="Add the predictions of a trained model as the column `prediction`.",
    row_local=True, eager=True, predicts=True,
    creates=lambda args, inputs: set(MODEL_OUTPUTS),
    needs=lambda args, inputs, index, wanted: wanted - MODEL_OUTPUTS | model_features(inputs[1]),
    route_filter=moves_filters_past(lambda args, inputs: set(MODEL_OUTPUTS)), seconds_per_row=2e-7,
    argument_values={"model": "binding"},
    lineage=_lineage,
)]
