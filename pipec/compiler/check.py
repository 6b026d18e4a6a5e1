"""From source text to checked IR: parse, resolve imports and schemas, check every pipeline.

This is the front end's single entry point (`pipec.load`/`pipec.check` wrap it). It never prints
and never raises for a user mistake: everything wrong is in `Program.diagnostics`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pipec.compiler import ast
from pipec.compiler.diagnostics import Diagnostic, Diagnostics, Label
from pipec.compiler.gc_pause import gc_paused
from pipec.compiler.ir import IR
from pipec.compiler.paths import check_paths
from pipec.compiler.schemas import schema_from_fields
from pipec.compiler.span import Span
from pipec.compiler.typecheck import PipelineChecker
from pipec.compiler.span import Span
from pipec.compiler.types import Schema, ValueType


BAD_OVERRIDE = "E0124"


@dataclass
class Program:
    """A checked source file: its pipelines' IR (those without errors) and every diagnostic."""

    path: str
    module: ast.Module | None
    pipelines: dict[str, IR] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    schemas: dict[str, Schema] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def bad_command_line(self) -> bool:
        """A `-p` override names no parameter or has a value its parameter cannot take (E0124):
        the command line is wrong, not the program (`pipec` exits 2)."""
        return any(d.code == BAD_OVERRIDE for d in self.errors)


class UnreadableSource(Exception):
    """A source file that cannot be read as text: why, and where for bytes that are not UTF-8."""

    def __init__(self, reason: str, span: Span | None = None):
        super().__init__(reason)
        self.reason = reason
        self.span = span


MAX_SOURCE_BYTES = 32 * 1024 * 1024   # checking takes ~600 bytes of memory per byte of source


def read_source(path: Path) -> str:
    """The text of a `.pipe`/`.yaml` file; raises UnreadableSource (a folder, a symlink loop, no
    permission, endless like /dev/zero, not UTF-8: the first bad byte's line and column)."""
    try:
        with path.open("rb") as source:
            data = source.read(MAX_SOURCE_BYTES + 1)
    except OSError as exc:
        raise UnreadableSource(exc.strerror or str(exc)) from None
    if len(data) > MAX_SOURCE_BYTES:
        raise UnreadableSource(f"it is larger than {MAX_SOURCE_BYTES // 2 ** 20} MB, the most a "
                               "source file may have")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        offset = len(data[:exc.start].decode("utf-8"))
        column = offset - len(data[:line_start].decode("utf-8")) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        span = Span(file=str(path), start=offset, end=offset + 1, line=line, column=column,
                    end_line=line, end_column=column + 1)
        raise UnreadableSource(f"byte 0x{data[exc.start]:02x} at line {line}, column {column} is "
                               "not UTF-8 text", span) from None


def check_file(path: str | Path, params: dict[str, str] | None = None) -> Program:
    path = Path(path)
    try:
        text = read_source(path)
    except UnreadableSource as exc:
        d = Diagnostic(code="E0100", message=f"cannot read `{path}`: {exc.reason}", span=exc.span,
                       help="check the path and that the file is UTF-8 text")
        return Program(path=str(path), module=None, diagnostics=[d])
    return check_source(text, str(path), params)


def check_source(text: str, file: str = "<string>", params: dict[str, str] | None = None) -> Program:
    """Check source text; `params` are `-p name=value` overrides (as text), checked against
    the declared parameter types of every pipeline that declares them."""
    try:
        return _check_source(text, file, params)
    except RecursionError:  # the parser and checker recurse once per level of nesting
        return Program(path=file, module=None, sources={file: text}, diagnostics=[too_deep(file)])


def too_deep(file: str) -> Diagnostic:
    return Diagnostic(code="E0006", message=f"`{file}` nests expressions too deeply to be compiled",
                      help="split the expression into several `derive` steps, or build it from "
                           "fewer nested parentheses and shorter operator chains")


@gc_paused()
def _check_source(text: str, file: str, params: dict[str, str] | None) -> Program:
    """Parse and check with the collector paused once for the whole file: resumed between two
    pipelines, it walked the whole heap each time (a 5 MB file has 145 pipelines)."""
    from pipec.grammar import parse_source

    module, syntax = parse_source(text, file)
    return check_parsed(module, syntax, text, file, params)


def check_parsed(module: ast.Module, syntax: list[Diagnostic], text: str, file: str,
                 params: dict[str, str] | None = None, *, partial: bool = False,
                 step_inputs: dict[Span, ValueType] | None = None) -> Program:
    """Check a parsed module. `partial` (the editor's view) also checks what parsed in a file with
    syntax errors; `step_inputs` collects the value each step call receives, by the call's span."""
    diags = Diagnostics()
    sources = {file: text}
    diags.extend(syntax)
    program = Program(path=file, module=module, sources=sources)
    if any(d.is_error for d in syntax) and not partial:
        program.failed = [d.name for d in module.declarations if isinstance(d, ast.Pipeline)]
        program.diagnostics = diags.items
        return program
    program.schemas = _schemas(module, Path(file), diags, sources, [str(Path(file).resolve())])
    pipelines = [d for d in module.declarations if isinstance(d, ast.Pipeline)]
    seen: dict[str, ast.Pipeline] = {}
    for p in pipelines:
        if p.name in seen:
            diags.error("E0105", f"pipeline `{p.name}` is declared twice", p.name_span,
                        labels=[Label(span=seen[p.name].name_span, message="first declared here")])
            continue
        seen[p.name] = p
        overrides = {k: v for k, v in (params or {}).items()
                     if any(isinstance(s, ast.ParamDecl) and s.name == k for s in p.body) or len(pipelines) == 1}
        ir = PipelineChecker(p, program.schemas, diags, overrides, step_inputs).check()
        if ir is None:
            program.failed.append(p.name)
        else:
            program.pipelines[p.name] = ir
    _unknown_overrides(params or {}, pipelines, diags)
    check_paths(list(program.pipelines.values()), diags)
    program.diagnostics = diags.items
    return program


def _unknown_overrides(params: dict[str, str], pipelines: list[ast.Pipeline], diags: Diagnostics) -> None:
    """With several pipelines, `-p x=...` must name a parameter of at least one of them."""
    if len(pipelines) < 2:
        return
    declared = {s.name for p in pipelines for s in p.body if isinstance(s, ast.ParamDecl)}
    for name in params:
        if name not in declared:
            diags.error("E0124", f"no pipeline in this file has a parameter `{name}`", None)


@lru_cache(maxsize=32)
def _parse_import(text: str, file: str) -> tuple[ast.Module, list[Diagnostic]]:
    """An imported file, parsed once per content: `pipec lsp` checks the importing file again on
    every change, and the imports (often the biggest files) rarely change meanwhile. Only the
    schema declarations of the result are read, never changed."""
    from pipec.grammar import parse_source

    return parse_source(text, file)


def _schemas(module: ast.Module, path: Path, diags: Diagnostics, sources: dict[str, str],
             stack: list[str]) -> dict[str, Schema]:
    """The schemas visible in `module`: imported ones first, then its own (imports may nest)."""
    schemas: dict[str, Schema] = {}
    origin: dict[str, ast.SchemaDecl] = {}
    for imp in (d for d in module.declarations if isinstance(d, ast.Import)):
        target = (path.parent / imp.path).resolve()
        if str(target) in stack:
            chain = " -> ".join(Path(s).name for s in stack[stack.index(str(target)):] + [str(target)])
            diags.error("E0102", f"import cycle: {chain}", imp.span, help="move the shared schemas into a file that imports nothing")
            continue
        try:
            text = read_source(target)
        except UnreadableSource as exc:
            if not target.exists() and not target.is_symlink():
                diags.error("E0101", f"cannot find the imported file `{imp.path}`", imp.span,
                            label=f"looked for {target}", help="import paths are relative to the importing file")
            else:   # a folder, a symlink loop, no permission, not UTF-8
                imported_here = [Label(span=imp.span, message="imported here")] if exc.span else []
                diags.error("E0100", f"cannot read the imported file `{imp.path}`: {exc.reason}",
                            exc.span or imp.span, labels=imported_here,
                            help="check the path and that the file is UTF-8 text")
            continue
        sources[str(target)] = text
        imported, syntax = _parse_import(text, str(target))
        diags.extend(syntax)
        if any(d.is_error for d in syntax):
            continue
        for name, schema in _schemas(imported, target, diags, sources, stack + [str(target)]).items():
            schemas.setdefault(name, schema)
    for decl in (d for d in module.declarations if isinstance(d, ast.SchemaDecl)):
        if decl.name in origin:
            diags.error("E0103", f"schema `{decl.name}` is declared twice", decl.name_span,
                        labels=[Label(span=origin[decl.name].name_span, message="first declared here")])
            continue
        origin[decl.name] = decl
        schema = schema_from_fields(decl.fields, diags)
        if schema is not None:
            schemas[decl.name] = schema
    return schemas
