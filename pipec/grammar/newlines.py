"""The post-lexer: decides which newlines end a statement, and keeps comments and brackets aside.

LANGUAGE.md §2 makes newlines significant except inside `()`/`[]`, after `{`, `,` or a docstring,
before `}` and before a line that starts with `|`. Those rules need one token of look-ahead and a
bracket stack, which an LALR grammar cannot express, so they live here, between lexer and parser.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lark import Token

OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}
CLOSERS = {closer: opener for opener, closer in OPENERS.items()}
NEWLINE_SWALLOWERS = {"LBRACE", "COMMA", "DOCSTRING"}   # a newline right after these is dropped
NEWLINE_ABSORBERS = {"RBRACE", "VBAR"}                  # ... and right before these
# Tokens that can end a value: after one, a line that starts a statement cannot continue it.
OPERAND_ENDS = {"NAME", "QUOTED_NAME", "PARAM", "INT", "FLOAT", "DURATION", "STRING", "TRUE",
                "FALSE", "NULL", "RPAR", "RSQB", "RBRACE"}
# Deeper nesting (brackets, or operator chains in the parse tree) is an error (E0006): the AST,
# the checker and the code generators recurse once per level and must not run out of stack.
MAX_NESTING = 256


@dataclass
class PostLexed:
    """The parser's token stream plus what was taken out of it."""

    tokens: list[Token] = field(default_factory=list)
    comments: list[Token] = field(default_factory=list)
    # for tokens[i]: the innermost `(`/`[`/`{` still open before it (None at top level)
    open_bracket: list[Token | None] = field(default_factory=list)
    # for tokens[i]: whether a `(` or `[` is open around it
    inside_parens: list[bool] = field(default_factory=list)
    unmatched_closers: list[Token] = field(default_factory=list)
    unclosed_openers: list[Token] = field(default_factory=list)
    # ids of the newlines kept because the next line starts a statement while a `(` or `[` of
    # the previous one is still open (so the error there is that bracket, never closed)
    closing_newlines: set[int] = field(default_factory=set)
    # the first bracket that opens more than MAX_NESTING levels (None if there is none)
    too_deep: Token | None = None


class _BracketStack:
    """The open brackets, with counts by kind so that no question about them walks the stack
    (walking it made a file of many `(` quadratic)."""

    def __init__(self):
        self.openers: list[Token] = []
        self.open_count = dict.fromkeys(OPENERS, 0)

    def push(self, token: Token) -> None:
        self.openers.append(token)
        self.open_count[token.type] += 1

    def pop(self) -> Token:
        token = self.openers.pop()
        self.open_count[token.type] -= 1
        return token

    def drain(self) -> list[Token]:
        """Empty the stack, returning what was open (outermost first)."""
        openers, self.openers = self.openers, []
        self.open_count = dict.fromkeys(OPENERS, 0)
        return openers

    def innermost(self) -> Token | None:
        return self.openers[-1] if self.openers else None

    def inside_parens(self) -> bool:
        return self.open_count["LPAR"] + self.open_count["LSQB"] > 0

    def drain_parens(self) -> list[Token]:
        """Pop the `(` and `[` above the innermost `{`, returning them (outermost first)."""
        drained = []
        while self.openers and self.openers[-1].type != "LBRACE":
            drained.append(self.pop())
        return drained[::-1]


def post_lex(raw_tokens: list[Token]) -> PostLexed:
    """Apply the newline rules to the lexer's tokens (comments included, whitespace excluded)."""
    out = PostLexed()
    stack = _BracketStack()
    pending_newline: Token | None = None
    statement_start: Token | None = None   # the first token of the statement being read

    def emit(token: Token) -> None:
        nonlocal statement_start
        if not out.tokens or (out.tokens[-1].type in ("_NL", "LBRACE") and not stack.inside_parens()):
            statement_start = token
        out.tokens.append(token)
        out.open_bracket.append(stack.innermost())
        out.inside_parens.append(stack.inside_parens())

    for k, token in enumerate(raw_tokens):
        kind = token.type
        if stack.openers and _starts_declaration(raw_tokens, k):
            # `pipeline name` at the start of a line cannot be inside brackets: whatever is
            # still open was never closed. Closing it here keeps one mistake from eating the file.
            out.unclosed_openers.extend(stack.drain())
            pending_newline = pending_newline or raw_tokens[k - 1]
        if kind == "COMMENT":
            out.comments.append(token)
            continue
        if kind == "_NL":
            previous = out.tokens[-1].type if out.tokens else None
            innermost = stack.innermost()
            innermost_is_paren = innermost is not None and innermost.type != "LBRACE"
            if innermost_is_paren and previous in OPERAND_ENDS \
                    and _starts_statement(raw_tokens, k + 1, statement_start):
                # `x = f(a` and then a statement at the same indentation: the `(` was never
                # closed. Closing it here lets the statements after it be read (and checked).
                out.unclosed_openers.extend(stack.drain_parens())
                out.closing_newlines.add(id(token))
                innermost_is_paren = False
            if previous not in (None, "_NL") and previous not in NEWLINE_SWALLOWERS \
                    and not innermost_is_paren and pending_newline is None:
                pending_newline = token
            continue
        if pending_newline is not None and kind not in NEWLINE_ABSORBERS:
            emit(pending_newline)
        pending_newline = None
        if kind in OPENERS:
            emit(token)
            stack.push(token)
            if len(stack.openers) > MAX_NESTING and out.too_deep is None:
                out.too_deep = token
            continue
        if kind in CLOSERS:
            opener = CLOSERS[kind]
            if stack.open_count[opener]:
                # An unclosed `(` inside a `{...}` ends with that brace: pop up to the match.
                while stack.innermost().type != opener:
                    out.unclosed_openers.append(stack.pop())
                stack.pop()
            else:
                out.unmatched_closers.append(token)
        emit(token)
    out.unclosed_openers.extend(stack.drain())
    return out


def _starts_statement(raw_tokens: list[Token], k: int, statement_start: Token | None) -> bool:
    """Whether raw_tokens[k:] begin a binding (`a = `, `a, b = `), a sink (`a | `) or a `param`,
    no further right than the statement before (whose bracket is still open). In an argument list
    that runs over several lines, a `name = value` on the next line comes after a comma."""
    if k >= len(raw_tokens) or statement_start is None or raw_tokens[k].column > statement_start.column:
        return False
    first = raw_tokens[k].type
    if first == "PARAM_KW":
        return k + 1 < len(raw_tokens) and raw_tokens[k + 1].type == "NAME"
    if first != "NAME":
        return False
    j = k + 1
    while j + 1 < len(raw_tokens) and raw_tokens[j].type == "COMMA" and raw_tokens[j + 1].type == "NAME":
        j += 2
    if j == len(raw_tokens):
        return False
    return raw_tokens[j].type == "EQUAL" or (j == k + 1 and raw_tokens[j].type == "VBAR")


def _starts_declaration(raw_tokens: list[Token], k: int) -> bool:
    """`pipeline name`, `schema Name` or `import "path"` as the first tokens of a line."""
    if k == 0 or raw_tokens[k - 1].type != "_NL" or k + 1 == len(raw_tokens):
        return False
    kind, following = raw_tokens[k].type, raw_tokens[k + 1].type
    return (kind in ("PIPELINE", "SCHEMA") and following == "NAME") or \
        (kind == "IMPORT" and following == "STRING")
