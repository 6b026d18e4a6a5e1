"""Partition pruning: which partitions of a Hive-style partitioned source (`partition_by`) a run
may leave unread, as one predicate over the partition columns that every backend evaluates on
the listed partition values with its own expression engine, exactly as on rows."""
from __future__ import annotations

from pipec.compiler.ast import Binary, Expr
from pipec.compiler.ir import IR
from pipec.compiler.passes.exprs import can_overflow, columns_used, conjoin, conjuncts
from pipec.compiler.types import ColumnType


def partition_filter(ir: IR, source_id: str) -> Expr | None:
    """What a partitioned source may skip whole partitions by: when every consumer is a filter
    applied while scanning (`scan_predicate`, where predicate pushdown put it), the disjunction
    over them of their conjuncts that read partition columns only. A partition none of them
    keeps a row of is not read; the filters still run on the rows read. None: read every partition
    (a consumer sees every row, or a conjunct could fail on a partition it would not see)."""
    source = ir.node(source_id)
    partitions = set(source.args.partition_by or ())
    kept = []
    for consumer in ir.consumers(source_id):
        predicate = consumer.spec.scan_predicate(consumer.args)
        if not partitions or predicate is None:
            return None
        parts = [p for p in conjuncts(predicate) if columns_used(p) <= partitions and not can_overflow(p)]
        if not parts:
            return None
        kept.append(conjoin(parts))
    if not kept:
        return None
    either = kept[0]
    for other in kept[1:]:
        either = Binary(span=either.span, op="or", left=either, right=other,
                        type=ColumnType(base="bool", nullable=True))
    return either
