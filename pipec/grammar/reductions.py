"""The parser's reductions build the AST directly, without lark's parse tree.

lark builds a Tree for every rule (with positions propagated from the children), which the AST
builder then walked again: for a big file that tree took as much memory as the AST, and building
and walking it a third of the parse time. Here each reduction calls the AstBuilder method of its
rule at once, with the children lark's tree would have had (lark's own child filter: anonymous
tokens dropped, `_rule`s inlined, None for a missing `[optional]`) and the position lark's tree
would have had. Each value on the parser's stack also carries its height in that tree (for the
E0006 nesting limit) and the diagnostics its AstBuilder methods found, which count only if the
value ends up in the result: recovery from a syntax error throws reductions away.
"""
from __future__ import annotations

import threading
from operator import itemgetter

from lark import Tree
from lark.parse_tree_builder import maybe_create_child_filter

from pipec.grammar.lexing import lark_parser


class Reduced:
    """A rule's value with its position (the attributes of a lark Token or tree `meta`, None for
    a rule that matched nothing), its height in lark's tree and the diagnostics found inside."""

    __slots__ = ("value", "start_pos", "line", "column", "end_pos", "end_line", "end_column",
                 "height", "pending")

    def copy(self) -> "Reduced":
        """A copy whose inlined Tree has its own child list (lark grows those lists in place)."""
        twin = Reduced()
        for name in Reduced.__slots__:
            setattr(twin, name, getattr(self, name))
        if isinstance(self.value, Tree):
            twin.value = Tree(self.value.data, list(self.value.children))
        return twin


def _identity(children: list) -> list:
    return children


class _Reductions:
    """lark callbacks for every rule of the grammar, calling the methods of `self.builder`."""

    def __init__(self):
        self.builder = None
        self.callbacks = {rule: self._callback(rule) for rule in lark_parser().rules}

    def _callback(self, rule):
        options = rule.options
        passthrough = options.expand1 and not rule.alias     # a `?rule` with a single child
        if passthrough and len(rule.expansion) == 1 and not options.empty_indices:
            return itemgetter(0)       # the child as it is, position and all
        name = rule.alias or options.template_source or rule.origin.name
        inline = rule.origin.name.startswith("_")            # spliced into the parent's children
        make_filter = maybe_create_child_filter(rule.expansion, options.keep_all_tokens, False,
                                                options.empty_indices)
        child_filter = make_filter(_identity) if make_filter is not None else None

        def reduce(raw: list) -> Reduced:
            values = []
            first = last = None
            height = 0
            pending = None
            for item in raw:
                if item.__class__ is Reduced:
                    values.append(item.value)
                    if item.start_pos is not None:
                        if first is None:
                            first = item
                        last = item
                    height = max(height, item.height)
                    if item.pending:
                        pending = item.pending if pending is None else pending + item.pending
                else:   # a token
                    values.append(item)
                    if first is None:
                        first = item
                    last = item
            children = child_filter(values) if child_filter is not None else values
            result = Reduced()
            if first is None:
                result.start_pos = result.line = result.column = None
                result.end_pos = result.end_line = result.end_column = None
            else:
                result.start_pos, result.line, result.column = first.start_pos, first.line, first.column
                result.end_pos, result.end_line = last.end_pos, last.end_line
                result.end_column = last.end_column
            if inline:
                result.value = Tree(name, children)
            elif passthrough and len(children) == 1:
                result.value = children[0]
            else:
                diagnostics = self.builder.diagnostics
                reported = len(diagnostics)
                result.value = getattr(self.builder, name)(result, children)
                height += 1
                if len(diagnostics) > reported:
                    found = diagnostics[reported:]
                    del diagnostics[reported:]
                    pending = found if pending is None else pending + found
            result.height = height
            result.pending = pending
            return result

        return reduce


_per_thread = threading.local()


def ast_callbacks(builder) -> dict:
    """lark's callbacks, by rule, building the AST with `builder` (an AstBuilder). Made once per
    thread: a YAML file parses thousands of expressions."""
    reductions = getattr(_per_thread, "reductions", None)
    if reductions is None:
        reductions = _per_thread.reductions = _Reductions()
    reductions.builder = builder
    return reductions.callbacks
