"""Bounds on what a YAML file may make the front end do: the composer that enforces them.

A YAML pipeline is data, so a file must not be able to make reading it expensive or make it mean
something other than what it shows: aliases that expand exponentially ("billion laughs") or
refer to their own container, collections nested thousands deep, and explicit tags (`!!python/...`,
`!foo`, even `!!str`) are rejected while the file is composed, each at its position. Nothing is
ever constructed from a tag: the front end reads nodes, not Python objects.
"""
from __future__ import annotations

from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

MAX_YAML_DEPTH = 64             # a pipeline needs about 10 levels
MAX_ALIAS_NODES = 10_000        # nodes that all the aliases of a file expand to, together
YAML_CORE_TAG = "tag:yaml.org,2002:"


class YamlRejected(MarkedYAMLError):
    """Well-formed YAML that pipec does not read; `code` is the diagnostic's code."""

    def __init__(self, code: str, problem: str, mark):
        super().__init__(problem=problem, problem_mark=mark)
        self.code = code


class BoundedComposer(Composer):
    """ruamel's composer, refusing explicit tags, deep nesting and big or cyclic alias expansion."""

    def __init__(self, loader=None):
        super().__init__(loader)
        self.warn_double_anchors = False   # a redefined anchor is valid YAML: no Python warning
        self.alias_nodes = 0
        self.expansion: dict[int, tuple[int, int]] = {}   # id(node) -> (nodes, depth) it stands for

    def compose_node(self, parent, index):
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            node = super().compose_node(parent, index)
            self._count_alias(node, event.start_mark)
            return node
        if self.depth >= MAX_YAML_DEPTH:
            raise YamlRejected("E0006", f"YAML collections nest more than {MAX_YAML_DEPTH} levels deep",
                               event.start_mark)
        if event.ctag is not None:
            raise YamlRejected("E0014", "explicit YAML tags are not accepted: "
                                        f"`{_as_written(event.ctag)}`", event.start_mark)
        return super().compose_node(parent, index)

    def _count_alias(self, target: Node, mark) -> None:
        if isinstance(target, (MappingNode, SequenceNode)) and target.end_mark is None:
            raise YamlRejected("E0014", "a YAML alias refers to the collection that contains it",
                               mark)
        nodes, depth = self._expansion(target)
        self.alias_nodes += nodes
        if self.alias_nodes > MAX_ALIAS_NODES:
            raise YamlRejected("E0014", f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} "
                                        "nodes", mark)
        if self.depth + depth > MAX_YAML_DEPTH:
            raise YamlRejected("E0006", f"YAML collections nest more than {MAX_YAML_DEPTH} levels "
                                        "deep once this alias is expanded", mark)

    def _expansion(self, node: Node) -> tuple[int, int]:
        """How many nodes `node` stands for and how deep it is, aliases expanded. Every alias
        inside it was measured when it was read, so the recursion only follows written nesting."""
        known = self.expansion.get(id(node))
        if known is not None:
            return known
        if isinstance(node, SequenceNode):
            children = [self._expansion(item) for item in node.value]
        elif isinstance(node, MappingNode):
            children = [self._expansion(n) for pair in node.value for n in pair]
        else:
            children = []
        result = (1 + sum(n for n, _ in children), 1 + max((d for _, d in children), default=0))
        self.expansion[id(node)] = result
        return result


def _as_written(tag) -> str:
    """`!!str` rather than the resolved `tag:yaml.org,2002:str`."""
    text = str(tag)
    return "!!" + text.removeprefix(YAML_CORE_TAG) if text.startswith(YAML_CORE_TAG) else text
