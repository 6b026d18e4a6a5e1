"""The lark parser (built once, cached on disk) and a lexer that reports every bad character.

Building the LALR tables with `strict=True` takes ~0.25 s; lark's `cache=True` stores them in the
temp directory keyed by the grammar's hash, so later processes load them in a few milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token

GRAMMAR = Path(__file__).with_name("pipe.lark")
START_SYMBOLS = ["start", "expression", "argument", "type_only"]
MAX_LEXICAL_ERRORS = 20


class _KeepComments:
    """A pass-through lark post-lexer whose only job is to keep COMMENT tokens in the lexer."""

    always_accept = ("COMMENT",)

    def process(self, stream):
        return stream


@lru_cache(maxsize=1)
def lark_parser() -> Lark:
    return Lark(GRAMMAR.read_text(encoding="utf-8"), parser="lalr", lexer="basic", strict=True,
                propagate_positions=True, maybe_placeholders=True, start=START_SYMBOLS,
                postlex=_KeepComments(), cache=True)


class _Scanner:
    """lark's own lexer tables (terminal regexps in priority order, keywords, which terminals may
    hold newlines), run in one loop: lark's lexer makes several calls per token (a third of the
    time of checking a big file), and `Lark.lex` compiles every terminal's regexp again on each
    call (6 ms per expression of a YAML file)."""

    def __init__(self, lexer):
        basic = getattr(lexer, "lexer", lexer)          # under the post-lexer connector
        (self.pattern,) = basic.scanner._mres           # the grammar fits one regexp
        self.ignore = basic.ignore_types
        self.multiline = basic.newline_types
        self.keywords = {kind: {t.pattern.value: t.name for t in unless.scanner.terminals}
                         for kind, unless in basic.callback.items()}

    def tokens(self, text: str) -> list[Token]:
        """The tokens of `text`; raises _BadCharacter where no terminal matches."""
        match, ignore, multiline, keywords = self.pattern.match, self.ignore, self.multiline, self.keywords
        tokens = []
        pos, line, line_start, end = 0, 1, 0, len(text)
        while pos < end:
            found = match(text, pos)
            if found is None:
                raise _BadCharacter(pos)
            kind, after = found.lastgroup, found.end()
            if kind in ignore:
                pos = after
                continue
            value = found.group()
            start_line, column = line, pos - line_start + 1
            if kind in multiline and "\n" in value:
                line += value.count("\n")
                line_start = pos + value.rindex("\n") + 1
            if kind in keywords:
                kind = keywords[kind].get(value, kind)
            tokens.append(Token(kind, value, pos, start_line, column, line, after - line_start + 1, after))
            pos = after
        return tokens


class _BadCharacter(Exception):
    def __init__(self, pos: int):
        super().__init__(pos)
        self.pos = pos


@lru_cache(maxsize=1)
def _scanner() -> _Scanner:
    return _Scanner(lark_parser().parser.lexer)


@dataclass
class LexicalError:
    """A character the lexer could not start a token with; `code` is E0002 or E0003."""

    code: str
    message: str
    help: str | None
    start: int
    end: int
    repair_quotes: bool = False   # a 'single-quoted' string: lex it on as a "double-quoted" one

    def replacement(self, chunk: str) -> str:
        """What the bad stretch is replaced with so that lexing can go on (same length)."""
        if self.repair_quotes:
            return '"' + chunk[1:-1] + '"'
        return "".join(c if c == "\n" else " " for c in chunk)


CHARACTER_HELP = {
    "'": "strings are written in double quotes: \"text\"",
    "&": "write `and`",
    "!": "write `not`, or `!=` for \"not equal\"",
    ";": "a statement ends at the end of its line",
    "@": "a string such as \"@daily\" needs double quotes",
}


def lex(text: str) -> tuple[list[Token], list[LexicalError]]:
    """Tokens of `text` (comments included), skipping and reporting what cannot be lexed.

    A bad stretch is blanked out with spaces (newlines kept) and lexing starts again, so that every
    token keeps its position in the original text.
    """
    errors: list[LexicalError] = []
    while True:
        try:
            return _scanner().tokens(text), errors
        except _BadCharacter as e:
            error = _describe_bad_character(text, e.pos)
            errors.append(error)
            end = len(text) if len(errors) >= MAX_LEXICAL_ERRORS else error.end
            text = text[:error.start] + error.replacement(text[error.start:end]) + text[end:]


def _describe_bad_character(text: str, pos: int) -> LexicalError:
    char = text[pos]
    line_end = text.find("\n", pos)
    line_end = len(text) if line_end == -1 else line_end
    if char == '"' and pos >= 2 and text.startswith('""', pos - 2):   # `""` lexed as a string, then `"...`
        return LexicalError("E0003", "unterminated docstring: `\"\"\"` is never closed",
                            "close the docstring with `\"\"\"`", pos - 2, len(text))
    if char == '"':
        return LexicalError("E0003", "unterminated string: the closing `\"` is missing on this line",
                            "close the string on the same line; write \\n for a line break",
                            pos, line_end)
    if char == "`":
        return LexicalError("E0003", "unterminated quoted name: the closing ` is missing on this line",
                            "a column name in backticks must end on the same line", pos, line_end)
    if char == "'":
        close = text.find("'", pos + 1, line_end)
        inner = text[pos + 1:close]
        if close != -1 and '"' not in inner and "\\" not in inner:
            return LexicalError("E0002", "strings are written in double quotes", 
                                f'write "{inner}"', pos, close + 1, repair_quotes=True)
    shown = repr(char)[1:-1] if not char.isprintable() else char
    return LexicalError("E0002", f"unexpected character `{shown}`", CHARACTER_HELP.get(char),
                        pos, pos + 1)
