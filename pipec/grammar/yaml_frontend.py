"""The YAML form of a pipeline (LANGUAGE.md §9) → the same AST the `.pipe` parser builds.

The YAML is composed into nodes (never constructed into Python objects), within the bounds of
`yaml_limits`, with ruamel.yaml's YAML 1.2 resolver: `on:` and `no:` stay strings (no Norway
problem), every node keeps its character offsets, and so every span and every diagnostic points
into the YAML file. Expressions are YAML
strings in the expression syntax, parsed by the `.pipe` parser with their offset in the file.
"""
from __future__ import annotations

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pipec.compiler import ast
from pipec.compiler.diagnostics import Diagnostic
from pipec.compiler.span import LineIndex, Span
from pipec.grammar.parser import parse_fragment
from pipec.grammar.yaml_limits import BoundedComposer, YamlRejected

TOP_LEVEL_KEYS = ("imports", "pipeline", "description", "options", "params", "steps", "sinks",
                  "schemas")
PARAM_KEYS = ("type", "default", "description")
CHAIN_KEYS = ("from", "do", "description")
# Arguments and options whose YAML strings are string values, not expressions.
STRING_ARGUMENTS = frozenset({"path", "delimiter", "null_values", "how", "function", "metrics"})
STRING_OPTIONS = frozenset({"schedule", "start", "owner", "tags", "tasks"})
STRING_PARAM_TYPES = frozenset({"str", "date"})

TAG = "tag:yaml.org,2002:"


def parse_yaml(text: str, file: str) -> tuple[ast.Module, list[Diagnostic]]:
    """Parse a `.pipe.yaml` file; never raises for bad input."""
    builder = _YamlBuilder(text, file)
    module = ast.Module(span=builder.range(0, len(text)), path=file,
                        declarations=builder.declarations())
    builder.diagnostics.sort(key=lambda d: d.span.start if d.span else 0)
    return module, builder.diagnostics


class _YamlBuilder:
    def __init__(self, text: str, file: str):
        self.text = text
        self.file = file
        self.lines = LineIndex(text)
        self.diagnostics: list[Diagnostic] = []

    # ------------------------------------------------------------ positions and errors
    def range(self, start: int, end: int) -> Span:
        return self.lines.span(self.file, start, end)

    def span(self, node: Node, until: Node | None = None) -> Span:
        return self.range(node.start_mark.index, (until or node).end_mark.index)

    def error(self, code: str, message: str, node: Node, help: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code=code, message=message, span=self.span(node),
                                           help=help))

    # ------------------------------------------------------------ the document
    def declarations(self) -> list:
        reader = YAML(typ="safe", pure=True)
        reader.Composer = BoundedComposer
        try:
            root = reader.compose(self.text)
        except YamlRejected as e:
            self.diagnostics.append(Diagnostic(code=e.code, message=e.problem,
                                               span=self.range(e.problem_mark.index,
                                                               e.problem_mark.index + 1)))
            return []
        except MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            where = self.range(mark.index, mark.index) if mark else self.range(0, 0)
            problem = " ".join(str(p) for p in (e.context, e.problem) if p)
            self.diagnostics.append(Diagnostic(code="E0010", message=f"invalid YAML: {problem}",
                                               span=where))
            return []
        except YAMLError as e:   # a character YAML does not allow (ruamel's ReaderError)
            position = getattr(e, "position", 0)
            message = str(e).split("\n")[0]
            self.diagnostics.append(Diagnostic(code="E0010", message=f"invalid YAML: {message}",
                                               span=self.range(position, position)))
            return []
        if root is None:
            return []
        top = self.mapping(root, "the file", TOP_LEVEL_KEYS)
        if top is None:
            return []
        declarations: list = [ast.Import(span=self.span(n), path=n.value)
                              for n in self.strings(top.get("imports"), "imports")]
        declarations += self.schemas(top.get("schemas"))
        if "pipeline" in top:
            declarations.append(self.pipeline(root, top))
        elif "steps" in top or "sinks" in top:
            self.error("E0013", "the pipeline has no name", root,
                       help="add `pipeline: name` at the top of the file")
        return declarations

    def pipeline(self, root: Node, top: dict) -> ast.Pipeline:
        name = top["pipeline"]
        self.expect_string(name, "the pipeline name")
        description = top.get("description")
        options = [ast.Option(span=self.span(k, v), name=k.value, name_span=self.span(k),
                              value=self.value(v, as_string=k.value in STRING_OPTIONS))
                   for k, v in self.pairs(top.get("options"), "options")]
        body: list = [p for k, v in self.pairs(top.get("params"), "params")
                      if (p := self.param(k, v)) is not None]
        body += [b for k, v in self.pairs(top.get("steps"), "steps")
                 if (b := self.binding(k, v)) is not None]
        body += [s for n in self.items(top.get("sinks"), "sinks")
                 if (s := self.sink(n)) is not None]
        return ast.Pipeline(span=self.span(root), name=str(name.value), name_span=self.span(name),
                            options=options, body=body, doc=self.text_of(description))

    def schemas(self, node: Node | None) -> list[ast.SchemaDecl]:
        decls = []
        for key, fields in self.pairs(node, "schemas"):
            decls.append(ast.SchemaDecl(span=self.span(key, fields), name=key.value,
                                        name_span=self.span(key), fields=self.fields(fields)))
        return decls

    def fields(self, node: Node) -> list[ast.FieldDecl]:
        fields = []
        for key, type_node in self.pairs(node, "a schema"):
            type_ = self.type_expr(type_node)
            if type_ is not None:
                fields.append(ast.FieldDecl(span=self.span(key, type_node), name=key.value,
                                            name_span=self.span(key),
                                            quoted=not key.value.isidentifier(), type=type_))
        return fields

    def param(self, key: ScalarNode, node: Node) -> ast.ParamDecl | None:
        spec = self.mapping(node, f"parameter `{key.value}`", PARAM_KEYS)
        if spec is None:
            return None
        if "type" not in spec or "default" not in spec:
            missing = "type" if "type" not in spec else "default"
            self.error("E0013", f"parameter `{key.value}` has no `{missing}`", node,
                       help=f"write `{key.value}: {{type: str, default: ...}}`")
            return None
        type_ = self.type_expr(spec["type"])
        if type_ is None:
            return None
        string_typed = type_.name in STRING_PARAM_TYPES or \
            (type_.name == "list" and any(a.name in STRING_PARAM_TYPES for a in type_.args))
        return ast.ParamDecl(span=self.span(key, node), name=key.value, name_span=self.span(key),
                             type=type_, default=self.value(spec["default"], as_string=string_typed),
                             doc=self.text_of(spec.get("description")))

    # ------------------------------------------------------------ statements
    def binding(self, key: ScalarNode, node: Node) -> ast.Binding | None:
        chain, doc = self.chain(node, f"step `{key.value}`", sink=False)
        if chain is None:
            return None
        return ast.Binding(span=self.span(key, node), targets=self.targets(key), value=chain, doc=doc)

    def sink(self, node: Node) -> ast.SinkStatement | None:
        chain, doc = self.chain(node, "a sink", sink=True)
        return ast.SinkStatement(span=self.span(node), value=chain, doc=doc) if chain else None

    def targets(self, key: ScalarNode) -> list[ast.Target]:
        """`"train, test"` names two outputs; each target's span is its own part of the key."""
        start = self.text.find(key.value, key.start_mark.index, key.end_mark.index)
        targets, position = [], 0
        for part in key.value.split(","):
            name = part.strip()
            offset = position + part.index(name) if name else position
            span = self.range(start + offset, start + offset + len(name)) if start >= 0 \
                else self.span(key)
            targets.append(ast.Target(span=span, name=name))
            position += len(part) + 1
        return targets

    def chain(self, node: Node, what: str, sink: bool) -> tuple[ast.Chain | None, str | None]:
        """`{from: x, do: [...]}`, `{read_csv: {...}, do: [...]}` or, for a sink, `{from: x, write_csv: p}`."""
        if not isinstance(node, MappingNode):
            self.error("E0012", f"expected a mapping for {what}", node)
            return None, None
        pairs = self.pairs(node, what)
        spec = {k.value: v for k, v in pairs}
        calls = [(k, v) for k, v in pairs if k.value not in CHAIN_KEYS]
        head: ast.Expr | None = None
        if "from" in spec:
            source = spec["from"]
            if self.expect_string(source, "`from`"):
                head = self.expression(source)
        elif calls and not sink:
            head = self.call(*calls.pop(0))
        else:
            self.error("E0013", f"{what} needs `from:` or a source step such as `read_csv:`", node)
            return None, None
        steps = [c for item in self.items(spec.get("do"), "do") if (c := self.step(item))]
        if sink:
            if len(calls) != 1:
                self.error("E0013", f"{what} needs exactly one sink step besides `from` and `do`",
                           node, help="for example `{from: scored, write_parquet: out/scored.parquet}`")
                return None, None
        elif calls:
            extra = calls[0][0]
            self.error("E0011", f"unknown key `{extra.value}` in {what}", extra,
                       help="a step has `from` (or one source step), `do` and `description`")
        steps += [self.call(k, v) for k, v in calls if sink]
        if head is None:
            return None, None
        return ast.Chain(span=self.span(node), head=head, steps=steps), \
            self.text_of(spec.get("description"))

    def step(self, node: Node) -> ast.Call | None:
        """An item of `do:`: `{name: args}`, or a bare step name for a call without arguments."""
        if isinstance(node, ScalarNode) and node.tag == TAG + "str":
            return ast.Call(span=self.span(node), name=node.value, name_span=self.span(node))
        if not isinstance(node, MappingNode) or len(node.value) != 1:
            self.error("E0012", "expected a step such as `{filter: ...}`", node,
                       help="each item of `do:` is a mapping with one key, the step's name")
            return None
        return self.call(*node.value[0])

    def call(self, key: ScalarNode, node: Node) -> ast.Call:
        """A step call; its arguments keep the shape the `.pipe` parser would give them."""
        name = key.value
        first = _first_positional(name)
        args: list[ast.Arg] = []
        if isinstance(node, MappingNode):
            for k, v in self.pairs(node, f"the arguments of `{name}`"):
                value = self.value(v, as_string=k.value in STRING_ARGUMENTS,
                                   schema=k.value == "schema")
                if k.value == first:
                    args.insert(0, ast.Arg(span=self.span(v), value=value))
                else:
                    args.append(ast.Arg(span=self.span(k, v), name=k.value,
                                        name_span=self.span(k), value=value))
        elif isinstance(node, SequenceNode):
            args = [a for item in node.value if (a := self.list_argument(item)) is not None]
        elif not (isinstance(node, ScalarNode) and node.tag == TAG + "null"):
            if first in STRING_ARGUMENTS or node.tag != TAG + "str":
                args = [ast.Arg(span=self.span(node),
                                value=self.value(node, as_string=first in STRING_ARGUMENTS))]
            else:
                args = [a for a in [self.argument(node)] if a is not None]
        return ast.Call(span=self.span(key, node), name=name, name_span=self.span(key), args=args)

    def list_argument(self, node: Node) -> ast.Arg | None:
        """An item of a list of arguments: `col`, `"new = expr"`, `{new: expr}` or a number."""
        if isinstance(node, MappingNode) and len(node.value) == 1:
            k, v = node.value[0]
            return ast.Arg(span=self.span(k, v), name=k.value, name_span=self.span(k),
                           value=self.value(v))
        if isinstance(node, ScalarNode) and node.tag == TAG + "str":
            return self.argument(node)
        return ast.Arg(span=self.span(node), value=self.value(node))

    # ------------------------------------------------------------ values
    def value(self, node: Node, as_string: bool = False, schema: bool = False) -> ast.Expr:
        """A YAML value as an expression: strings are parsed unless they are string values."""
        span = self.span(node)
        if isinstance(node, SequenceNode):
            return ast.ListExpr(span=span, items=[self.value(n, as_string) for n in node.value])
        if isinstance(node, MappingNode):
            if schema:
                return ast.SchemaLiteral(span=span, fields=self.fields(node))
            self.error("E0012", "expected a value here, found a mapping", node)
            return ast.Literal_(span=span, value=None, literal_type="null")
        tag = node.tag.removeprefix(TAG)
        if tag == "str":
            if as_string:
                return ast.Literal_(span=span, value=node.value, literal_type="str")
            return self.expression(node)
        if tag == "int":
            return ast.Literal_(span=span, value=_yaml_int(node.value), literal_type="int")
        if tag == "float":
            return ast.Literal_(span=span, value=_yaml_float(node.value), literal_type="float")
        if tag == "bool":
            return ast.Literal_(span=span, value=node.value.lower() == "true", literal_type="bool")
        if tag == "null":
            return ast.Literal_(span=span, value=None, literal_type="null")
        self.error("E0012", f"unsupported YAML value of type `{tag}`", node)
        return ast.Literal_(span=span, value=None, literal_type="null")

    def expression(self, node: ScalarNode) -> ast.Expr:
        expr = self.fragment(node, "expression")
        return expr if expr is not None else ast.Literal_(span=self.span(node), value=None,
                                                          literal_type="null")

    def argument(self, node: ScalarNode) -> ast.Arg | None:
        return self.fragment(node, "argument")

    def type_expr(self, node: Node) -> ast.TypeExpr | None:
        if not self.expect_string(node, "a type"):
            return None
        return self.fragment(node, "type_only")

    def fragment(self, node: ScalarNode, start: str):
        """Parse a scalar with the `.pipe` grammar, with spans pointing into the YAML text."""
        offset = self.text.find(node.value, node.start_mark.index, node.end_mark.index) \
            if node.value else -1
        exact = offset >= 0 and "\n" not in self.text[node.start_mark.index:node.end_mark.index]
        parsed, diagnostics = parse_fragment(node.value, self.file, start,
                                             offset if exact else 0, self.lines if exact else None)
        if not exact:   # folded or escaped scalar: no exact mapping, point at the whole scalar
            span = self.span(node)
            parsed = _respan(parsed, span)
            diagnostics = [d.model_copy(update={"span": span}) for d in diagnostics]
        if not node.value:
            self.error("E0012", "expected an expression here, found an empty value", node)
        self.diagnostics.extend(diagnostics)
        return parsed

    # ------------------------------------------------------------ shapes
    def mapping(self, node: Node | None, what: str, keys: tuple[str, ...] = ()) -> dict | None:
        """Key → value node of a mapping (None if it is not one); reports unknown keys."""
        if node is None:
            return None
        if not isinstance(node, MappingNode):
            self.error("E0012", f"expected a mapping for {what}", node)
            return None
        result: dict[str, Node] = {}
        for key, value in self.pairs(node, what):
            if keys and key.value not in keys:
                self.error("E0011", f"unknown key `{key.value}` in {what}", key,
                           help="the keys are " + ", ".join(f"`{k}`" for k in keys))
            else:
                result[key.value] = value
        return result

    def pairs(self, node: Node | None, what: str) -> list[tuple[ScalarNode, Node]]:
        """The (key, value) nodes of a mapping, in order; reports wrong shapes and duplicates."""
        if node is None:
            return []
        if not isinstance(node, MappingNode):
            self.error("E0012", f"expected a mapping for {what}", node)
            return []
        seen: set[str] = set()
        pairs = []
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                self.error("E0012", f"expected a plain key in {what}", key)
            elif key.value in seen:
                self.error("E0013", f"duplicate key `{key.value}` in {what}", key)
            else:
                seen.add(key.value)
                pairs.append((key, value))
        return pairs

    def items(self, node: Node | None, what: str) -> list[Node]:
        if node is None or (isinstance(node, ScalarNode) and node.tag == TAG + "null"):
            return []
        if not isinstance(node, SequenceNode):
            self.error("E0012", f"expected a list for `{what}`", node)
            return []
        return node.value

    def strings(self, node: Node | None, what: str) -> list[ScalarNode]:
        candidates = [node] if isinstance(node, ScalarNode) else self.items(node, what)
        return [n for n in candidates if self.expect_string(n, f"each of `{what}`")]

    def expect_string(self, node: Node, what: str) -> bool:
        if isinstance(node, ScalarNode) and node.tag == TAG + "str":
            return True
        self.error("E0012", f"expected a string for {what}", node)
        return False

    def text_of(self, node: Node | None) -> str | None:
        return str(node.value) if isinstance(node, ScalarNode) and node.value else None


def _first_positional(step: str) -> str | None:
    """The name under which YAML may give a step's first positional argument (`filter: {predicate: ...}`)."""
    from pipec.stdlib.steps import STEPS

    known = STEPS.get(step)
    return known.positional[0] if known and known.positional else None


def _yaml_int(text: str) -> int:
    """YAML 1.2 core integers: decimal (leading zeros allowed), 0o17, 0x1F."""
    try:
        return int(text)
    except ValueError:
        return int(text, 0)


def _yaml_float(text: str) -> float:
    """YAML 1.2 core floats, including .inf, -.inf and .nan."""
    try:
        return float(text)
    except ValueError:
        return float(text.lower().replace(".", ""))


def _respan(node, span: Span):
    """A copy of an AST node with every span replaced by `span`."""
    if isinstance(node, list):
        return [_respan(item, span) for item in node]
    if not isinstance(node, BaseModel):
        return node
    updates = {}
    for name, value in node:
        if isinstance(value, Span):
            updates[name] = span
        elif isinstance(value, (BaseModel, list)):
            updates[name] = _respan(value, span)
    return node.model_copy(update=updates)
