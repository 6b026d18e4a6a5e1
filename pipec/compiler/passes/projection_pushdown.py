"""Read only the columns that something downstream needs, by telling each reader (`SourceArgs.columns`).

Walking from the sinks back to the sources, each step says which of its input's columns it needs
(its `needs` hook, pipec/stdlib/steps/): the columns its arguments read (always, even when their
result is not used, so that every expression still finds its columns), plus the columns its
consumers need that it passes through. Steps that see whole rows need every column, which is
also the answer of a step that does not say. Nothing else in the graph changes: node schemas
still describe the logical tables, and a column outside `columns` is simply never read.
"""
from __future__ import annotations

from pipec.compiler.ir import IR, IRNode
from pipec.compiler.passes.naming import describe
from pipec.compiler.plan import PassRecord
from pipec.compiler.types import TableType


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
    for source in [n for n in out.nodes() if n.is_source and isinstance(n.output, TableType)]:
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
    return node.spec.needs(node.args, ir.input_types(node), index, wanted) & available
