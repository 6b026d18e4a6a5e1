"""`load_model(path)`: a source giving the model a `save_model` sink wrote, typed by the model's
sidecar JSON when the folder exists at compile time, else by the type the call declares
(`schema=S, label=col, kind="classifier"`), which the run checks against the sidecar before it
loads anything. With both, they must agree."""
from __future__ import annotations

import os
import re
from typing import Literal

from pipec.compiler import ast
from pipec.compiler.diagnostics import Diagnostic
from pipec.compiler.model import Model
from pipec.compiler.suggest import did_you_mean
from pipec.compiler.types import Field, ModelType, Schema, col
from pipec.runtime_contract import RUN_PREFIX, read_model_sidecar, substitute
from pipec.stdlib.steps.checking import column_names, schema_arg, string_arg
from pipec.stdlib.steps.spec import BoundArgs, Choices, Result, Step, StepContext

MODEL_KINDS = ("classifier", "regressor", "clusterer")
_PARAM = re.compile(r"\$\{([^}]*)\}")


class LoadModelArgs(Model):
    step: Literal["load_model"] = "load_model"
    path: str


def expected_signature(model: ModelType) -> dict:
    """The `model_signature` (runtime contract) a run requires of the sidecar of a model of type `model`."""
    return {"kind": model.model_kind, "features": sorted([f.name, f.type.base] for f in model.features.fields),
            "label": [model.label.name, model.label.type.base] if model.label else None}


def sidecar_type(sidecar: dict) -> ModelType:
    """The type of the model a sidecar describes."""
    label = sidecar.get("label")
    return ModelType(model_kind=sidecar["kind"], estimator=sidecar.get("estimator") or "load_model",
                     features=Schema.of([(f["name"], col(f["type"])) for f in sidecar["features"]]),
                     label=Field(name=label["name"], type=col(label["type"])) if label else None)


def compile_time_path(ctx: StepContext, template: str) -> str | None:
    """The model folder as this check resolves it (param values of this check, relative to the
    working directory), or None when it depends on the run (`${run.date}`)."""
    values = {}
    for name in _PARAM.findall(template):
        if name.startswith(RUN_PREFIX):
            return None
        values[name] = ctx.resolver.param_value(name)[0]
    return substitute(template, values)


def _load_model(ctx: StepContext, b: BoundArgs) -> Result | None:
    path_e = b.get("path")
    path = string_arg(ctx, path_e, "the path")
    declared = _declared_type(ctx, b)
    if path is None or declared is False:
        return None
    folder = compile_time_path(ctx, path)
    found = None
    if folder is not None and os.path.exists(folder):
        try:
            found = sidecar_type(read_model_sidecar(folder)[1])
        except (ValueError, KeyError, TypeError) as exc:
            ctx.error("E0411", f"`{folder}` is not a model saved by `save_model`: {exc}", path_e.span,
                      help="point `load_model` at the folder a `save_model` sink wrote")
            return None
    if declared is None and found is None:
        ctx.error("E0410", f"the type of the model at `{folder or path}` is unknown: there is no saved model "
                  "there now, and the call declares no type", ctx.call.span,
                  help='declare it, e.g. `load_model(path, schema=S, label=late, kind="classifier")` with S '
                       "holding the features and the label, or run the pipeline that saves it first")
        return None
    if declared is not None and found is not None and expected_signature(declared) != expected_signature(found):
        ctx.error("E0412", f"the model saved at `{folder}` is {found}, not the declared {declared}", ctx.call.span,
                  help="declare the type the training pipeline gives the model, or load another folder")
        return None
    return LoadModelArgs(path=path), declared or found


def _declared_type(ctx: StepContext, b: BoundArgs) -> ModelType | None | Literal[False]:
    """The type `schema=`, `label=` and `kind=` declare (None: none given; False: a mistake, reported)."""
    schema_e, label_e, kind_e = b.get("schema"), b.get("label"), b.get("kind")
    if schema_e is None and label_e is None and kind_e is None:
        return None
    if schema_e is None or kind_e is None:
        ctx.error("E0303", "a declared model type needs `schema=` (the features and the label) and `kind=`",
                  ctx.call.span, help='e.g. `load_model(path, schema=S, label=late, kind="classifier")`')
        return False
    kind = string_arg(ctx, kind_e, "`kind`")
    schema = schema_arg(ctx, schema_e)
    if kind is None or schema is None:
        return False
    if kind not in MODEL_KINDS:
        ctx.error("E0304", f"unknown model kind `{kind}`", kind_e.span,
                  help=did_you_mean(kind, MODEL_KINDS) or f"use one of: {', '.join(MODEL_KINDS)}")
        return False
    if (label_e is None) != (kind == "clusterer"):
        ctx.error("E0303" if label_e is None else "E0403",
                  "a clusterer has no label" if label_e is not None else f"a {kind} needs `label=`",
                  (label_e or ctx.call).span)
        return False
    label = None
    if label_e is not None:
        names = column_names(ctx, [label_e], "`label`", schema)
        if names is None:
            return False
        label = Field(name=names[0], type=schema.get(names[0]).with_nullable(False))
    nullable = [f.name for f in schema.fields if f.type.nullable and (label is None or f.name != label.name)]
    if nullable:
        ctx.error("E0304", f"a model's features are not nullable, but `{nullable[0]}` is", schema_e.span,
                  help="declare the types the model was fitted on")
        return False
    features = Schema.of([(f.name, f.type) for f in schema.fields if label is None or f.name != label.name])
    return ModelType(model_kind=kind, estimator="load_model", features=features, label=label)


def engine_mismatches(ir, engine: str, params: dict | None = None) -> list[Diagnostic]:
    """E0413 for each `load_model` whose folder holds, now, a model another engine saved (a model
    loads only on the engine that saved it; docs/semantics.md, "Saved models")."""
    values = {p.name: p.default for p in ir.params} | (params or {})
    problems = []
    for node in ir.nodes():
        if not isinstance(node.args, LoadModelArgs):
            continue
        try:
            folder = substitute(node.args.path, values)
            found = read_model_sidecar(folder)[0]
        except Exception:  # noqa: BLE001 - not there (yet), or unreadable: the run start checks it
            continue
        if found != engine:
            problems.append(Diagnostic(
                code="E0413", message=f"the model at `{folder}` was saved by the {found} engine, but this "
                f"backend runs {engine}", span=node.span, label=f"loads a {found} model",
                help="run this pipeline on the backend that trained the model, or train it again there"))
    return problems


STEPS = [Step(
    "load_model", _load_model, "none", ("path",), keywords=("schema", "label", "kind"), required=("path",),
    args=LoadModelArgs, signature='load_model(path, schema=S, label=col, kind="classifier")',
    doc="Load a model that `save_model` wrote (typed by its sidecar, or by the declared type).",
    seconds_per_byte=1e-8, rows_out=lambda args, rows_in, value: 1.0,
    argument_values={"schema": "schema", "kind": Choices(MODEL_KINDS, "model kind")},
)]
