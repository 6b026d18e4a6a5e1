"""Random valid pipelines over small random tables, one per seed (SQLancer / Csmith style).

`generate(seed, data)` writes the tables into `data` and returns the `.pipe` text. The program
is grown one step at a time; after each step the checker types the new value, so the next step
is drawn from the schema the checker really gives (the generator never guesses a type). A
program the checker rejects is a bug in the generator or the checker: `GeneratorError` says so.

Every table step is drawn (filter, select, derive, drop, rename, fill_null, drop_nulls, distinct,
sort, limit, sample, union, join with every `how` and `a == b` keys, aggregate with every
aggregate, split with and without `by`, expect), `drift` of a filtered part against its table, and the ML steps (fit,
predict, evaluate), with
extra weight on the shapes optimizers get wrong: twin branches from one value with the same
step and different arguments, filters right after joins, derives and renames, wide sources of
which few columns are used, projections after derives that replace a column, and now and then an
unused value (a warning: it must not be computed at any level). Integers stay
small, so nothing overflows by accident. Shapes in `KNOWN_ISSUES` are avoided.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from known_issues import KNOWN_ISSUES
from pipec.compiler.check import check_source

BASES = ("int", "float", "bool", "str", "date", "timestamp")
NUMERIC = ("int", "float")
KEY_BASES = ("int", "str", "bool", "date")  # join and group keys
STRINGS = ("a", "b", "c", "ab", "B")
FLOATS = (-1.5, -0.25, 0.0, 0.5, 1.0, 2.75, 3.5)  # exact in binary: sums do not depend on order
DAY0 = dt.date(2024, 2, 27)
# The run context (`run.*`) the local differential runs get: a day inside the generated dates, so
# that filters on run values keep some rows and drop others. Only local runs use them.
RUN_DATE = "2024-02-28"
RUN_VALUES = {"date": ["run.date"], "timestamp": ["run.interval_start", "run.interval_end", "run.logical_date"]}
POLARS = {"int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean, "str": pl.String,
          "date": pl.Date, "timestamp": pl.Datetime("us", "UTC")}
HOWS = ("inner", "left", "right", "full", "semi", "anti")
TABLE_STEPS = ("filter", "select", "derive", "drop", "rename", "fill_null", "drop_nulls", "distinct", "sort",
               "limit", "sample", "union", "join", "aggregate", "split", "expect")


class GeneratorError(AssertionError):
    """The checker rejected a program the generator believed valid."""


@dataclass(frozen=True)
class Column:
    name: str
    base: str
    nullable: bool

    @property
    def type_text(self) -> str:
        return self.base + ("?" if self.nullable else "")


@dataclass
class Program:
    """The statements so far and the schema the checker gave each value."""

    rng: random.Random
    sources: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    schemas: dict[str, list[Column]] = field(default_factory=dict)  # tables only
    kinds: dict[str, str] = field(default_factory=dict)  # every value: table, model or metrics
    consumed: set[str] = field(default_factory=set)
    counter: int = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def text(self, sinks: list[str] = ()) -> str:
        body = "\n".join(f"  {s}" for s in [*self.sources, *self.statements, *sinks])
        return ('pipeline p() {\n  param data: str = "data"\n  param out: str = "out"\n' + body + "\n}\n")

    def add(self, names: list[str], statement: str, inputs: list[str]) -> None:
        """Add `statement` binding `names` and learn their schemas from the checker."""
        self.statements.append(statement)
        program = check_source(self.text(), "fuzz.pipe")
        errors = [f"{d.code} {d.message}" for d in program.diagnostics if d.is_error]
        if errors:
            raise GeneratorError(f"the checker rejects `{statement}`: {errors}\n{self.text()}")
        (ir,) = program.pipelines.values()
        by_binding = {n.binding: n for n in ir.nodes() if n.binding}
        for name in names:
            node = by_binding[name]
            self.kinds[name] = node.output.kind
            if node.output.kind == "table":
                self.schemas[name] = [Column(f.name, f.type.base, f.type.nullable) for f in node.schema_.fields]
        self.consumed |= set(inputs)

    def add_source(self, name: str, statement: str, columns: list[Column]) -> None:
        self.sources.append(statement)
        self.schemas[name] = columns
        self.kinds[name] = "table"


# ------------------------------------------------------------------ data
def _value(rng: random.Random, base: str):
    if base == "int":
        return rng.randint(-3, 5)
    if base == "float":
        return rng.choice(FLOATS)
    if base == "bool":
        return rng.random() < 0.5
    if base == "str":
        return rng.choice(STRINGS)
    if base == "date":
        return DAY0 + dt.timedelta(days=rng.randint(0, 4))
    return dt.datetime(2024, 2, 28, tzinfo=dt.timezone.utc) + dt.timedelta(hours=rng.randint(-3, 30))


def random_frame(rng: random.Random, columns: list[Column], rows: int, unique_id: bool = False) -> pl.DataFrame:
    """A random table (with `unique_id`, the first column numbers the rows)."""
    data = {c.name: [None if c.nullable and rng.random() < 0.25 else _value(rng, c.base) for _ in range(rows)]
            for c in columns}
    if unique_id:  # spaced out: split's draw for `by` keys 0, 1, 2, ... climbs slowly (one side gets all)
        data[columns[0].name] = [61 * k for k in range(rows)]
    return pl.DataFrame(data, schema={c.name: POLARS[c.base] for c in columns})


def write_frame(frame: pl.DataFrame, path: Path, fmt: str) -> None:
    """`frame` as a csv, parquet or json(-lines) file (timestamps in CSV as `...Z` text)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        frame.write_parquet(path)
    elif fmt == "json":
        frame.write_ndjson(path)
    else:
        text = frame.with_columns(pl.col(name).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
                                  for name, dtype in frame.schema.items() if dtype == POLARS["timestamp"])
        text.write_csv(path)


def write_table(rng: random.Random, folder: Path, name: str, fmt: str, columns: list[Column], rows: int,
                unique_id: bool = False) -> str:
    """Write a random table (with `unique_id`, the first column numbers the rows); the file name."""
    frame = random_frame(rng, columns, rows, unique_id)
    file = f"{name}.{'jsonl' if fmt == 'json' else fmt}"
    folder.mkdir(parents=True, exist_ok=True)
    write_frame(frame, folder / file, fmt)
    return file


def random_columns(rng: random.Random, prefix: str, width: int) -> list[Column]:
    """`width` columns; the first is a non-nullable int (an id, a split key)."""
    columns = [Column(f"{prefix}id", "int", False)]
    for k in range(1, width):
        columns.append(Column(f"{prefix}{k}", rng.choice(BASES), rng.random() < 0.5))
    return columns


# ------------------------------------------------------------ expressions
class Expressions:
    """Typed random expressions over one schema (every binary operation in parentheses)."""

    def __init__(self, rng: random.Random, schema: list[Column], cross_backend: bool = False):
        self.rng = rng
        self.schema = schema
        self.cross_backend = cross_backend
        present = {c.base for c in schema}
        # The types an expression can have here: literals exist for four, dates come from timestamps.
        self.available = {"int", "float", "bool", "str"} | (present & {"date", "timestamp"}) | (
            {"date"} if "timestamp" in present else set())

    def columns(self, base: str, nullable: bool | None = None) -> list[str]:
        return [c.name for c in self.schema
                if c.base == base and (nullable is None or c.nullable == nullable)]

    def literal(self, base: str) -> str:
        rng = self.rng
        if base == "int":
            return str(rng.randint(0, 4))
        if base == "float":
            return repr(rng.choice(FLOATS[1:]))
        if base == "bool":
            return rng.choice(["true", "false"])
        if base == "str":
            return f'"{rng.choice(STRINGS)}"'
        return ""  # no date or timestamp literal

    def of(self, base: str, depth: int = 2) -> str:
        """An expression of type `base` (nullable or not); `base` must be in `available`."""
        rng = self.rng
        options = self.columns(base)
        if base in ("int", "float", "bool", "str") and (not options or rng.random() < 0.25):
            options.append(self.literal(base))
        if base in RUN_VALUES and not self.cross_backend and rng.random() < 0.5:
            options.append(rng.choice(RUN_VALUES[base]))  # the harness runs for RUN_DATE
        compounds = [(needs, build) for needs, build in self._compounds(base) if needs <= self.available]
        if compounds and (depth > 0 or not options):  # a date may only come from a timestamp
            options += [rng.choice(compounds)[1](max(depth - 1, 0)) for _ in range(2)]
        return rng.choice(options)

    def _compounds(self, base: str):
        """(the operand types a form needs, a builder taking the operands' depth) for `base`."""
        rng = self.rng
        of = self.of
        lit = self.literal
        if base == "int":
            return [({"int"}, lambda d: f"({of('int', d)} {rng.choice('+-')} {of('int', d)})"),
                    ({"int"}, lambda d: f"({of('int', d)} * {rng.randint(0, 3)})"),
                    ({"int"}, lambda d: f"abs({of('int', d)})"),
                    ({"str"}, lambda d: f"length({of('str', d)})"),
                    ({"date"}, lambda d: f"year({of('date', d)})"),
                    ({"timestamp"}, lambda d: f"{rng.choice(['day', 'hour', 'month'])}({of('timestamp', d)})"),
                    ({"bool", "int"}, lambda d: f"if({of('bool', d)}, {of('int', d)}, {of('int', d)})"),
                    ({"int"}, lambda d: f"coalesce({of('int', d)}, {lit('int')})"),
                    ({"bool"}, lambda d: f"cast({of('bool', d)}, int)")]
        if base == "float":
            return [({"float"}, lambda d: f"({of('float', d)} {rng.choice('+-')} {of('float', d)})"),
                    ({"float"}, lambda d: f"({of('float', d)} * 0.5)"),
                    ({"float"}, lambda d: f"({of('float', d)} / 2.0)"),
                    ({"int"}, lambda d: f"cast({of('int', d)}, float)"),
                    ({"float"}, lambda d: f"floor({of('float', d)})"),
                    ({"float"}, lambda d: f"abs({of('float', d)})"),
                    ({"int"}, lambda d: f"({of('int', d)} + 0.5)"),
                    ({"float"}, lambda d: f"coalesce({of('float', d)}, {lit('float')})")]
        if base == "bool":
            forms = [(set(), lambda d: self._comparison(d)), (set(), lambda d: self._comparison(d)),
                     (set(), lambda d: f"({of(rng.choice(sorted(self.available)), d)} is "
                                       f"{rng.choice(['', 'not '])}null)"),
                     ({"bool"}, lambda d: f"({of('bool', d)} {rng.choice(['and', 'or'])} {of('bool', d)})"),
                     ({"int"}, lambda d: f"({of('int', d)} in [{lit('int')}, {lit('int')}])"),
                     ({"str"}, lambda d: f"contains({of('str', d)}, \"a\")"),
                     ({"str"}, lambda d: f"starts_with({of('str', d)}, \"b\")")]
            if not (self.cross_backend and "not_operator" in KNOWN_ISSUES):
                forms.append(({"bool"}, lambda d: f"(not {of('bool', d)})"))
            return forms
        if base == "str":
            return [({"str"}, lambda d: f"{rng.choice(['upper', 'lower', 'trim'])}({of('str', d)})"),
                    ({"str"}, lambda d: f"concat({of('str', d)}, \"-\", {of('str', d)})")]
        if base == "date":
            return [({"timestamp"}, lambda d: f"date({of('timestamp', d)})")]
        return []

    def _comparison(self, depth: int) -> str:
        base = self.rng.choice(sorted(self.available))
        op = self.rng.choice(["==", "!=", "<", "<=", ">", ">="] if base != "bool" else ["==", "!="])
        return f"({self.of(base, depth)} {op} {self.of(base, depth)})"

    def predicate(self) -> str:
        """A filter condition that reads at least one column."""
        times = self.columns("timestamp")
        if times and not self.cross_backend and self.rng.random() < 0.4:  # the run's data interval
            t = self.rng.choice(times)
            return f"({t} >= run.interval_start and {t} < run.interval_end)"
        for _ in range(10):
            text = self.of("bool", 2)
            if any(c.name in text for c in self.schema):
                return text
        return text


# ------------------------------------------------------------------ steps
class Steps:
    """Draws one step's text for a value with a known schema."""

    def __init__(self, program: Program, spark_safe: bool):
        self.p = program
        self.rng = program.rng
        self.spark_safe = spark_safe

    def pick(self, items, k_min: int = 1, k_max: int | None = None) -> list:
        items = list(items)
        k = self.rng.randint(min(k_min, len(items)), min(k_max or len(items), len(items)))
        return self.rng.sample(items, k)

    def text(self, step: str, value: str) -> str | None:
        """`step(...)` for `value`, or None when the schema does not allow it."""
        schema = self.p.schemas[value]
        ex = Expressions(self.rng, schema, cross_backend=self.spark_safe)
        names = [c.name for c in schema]
        rng = self.rng
        if step == "filter":
            return f"filter({ex.predicate()})"
        if step == "select":
            items = self.pick(names, 1, 4)
            if rng.random() < 0.4:
                items.append(f"{self.p.fresh('s')} = {ex.of(rng.choice(sorted(ex.available)))}")
            return f"select({', '.join(items)})"
        if step == "derive":
            items = []
            for _ in range(rng.randint(1, 2)):
                target = rng.choice(names) if rng.random() < 0.5 else self.p.fresh("d")
                if target not in [i.split(" = ")[0] for i in items]:
                    items.append(f"{target} = {ex.of(rng.choice(sorted(ex.available)))}")
            return f"derive({', '.join(items)})" if items else None
        if step == "drop":
            return f"drop({', '.join(self.pick(names, 1, len(names) - 1))})" if len(names) > 1 else None
        if step == "rename":
            pairs = [f"{self.p.fresh(c[:1] + 'r')} = {c}" for c in self.pick(names, 1, 2)]
            return f"rename({', '.join(pairs)})"
        if step == "fill_null":
            items = []
            for c in schema:
                if c.nullable and rng.random() < 0.7:
                    value = ex.literal(c.base) or next(iter(ex.columns(c.base, nullable=False)), "")
                    if value:
                        items.append(f"{c.name} = {value}")
            return f"fill_null({', '.join(items)})" if items else None
        if step == "distinct" and self.spark_safe and "spark_distinct_null_key" in KNOWN_ISSUES:
            names = [c.name for c in schema if not c.nullable]  # Spark drops a null key's rows
            return f"distinct({', '.join(self.pick(names, 1, 3))})" if names else None
        if step in ("drop_nulls", "distinct"):
            return f"{step}({', '.join(self.pick(names, 1, 3) if rng.random() < 0.7 else [])})"
        if step == "sort":
            return f"sort({', '.join(rng.choice(['', '-']) + c for c in self.pick(names, 1, 3))})"
        if step == "limit":
            if "row_order" in KNOWN_ISSUES:  # the first rows of a table in no defined order: sort it all
                return f"sort({', '.join(names)}) | limit({rng.randint(0, 6)})"
            return f"limit({rng.randint(0, 6)})"
        if step == "sample":
            return f"sample({rng.choice([0.3, 0.5, 0.8])}, seed={rng.randint(0, 9)})"
        if step == "aggregate":
            return self._aggregate(schema, ex)
        if step == "expect":
            conditions = ["row_count() >= 0"]
            if names:
                c = rng.choice(names)
                conditions.append(f"count({c}) <= row_count()")
            return f"expect({', '.join(conditions)})"
        return None

    def _aggregate(self, schema: list[Column], ex: Expressions) -> str | None:
        rng = self.rng
        keys = [c.name for c in schema if c.base in KEY_BASES]
        by = self.pick(keys, 0, 2) if keys and rng.random() < 0.8 else []
        if not by and "zero_row_aggregate_nullability" in KNOWN_ISSUES:
            if not keys:
                return None
            by = [rng.choice(keys)]
        items = []
        for _ in range(rng.randint(1, 3)):
            fn = rng.choice(["count", "count", "count_distinct", "sum", "mean", "min", "max", "std", "var", "median"])
            name = self.p.fresh("g")
            if fn == "count" and rng.random() < 0.5:
                items.append(f"{name} = count()")
                continue
            if fn in ("count", "count_distinct"):
                bases = [c for c in schema if fn == "count" or c.base != "float"]
            elif fn in ("min", "max"):
                bases = [c for c in schema if c.base != "bool"]
            else:  # sum, mean, median, std and var take numbers or bools (true is 1)
                bool_ok = not (self.spark_safe and "spark_bool_aggregates" in KNOWN_ISSUES)
                bases = [c for c in schema if c.base in NUMERIC or (bool_ok and c.base == "bool")]
            if "float_aggregate_determinism" in KNOWN_ISSUES and fn in ("std", "var"):
                bases = []
            if bases:
                items.append(f"{name} = {fn}({rng.choice(bases).name})")
        if not items:
            items.append(f"{self.p.fresh('g')} = count()")
        keys = [f"by=[{', '.join(by)}]"] if by else []
        return f"aggregate({', '.join(keys + items)})"


# ------------------------------------------------------------- the program
def generate(seed: int, data: Path, *, steps: int | None = None, ml: bool | None = None,
             spark_safe: bool = False, partitioned: bool = False) -> str:
    """The program of `seed`, with its tables written into `data`.

    `spark_safe` leaves out what backends may legitimately do differently (`sample`, `split`
    without `by`, models), for comparing relational outputs across backends. `partitioned` adds a
    Hive-partitioned source with filters on it and makes some sinks partitioned; what it adds is
    drawn from a random stream of its own, so the program of a seed without it stays the same.
    """
    rng = random.Random(seed)
    program = Program(rng)
    for k in range(rng.randint(1, 3)):
        name = f"t{k}"
        fmt = rng.choice(["csv", "csv", "parquet", "json"])
        columns = random_columns(rng, f"{'abc'[k]}", rng.randint(2, 8))
        rows = rng.randint(0, 2) if rng.random() < 0.1 else rng.randint(3, 12)  # empty tables too
        file = write_table(rng, data, name, fmt, columns, rows)
        schema = ", ".join(f"{c.name}: {c.type_text}" for c in columns)
        program.add_source(name, f'{name} = read_{fmt}("${{data}}/{file}", schema={{{schema}}})', columns)
    extra = random.Random(f"partitioned {seed}") if partitioned else None
    if extra:
        _add_partitioned_source(program, extra, data, spark_safe)
    draw = Steps(program, spark_safe)
    for _ in range(steps if steps is not None else rng.randint(3, 10)):
        _grow(program, draw, spark_safe)
    if (ml if ml is not None else rng.random() < 0.15) and not spark_safe:
        _add_models(program, data)
    if not spark_safe and rng.random() < 0.25:  # (drawn after the rest: earlier seeds keep their programs)
        _add_drift(program)
    sinks = []
    for name, kind in program.kinds.items():
        if name in program.consumed or (sinks and rng.random() < 0.1):  # now and then an unused value
            continue
        if kind == "model":
            sinks.append(f'{name} | save_model("${{out}}/{name}")')
        else:
            fmt = rng.choice(["csv", "csv", "parquet", "json"]) if kind == "table" else "json"
            if fmt == "csv" and spark_safe and "spark_csv_null_line" in KNOWN_ISSUES and \
                    len(program.schemas[name]) == 1 and program.schemas[name][0].nullable:
                fmt = "parquet"
            partitions = _sink_partitions(extra, program.schemas[name]) if extra and kind == "table" else []
            if partitions:
                sinks.append(f'{name} | write_{fmt}("${{out}}/{name}", partition_by=[{", ".join(partitions)}])')
            else:
                sinks.append(f'{name} | write_{fmt}("${{out}}/{name}.{fmt}")')
    return program.text(sinks)


def _tables(program: Program) -> list[str]:
    return list(program.schemas)


def _grow(program: Program, draw: Steps, spark_safe: bool) -> None:
    """Add one or two statements: a step on a value, often in a shape optimizers get wrong."""
    rng = program.rng
    value = rng.choice(_tables(program))
    weights = {s: 1.0 for s in TABLE_STEPS}
    weights.update(filter=3.0, derive=2.0, join=2.0, select=2.0)
    if spark_safe:
        weights.update(sample=0.0)
    step = rng.choices(list(weights), weights=list(weights.values()))[0]
    twins = rng.random() < 0.3 and step not in ("union", "join", "split")
    for _ in range(2 if twins else 1):
        made = _apply(program, draw, step, value, spark_safe)
        if made and rng.random() < 0.5:  # the shapes that follow: filter after join/derive/rename, ...
            follow = {"join": "filter", "derive": rng.choice(["filter", "select"]), "rename": "filter"}.get(step)
            if follow:
                _apply(program, draw, follow, made, spark_safe)


def _apply(program: Program, draw: Steps, step: str, value: str, spark_safe: bool) -> str | None:
    """Add `value | step(...)` as a new binding; its name, or None when the step does not fit."""
    rng = program.rng
    name = program.fresh("v")
    if step == "union":
        other = program.fresh("u")
        branch = draw.text(rng.choice(["filter", "sort", "limit"]), value)
        program.add([other], f"{other} = {value} | {branch}", [value])
        program.add([name], f"{name} = {value} | union({other})", [value, other])
        return name
    if step == "join":
        return _join(program, value, name)
    if step == "split":
        ints = [c.name for c in program.schemas[value] if c.base == "int" and not c.nullable]
        if spark_safe and not ints:
            return None
        by = f", by={rng.choice(ints)}" if ints and (spark_safe or rng.random() < 0.6) else ""
        second = program.fresh("v")
        program.add([name, second], f"{name}, {second} = {value} | split(fraction={rng.choice([0.3, 0.5, 0.7])}, "
                                    f"seed={rng.randint(0, 9)}{by})", [value])
        return name
    text = draw.text(step, value)
    if text is None:
        return None
    program.add([name], f"{name} = {value} | {text}", [value])
    return name


def _join(program: Program, left: str, name: str) -> str | None:
    """A join of `left` with a value (maybe itself) whose columns are renamed apart, keyed by one or
    two columns of equal type, as `k` (same name) or `a == b`."""
    rng = program.rng
    right = rng.choice(_tables(program))
    left_schema, right_schema = program.schemas[left], program.schemas[right]
    pairs = [(lc, rc) for lc in left_schema for rc in right_schema
             if lc.base == rc.base and lc.base in KEY_BASES]
    if not pairs:
        return None
    how = rng.choice(HOWS)
    if how == "full" and "full_join_key_nullability" in KNOWN_ISSUES:
        pairs = [(lc, rc) for lc, rc in pairs if lc.nullable == rc.nullable]
        if not pairs:
            return None
    keys = rng.sample(pairs, min(len(pairs), rng.choice([1, 1, 2])))
    keys = list({lc.name: (lc, rc) for lc, rc in keys}.values())  # one right column per left key
    keys = list({rc.name: (lc, rc) for lc, rc in keys}.values())
    same_name = rng.random() < 0.5
    right_items, on = [], []
    for lc, rc in keys:
        alias = lc.name if same_name else program.fresh("k")
        right_items.append(f"{alias} = {rc.name}")
        on.append(lc.name if same_name else f"{lc.name} == {alias}")
    key_names = {rc.name for _, rc in keys}
    right_items += [f"{program.fresh('r')} = {c.name}"
                    for c in _draw_some(rng, right_schema) if c.name not in key_names]
    side = program.fresh("w")
    program.add([side], f"{side} = {right} | select({', '.join(right_items)})", [right])
    program.add([name], f"{name} = {left} | join({side}, on=[{', '.join(on)}], how=\"{how}\")", [left, side])
    return name


def _draw_some(rng: random.Random, schema: list[Column]) -> list[Column]:
    return rng.sample(schema, rng.randint(0, min(3, len(schema))))


def _add_partitioned_source(program: Program, rng: random.Random, data: Path, spark_safe: bool) -> None:
    """`pt`, a Hive-partitioned folder `${data}/pt/q1=.../q2=.../` with one or two typed partition
    columns (nullable ones have a `__HIVE_DEFAULT_PARTITION__` folder) among the others, a
    partition's rows now and then in two files, and filters on it that mix conjuncts on partition
    columns (pruned while listing) with conjuncts on the others. Mostly the filters are its only
    consumers, so pruning applies; otherwise the growing program may read it whole."""
    fmt = rng.choice(["csv", "parquet", "json"])
    columns = random_columns(rng, "p", rng.randint(2, 6))
    parts = [Column(f"q{k}", rng.choice(KEY_BASES), rng.random() < 0.3) for k in range(1, rng.randint(2, 3))]
    for column in parts:
        columns.insert(rng.randint(0, len(columns)), column)
    parts = rng.sample(parts, len(parts))  # the folder levels, in `partition_by` order
    frame = random_frame(rng, columns, rng.randint(0, 14))
    root = data / "pt"
    root.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple, list[int]] = {}
    for row, values in enumerate(frame.select(c.name for c in parts).rows()):
        groups.setdefault(values, []).append(row)
    for values, rows in groups.items():
        folder = root.joinpath(*(f"{c.name}={_folder_text(v)}" for c, v in zip(parts, values)))
        piece = frame[rows].drop(c.name for c in parts)
        cut = rng.randint(1, len(rows) - 1) if len(rows) > 1 and rng.random() < 0.5 else len(rows)
        write_frame(piece[:cut], folder / f"b.{fmt}", fmt)  # read back in file name order: a, then b
        if cut < len(rows):
            write_frame(piece[cut:], folder / f"a.{fmt}", fmt)
    if rng.random() < 0.3:
        (root / "_SUCCESS").write_text("")
    schema = ", ".join(f"{c.name}: {c.type_text}" for c in columns)
    program.add_source("pt", f'pt = read_{fmt}("${{data}}/pt", schema={{{schema}}}, '
                             f'partition_by=[{", ".join(c.name for c in parts)}])', columns)
    for _ in range(rng.randint(1, 3)):
        conditions = [Expressions(rng, parts, cross_backend=spark_safe).predicate()]
        dates = [c.name for c in parts if c.base == "date"]
        if dates and rng.random() < 0.6:  # no date literal: the run's date, or the day of the month
            op = rng.choice(["==", "<", "<=", ">", ">=", "!="])
            conditions.append(f"{rng.choice(dates)} {op} run.date" if not spark_safe and rng.random() < 0.7
                              else f"day({rng.choice(dates)}) {op} {rng.choice([1, 28, 29])}")
        if rng.random() < 0.5:
            conditions.append(Expressions(rng, columns, cross_backend=spark_safe).predicate())
        rng.shuffle(conditions)
        name = program.fresh("v")
        program.add([name], f"{name} = pt | filter({' and '.join(conditions)})", ["pt"])
    if rng.random() < 0.7:  # only the filters read it: the growing program never picks it
        del program.schemas["pt"]


def _folder_text(value) -> str:
    """A partition value as its folder name writes it (the generated strings need no escaping)."""
    if value is None:
        return "__HIVE_DEFAULT_PARTITION__"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _sink_partitions(rng: random.Random, schema: list[Column]) -> list[str]:
    """Now and then one or two columns to partition a sink by (never every column)."""
    keys = [c.name for c in schema if c.base in KEY_BASES]
    if len(schema) < 2 or not keys or rng.random() < 0.6:
        return []
    return rng.sample(keys, rng.randint(1, min(2, len(keys), len(schema) - 1)))


def _add_drift(program: Program) -> None:
    """`drift` of a filtered part of a table against the table (an empty side is a run error,
    the same at every setting), on some of its numeric, string and boolean columns."""
    rng = program.rng
    value = rng.choice(_tables(program))
    comparable = [c.name for c in program.schemas[value] if c.base in ("int", "float", "str", "bool")]
    if not comparable:
        return
    part, metrics = program.fresh("v"), program.fresh("metrics")
    predicate = Expressions(rng, program.schemas[value]).predicate()
    program.add([part], f"{part} = {value} | filter({predicate})", [value])
    columns = ", ".join(rng.sample(comparable, rng.randint(1, min(3, len(comparable)))))
    program.add([metrics], f"{metrics} = {part} | drift({value}, columns=[{columns}])", [part, value])


def _add_models(program: Program, data: Path) -> None:
    """fit / predict / evaluate on a table of its own, large enough for both classes."""
    rng = program.rng
    columns = [Column("mid", "int", False), Column("m1", "float", False), Column("m2", "int", False),
               Column("m3", "str", False), Column("m4", "float", True)]
    file = write_table(rng, data, "ml", "csv", columns, 40, unique_id=True)  # split by id: both sides have rows
    schema = ", ".join(f"{c.name}: {c.type_text}" for c in columns)
    program.add_source("ml", f'ml = read_csv("${{data}}/{file}", schema={{{schema}}})', columns)
    rows = program.fresh("v")
    program.add([rows], f"{rows} = ml | fill_null(m4 = 0.5) | derive(label = (m1 + cast(m2, float)) > 1.0, "
                        f"target = m1 * 2.0 + cast(m2, float))", ["ml"])
    train, test = program.fresh("v"), program.fresh("v")
    program.add([train, test], f"{train}, {test} = {rows} | split(fraction=0.7, seed={rng.randint(0, 9)}, by=mid)",
                [rows])
    features = ", ".join(rng.sample(["m1", "m2", "m3", "m4"], rng.randint(1, 3)))
    kind = rng.choice(["classifier", "regressor", "clusterer"])
    model = program.fresh("model")
    if kind == "classifier":
        estimator = rng.choice(["logistic_regression(max_iter=50)",
                                "random_forest_classifier(n_trees=5, max_depth=3, seed=1)",
                                "gradient_boosted_classifier(n_iter=5, max_depth=2, seed=1)"])
        program.add([model], f"{model} = {train} | fit({estimator}, features=[{features}], label=label)", [train])
    elif kind == "regressor":
        estimator = rng.choice(["linear_regression()", "random_forest_regressor(n_trees=5, max_depth=3, seed=1)"])
        program.add([model], f"{model} = {train} | fit({estimator}, features=[{features}], label=target)", [train])
    else:
        program.add([model], f"{model} = {train} | fit(kmeans(k=2, seed=3), features=[{features}])", [train])
    scored = program.fresh("v")
    program.add([scored], f"{scored} = {test} | predict({model})", [test, model])
    if kind != "clusterer":
        metrics = program.fresh("metrics")
        names = '"accuracy", "f1"' if kind == "classifier" else '"rmse", "r2"'
        label = "label" if kind == "classifier" else "target"
        program.add([metrics], f"{metrics} = {scored} | evaluate(label={label}, metrics=[{names}])", [scored])
