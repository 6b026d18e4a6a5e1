"""Move filters towards the sources, so that fewer rows flow through the pipeline and the reader
(polars' scan, Spark's data source) can skip rows while it reads.

A filter's predicate is split into conjuncts, and each conjunct moves below the step under it when
that gives the same rows. Where a conjunct may go is the step's own answer (its `route_filter`
hook, pipec/stdlib/steps/): through a step that keeps its rows when the conjunct reads none of the
columns it computes, through `select` and `rename` rewritten to the input's column names, into
every input of `union`, through `aggregate` only on `by` columns, into the side of a `join` its
type allows. A step that does not say (`limit`, `sample`, `distinct`, `python`, a source, ...)
keeps the filter above it, and so does a step whose output another consumer also reads (that
consumer would lose rows). A filter directly under another merges with it.

Integer overflow is an error (docs/semantics.md), so an expression that can overflow (`+ - *` on
ints, `sum` of ints) must see exactly the rows it sees unoptimised: no conjunct moves below a step
whose expressions (`evaluates`) can overflow, and a conjunct that can overflow itself stays where
it is (it neither moves nor merges into the filter below, where it would see rows that filter drops).

A conjunct `x is not null` makes `x` non-nullable; the steps it passes are re-typed accordingly, so
every consumer downstream sees exactly the schema it saw before.
"""
from __future__ import annotations

from pipec.compiler.ast import Expr
from pipec.compiler.ir import IR, FilterArgs, IRNode
from pipec.compiler.passes.exprs import can_overflow, columns_used, conjoin, conjuncts, expr_text, not_null_column
from pipec.compiler.passes.naming import describe
from pipec.compiler.plan import PassRecord
from pipec.compiler.types import Field, Schema, TableType

PASS = "predicate_pushdown"


def predicate_pushdown(ir: IR, records: list[PassRecord] | None = None) -> IR:
    """A copy of `ir` with every filter conjunct as close to the sources as it can soundly go.

    >>> from pipec.compiler.ast import Binary, ColumnRef
    >>> from pipec.compiler.ir import IRNode, SortArgs, SortKey, SourceArgs, SinkArgs, lit
    >>> from pipec.compiler.types import Schema, TableType, col
    >>> t = TableType(schema_=Schema.of([("x", col("int"))]))
    >>> pred = Binary(span=lit(0).span, op=">", left=ColumnRef(span=lit(0).span, name="x",
    ...               type=col("int")), right=lit(0), type=col("bool"))
    >>> ir = IR("p")
    >>> for node in [
    ...     IRNode(id="src", step="read_csv", output=t,
    ...            args=SourceArgs(step="read_csv", path="x.csv", schema_=t.schema_)),
    ...     IRNode(id="sorted", step="sort", inputs=["src"], output=t,
    ...            args=SortArgs(keys=[SortKey(column="x")])),
    ...     IRNode(id="f", step="filter", inputs=["sorted"], output=t, args=FilterArgs(predicate=pred)),
    ...     IRNode(id="out", step="write_csv", inputs=["f"],
    ...            args=SinkArgs(step="write_csv", path="o.csv"))]:
    ...     _ = ir.add(node)
    >>> [n.id for n in predicate_pushdown(ir).nodes()]
    ['src', 'f', 'sorted', 'out']
    """
    out = ir.copy()
    log = _Log(records)
    while any([_push_all_the_way(out, node.id, log) for node in list(out.nodes()) if _is_filter(node)]):
        pass
    for node in out.nodes():
        source = out.node(node.inputs[0]) if _is_filter(node) else None
        if source is not None and source.is_source and node.id in log.moved:
            log.add(f"filter `{expr_text(node.args.predicate)}` now reads {describe(source)} "
                    "directly, so the reader can apply it while scanning", node.id, source.id)
    return out


def _is_filter(node: IRNode) -> bool:
    return isinstance(node.args, FilterArgs)


class _Log:
    """The records of this pass, and which filters it created or changed."""

    def __init__(self, records: list[PassRecord] | None):
        self.records = records
        self.moved: set[str] = set()

    def add(self, message: str, *nodes: str) -> None:
        if self.records is not None:
            self.records.append(PassRecord(pass_name=PASS, message=message, nodes=list(nodes)))


def _push_all_the_way(ir: IR, filter_id: str, log: _Log) -> bool:
    """Move one filter down step by step, following the filters each step leaves below (those on
    several sides of a join or union in topological order), until none moves; False if nothing
    moved. A move never frees a filter elsewhere, so a sweep over all filters does the work, where
    restarting the sweep after every single step made the pass quadratic."""
    moved_any = False
    to_move = [filter_id]
    while to_move:
        moved_on = _push_once(ir, to_move.pop(0), log)
        moved_any = moved_any or bool(moved_on)
        if len(moved_on) > 1:
            position = {node_id: k for k, node_id in enumerate(ir.order())}
            moved_on.sort(key=position.__getitem__)
        to_move = moved_on + to_move
    return moved_any


def _push_once(ir: IR, filter_id: str, log: _Log) -> list[str]:
    """Move what can move of one filter one step down; the filters now below the step it
    passed (or the one it merged into), which may move on, or [] when nothing moved."""
    if filter_id not in ir:
        return []  # merged away earlier in this sweep
    flt = ir.node(filter_id)
    below = ir.node(flt.inputs[0])
    if ir.consumer_count(below.id) != 1:
        return []
    if _is_filter(below):
        if can_overflow(flt.args.predicate):
            return []
        _merge_into(ir, flt, below, log)
        return [below.id]
    blocked = _step_can_overflow(below)
    staying: list[Expr] = []
    moving: dict[int, list[Expr]] = {}
    for part in conjuncts(flt.args.predicate):
        routes = None if blocked or can_overflow(part) else below.spec.route_filter(
            below.args, ir.input_types(below), part, columns_used(part))
        if routes is None:
            staying.append(part)
        for index, rewritten in routes or []:
            moving.setdefault(index, []).append(rewritten)
    if not moving:
        return []
    moves_whole = not staying and len(moving) == 1  # then the filter keeps its id
    if moves_whole:
        ir.redirect(flt.id, below.id)
        ir.remove(flt.id)
    inputs = list(below.inputs)
    pushed_ids = []
    for index, parts in sorted(moving.items()):
        node_id = flt.id if moves_whole else _fresh_id(ir, flt.id)
        args = FilterArgs(predicate=conjoin(parts))
        pushed = ir.add(IRNode(id=node_id, step=args.step, args=args, inputs=[inputs[index]], span=flt.span,
                               output=_tightened(ir.node(inputs[index]).output, parts)))
        inputs[index] = pushed.id
        pushed_ids.append(pushed.id)
        log.moved.add(pushed.id)
        side = f"input {index + 1} of " if len(inputs) > 1 else ""
        log.add(f"moved `{expr_text(conjoin(parts))}` of {describe(flt)} below {side}{describe(below)}",
                flt.id, below.id, pushed.id)
    moved_parts = [p for p in conjuncts(flt.args.predicate) if p not in staying]
    # A filter that moves away whole leaves `below` computing its value: `below` takes its name.
    binding = below.binding or (flt.binding if moves_whole else None)
    ir.replace(below.model_copy(update={"inputs": inputs, "binding": binding,
                                        "output": _tightened(below.output, moved_parts)}))
    if staying:
        ir.replace(flt.model_copy(update={"args": FilterArgs(predicate=conjoin(staying))}))
    elif not moves_whole:
        ir.redirect(flt.id, below.id)
        ir.remove(flt.id)
    return pushed_ids


def _merge_into(ir: IR, upper: IRNode, lower: IRNode, log: _Log) -> None:
    """`filter(a) | filter(b)` is `filter(a and b)`; the merged filter keeps moving down."""
    predicate = conjoin(conjuncts(lower.args.predicate) + conjuncts(upper.args.predicate))
    ir.replace(lower.model_copy(update={"args": FilterArgs(predicate=predicate), "output": upper.output,
                                        "binding": upper.binding or lower.binding}))
    ir.redirect(upper.id, lower.id)
    ir.remove(upper.id)
    log.moved.add(lower.id)
    log.add(f"merged {describe(upper)} into {describe(lower)}", upper.id, lower.id)


def _fresh_id(ir: IR, base: str) -> str:
    return next(f"{base}_{k}" for k in range(1, len(ir) + 2) if f"{base}_{k}" not in ir)


def _tightened(output, parts: list[Expr]):
    """`output` with the columns of `x is not null` conjuncts made non-nullable."""
    if not isinstance(output, TableType):
        return output
    not_null = {not_null_column(p) for p in parts} - {None}
    fields = tuple(Field(name=f.name, type=f.type.with_nullable(False)) if f.name in not_null else f
                   for f in output.schema_.fields)
    return TableType(schema_=Schema(fields=fields))


def _step_can_overflow(node: IRNode) -> bool:
    """Whether the expressions `node` computes can overflow int64 (then its rows must not change)."""
    return can_overflow(*node.spec.evaluates(node.args))
