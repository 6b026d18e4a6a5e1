"""Syntax errors in words: token names in English, and a catalogue of curated messages.

Codes: E0001 unexpected token, E0002 unexpected character, E0003 unterminated string,
E0004 unbalanced bracket, E0005 unknown string escape (E0010-E0013 belong to the YAML front end).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from lark import Token

TOKEN_WORDS = {
    "NAME": "a name", "QUOTED_NAME": "a `quoted name`", "PARAM": "a parameter such as `$name`",
    "RUN_FIELD": "a run value such as `run.date`",
    "INT": "a number", "FLOAT": "a number", "DURATION": "a duration such as `5m`",
    "STRING": "a string", "DOCSTRING": "a docstring", "_NL": "a new line",
    "$END": "the end of the file", "PARAM_KW": "`param`",
}
EXPRESSION_STARTS = {"NAME", "QUOTED_NAME", "PARAM", "RUN_FIELD", "INT", "FLOAT", "STRING", "DURATION", "TRUE",
                     "FALSE", "NULL", "LPAR", "LSQB", "MINUS", "NOT"}
OPERATORS = {"OR", "AND", "EQ", "NE", "LT", "LE", "GT", "GE", "PLUS", "MINUS", "STAR", "SLASH",
             "DSLASH", "PERCENT", "IN", "IS"}
KEYWORDS = {"IMPORT", "SCHEMA", "PIPELINE", "PARAM_KW", "AND", "OR", "NOT", "IN", "IS", "TRUE",
            "FALSE", "NULL"}
STATEMENT_BOUNDARIES = {None, "_NL", "LBRACE"}
# Listed first in "expected ..." because they are what a user most often forgot.
PREFERRED_ORDER = ["RPAR", "RSQB", "RBRACE", "COMMA", "VBAR", "EQUAL", "LBRACE", "LPAR", "COLON"]


@lru_cache(maxsize=1)
def _literal_terminals() -> dict[str, str]:
    """Terminal name → its literal text, for terminals that are a fixed string (`)`, `schema`)."""
    from pipec.grammar.lexing import lark_parser

    return {t.name: t.pattern.value for t in lark_parser().terminals if t.pattern.type == "str"}


def token_words(kind: str) -> str:
    if kind in TOKEN_WORDS:
        return TOKEN_WORDS[kind]
    literal = _literal_terminals().get(kind)
    return f"`{literal}`" if literal is not None else kind.lower()


def found_words(token: Token) -> str:
    """How the offending token is named in a message: its own text when it has one."""
    if token.type in ("_NL", "$END"):
        return "the end of the line" if token.type == "_NL" else "the end of the file"
    text = str(token) if len(token) <= 30 else str(token)[:27] + "..."
    if token.type in KEYWORDS:
        return f"the keyword `{text}`"
    if token.type == "NAME":
        return f"the name `{text}`"
    if token.type == "STRING":
        return f"the string {text}"
    return f"`{text}`"


def expected_words(expected: set[str]) -> str:
    """`{"RPAR", "COMMA", "PLUS", ...}` → "`)`, `,` or an operator"."""
    parts: list[str] = []
    rest = set(expected) - {"COMMENT"}
    if len(rest) > 1:
        rest.discard("$END")   # offered only because expressions are also parsed on their own
    if len(rest & EXPRESSION_STARTS) >= 3:
        parts.append("an expression")
        rest -= EXPRESSION_STARTS
    for kind in PREFERRED_ORDER:
        if kind in rest:
            parts.append(token_words(kind))
            rest.discard(kind)
    if len(rest & OPERATORS) >= 3:
        parts.append("an operator")
        rest -= OPERATORS
    parts.extend(sorted({token_words(kind) for kind in rest}))
    if not parts:
        return "nothing more"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


# ---------------------------------------------------------------- curated messages
@dataclass(frozen=True)
class Curated:
    message: str
    help: str | None
    examples: tuple[str, ...]          # snippets that fail in the parser state this entry is about
    token_types: tuple[str, ...] = ()  # only when the offending token is one of these (empty: any)


CATALOGUE = (
    Curated("expected `|` before the next step",
            "steps are chained with `|`: `value | step(...) | step(...)`",
            ("pipeline p {\n x = a f(y)\n}", "pipeline p {\n x = f(y) g(z)\n}",
             "pipeline p {\n x = a | f(y) g(z)\n}", "pipeline p {\n a f(y)\n}"),
            ("NAME",)),
    Curated("expected `{` after the pipeline header",
            "a pipeline's statements go inside braces: `pipeline name(...) { ... }`",
            ("pipeline p()\n", "pipeline p\n", "pipeline p(a=1) x", "pipeline p x")),
    Curated("expected `{` after the schema name",
            "a schema lists its fields inside braces: `schema Name { field: type }`",
            ("schema S\n", "schema S x")),
    Curated("expected `(` after the step name",
            "a step is always called with parentheses, even without arguments: `distinct()`",
            ("pipeline p {\n x = a | f\n}", "pipeline p {\n x = a | f | g()\n}")),
    Curated("expected a step call after `|`",
            "a chain continues with `| step(...)`",
            ("pipeline p {\n x = a | 1\n}", "pipeline p {\n x = a | (b)\n}")),
    Curated("expected a declaration: `import`, `schema` or `pipeline`",
            "statements such as bindings go inside a pipeline: `pipeline name { ... }`",
            ("x = 1", "schema S {}\nx = 1", "pipeline p {}\n x")),
    Curated("expected a statement: a binding `name = ...`, a chain ending in a sink, or `param`",
            None,
            ("pipeline p {\n ) \n}", "pipeline p {\n x = 1\n ]\n}")),
    Curated("expected a parameter type after `:`",
            "parameter types are int, float, bool, str, date, duration and list[T]",
            ("pipeline p {\n param x: = 1\n}",)),
    Curated("a parameter needs a default value: `param name: type = default`", None,
            ("pipeline p {\n param x: int\n}", "pipeline p {\n param x: int 1\n}")),
    Curated("`<>` is not an operator", "use `!=` for \"not equal\"",
            ("pipeline p {\n x = a | filter(b <> 1)\n}",), ("GT",)),
)


@lru_cache(maxsize=1)
def _catalogue_index() -> dict[int, list[Curated]]:
    """Parser state → curated entries, found by parsing each entry's examples once."""
    from pipec.grammar.parser import first_error_state

    index: dict[int, list[Curated]] = {}
    for entry in CATALOGUE:
        for example in entry.examples:
            for variant in _variants(example):
                state = first_error_state(variant)
                if state is not None and entry not in index.setdefault(state, []):
                    index[state].append(entry)
    return index


def _variants(example: str) -> list[str]:
    """The example, and the same mistake after earlier declarations and statements.

    LALR states differ for the first item of a list and the later ones, so both must be seen.
    """
    later_statement = example.replace("pipeline p {\n", "pipeline p {\n s = t\n s = t\n", 1)
    return [example, later_statement, 'import "a"\nimport "b"\n' + example]


def curated_for(state: int, token: Token) -> Curated | None:
    for entry in _catalogue_index().get(state, []):
        if not entry.token_types or token.type in entry.token_types:
            return entry
    return None
