"""Typed AST expressions → polars Python source text, with the semantics of docs/semantics.md.

The text is pasted into generated code that has `pl` (polars), `rt` (the runtime module) and
`params` (the run's params dict) in scope. Plain polars is used where its default already is the
pipec semantics (Kleene `&`/`|`, null-propagating comparisons); the runtime's helpers are called
where it is not (division by zero, domains, casts, 1-based substr).

>>> from pipec.compiler.ir import lit
>>> to_polars(lit(15))
'pl.lit(15, dtype=pl.Int64)'
"""
from __future__ import annotations

from pipec.compiler import ast
from pipec.compiler.expressions import children
from pipec.grammar.format import format_expr as to_text  # `.pipe` syntax for comments and messages
from pipec.runtime_contract import run_key

POLARS_DTYPES = {"int": "pl.Int64", "float": "pl.Float64", "bool": "pl.Boolean", "str": "pl.String",
                 "date": "pl.Date", "timestamp": 'pl.Datetime("us", "UTC")'}

_COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}
_PLAIN_OPERATORS = {"+", "-", "*"} | _COMPARISONS
_AGGREGATES = {"count", "count_distinct", "sum", "mean", "min", "max", "std", "var", "median"}


def py(value: object) -> str:
    """A Python literal for a plain value; strings prefer double quotes, always via `repr` so
    that no user text can break out of the literal."""
    if isinstance(value, str):
        text = repr(value)
        if text.startswith("'") and '"' not in value:
            return '"' + text[1:-1] + '"'
        return text
    if isinstance(value, list):
        return "[" + ", ".join(py(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(py(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py(k)}: {py(v)}" for k, v in value.items()) + "}"
    return repr(value)


def string_value(text: str) -> str:
    """A string argument, with `${name}` params substituted at run time."""
    return f"rt.substitute({py(text)}, params)" if "${" in text else py(text)


def python_value(e: ast.Expr) -> str:
    """A constant argument (estimator hyper-parameter, python() option, limit, seed) as Python source."""
    if isinstance(e, ast.Literal_):
        return string_value(e.value) if isinstance(e.value, str) else py(e.value)
    if isinstance(e, ast.ParamRef):
        return f"params[{py(e.name)}]"
    if isinstance(e, ast.ListExpr):
        return "[" + ", ".join(python_value(i) for i in e.items) + "]"
    if isinstance(e, ast.Unary) and e.op == "-":
        return f"-{python_value(e.operand)}"
    raise ValueError(f"not a constant: {to_text(e)}")


def to_polars(e: ast.Expr, step: str = "expression", computed: dict[int, str] | None = None) -> str:
    """The polars expression for `e`; aggregates are allowed (they are only typed inside
    `aggregate` and `expect`). `step` is the step that run-time errors (integer overflow) name;
    `computed` maps aggregate calls (by `id`) to the columns that already hold their values."""
    return _Translator(step, computed or {}).expr(e)


def aggregate_calls(e: ast.Expr) -> list[ast.Call]:
    """The aggregate calls in `e`, in reading order (an aggregate's argument holds none)."""
    if isinstance(e, ast.Call) and e.name in _AGGREGATES:
        return [e]
    return [call for child in children(e) for call in aggregate_calls(child)]


def gathered_float_aggregate(call: ast.Call) -> tuple[str, str] | None:
    """For `sum` of float, `mean`, `var` and `std` in a grouped `aggregate`: the polars expression
    that gathers each group's non-null values as float in ascending order, and the `rt.reduce_float_lists` kind that
    turns them into the aggregate (None for the other aggregates)."""
    base = call.args[0].value.type.base if call.args and call.args[0].value.type else None
    if call.name in ("mean", "var", "std") or (call.name == "sum" and base == "float"):
        return f"{to_polars(call.args[0].value)}.cast(pl.Float64).drop_nulls().sort()", call.name
    return None


class _Translator:
    def __init__(self, step: str, computed: dict[int, str]):
        self.step = step
        self.computed = computed

    def _where(self, e: ast.Expr) -> str:
        """What an integer overflow error names: the step, the place and the expression."""
        return py(f"{self.step} at {e.span.file}:{e.span.line}:{e.span.column}: {to_text(e)}")

    def expr(self, e: ast.Expr) -> str:
        return getattr(self, "_" + e.kind)(e)

    # -- atoms
    def _literal(self, e: ast.Literal_) -> str:
        if e.value is None:
            base = e.type.base if e.type else None
            return f"pl.lit(None, dtype={POLARS_DTYPES[base]})" if base else "pl.lit(None)"
        kind = {"duration": "int"}.get(e.literal_type, e.literal_type)
        value = string_value(e.value) if isinstance(e.value, str) else py(e.value)
        return f"pl.lit({value}, dtype={POLARS_DTYPES[kind]})"

    def _column(self, e: ast.ColumnRef) -> str:
        return f"pl.col({py(e.name)})"

    def _param(self, e: ast.ParamRef) -> str:
        base = e.type.base if e.type else "str"
        value = f"params[{py(e.name)}]"
        if base in ("date", "timestamp"):
            return f"rt.lit({value}, {py(base)})"
        return f"pl.lit({value}, dtype={POLARS_DTYPES[base]})"

    def _run(self, e: ast.RunRef) -> str:
        """A run value: ISO text in `params` (runtime_contract.run_context), typed here."""
        return f"rt.lit(params[{py(run_key(e.field))}], {py(e.type.base)})"

    def _scalar(self, e: ast.Expr) -> str | None:
        """Bare Python source for a simple literal or param, which polars accepts beside an expression."""
        if isinstance(e, ast.Literal_) and e.literal_type in ("int", "float", "bool", "str"):
            return python_value(e)
        if isinstance(e, ast.ParamRef) and e.type is not None and e.type.base in ("int", "float", "bool", "str"):
            return python_value(e)
        return None

    # -- operators
    def _unary(self, e: ast.Unary) -> str:
        if e.op == "not":  # `~` binds tighter than a method call on its operand would
            return f"(~{self.expr(e.operand)})"
        if isinstance(e.operand, ast.Literal_) and isinstance(e.operand.value, (int, float)):
            return self._literal(e.operand.model_copy(update={"value": -e.operand.value}))
        if self._base(e) == "int":  # -(-2**63) does not fit either
            return f"rt.checked_int(\"-\", pl.lit(0, dtype=pl.Int64), {self.expr(e.operand)}, {self._where(e)})"
        return f"(-{self.expr(e.operand)})"

    def _binary(self, e: ast.Binary) -> str:
        if e.op in ("and", "or"):
            symbol = "&" if e.op == "and" else "|"
            return f"({self.expr(e.left)} {symbol} {self.expr(e.right)})"
        if e.op in ("+", "-", "*") and self._base(e) == "int":
            return f"rt.checked_int({py(e.op)}, {self.expr(e.left)}, {self.expr(e.right)}, {self._where(e)})"
        if e.op in _PLAIN_OPERATORS:
            left, right = self._scalar(e.left), self._scalar(e.right)
            if left is not None and right is not None:  # two constants: one must be an expression
                left = None
            return f"({left or self.expr(e.left)} {e.op} {right or self.expr(e.right)})"
        left, right = self.expr(e.left), self.expr(e.right)
        if e.op == "/":
            return f"rt.divide({left}, {right})"
        if e.op == "//":
            return f"rt.floor_divide({left}, {right}, {py(self._base(e))})"
        return f"rt.modulo({left}, {right})"

    def _is_null(self, e: ast.IsNull) -> str:
        return f"{self.expr(e.operand)}.{'is_not_null' if e.negated else 'is_null'}()"

    def _in(self, e: ast.InList) -> str:
        operand = self.expr(e.operand)
        scalars = [self._scalar(i) for i in e.items]
        if all(s is not None for s in scalars):
            return f"{operand}.is_in([{', '.join(scalars)}])"
        # SQL semantics with expressions in the list: `x in [a, b]` is `x == a or x == b` (Kleene)
        tests = ", ".join(f"({operand} == {self.expr(i)})" for i in e.items)
        return f"pl.any_horizontal({tests})"

    def _list(self, e: ast.ListExpr) -> str:
        return python_value(e)

    # -- calls
    def _call(self, e: ast.Call) -> str:
        args = [a.value for a in e.args]
        if id(e) in self.computed:
            return f"pl.col({py(self.computed[id(e)])})"
        if e.name in _AGGREGATES:
            return self._aggregate(e, args)
        if e.name == "row_count":
            return "pl.len().cast(pl.Int64)"
        if e.name == "cast":
            return f"rt.cast({self.expr(args[0])}, {py(self._base(args[0]))}, {py(self._base(e))})"
        method = getattr(self, "_fn_" + e.name, None)
        if method is None:
            raise ValueError(f"the local backend has no translation for function `{e.name}`")
        return method(e, args)

    def _aggregate(self, call: ast.Call, args: list[ast.Expr]) -> str:
        name = call.name
        if name == "count":
            return f"{self.expr(args[0])}.count().cast(pl.Int64)" if args else "pl.len().cast(pl.Int64)"
        x = self.expr(args[0])
        base = self._base(args[0])
        if name == "count_distinct":
            return f"{x}.drop_nulls().n_unique().cast(pl.Int64)"
        if name == "sum" and base == "float":
            return f"rt.float_sum({x})"
        if name == "sum" and base == "int":
            return f"rt.checked_sum({x}, {self._where(call)})"
        if name == "sum":  # sum of no non-null values is null, not 0
            summed = f"{x}.cast(pl.Int64).sum()" if base == "bool" else f"{x}.sum()"
            return f"pl.when({x}.count() > 0).then({summed})"
        if name in ("min", "max"):
            return f"{x}.{name}()"
        # mean, std, var: float, bit for bit the same on every backend (docs/semantics.md)
        if name == "mean":
            return f"rt.float_mean({x})"
        if name == "var":
            return f"rt.float_var({x})"
        if name == "std":
            return f"rt.float_var({x}).sqrt()"
        return f"{x}.cast(pl.Float64).{name}()"

    def _base(self, e: ast.Expr) -> str:
        if e.type is None:
            raise ValueError(f"expression `{to_text(e)}` has no type (was it checked?)")
        return e.type.base

    def _float(self, e: ast.Expr) -> str:
        return f"{self.expr(e)}.cast(pl.Float64)"

    def _fn_abs(self, e, args):
        return f"{self.expr(args[0])}.abs()"

    def _fn_round(self, e, args):
        digits = python_value(args[1]) if len(args) > 1 else "0"  # a literal, `-1` or a param
        return f"rt.round_half_away({self.expr(args[0])}, {digits}, {py(self._base(args[0]))})"

    def _fn_floor(self, e, args):
        return self.expr(args[0]) if self._base(args[0]) == "int" else f"{self.expr(args[0])}.floor()"

    def _fn_ceil(self, e, args):
        return self.expr(args[0]) if self._base(args[0]) == "int" else f"{self.expr(args[0])}.ceil()"

    def _fn_sqrt(self, e, args):
        return f"{self._float(args[0])}.sqrt()"

    def _fn_log(self, e, args):
        return f"{self._float(args[0])}.log()"

    def _fn_log10(self, e, args):
        return f"{self._float(args[0])}.log10()"

    def _fn_exp(self, e, args):
        return f"{self._float(args[0])}.exp()"

    def _fn_pow(self, e, args):
        return f"{self._float(args[0])}.pow({self._float(args[1])})"

    def _fn_lower(self, e, args):
        return f"{self.expr(args[0])}.str.to_lowercase()"

    def _fn_upper(self, e, args):
        return f"{self.expr(args[0])}.str.to_uppercase()"

    def _fn_trim(self, e, args):
        return f"{self.expr(args[0])}.str.strip_chars()"

    def _fn_length(self, e, args):
        return f"{self.expr(args[0])}.str.len_chars().cast(pl.Int64)"

    def _fn_contains(self, e, args):
        return f"{self.expr(args[0])}.str.contains({self.expr(args[1])}, literal=True)"

    def _fn_starts_with(self, e, args):
        return f"{self.expr(args[0])}.str.starts_with({self.expr(args[1])})"

    def _fn_ends_with(self, e, args):
        return f"{self.expr(args[0])}.str.ends_with({self.expr(args[1])})"

    def _fn_substr(self, e, args):
        return f"rt.substr({', '.join(self.expr(a) for a in args)})"

    def _fn_concat(self, e, args):
        return f"pl.concat_str([{', '.join(self.expr(a) for a in args)}], ignore_nulls=False)"

    def _fn_replace(self, e, args):
        s, old, new = (self.expr(a) for a in args)
        return f"{s}.str.replace_all({old}, {new}, literal=True)"

    def _fn_coalesce(self, e, args):
        return f"pl.coalesce({', '.join(self.expr(a) for a in args)})"

    def _fn_if(self, e, args):
        cond, then, otherwise = (self.expr(a) for a in args)
        return f"pl.when({cond}).then({then}).otherwise({otherwise})"

    def _part(self, args, part: str) -> str:
        return f"{self.expr(args[0])}.dt.{part}().cast(pl.Int64)"

    def _fn_year(self, e, args):
        return self._part(args, "year")

    def _fn_month(self, e, args):
        return self._part(args, "month")

    def _fn_day(self, e, args):
        return self._part(args, "day")

    def _fn_weekday(self, e, args):  # polars' weekday is already ISO: Monday = 1 ... Sunday = 7
        return self._part(args, "weekday")

    def _fn_hour(self, e, args):
        if self._base(args[0]) == "date":  # the hour of a date is 0
            return f"{self.expr(args[0])}.cast(pl.Datetime).dt.hour().cast(pl.Int64)"
        return self._part(args, "hour")

    def _fn_date(self, e, args):
        return self.expr(args[0]) if self._base(args[0]) == "date" else f"{self.expr(args[0])}.dt.date()"


def observed_terms(e: ast.Expr) -> list[ast.Expr]:
    """The values an `expect` failure should show: the aggregates, `row_count()` and metric names
    inside a condition, each once, in reading order."""
    found: list[ast.Expr] = []

    def visit(x: ast.Expr) -> None:
        is_term = (isinstance(x, ast.Call) and (x.name in _AGGREGATES or x.name == "row_count")) \
            or isinstance(x, ast.ColumnRef)
        if is_term:
            if all(to_text(x) != to_text(f) for f in found):
                found.append(x)
            return
        if isinstance(x, ast.Unary) or isinstance(x, ast.IsNull):
            visit(x.operand)
        elif isinstance(x, ast.Binary):
            visit(x.left)
            visit(x.right)
        elif isinstance(x, ast.InList):
            visit(x.operand)
        elif isinstance(x, ast.Call):
            for a in x.args:
                visit(a.value)

    visit(e)
    return found
