"""Names across a document: where bindings, params and schemas are declared and used, for go to
definition, find references, document symbols and rename (of a binding or a param).

A bare name is a binding where a value is expected (the head of a chain, or an argument whose
values are bindings by its step's `argument_values`: `join`'s right side, `union`'s others,
`predict`'s model) and the checker did not type it as a column; `$p` and `${p}` inside strings
are uses of the param `p`; the value of `schema=` names a schema.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path

from pipec.compiler import ast
from pipec.compiler.span import Span, span_from_offsets
from pipec.grammar import parse_source
from pipec.grammar.format import IDENTIFIER, KEYWORDS
from pipec.lsp.analysis import Analysis, chain_calls, contains, walk
from pipec.lsp.diagnostics import location
from pipec.runtime_contract import PARAM_IN_STRING, RUN_PREFIX
from pipec.stdlib.steps import STEPS, Step



@dataclass(frozen=True)
class Symbol:
    kind: str            # "binding", "param", "schema", "import"
    name: str
    pipeline: str | None  # bindings and params belong to one pipeline


@dataclass(frozen=True)
class Occurrence:
    symbol: Symbol
    span: Span           # just the name (without `$`, `${` or `}`)
    is_definition: bool


def occurrences(analysis: Analysis) -> list[Occurrence]:
    found: list[Occurrence] = []
    if analysis.module is None:
        return found
    for decl in analysis.module.declarations:
        if isinstance(decl, ast.SchemaDecl):
            found.append(Occurrence(Symbol("schema", decl.name, None), decl.name_span, True))
        elif isinstance(decl, ast.Import):
            found.append(Occurrence(Symbol("import", decl.path, None), decl.span, False))
        elif isinstance(decl, ast.Pipeline):
            found += _in_pipeline(analysis, decl)
    return found


def _in_pipeline(analysis: Analysis, p: ast.Pipeline) -> list[Occurrence]:
    bindings = {t.name for s in p.body if isinstance(s, ast.Binding) for t in s.targets}
    found: list[Occurrence] = []

    def binding(name: str, span: Span, definition: bool = False) -> None:
        found.append(Occurrence(Symbol("binding", name, p.name), span, definition))

    def expression(e: ast.Expr) -> None:
        for node in walk(e):
            if isinstance(node, ast.ParamRef):
                span = _sub_span(analysis, node.span, node.span.start + 1, node.span.end)
                found.append(Occurrence(Symbol("param", node.name, p.name), span, False))
            elif isinstance(node, ast.Literal_) and node.literal_type == "str":
                source = analysis.text[node.span.start:node.span.end]
                for m in PARAM_IN_STRING.finditer(source):
                    if m.group(1).startswith(RUN_PREFIX):  # `${run.date}`: a run value, not a param
                        continue
                    span = _sub_span(analysis, node.span, node.span.start + m.start(1), node.span.start + m.end(1))
                    found.append(Occurrence(Symbol("param", m.group(1), p.name), span, False))

    for option in p.options:
        expression(option.value)
    for stmt in p.body:
        if isinstance(stmt, ast.ParamDecl):
            found.append(Occurrence(Symbol("param", stmt.name, p.name), stmt.name_span, True))
            expression(stmt.default)
            continue
        if isinstance(stmt, ast.Binding):
            for target in stmt.targets:
                binding(target.name, target.span, True)
        head = stmt.value.head
        if isinstance(head, ast.ColumnRef) and head.name in bindings:
            binding(head.name, head.span)
        for call in chain_calls(stmt.value):
            step = STEPS.get(call.name)
            positional = 0
            for arg in call.args:
                value = arg.value
                is_value_position = step is not None and step.argument_value(
                    _parameter(step, arg.name, positional)) == "binding"
                if arg.name is None:
                    positional += 1
                if isinstance(value, ast.ColumnRef) and is_value_position and value.name in bindings \
                        and value.type is None:
                    binding(value.name, value.span)
                elif arg.name == "schema" and isinstance(value, ast.ColumnRef):
                    found.append(Occurrence(Symbol("schema", value.name, None), value.span, False))
                else:
                    expression(value)
    return found


def _parameter(step: Step, name: str | None, positional: int) -> str:
    """The parameter an argument gives: its name, else its position's (`*` past the last)."""
    if name is not None:
        return name
    return step.positional[positional] if positional < len(step.positional) else "*"


def _sub_span(analysis: Analysis, span: Span, start: int, end: int) -> Span:
    if span.file != analysis.path:
        return span
    return span_from_offsets(span.file, analysis.text, start, end)


def occurrence_at(analysis: Analysis, offset: int) -> Occurrence | None:
    hits = [o for o in occurrences(analysis) if contains(o.span, offset)]
    return min(hits, key=lambda o: o.span.end - o.span.start) if hits else None


# ---------------------------------------------------------------- requests
def definition(analysis: Analysis, offset: int) -> list[types.Location]:
    hit = occurrence_at(analysis, offset)
    if hit is None:
        return []
    if hit.symbol.kind == "import":
        target = (Path(analysis.path).parent / hit.symbol.name).resolve()
        start = types.Position(line=0, character=0)
        return [types.Location(uri=from_fs_path(str(target)), range=types.Range(start=start, end=start))]
    here = [location(o.span, analysis) for o in occurrences(analysis)
            if o.symbol == hit.symbol and o.is_definition]
    if here or hit.symbol.kind != "schema":
        return here
    return _imported_schema(analysis, hit.symbol.name)


def _imported_schema(analysis: Analysis, name: str) -> list[types.Location]:
    """A schema declared in an imported file (the checker read every such file into `sources`)."""
    for file, text in analysis.program.sources.items():
        if file == analysis.path:
            continue
        module, _ = parse_source(text, file)
        for decl in module.declarations:
            if isinstance(decl, ast.SchemaDecl) and decl.name == name:
                return [location(decl.name_span, analysis)]
    return []


def references(analysis: Analysis, offset: int, include_declaration: bool) -> list[types.Location]:
    hit = occurrence_at(analysis, offset)
    if hit is None or hit.symbol.kind == "import":
        return []
    return [location(o.span, analysis) for o in occurrences(analysis)
            if o.symbol == hit.symbol and (include_declaration or not o.is_definition)]


def prepare_rename(analysis: Analysis, offset: int) -> types.Range | None:
    hit = occurrence_at(analysis, offset)
    if hit is None or hit.symbol.kind not in ("binding", "param"):
        return None
    return analysis.index.range(hit.span)


def rename(analysis: Analysis, offset: int, new_name: str, uri: str) -> types.WorkspaceEdit | None:
    """Rename a binding or a param everywhere in its pipeline (`$p` and `${p}` included)."""
    hit = occurrence_at(analysis, offset)
    if hit is None or hit.symbol.kind not in ("binding", "param"):
        return None
    if not IDENTIFIER.match(new_name) or new_name in KEYWORDS:
        raise ValueError(f"`{new_name}` is not a name: use letters, digits and `_`, not a keyword")
    found = occurrences(analysis)
    if any(o.is_definition and o.symbol.pipeline == hit.symbol.pipeline and o.symbol.name == new_name
           and o.symbol.kind in ("binding", "param") for o in found):
        raise ValueError(f"`{new_name}` is already a name in pipeline `{hit.symbol.pipeline}`")
    edits = [types.TextEdit(range=analysis.index.range(o.span), new_text=new_name)
             for o in found if o.symbol == hit.symbol]
    return types.WorkspaceEdit(changes={uri: edits})


def document_symbols(analysis: Analysis) -> list[types.DocumentSymbol]:
    if analysis.module is None:
        return []
    r = analysis.index.range
    symbols = []
    for decl in analysis.module.declarations:
        if isinstance(decl, ast.Import):
            symbols.append(types.DocumentSymbol(name=decl.path, kind=types.SymbolKind.File,
                                                range=r(decl.span), selection_range=r(decl.span)))
        elif isinstance(decl, ast.SchemaDecl):
            fields = [types.DocumentSymbol(name=f.name, detail=str(f.type), kind=types.SymbolKind.Field,
                                           range=r(f.span), selection_range=r(f.name_span)) for f in decl.fields]
            symbols.append(types.DocumentSymbol(name=decl.name, kind=types.SymbolKind.Struct, range=r(decl.span),
                                                selection_range=r(decl.name_span), children=fields))
        elif isinstance(decl, ast.Pipeline):
            children = []
            for stmt in decl.body:
                if isinstance(stmt, ast.ParamDecl):
                    children.append(types.DocumentSymbol(
                        name=stmt.name, detail=f"param: {stmt.type}", kind=types.SymbolKind.Constant,
                        range=r(stmt.span), selection_range=r(stmt.name_span)))
                elif isinstance(stmt, ast.Binding):
                    children += [types.DocumentSymbol(name=t.name, kind=types.SymbolKind.Variable,
                                                      range=r(stmt.span), selection_range=r(t.span))
                                 for t in stmt.targets]
            symbols.append(types.DocumentSymbol(name=decl.name, kind=types.SymbolKind.Module, range=r(decl.span),
                                                selection_range=r(decl.name_span), children=children))
    return symbols
