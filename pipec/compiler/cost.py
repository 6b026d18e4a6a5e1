"""The cost model: rows, bytes and seconds for every node, which cache placement weighs.

Guesses start from the size of each source file (its path resolved with the param values and the
working directory; a missing file gets a default size) and flow through per-step selectivity
guesses and per-step time rates. A node that an earlier run measured (see `stats.py`) uses the
measurement instead, and the nodes after it start their guesses from it.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel

from pipec.compiler.ast import Expr, Literal_, ParamRef
from pipec.compiler.ir import IR, IRNode
from pipec.compiler.stats import Statistics
from pipec.compiler.types import Schema, TableType
from pipec.runtime_contract import substitute

DEFAULT_SOURCE_ROWS = 100_000  # a source whose file is not there yet
MODEL_BYTES = 64 * 1024
METRICS_BYTES = 256

# bytes of one value in memory (polars/Arrow) and as text in CSV or JSON lines
_MEMORY_WIDTH = {"int": 8, "float": 8, "bool": 1, "str": 24, "date": 4, "timestamp": 8}
_TEXT_WIDTH = {"int": 6, "float": 9, "bool": 5, "str": 12, "date": 10, "timestamp": 26}
_PARQUET_COMPRESSION = 3.0

# seconds per input row of each step (single core, order of magnitude); sources and sinks per byte
_SECONDS_PER_ROW = {
    "filter": 2e-8, "select": 2e-8, "derive": 3e-8, "drop": 1e-9, "rename": 1e-9, "fill_null": 1e-8,
    "drop_nulls": 1e-8, "limit": 1e-9, "sample": 2e-8, "split": 2e-8, "union": 1e-8, "expect": 2e-8,
    "distinct": 1e-7, "aggregate": 1e-7, "join": 1.5e-7, "python": 1e-6, "predict": 2e-7,
    "evaluate": 1e-7, "fit": 2e-6,
}
_SECONDS_PER_BYTE = {"read_csv": 1e-8, "read_json": 2e-8, "read_parquet": 2e-9,
                     "write_csv": 1e-8, "write_json": 2e-8, "write_parquet": 4e-9, "save_model": 1e-8}
# writing a table into memory once (about 1 GB/s), what caching it costs beyond computing it
MATERIALISE_SECONDS_PER_BYTE = 1e-9


class NodeEstimate(BaseModel):
    rows: float
    bytes: float
    seconds: float  # to compute this node from its inputs (not counting the inputs themselves)
    recorded: bool = False  # measured by an earlier run rather than guessed


def row_width(schema: Schema, widths: Mapping[str, int] = _MEMORY_WIDTH) -> int:
    return max(1, sum(widths[f.type.base] for f in schema.fields))


def resolve_path(path: str, ir: IR, params: Mapping[str, Any] | None, workdir: str | Path) -> Path:
    """A source path with `${name}` replaced by the param's value (given, else its default)."""
    values = {p.name: p.default for p in ir.params} | dict(params or {})
    return Path(workdir) / substitute(path, values)


def default_memory_budget() -> int:
    """A quarter of the physical memory of this machine."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = _meminfo_total() or 8 * 2**30
    return total // 4


def _meminfo_total() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


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
    if node.is_source:
        return _guess_source(node, ir, params, workdir)
    rows_in = sum(i.rows for i in inputs)
    if node.is_sink:
        size = inputs[0].bytes
        return NodeEstimate(rows=inputs[0].rows, bytes=size, seconds=size * _SECONDS_PER_BYTE[node.step])
    rows = _output_rows(node, [i.rows for i in inputs], ir, params)
    if isinstance(node.output, TableType):
        size = rows * row_width(node.output.schema_)
    else:
        size = MODEL_BYTES if node.step == "fit" else METRICS_BYTES
    rate = _SECONDS_PER_ROW.get(node.step, 1e-7)
    seconds = rate * rows_in * (math.log2(max(rows_in, 2)) if node.step == "sort" else 1)
    return NodeEstimate(rows=rows, bytes=size, seconds=seconds)


def _guess_source(node: IRNode, ir: IR, params: Mapping[str, Any] | None, workdir: str | Path) -> NodeEstimate:
    args = node.args
    path = resolve_path(args.path, ir, params, workdir)
    schema = args.schema_
    try:
        size = path.stat().st_size
    except OSError:
        size = None
    if node.step == "read_parquet":
        disk_width = row_width(schema) / _PARQUET_COMPRESSION
    else:
        disk_width = row_width(schema, _TEXT_WIDTH) + len(schema.fields)  # separators
        if node.step == "read_json":
            disk_width += sum(len(f.name) + 4 for f in schema.fields)  # "name": per value
    rows = DEFAULT_SOURCE_ROWS if size is None else max(1.0, size / disk_width)
    read = [f for f in schema.fields if args.columns is None or f.name in args.columns]
    seconds = (size if size is not None else rows * disk_width) * _SECONDS_PER_BYTE[node.step]
    return NodeEstimate(rows=rows, bytes=rows * row_width(Schema(fields=tuple(read))), seconds=seconds)


def _output_rows(node: IRNode, rows_in: list[float], ir: IR, params: Mapping[str, Any] | None) -> float:
    """Selectivity guesses: how many rows each step gives for the rows it gets."""
    from pipec.compiler.passes.exprs import conjuncts  # the passes package imports this module

    args, step, main = node.args, node.step, rows_in[0] if rows_in else 1.0
    if step == "filter":
        return main * 0.5 ** min(len(conjuncts(args.predicate)), 3)
    if step == "drop_nulls":
        return main * 0.9
    if step == "join":
        return {"left": rows_in[0], "right": rows_in[1], "semi": 0.5 * rows_in[0],
                "anti": 0.5 * rows_in[0]}.get(args.how, max(rows_in))
    if step == "aggregate":
        return max(1.0, 0.1 * main) if args.by else 1.0
    if step == "distinct":
        return max(1.0, 0.5 * main)
    if step == "union":
        return sum(rows_in)
    if step == "limit":
        n = value_of(args.n, ir, params)
        return min(main, float(n)) if isinstance(n, (int, float)) else main
    if step in ("sample", "split"):
        fraction = value_of(args.fraction, ir, params)
        fraction = float(fraction) if isinstance(fraction, (int, float)) else 0.5
        return main * (1 - fraction if step == "split" and args.part == 1 else fraction)
    if step in ("fit", "evaluate"):
        return 1.0
    return main


def value_of(expr: Expr, ir: IR, params: Mapping[str, Any] | None = None) -> Any:
    """The value of a literal or a param reference (its given value, else its default); None otherwise."""
    if isinstance(expr, Literal_):
        return expr.value
    if isinstance(expr, ParamRef):
        if params and expr.name in params:
            return params[expr.name]
        return next((p.default for p in ir.params if p.name == expr.name), None)
    return None
