"""The sinks `write_csv`, `write_parquet`, `write_json` and `save_model`: a pipeline's outputs.
Which value each accepts is its `input` (checked before the rule runs)."""
from __future__ import annotations

from typing import Literal

from pipec.compiler.model import Model
from pipec.compiler.types import TableType
from pipec.stdlib.steps.checking import partition_columns, string_arg
from pipec.stdlib.steps.spec import BoundArgs, Result, Step, StepContext


class SinkArgs(Model):
    step: Literal["write_csv", "write_parquet", "write_json", "save_model"]
    path: str
    partition_by: list[str] | None = None  # a folder of `name=value/` folders, one per partition


def _sink(ctx: StepContext, b: BoundArgs) -> Result | None:
    path = string_arg(ctx, b.get("path"), "the path")
    partitions = None
    if (e := b.get("partition_by")) is not None:
        if not isinstance(ctx.input, TableType):
            ctx.error("E0733", f"`partition_by` needs a table, but {ctx.input_name} is {ctx.input}", e.span,
                      help="metrics are one JSON object: write them without `partition_by`")
            return None
        partitions = partition_columns(ctx, e, ctx.schema)
        if partitions is None:
            return None
    if path is None:
        return None
    return SinkArgs(step=ctx.call.name, path=path, partition_by=partitions or None), None


_SINK = dict(rule=_sink, positional=("path",), required=("path",), sink=True, args=SinkArgs)
_TABLE_SINK = dict(_SINK, keywords=("partition_by",), argument_values={"partition_by": "column"})
STEPS = [
    Step("write_csv", input="table", signature="write_csv(path, partition_by=[])",
         doc="Write the table to a CSV file (or a folder of partitions).", seconds_per_byte=1e-8, **_TABLE_SINK),
    Step("write_parquet", input="table", signature="write_parquet(path, partition_by=[])",
         doc="Write the table to a Parquet file (or a folder of partitions).", seconds_per_byte=4e-9,
         **_TABLE_SINK),
    Step("write_json", input="table|metrics", signature="write_json(path, partition_by=[])",
         doc="Write the table (JSON lines) or the metrics (a JSON object) to a file.",
         seconds_per_byte=2e-8, **_TABLE_SINK),
    Step("save_model", input="model", signature="save_model(path)", doc="Save the trained model to a folder.",
         seconds_per_byte=1e-8, **_SINK),
]
