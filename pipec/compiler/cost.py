"""The cost model: rows, bytes and seconds for every node, which cache placement weighs.

Guesses start from the size of each source file (its path resolved with the param values and the
working directory; a missing file gets a default size) and flow through each step's own guesses
of its output rows and its time per row or byte (its `rows_out`, `seconds_per_row`, `row_work`,
`seconds_per_byte` and `disk_row_bytes`, pipec/stdlib/steps/); this module does the arithmetic.
A node that an earlier run measured (see `stats.py`) uses the measurement instead, and the nodes
after it start their guesses from it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from pipec.compiler.ast import Expr, Literal_, ParamRef
from pipec.compiler.ir import IR, IRNode
from pipec.compiler.model import Model
from pipec.compiler.stats import Statistics
from pipec.compiler.types import ModelType, Schema, TableType
from pipec.runtime_contract import substitute

DEFAULT_SOURCE_ROWS = 100_000  # a source whose file is not there yet
MODEL_BYTES = 64 * 1024
METRICS_BYTES = 256

# bytes of one value in memory (polars/Arrow) and as text in CSV or JSON lines
_MEMORY_WIDTH = {"int": 8, "float": 8, "bool": 1, "str": 24, "date": 4, "timestamp": 8}
_TEXT_WIDTH = {"int": 6, "float": 9, "bool": 5, "str": 12, "date": 10, "timestamp": 26}


class NodeEstimate(Model):
    rows: float
    bytes: float
    seconds: float  # to compute this node from its inputs (not counting the inputs themselves)
    recorded: bool = False  # measured by an earlier run rather than guessed


def row_width(schema: Schema, *, text: bool = False) -> int:
    """The bytes of one row in memory, or as text (`text`: CSV or JSON lines)."""
    widths = _TEXT_WIDTH if text else _MEMORY_WIDTH
    return max(1, sum(widths[f.type.base] for f in schema.fields))


def resolve_path(path: str, ir: IR, params: Mapping[str, Any] | None, workdir: str | Path) -> Path:
    """A source path with `${name}` replaced by the param's value (given, else its default)."""
    values = {p.name: p.default for p in ir.params} | dict(params or {})
    return Path(workdir) / substitute(path, values)


def estimate(ir: IR, *, stats: Statistics | None = None, params: Mapping[str, Any] | None = None,
             workdir: str | Path = ".") -> dict[str, NodeEstimate]:
    """Rows, bytes and seconds for every node of `ir`, by node id."""
    from pipec.compiler.passes.fingerprint import structural_hashes  # the passes package imports this module

    hashes = structural_hashes(ir) if stats and stats.nodes else {}
    estimates: dict[str, NodeEstimate] = {}
    for node in ir.nodes():
        guess = _guess(node, [estimates[i] for i in node.inputs], ir, params, workdir)
        measured = stats.nodes.get(hashes[node.id]) if hashes else None
        if measured is not None:
            guess = NodeEstimate(rows=_either(measured.rows, guess.rows), bytes=_either(measured.bytes, guess.bytes),
                                 seconds=_either(measured.seconds, guess.seconds), recorded=True)
        estimates[node.id] = guess
    return estimates


def _either(measured: float | None, guessed: float) -> float:
    return guessed if measured is None else measured


def _guess(node: IRNode, inputs: list[NodeEstimate], ir: IR, params: Mapping[str, Any] | None,
           workdir: str | Path) -> NodeEstimate:
    if node.is_source and isinstance(node.output, TableType):
        return _guess_source(node, ir, params, workdir)
    step = node.spec
    rows_in = sum(i.rows for i in inputs)
    if node.is_sink:
        size = inputs[0].bytes
        return NodeEstimate(rows=inputs[0].rows, bytes=size, seconds=size * step.seconds_per_byte)
    rows = step.rows_out(node.args, [i.rows for i in inputs], lambda e: value_of(e, ir, params))
    if isinstance(node.output, TableType):
        size = rows * row_width(node.output.schema_)
    else:
        size = MODEL_BYTES if isinstance(node.output, ModelType) else METRICS_BYTES
    seconds = step.seconds_per_row * rows_in * step.row_work(rows_in)
    return NodeEstimate(rows=rows, bytes=size, seconds=seconds)


def _guess_source(node: IRNode, ir: IR, params: Mapping[str, Any] | None, workdir: str | Path) -> NodeEstimate:
    args = node.args
    path = resolve_path(args.path, ir, params, workdir)
    schema = args.schema_
    try:
        size = path.stat().st_size
    except OSError:
        size = None
    disk_width = node.spec.disk_row_bytes(schema, row_width)
    rows = DEFAULT_SOURCE_ROWS if size is None else max(1.0, size / disk_width)
    read = [f for f in schema.fields if args.columns is None or f.name in args.columns]
    seconds = (size if size is not None else rows * disk_width) * node.spec.seconds_per_byte
    return NodeEstimate(rows=rows, bytes=rows * row_width(Schema(fields=tuple(read))), seconds=seconds)


def value_of(expr: Expr, ir: IR, params: Mapping[str, Any] | None = None) -> Any:
    """The value of a literal or a param reference (its given value, else its default); None otherwise."""
    if isinstance(expr, Literal_):
        return expr.value
    if isinstance(expr, ParamRef):
        if params and expr.name in params:
            return params[expr.name]
        return next((p.default for p in ir.params if p.name == expr.name), None)
    return None
