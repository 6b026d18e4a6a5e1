"""The sinks `write_csv`, `write_parquet`, `write_json` and `save_model`: a pipeline's outputs.
Which value each accepts is its `input` (checked before the rule runs)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from pipec.stdlib.steps.checking import string_arg
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext


class SinkArgs(BaseModel):
    step: Literal["write_csv", "write_parquet", "write_json", "save_model"]
    path: str


def _sink(ctx: StepContext, b: BoundArgs) -> Result | None:
    path = string_arg(ctx, b.get("path"), "the path")
    return (SinkArgs(step=ctx.call.name, path=path), None) if path is not None else None


_SINK = dict(rule=_sink, positional=("path",), required=("path",), sink=True, args=SinkArgs)
STEPS = [
    Step("write_csv", input="table", signature="write_csv(path)", doc="Write the table to a CSV file.",
         seconds_per_byte=1e-8, **_SINK),
    Step("write_parquet", input="table", signature="write_parquet(path)",
         doc="Write the table to a Parquet file.", seconds_per_byte=4e-9, **_SINK),
    Step("write_json", input="table|metrics", signature="write_json(path)",
         doc="Write the table (JSON lines) or the metrics (a JSON object) to a file.",
         seconds_per_byte=2e-8, **_SINK),
    Step("save_model", input="model", signature="save_model(path)", doc="Save the trained model to a folder.",
         seconds_per_byte=1e-8, **_SINK),
]
