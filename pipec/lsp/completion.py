"""Completion: what may be written at the cursor, from the tokens before it and the checker's types.

The text being typed rarely parses, so the place is found from the tokens before the cursor (which
call's parentheses, which argument), and the columns from a probe: the statement is cut at the
cursor, a placeholder name put there and the open brackets closed, and that text is checked. The
columns offered are then exactly the input schema the checker gives the step the cursor is in.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from lark import Token
from lsprotocol import types

from pipec.compiler import ast
from pipec.compiler.typecheck import OPTION_TYPES
from pipec.compiler.types import BASE_TYPES, TableType, ValueType
from pipec.grammar.lexing import lex
from pipec.lsp.analysis import Analysis, analyse
from pipec.stdlib.estimators import CLASSIFIER_METRICS, ESTIMATORS, REGRESSOR_METRICS
from pipec.stdlib.steps import STEPS, Choices

PLACEHOLDER = "__pipec_cursor__"
CLOSING = {"LPAR": ")", "LSQB": "]", "LBRACE": "}"}
PARAM_TYPES = ("int", "float", "bool", "str", "date", "duration", "list[str]", "list[int]")
NAME_TOKENS = {"NAME", "IMPORT", "SCHEMA", "PIPELINE", "PARAM_KW", "AND", "OR", "NOT", "IN", "IS",
               "TRUE", "FALSE", "NULL"}


@dataclass
class Level:
    """An open bracket before the cursor and the argument of it the cursor is in."""

    opener: Token
    call: str | None          # the name before `(`, if any
    chain_call: bool          # the call is a step of a chain (or a pipeline's options)
    keyword: str | None = None
    position: int = 0         # index among the positional arguments
    given: set[str] = field(default_factory=set)
    tokens_in_argument: int = 0


@dataclass
class Place:
    levels: list[Level]
    previous: Token | None    # the last token before the word being typed
    statement_start: Token | None
    statement_tokens: list[Token]


def complete(analysis: Analysis, offset: int) -> list[types.CompletionItem]:
    text = analysis.text
    word = re.search(r"\$?\w*$", text[:offset]).group()
    word_start = offset - len(word)
    pipeline = _pipeline_before(analysis, offset)
    if word.startswith("$"):
        after_dollar = types.Range(start=analysis.index.position(word_start + 1), end=analysis.index.position(offset))
        return _params(pipeline, after_dollar)
    line = text[text.rfind("\n", 0, offset) + 1:offset]
    in_string = _inside_string(line)
    if in_string is None:   # in a comment
        return []
    tokens, _ = lex(text[:word_start])
    place = _place([t for t in tokens if t.type != "COMMENT"])
    step_level = _step_level(place.levels)
    if in_string:
        step = STEPS.get(step_level.call) if step_level is not None else None
        if step is not None and step_level.keyword is not None and step.argument_value(step_level.keyword) == "metric":
            return _metrics(quoted=False)
        return []
    if place.previous is not None and place.previous.type == "COLON":
        return _types(place)
    if step_level is None:
        return _statement_level(pipeline, place)
    if step_level.call not in STEPS:
        return _pipeline_options(step_level) if step_level.chain_call else []
    inner = place.levels[-1]
    if inner.call in ESTIMATORS and inner.tokens_in_argument == 0:
        return [_item(f"{h}=", types.CompletionItemKind.Property, f"{p.type}, default {p.default}")
                for h, p in ESTIMATORS[inner.call].params.items() if h not in inner.given]
    step = STEPS[step_level.call]
    argument = step_level.keyword or (step.positional[step_level.position]
                                      if step_level.position < len(step.positional) else "*")
    at_argument_start = inner is step_level and step_level.tokens_in_argument == 0 and step_level.keyword is None
    items = [_item(f"{k}=", types.CompletionItemKind.Property, f"option of `{step.name}`")
             for k in step.keywords if k not in step_level.given] if at_argument_start else []
    # What the argument's values are is the step's own answer (`Step.argument_values`).
    values = step.argument_value(argument)
    if values == "binding":
        items += _bindings(pipeline)
    elif values == "schema":
        items += _schemas(analysis)
    elif values == "estimator" and inner is step_level:
        items += [_item(name, types.CompletionItemKind.Class, f"{e.kind}") for name, e in ESTIMATORS.items()]
    elif values == "metric":
        items += _metrics(quoted=True)
    elif isinstance(values, Choices):
        items += [_item(f'"{v}"', types.CompletionItemKind.EnumMember, values.detail) for v in values.values]
    elif values == "column":
        items += _columns(_input_at(analysis, offset, word_start, place, step.name))
    return items


# ---------------------------------------------------------------- where the cursor is
def _place(tokens: list[Token]) -> Place:
    levels: list[Level] = []
    statement: list[Token] = []
    previous: Token | None = None
    for k, token in enumerate(tokens):
        kind = token.type
        inside_parens = any(level.opener.type != "LBRACE" for level in levels)
        if kind == "_NL" and not inside_parens:
            statement = []
        elif kind == "LBRACE" and not inside_parens:
            statement = []
        else:
            statement.append(token)
        level = levels[-1] if levels else None
        if level is not None and level.opener.type != "LBRACE":
            if kind == "COMMA":
                level.position += 0 if level.keyword else 1
                level.keyword, level.tokens_in_argument = None, 0
            elif kind == "EQUAL" and level.tokens_in_argument == 1 and tokens[k - 1].type in NAME_TOKENS:
                level.keyword = str(tokens[k - 1])
                level.given.add(level.keyword)
                level.tokens_in_argument = 0
                previous = token
                continue
            elif kind != "_NL":
                level.tokens_in_argument += 1
        if kind == "LBRACE" and not inside_parens:
            levels.append(Level(token, _declaration_of(tokens, k), False))
        elif kind in CLOSING:
            call = str(tokens[k - 1]) if kind == "LPAR" and k and tokens[k - 1].type == "NAME" else None
            before_call = tokens[k - 2].type if k >= 2 else None
            chain_call = call is not None and before_call in ("VBAR", "EQUAL", "_NL", "LBRACE", None) \
                or (k >= 2 and tokens[k - 2].type == "PIPELINE")
            levels.append(Level(token, call, chain_call))
        elif kind in ("RPAR", "RSQB", "RBRACE"):
            match = {"RPAR": "LPAR", "RSQB": "LSQB", "RBRACE": "LBRACE"}[kind]
            while levels and levels[-1].opener.type != match:
                levels.pop()
            if levels:
                levels.pop()
        previous = token
    return Place(levels, previous, statement[0] if statement else None, statement)


def _declaration_of(tokens: list[Token], brace: int) -> str | None:
    """`PIPELINE` or `SCHEMA`: the declaration that the `{` at `tokens[brace]` opens."""
    for j in range(brace - 1, -1, -1):
        if tokens[j].type in ("PIPELINE", "SCHEMA"):
            return tokens[j].type
        if tokens[j].type in ("LBRACE", "RBRACE"):   # (a pipeline's options may span lines)
            return None
    return None


def _pipeline_before(analysis: Analysis, offset: int):
    """The pipeline around the cursor; while it is being written its span may end before it."""
    started = [p for p in analysis.pipelines() if p.span.start <= offset]
    return analysis.pipeline_at(offset) or (started[-1] if started else None)


def _block(place: Place) -> str | None:
    """`PIPELINE` or `SCHEMA`: the declaration whose `{...}` the cursor's statement is in."""
    blocks = place.levels[:len(place.levels) - len(_statement_levels(place.levels))]
    return blocks[-1].call if blocks else None


def _statement_levels(levels: list[Level]) -> list[Level]:
    """The brackets open inside the current statement (after the `{` of its pipeline or schema)."""
    block = -1
    for i, level in enumerate(levels):
        if level.opener.type == "LBRACE" and all(outer.opener.type == "LBRACE" for outer in levels[:i]):
            block = i
    return levels[block + 1:]


def _step_level(levels: list[Level]) -> Level | None:
    """The outermost bracket of the statement, if it belongs to a chain call (or options)."""
    inside = _statement_levels(levels)
    return inside[0] if inside and inside[0].chain_call else None


def _inside_string(line: str) -> bool | None:
    """Whether the end of `line` is inside a string literal; None inside a comment."""
    quoted = False
    escaped = False
    for char in line:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            return None
    return quoted


# ---------------------------------------------------------------- the schema at the cursor
def _input_at(analysis: Analysis, offset: int, word_start: int, place: Place, step: str) -> ValueType | None:
    """The value the step around the cursor receives, from the checker."""
    site = analysis.step_at(offset)
    if site is not None and analysis.input_of(site.call) is not None:
        return analysis.input_of(site.call)
    closers = "".join(CLOSING[level.opener.type] for level in reversed(_statement_levels(place.levels)))
    end = closers + _chain_end(place.statement_tokens, step) + _after_statement(analysis.text, offset, place)
    for filler in (PLACEHOLDER, ""):
        probe = analyse(analysis.text[:word_start] + filler + end, analysis.path, analysis.uri)
        site = probe.step_at(word_start)
        if site is not None and probe.input_of(site.call) is not None:
            return probe.input_of(site.call)
    return None


def _chain_end(statement: list[Token], step: str) -> str:
    """What makes the chain cut in `step` a whole statement, so that the checker types its steps:
    a sink (the first, `write_csv`) for a statement that is not bound, a step with two outputs
    (`split`) for one bound to two names."""
    kinds = [t.type for t in statement]
    names = 0
    while kinds[2 * names:2 * names + 2] == ["NAME", "COMMA"]:
        names += 1
    if kinds[2 * names:2 * names + 2] != ["NAME", "EQUAL"]:
        return f' | {next(name for name, spec in STEPS.items() if spec.sink)}("")'
    if names == 1 and STEPS[step].outputs == 1:
        return f" | {next(name for name, spec in STEPS.items() if spec.outputs == 2)}()"
    return ""


def _after_statement(text: str, offset: int, place: Place) -> str:
    """The text after the statement the cursor is in: its continuation lines are left out."""
    start = place.statement_start.start_pos if place.statement_start is not None else offset
    line_start = text.rfind("\n", 0, start) + 1
    indent = len(text[line_start:start]) - len(text[line_start:start].lstrip())
    end = text.find("\n", offset)
    while end != -1:
        next_end = text.find("\n", end + 1)
        following = text[end + 1:len(text) if next_end == -1 else next_end]
        stripped = following.lstrip()
        if not (stripped.startswith(("|", ")", "]")) or (stripped and len(following) - len(stripped) > indent)):
            break
        end = next_end
    return "\n" if end == -1 else text[end:]


# ---------------------------------------------------------------- the items
def _item(label: str, kind: types.CompletionItemKind, detail: str | None = None,
          doc: str | None = None) -> types.CompletionItem:
    return types.CompletionItem(label=label, kind=kind, detail=detail, documentation=doc)


def _columns(value: ValueType | None) -> list[types.CompletionItem]:
    if not isinstance(value, TableType):
        return []
    return [_item(f.name, types.CompletionItemKind.Field, str(f.type)) for f in value.schema_.fields]


def _bindings(pipeline: ast.Pipeline | None) -> list[types.CompletionItem]:
    if pipeline is None:
        return []
    names = [t.name for s in pipeline.body if isinstance(s, ast.Binding) for t in s.targets]
    return [_item(n, types.CompletionItemKind.Variable, "bound in this pipeline") for n in dict.fromkeys(names)]


def _params(pipeline: ast.Pipeline | None, name_range: types.Range) -> list[types.CompletionItem]:
    """The params, replacing what follows the `$` (editors take `$` for a word character or not)."""
    if pipeline is None:
        return []
    return [types.CompletionItem(label=s.name, kind=types.CompletionItemKind.Constant,
                                 detail=f"param {s.name}: {s.type}",
                                 text_edit=types.TextEdit(range=name_range, new_text=s.name))
            for s in pipeline.body if isinstance(s, ast.ParamDecl)]


def _schemas(analysis: Analysis) -> list[types.CompletionItem]:
    return [_item(name, types.CompletionItemKind.Struct, str(schema))
            for name, schema in analysis.program.schemas.items()]


def _metrics(quoted: bool) -> list[types.CompletionItem]:
    names = dict.fromkeys(CLASSIFIER_METRICS + REGRESSOR_METRICS)
    return [_item(f'"{m}"' if quoted else m, types.CompletionItemKind.EnumMember, "metric") for m in names]


def _steps() -> list[types.CompletionItem]:
    return [_item(name, types.CompletionItemKind.Function, spec.signature, spec.doc)
            for name, spec in STEPS.items() if not spec.is_source]


def _statement_level(pipeline: ast.Pipeline | None, place: Place) -> list[types.CompletionItem]:
    previous = place.previous.type if place.previous is not None else None
    kinds = [t.type for t in place.statement_tokens]
    if previous == "VBAR":
        return _steps()
    block = _block(place)
    if block is None:
        return [_item(k, types.CompletionItemKind.Keyword) for k in ("import", "schema", "pipeline")] \
            if previous in (None, "_NL", "RBRACE") else []
    if block != "PIPELINE":
        return []
    if previous == "EQUAL" and kinds[:1] != ["PARAM_KW"]:
        sources = [_item(name, types.CompletionItemKind.Function, spec.signature, spec.doc)
                   for name, spec in STEPS.items() if spec.is_source]
        return sources + _bindings(pipeline)
    if previous in ("_NL", "LBRACE"):
        return _bindings(pipeline) + [_item("param", types.CompletionItemKind.Keyword)]
    return []


def _types(place: Place) -> list[types.CompletionItem]:
    """After `:`: the types of a param, or of a column (in a schema or an inline `{...}`)."""
    in_param = place.statement_tokens[:1] and place.statement_tokens[0].type == "PARAM_KW"
    return [_item(t, types.CompletionItemKind.TypeParameter) for t in (PARAM_TYPES if in_param else BASE_TYPES)]


def _pipeline_options(level: Level) -> list[types.CompletionItem]:
    if level.tokens_in_argument:
        return []
    return [_item(f"{o}=", types.CompletionItemKind.Property, t) for o, t in OPTION_TYPES.items()
            if o not in level.given]

