"""`join(right, on=[col, left_col == right_col], how="inner")`: the rows of two tables matched on keys."""
from __future__ import annotations

from typing import Literal

from pipec.compiler import ast
from pipec.compiler.expressions import rename_columns, unknown_column
from pipec.compiler.model import Model
from pipec.compiler.suggest import did_you_mean
from pipec.compiler.types import ColumnType, TableType, unify_numeric
from pipec.stdlib.steps.checking import list_items, string_arg, table
from pipec.stdlib.steps import column_flow as flow
from pipec.stdlib.steps.spec import BoundArgs, Choices, Result, Step, StepContext


class JoinKey(Model):
    left: str
    right: str


class JoinArgs(Model):
    step: Literal["join"] = "join"
    on: list[JoinKey]
    how: Literal["inner", "left", "right", "full", "semi", "anti"] = "inner"


JOIN_HOWS = ("inner", "left", "right", "full", "semi", "anti")


def _join(ctx: StepContext, b: BoundArgs) -> Result | None:
    right_e = b.get("right")
    ref = ctx.resolver.binding(right_e, "the right side of the join")
    how = "inner"
    if (e := b.get("how")) is not None:
        how = string_arg(ctx, e, "`how`")
        if how is not None and how not in JOIN_HOWS:
            ctx.error("E0304", f"unknown join type `{how}`", e.span,
                      help=did_you_mean(how, JOIN_HOWS) or f"use one of: {', '.join(JOIN_HOWS)}")
            how = None
    if ref is None or how is None:
        return None
    right_id, right = ref
    if not isinstance(right, TableType):
        ctx.error("E0305", f"`join` needs a table on the right, but `{right_e.name}` is {right}", right_e.span)
        return None
    ctx.extra_inputs.append(right_id)
    left_s, right_s = ctx.schema, right.schema_
    right_name = f"`{right_e.name}`"
    keys: list[JoinKey] = []
    ok = True
    for item in list_items(b.get("on")):
        if isinstance(item, ast.ColumnRef):
            lname, rname, lspan, rspan = item.name, item.name, item.span, item.span
        elif (isinstance(item, ast.Binary) and item.op == "==" and isinstance(item.left, ast.ColumnRef)
              and isinstance(item.right, ast.ColumnRef)):
            lname, rname, lspan, rspan = item.left.name, item.right.name, item.left.span, item.right.span
        else:
            ctx.error("E0304", "a join key is a column on both sides, or `left_col == right_col`", item.span)
            ok = False
            continue
        lt, rt = left_s.get(lname), right_s.get(rname)
        if lt is None:
            unknown_column(ctx.diags, lname, lspan, left_s, ctx.input_name)
        if rt is None:
            unknown_column(ctx.diags, rname, rspan, right_s, right_name)
        if lt is None or rt is None:
            ok = False
            continue
        if lt.base != rt.base:  # not even int with float: engines compare those differently
            ctx.error("E0312", f"join key `{lname}` is {lt} on the left but `{rname}` is {rt} on the right",
                      item.span, help=f"cast one side so that the keys have the same type, e.g. "
                      f"`| derive({rname} = cast({rname}, {lt.base}))` on the right side before joining")
            ok = False
            continue
        keys.append(JoinKey(left=lname, right=rname))
    if not ok:
        return None
    if not keys:
        ctx.error("E0303", "`join` needs at least one key in `on=[...]`", ctx.call.span)
        return None
    left_keys = {k.left for k in keys}
    right_keys = {k.right for k in keys}
    # A name on both sides must be a key on both: the output has each key once, under its left name.
    shared = [f.name for f in right_s.fields
              if f.name in left_s and not (f.name in right_keys and f.name in left_keys)]
    if shared and how not in ("semi", "anti"):
        names = ", ".join(f"`{n}`" for n in shared)
        ctx.error("E0310", f"column{'s' if len(shared) > 1 else ''} {names} "
                  f"{'are' if len(shared) > 1 else 'is'} on both sides of the join", right_e.span,
                  label=f"{right_name} also has {names}",
                  help=f"rename on one side, e.g. `| rename({shared[0]}_right = {shared[0]})`, or keep only "
                       f"the columns you need with `| select(...)` before joining",
                  notes=["a name on both sides must be a join key on both sides (`on=[name]`)"])
        return None
    if how in ("semi", "anti"):
        return JoinArgs(on=keys, how=how), ctx.input
    key_of_left = {k.left: k.right for k in keys}
    pairs: list[tuple[str, ColumnType]] = []
    for f in left_s.fields:
        if f.name in key_of_left:
            lt, rt = f.type, right_s.get(key_of_left[f.name])
            merged = unify_numeric(lt, rt)
            # Null keys never match: a kept unmatched row brings its own side's (maybe null) key.
            nullable = {"inner": False, "left": lt.nullable, "right": rt.nullable,
                        "full": lt.nullable or rt.nullable}[how]
            pairs.append((f.name, merged.with_nullable(nullable)))
        else:
            pairs.append((f.name, f.type.with_nullable(f.type.nullable or how in ("right", "full"))))
    for f in right_s.fields:
        if f.name not in right_keys:
            pairs.append((f.name, f.type.with_nullable(f.type.nullable or how in ("left", "full"))))
    return JoinArgs(on=keys, how=how), table(pairs)



def _names(value) -> set[str]:
    return set(value.schema_.names) if isinstance(value, TableType) else set()


def _needs(args: JoinArgs, inputs, index: int, wanted: set[str]) -> set[str]:
    if index == 0:
        return wanted | {k.left for k in args.on}
    right_keys = {k.right for k in args.on}
    if args.how in ("semi", "anti"):
        return right_keys
    return {c for c in wanted if c not in _names(inputs[0])} | right_keys


def _route_filter(args: JoinArgs, inputs, part: ast.Expr, used: set[str]):
    """Into one side when the conjunct reads only that side's columns and the join type keeps
    that side's rows as they are: `inner` either side, `left`/`semi`/`anti` the left, `right`
    the right, `full` neither. On an inner join a conjunct on keys alone goes to both sides."""
    left = _names(inputs[0])
    right_names = {k.left: k.right for k in args.on}  # output key name -> right-side name
    right_only = _names(inputs[1]) - set(right_names.values())
    on_left = used <= left
    on_right = all(c in right_names or c in right_only for c in used)
    to_left, to_right = (0, part), (1, rename_columns(part, right_names))
    how = args.how
    if how == "inner" and used and used <= right_names.keys():
        return [to_left, to_right]  # a key is equal on both sides of an inner join
    if on_left and how in ("inner", "left", "semi", "anti"):
        return [to_left]
    if on_right and how in ("inner", "right"):
        return [to_right]
    return None


def _rows_out(args: JoinArgs, rows_in: list[float], value) -> float:
    return {"left": rows_in[0], "right": rows_in[1], "semi": 0.5 * rows_in[0],
            "anti": 0.5 * rows_in[0]}.get(args.how, max(rows_in))


def _lineage(args: JoinArgs, inputs) -> flow.ColumnFlow:
    """A key is the left side's value, and for `right` and `full` joins also the right side's
    (an unmatched right row brings its own); the keys decide which rows meet."""
    right_key = {k.left: k.right for k in args.on}
    columns = {}
    for n in flow.column_names(inputs[0]):
        from_right = (flow.Edge(1, right_key[n], flow.DIRECT, flow.IDENTITY),) \
            if n in right_key and args.how in ("right", "full") else ()
        columns[n] = (flow.Edge(0, n, flow.DIRECT, flow.IDENTITY), *from_right)
    if args.how not in ("semi", "anti"):
        keys = set(right_key.values())
        columns.update(flow.same_columns([n for n in flow.column_names(inputs[1]) if n not in keys], input=1))
    dataset = flow.on_columns(right_key, flow.INDIRECT, flow.JOIN) + \
        flow.on_columns(right_key.values(), flow.INDIRECT, flow.JOIN, input=1)
    return flow.ColumnFlow(columns, dataset, rows_from=(0, 1))


STEPS = [Step(
    "join", _join, "table", ("right",), ("on", "how"), required=("right", "on"), args=JoinArgs,
    signature='join(right, on=[col, left_col == right_col], how="inner")',
    doc="Join with another table on key columns.", shuffle=True,
    reads=lambda args: {k.left for k in args.on} | {k.right for k in args.on},
    creates=lambda args, inputs: set(), needs=_needs,
    route_filter=_route_filter, rows_out=_rows_out, seconds_per_row=1.5e-7,
    argument_values={"right": "binding", "on": "column", "how": Choices(JOIN_HOWS, "join kind")},
    lineage=_lineage,
)]
