"""The `.pipe` parser: lexer → post-lexer → LALR parser with statement-level error recovery → AST.

Recovery: the parser remembers its state at the last statement (or declaration) boundary. After a
syntax error it skips to the next boundary, returns to that state and goes on, so one file
reports every broken statement, and the Module keeps every statement that parsed. An error that
follows another with no token accepted in between is a consequence of the first and not reported.
"""
from __future__ import annotations

from dataclasses import dataclass

from lark import Token, Tree
from lark.exceptions import UnexpectedToken
from lark.parsers.lalr_interactive_parser import InteractiveParser
from lark.parsers.lalr_parser_state import ParseConf, ParserState

from pipec.compiler import ast
from pipec.compiler.diagnostics import Diagnostic
from pipec.compiler.span import LineIndex
from pipec.grammar import syntax_errors as words
from pipec.grammar.build_ast import AstBuilder
from pipec.grammar.lexing import lark_parser, lex
from pipec.grammar.newlines import CLOSERS, MAX_NESTING, PostLexed, post_lex
from pipec.grammar.reductions import Reduced, ast_callbacks
from pipec.grammar.spans import SpanMaker

MAX_SYNTAX_ERRORS = 20


@dataclass
class SyntaxProblem:
    index: int              # position of the offending token in PostLexed.tokens (len() for EOF)
    token: Token
    expected: set[str]
    state: int


def parse_pipe(text: str, file: str) -> tuple[ast.Module, list[Diagnostic]]:
    """Parse a `.pipe` file. Never raises for bad input: problems come back as diagnostics."""
    spans = SpanMaker(file, text)
    declarations, comments, diagnostics = _parse(text, "start", spans)
    module = ast.Module(span=spans.range(0, len(text)), path=file, declarations=declarations or [],
                        comments=[ast.Comment(span=spans.of(c), text=str(c)) for c in comments])
    return module, diagnostics


def parse_fragment(text: str, file: str, start: str, offset: int = 0,
                   source: LineIndex | None = None) -> tuple[object | None, list[Diagnostic]]:
    """Parse a piece of a bigger file (`start` is `expression`, `argument` or `type_only`).

    Spans are shifted by `offset`; with `source` (the whole file's lines) their lines and columns
    are right too.
    """
    node, _, diagnostics = _parse(text, start, SpanMaker(file, text, offset, source))
    return node, diagnostics


def first_error_state(text: str) -> int | None:
    """The parser state in which `text` first fails (used to index the curated messages)."""
    tokens, _ = lex(text)
    problems = _feed(post_lex(tokens), "start", recover=False)[1]
    return problems[0].state if problems else None


def _parse(text: str, start: str, spans: SpanMaker):
    tokens, lexical_errors = lex(text)
    diagnostics = [Diagnostic(code=e.code, message=e.message, span=spans.range(e.start, e.end),
                              help=e.help) for e in lexical_errors]
    post = post_lex(tokens)
    del tokens
    if post.too_deep is not None:   # not worth parsing: the tree could not be used
        return None, post.comments, diagnostics + [_too_deep(spans, post.too_deep)]
    root, problems = _feed(post, start, recover=True, callbacks=ast_callbacks(AstBuilder(spans, [])))
    # A broken token (say an unterminated string) usually breaks its line's syntax too: the
    # lexical error says it better, so syntax errors on the same line are not repeated.
    damaged_lines = {d.span.line for d in diagnostics}
    diagnostics += [d for d in (_diagnose(p, post, spans) for p in problems)
                    if d.span is None or d.span.line not in damaged_lines]
    node = None
    if root is not None and root.height > MAX_NESTING:
        tree, _ = _feed(post, start, recover=True)   # lark's parse tree, to find where
        diagnostics.append(_too_deep(spans, _too_deep_subtree(tree).meta))
    elif root is not None:
        node = root.value
        diagnostics += root.pending or []   # found by the AST builder (bad escapes)
    diagnostics.sort(key=lambda d: d.span.start if d.span else 0)
    return node, post.comments, diagnostics


# ---------------------------------------------------------------- feeding tokens, with recovery
def _feed(post: PostLexed, start: str, recover: bool, callbacks: dict | None = None):
    """Parse the tokens; the result is built by `callbacks` (by rule), lark's parse tree if None."""
    tokens = post.tokens
    parser = lark_parser().parse_interactive(start=start)
    if callbacks is not None:
        table = parser.parser_state.parse_conf.parse_table
        parser.parser_state = ParserState(ParseConf(table, callbacks, start), parser.lexer_thread)
    checkpoint = _copy_state(parser.parser_state)
    problems: list[SyntaxProblem] = []
    accepted_since_error = True
    resyncing = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        before = _copy_state(parser.parser_state) if _is_boundary(post, i) else None
        try:
            parser.feed_token(token)
        except UnexpectedToken as e:
            if resyncing:          # the boundary token does not fit the restored state: skip it
                resyncing = False
                i += 1
                continue
            if accepted_since_error:
                problems.append(SyntaxProblem(i, token, set(e.expected), e.state.position))
            if not recover or len(problems) >= MAX_SYNTAX_ERRORS:
                return None, problems
            boundary = _next_boundary(tokens, i)
            # In step again at the boundary, unless the error was the boundary itself (a missing
            # `{` before a newline): then what follows is likely read out of context, so wait.
            accepted_since_error = boundary > i
            i = boundary
            parser = _restored(parser, checkpoint)
            resyncing = True
            continue
        if before is not None:
            checkpoint = before if token.type == "_NL" else _copy_state(parser.parser_state)
        accepted_since_error = accepted_since_error or not resyncing
        resyncing = False
        i += 1
    return _finish(parser, checkpoint, tokens, problems, accepted_since_error, recover)


def _finish(parser, checkpoint, tokens, problems, accepted_since_error, recover):
    """Feed the end of the file; if it comes too early, close open blocks to keep what parsed:
    after the last statement if that one is whole (a file that stops before its last `}`),
    else after the last statement boundary."""
    last = tokens[-1] if tokens else None
    at_end = _copy_state(parser.parser_state)
    try:
        return parser.feed_eof(last), problems
    except UnexpectedToken as e:
        if accepted_since_error:
            problems.append(SyntaxProblem(len(tokens), e.token, set(e.expected), e.state.position))
        if not recover:
            return None, problems
    for state in (at_end, checkpoint):
        parser = _restored(parser, state)
        for _ in range(3):
            try:
                return parser.feed_eof(last), problems
            except UnexpectedToken:
                try:
                    parser.feed_token(Token.new_borrow_pos("RBRACE", "}", last) if last else
                                      Token("RBRACE", "}"))
                except UnexpectedToken:
                    break
    return None, problems


def _is_boundary(post: PostLexed, i: int) -> bool:
    """A newline or `{` that separates statements (not one inside an inline schema literal)."""
    return post.tokens[i].type in ("_NL", "LBRACE") and not post.inside_parens[i]


def _next_boundary(tokens: list[Token], i: int) -> int:
    """Index of the newline or `}` that ends the statement holding tokens[i] (len(tokens) if none)."""
    depth = 0
    for j in range(i, len(tokens)):
        kind = tokens[j].type
        if kind == "LBRACE":
            depth += 1
        elif kind == "RBRACE":
            if depth == 0:
                return j
            depth -= 1
        elif kind == "_NL" and depth == 0:
            return j
    return len(tokens)


def _restored(parser: InteractiveParser, checkpoint) -> InteractiveParser:
    parser.parser_state = _copy_state(checkpoint)
    return parser


def _copy_state(state):
    """A parser state to return to after an error. Lark grows the child list of a left-recursive
    rule (`statement (_NL statement)*`) in place, so the trees on the value stack are copied one
    level deep: otherwise a statement parsed after the copy was taken would come back with it."""
    copied = state.copy(deepcopy_values=False)
    copied.value_stack = [_copy_value(v) for v in copied.value_stack]
    return copied


def _copy_value(value):
    if isinstance(value, Tree):
        return Tree(value.data, list(value.children), value._meta)
    if isinstance(value, Reduced):
        return value.copy()
    return value


# ---------------------------------------------------------------- nesting
def _too_deep_subtree(tree: Tree) -> Tree | None:
    """On the deepest path of the tree, the subtree MAX_NESTING levels down, if there is one (a
    long operator chain nests too). Computed without recursion: the tree may be very deep."""
    heights: dict[int, int] = {}
    stack: list[tuple[Tree, bool]] = [(tree, False)]
    while stack:
        node, children_done = stack.pop()
        subtrees = [c for c in node.children if isinstance(c, Tree)]
        if children_done:
            heights[id(node)] = 1 + max((heights[id(c)] for c in subtrees), default=0)
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in subtrees)
    if heights[id(tree)] <= MAX_NESTING:
        return None
    node = tree
    for _ in range(MAX_NESTING):
        node = max((c for c in node.children if isinstance(c, Tree)), key=lambda c: heights[id(c)])
    return node


def _too_deep(spans: SpanMaker, where) -> Diagnostic:
    """E0006 at the bracket or subexpression that goes one level beyond MAX_NESTING."""
    return Diagnostic(code="E0006", message=f"expressions nest more than {MAX_NESTING} levels deep",
                      span=spans.range(where.start_pos, where.end_pos),
                      label=f"nested more than {MAX_NESTING} levels deep",
                      help="split the expression into several `derive` steps, or build it from "
                           "fewer nested parentheses and shorter operator chains")


# ---------------------------------------------------------------- problems → diagnostics
def _diagnose(problem: SyntaxProblem, post: PostLexed, spans: SpanMaker) -> Diagnostic:
    token, tokens, i = problem.token, post.tokens, problem.index
    previous = tokens[i - 1] if i > 0 else None
    span = spans.of(token) if token.type != "$END" else spans.end_of_text()
    if previous is not None and (token.type in ("_NL", "$END") or
                                 (token.type in CLOSERS and token.line > previous.end_line)):
        span = spans.range(previous.end_pos, previous.end_pos)   # where something is missing
    following = tokens[i + 1] if i + 1 < len(tokens) else None
    opener = post.open_bracket[i] if i < len(tokens) else (post.unclosed_openers or [None])[-1]

    if token in post.unmatched_closers:
        return Diagnostic(code="E0004", message=f"unmatched `{token}`", span=span,
                          label=f"this `{token}` closes nothing",
                          help="remove it, or add the opening bracket it belongs to")
    if token.type in CLOSERS or token.type == "$END" or id(token) in post.closing_newlines:
        unclosed = [o for o in post.unclosed_openers if o.start_pos < _position(token, post)]
        if unclosed:
            o = unclosed[-1]
            return Diagnostic(code="E0004", message=f"`{o}` is never closed", span=spans.of(o),
                              label=f"this `{o}` has no matching `{_closing(o)}`",
                              help=f"add `{_closing(o)}` where the bracket should end")
    keyword = _keyword_used_as_name(token, previous, following, tokens, i)
    if keyword is not None:
        return Diagnostic(code="E0001", span=spans.of(keyword),
                          message=f"`{keyword}` is a keyword and cannot be used as a binding name",
                          label="keyword", help=f"choose another name, such as `{keyword}_data`")
    if token.type == "EQUAL" and "EQUAL" not in problem.expected:
        return Diagnostic(code="E0001", message="unexpected `=` in an expression", span=span,
                          label="`=` is not a comparison",
                          help="use `==` to compare values; `=` only names an argument: `name=value`")
    starts_item = token.type in words.EXPRESSION_STARTS
    if {"COMMA", "RSQB"} <= problem.expected and starts_item and _is(opener, "LSQB"):
        return Diagnostic(code="E0001", message="expected `,` or `]` between list items",
                          span=span, label="a comma is missing before this",
                          help=_unclosed_help(opener, token) or "separate list items with commas")
    if {"COMMA", "RPAR"} <= problem.expected and starts_item and _is(opener, "LPAR"):
        return Diagnostic(code="E0001", message="expected `)` or `,` after the argument",
                          span=span, label=f"found {words.found_words(token)}",
                          help=_unclosed_help(opener, token) or "separate arguments with commas")
    curated = words.curated_for(problem.state, token)
    if curated is not None:
        return Diagnostic(code="E0001", message=curated.message, span=span,
                          label=f"found {words.found_words(token)}", help=curated.help)
    return Diagnostic(code="E0001", span=span, label=f"unexpected {words.found_words(token)}",
                      message=f"expected {words.expected_words(problem.expected)}, "
                              f"found {words.found_words(token)}",
                      help=_unclosed_help(opener, token))


def _keyword_used_as_name(token, previous, following, tokens, i) -> Token | None:
    """`schema = ...` at the start of a statement: the keyword that was meant as a name."""
    def at_statement_start(j: int) -> bool:
        return j == 0 or tokens[j - 1].type in ("_NL", "LBRACE")

    if token.type in words.KEYWORDS and following is not None \
            and following.type in ("EQUAL", "COMMA") and at_statement_start(i):
        return token
    if token.type in ("EQUAL", "COMMA") and previous is not None \
            and previous.type in words.KEYWORDS and at_statement_start(i - 1):
        return previous
    return None


def _unclosed_help(opener: Token | None, token: Token) -> str | None:
    if opener is not None and opener.type != "LBRACE" and token.type != "$END" \
            and token.line > opener.line:
        return f"the `{opener}` on line {opener.line} is not closed"
    return None


def _is(token: Token | None, kind: str) -> bool:
    return token is not None and token.type == kind


def _closing(opener: Token) -> str:
    return {"(": ")", "[": "]", "{": "}"}[str(opener)]


def _position(token: Token, post: PostLexed) -> int:
    if token.type == "$END":
        return post.tokens[-1].end_pos if post.tokens else 0
    return token.start_pos
