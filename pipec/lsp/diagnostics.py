"""pipec diagnostics as LSP diagnostics: the same codes, labels (as related locations) and help as
`pipec check`. A problem inside an imported file is shown on the `import` that brings it in."""
from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path

from pipec.compiler import ast
from pipec.compiler.diagnostics import Diagnostic
from pipec.compiler.span import Span
from pipec.lsp.analysis import Analysis, TextIndex

SEVERITY = {"error": types.DiagnosticSeverity.Error, "warning": types.DiagnosticSeverity.Warning}
START = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))


def lsp_diagnostics(analysis: Analysis) -> list[types.Diagnostic]:
    return [_convert(d, analysis) for d in analysis.diagnostics]


def _convert(d: Diagnostic, analysis: Analysis) -> types.Diagnostic:
    lines = [d.message]
    if d.label:
        lines.append(d.label)
    related = [types.DiagnosticRelatedInformation(location=location(label.span, analysis),
                                                  message=label.message) for label in d.labels]
    if d.span is None:
        where = START
    elif _same_file(d.span.file, analysis.path):
        where = analysis.index.range(d.span)
    else:
        where = _import_range(d.span.file, analysis)
        lines[0] = f"{Path(d.span.file).name}:{d.span.line}:{d.span.column}: {d.message}"
        related.insert(0, types.DiagnosticRelatedInformation(location=location(d.span, analysis),
                                                             message=d.label or d.message))
    if d.help:
        lines.append(f"help: {d.help}")
    lines += [f"note: {n}" for n in d.notes]
    return types.Diagnostic(range=where, message="\n".join(lines), severity=SEVERITY[d.severity],
                            code=d.code, source="pipec", related_information=related or None)


def location(span: Span, analysis: Analysis) -> types.Location:
    """A span in this document or in another file (read from disk for its line numbers)."""
    if _same_file(span.file, analysis.path):
        uri = analysis.uri or from_fs_path(str(Path(analysis.path).resolve()))
        return types.Location(uri=uri, range=analysis.index.range(span))
    text = analysis.program.sources.get(span.file)
    if text is None:
        text = next((t for f, t in analysis.program.sources.items() if _same_file(f, span.file)), "")
    return types.Location(uri=from_fs_path(str(Path(span.file).resolve())), range=TextIndex(text).range(span))


def _import_range(file: str, analysis: Analysis) -> types.Range:
    """The `import` of this document that leads to `file` (the first one when it is not direct)."""
    imports = [d for d in analysis.module.declarations if isinstance(d, ast.Import)] if analysis.module else []
    base = Path(analysis.path).parent
    direct = next((i for i in imports if _same_file(str(base / i.path), file)), None)
    chosen = direct or (imports[0] if imports else None)
    return analysis.index.range(chosen.span) if chosen else START


def _same_file(a: str, b: str) -> bool:
    return a == b or Path(a).resolve() == Path(b).resolve()
