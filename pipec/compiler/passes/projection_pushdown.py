"""Read only the columns that something downstream needs, by telling each reader (`SourceArgs.columns`).

Walking from the sinks back to the sources, each step says which of its input's columns it needs:
the columns its arguments read (always, even when their result is not used, so that every
expression still finds its columns), plus the columns its consumers need that it passes through
(for `derive`, also the columns it replaces: they keep their place in the column order).
Steps that see whole rows need every column: sinks, `python` (the user's function gets the whole
frame), `sample` and `split` without `by` (they hash the whole row), `union` (columns matched by
name), and `distinct()` / `drop_nulls()` with no columns. Nothing else in the graph changes: node
schemas still describe the logical tables, and a column outside `columns` is simply never read.
"""
from __future__ import annotations

from pipec.compiler.ir import IR, IRNode
from pipec.compiler.passes.exprs import columns_used
from pipec.compiler.passes.naming import describe
from pipec.compiler.plan import PassRecord
from pipec.compiler.types import ModelType, TableType

_WHOLE_ROW_STEPS = frozenset({"write_csv", "write_parquet", "write_json", "python", "sample", "union"})
_MODEL_OUTPUTS = frozenset({"prediction", "probability"})
_PER_CLASS_METRICS = frozenset({"roc_auc", "log_loss"})


def projection_pushdown(ir: IR, records: list[PassRecord] | None = None) -> IR:
    """A copy of `ir` whose sources read only the columns that some sink needs.

    >>> from pipec.compiler.ir import ColumnsArgs, IRNode, SourceArgs, SinkArgs
    >>> from pipec.compiler.types import Schema, TableType, col
    >>> full = Schema.of([("a", col("int")), ("b", col("int"))])
    >>> ir = IR("p")
    >>> for node in [
    ...     IRNode(id="src", step="read_csv", output=TableType(schema_=full),
    ...            args=SourceArgs(step="read_csv", path="x.csv", schema_=full)),
    ...     IRNode(id="d", step="distinct", inputs=["src"], args=ColumnsArgs(step="distinct", columns=["a"]),
    ...            output=TableType(schema_=Schema.of([("a", col("int"))]))),
    ...     IRNode(id="out", step="write_csv", inputs=["d"], args=SinkArgs(step="write_csv", path="o.csv"))]:
    ...     _ = ir.add(node)
    >>> projection_pushdown(ir).node("src").args.columns
    ['a']
    """
    out = ir.copy()
    needed: dict[str, set[str]] = {n.id: set() for n in out.nodes()}
    for node in reversed(list(out.nodes())):
        for index, input_id in enumerate(node.inputs):
            needed[input_id] |= _needed_from_input(out, node, index, needed[node.id])
    for source in [n for n in out.nodes() if n.is_source]:
        names = source.args.schema_.names
        # Row counts matter even when no column does (`aggregate(n = count())`): keep one column.
        columns = [c for c in names if c in needed[source.id]] or names[:1]
        if len(columns) < len(names):
            out.replace(source.model_copy(update={"args": source.args.model_copy(update={"columns": columns})}))
            if records is not None:
                skipped = [c for c in names if c not in needed[source.id]]
                records.append(PassRecord(
                    pass_name="projection_pushdown", nodes=[source.id],
                    message=f"{describe(source)} reads {len(columns)} of {len(names)} columns "
                            f"({', '.join(columns) or 'none'}); skips {', '.join(skipped)}"))
    return out


def _needed_from_input(ir: IR, node: IRNode, index: int, wanted: set[str]) -> set[str]:
    """The columns of `node`'s input number `index` that `node` needs, given that its consumers
    need the columns `wanted` of its output."""
    source = ir.node(node.inputs[index])
    if not isinstance(source.output, TableType):
        return set()
    available = set(source.schema_.names)
    return _needed(ir, node, index, wanted, available) & available


def _needed(ir: IR, node: IRNode, index: int, wanted: set[str], available: set[str]) -> set[str]:
    args = node.args
    step = node.step
    if step in _WHOLE_ROW_STEPS:
        return available
    if step in ("filter", "limit", "sort", "drop", "drop_nulls", "fill_null", "expect"):
        if step == "drop_nulls" and not args.columns:
            return available
        return wanted | _columns_read(node)
    if step in ("select", "aggregate", "distinct", "fit"):
        return _columns_read(node) or (available if step == "distinct" else set())
    if step == "split":
        return available if args.by is None else wanted | {args.by}
    if step == "derive":
        # A column that derive replaces keeps its place, so it is still read when it is wanted:
        # without it, derive would add the column at the end and change the column order.
        return wanted | _columns_read(node)
    if step == "rename":
        old_name = dict(args.mapping)
        return {old_name.get(c, c) for c in wanted} | set(old_name.values())
    if step == "join":
        return _join_needed(ir, node, index, wanted)
    if step == "predict":
        return wanted - _MODEL_OUTPUTS | _model_features(ir, node)
    if step == "evaluate":
        # Multi-class roc_auc and log_loss rescore the rows with the model for every class's probability.
        rescores = args.task == "classification" and bool(_PER_CLASS_METRICS & set(args.metrics))
        return {args.label} | _MODEL_OUTPUTS | (_model_features(ir, node) if rescores else set())
    return available  # a step this pass does not know about keeps everything


def _model_features(ir: IR, node: IRNode) -> set[str]:
    """The feature columns of the model that `node` (predict or evaluate) takes as its second input."""
    model = ir.node(node.inputs[1]).output
    return set(model.features.names) if isinstance(model, ModelType) else set()


def _columns_read(node: IRNode) -> set[str]:
    """The columns a step's arguments name or read, whether or not its consumers use the result."""
    args = node.args
    step = node.step
    if step == "filter":
        return columns_used(args.predicate)
    if step in ("select", "derive"):
        return columns_used(*[i.expr for i in (args.items if step == "select" else args.columns)])
    if step == "fill_null":
        return {v.name for v in args.values} | columns_used(*[v.expr for v in args.values])
    if step in ("drop", "drop_nulls", "distinct"):
        return set(args.columns)
    if step == "sort":
        return {k.column for k in args.keys}
    if step == "aggregate":
        return set(args.by) | columns_used(*[a.expr for a in args.aggregates])
    if step == "fit":
        return set(args.features) | ({args.label} if args.label else set())
    if step == "expect" and args.on == "table":
        return columns_used(*args.conditions)
    return set()


def _join_needed(ir: IR, join: IRNode, index: int, wanted: set[str]) -> set[str]:
    keys = join.args.on
    if index == 0:
        return wanted | {k.left for k in keys}
    right_keys = {k.right for k in keys}
    if join.args.how in ("semi", "anti"):
        return right_keys
    left = set(ir.node(join.inputs[0]).schema_.names)
    return {c for c in wanted if c not in left} | right_keys
