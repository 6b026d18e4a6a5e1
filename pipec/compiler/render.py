"""Turn diagnostics into text for people (rustc/Elm style snippets) or into JSON for tools.

A diagnostic only carries spans; the renderer reads the source lines itself (from the `sources`
the caller passes, else from disk), so a message always shows the user's own code with a
caret under the exact place. Colour is a parameter: callers decide with `should_color(stream)`.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, TextIO

from pipec.compiler.diagnostics import Diagnostic, Label
from pipec.compiler.span import Span

TAB_WIDTH = 4
# A multi-line span longer than this shows its first two lines and its last, with `...` between.
MAX_SPAN_LINES = 4
# A longer source line shows a window of this many columns, from a little before its first mark.
MAX_LINE_WIDTH = 120
LINE_CONTEXT = 40
ELLIPSIS = "..."


def should_color(stream: TextIO) -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _Style:
    """ANSI styling that turns into plain text when colour is off."""

    RESET, BOLD, RED, YELLOW, BLUE = "\x1b[0m", "\x1b[1m", "\x1b[31m", "\x1b[33m", "\x1b[34m"

    def __init__(self, color: bool):
        self.color = color

    def paint(self, text: str, *codes: str) -> str:
        if not self.color or not text:
            return text
        return "".join(codes) + text + self.RESET

    def severity(self, severity: str, text: str) -> str:
        return self.paint(text, self.BOLD, self.RED if severity == "error" else self.YELLOW)

    def gutter(self, text: str) -> str:
        return self.paint(text, self.BOLD, self.BLUE)

    def bold(self, text: str) -> str:
        return self.paint(text, self.BOLD)


class _Sources:
    """Source text by file name: the caller's texts first, then the file system (read once)."""

    def __init__(self, given: Mapping[str, str] | None):
        self._texts: dict[str, list[str] | None] = {
            name: text.splitlines() for name, text in (given or {}).items()}

    def lines(self, file: str) -> list[str] | None:
        if file not in self._texts:
            try:
                self._texts[file] = Path(file).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                self._texts[file] = None
        return self._texts[file]


@dataclass(frozen=True)
class _Annotation:
    """A span to underline: `^` for the diagnostic's own span, `-` for a secondary label."""

    span: Span
    label: str | None
    primary: bool

    @property
    def char(self) -> str:
        return "^" if self.primary else "-"


@dataclass(frozen=True)
class _Mark:
    """The part of an annotation's underline on one displayed line: display columns [start, end)."""

    start: int
    end: int
    label: str | None
    annotation: _Annotation


def _display_column(text: str, column: int) -> int:
    """The 0-based screen column of a 1-based character column, with tabs expanded."""
    return len(text[: column - 1].expandtabs(TAB_WIDTH))


def _marks_for(annotation: _Annotation, lines: list[str]) -> dict[int, _Mark]:
    """The underlines an annotation puts on each line it covers (its label on the last one)."""
    span = annotation.span
    def text(n: int) -> str:
        return lines[n - 1] if 0 < n <= len(lines) else ""

    last = max(span.end_line, span.line)
    shown = list(range(span.line, last + 1))
    if len(shown) > MAX_SPAN_LINES:
        shown = shown[:2] + [last]
    marks: dict[int, _Mark] = {}
    for n in shown:
        line = text(n)
        width = len(line.expandtabs(TAB_WIDTH))
        if n == span.line:
            start = _display_column(line, span.column)
        else:  # continuation lines are underlined from their first non-blank character
            start = width - len(line.expandtabs(TAB_WIDTH).lstrip())
        end = _display_column(line, span.end_column) if n == last else width
        marks[n] = _Mark(start, max(end, start + 1), annotation.label if n == last else None, annotation)
    return marks


class _Renderer:
    def __init__(self, sources: Mapping[str, str] | None, color: bool):
        self.sources = _Sources(sources)
        self.style = _Style(color)

    def diagnostic(self, d: Diagnostic) -> str:
        s = self.style
        header = s.severity(d.severity, f"{d.severity}[{d.code}]") + s.bold(f": {d.message}")
        snippets: list[tuple[Span, list[_Annotation]]] = []
        if d.span is not None:
            snippets.append((d.span, [_Annotation(d.span, d.label, primary=True)]))
        for extra in d.labels:
            self._attach(snippets, extra)
        width = self._gutter_width(snippets)
        pad = " " * width

        out = [header]
        lost_labels: list[str] = []
        showed_code = False
        for index, (anchor, annotations) in enumerate(snippets):
            arrow = "-->" if index == 0 and d.span is not None else ":::"
            out.append(f"{pad}{s.gutter(arrow)} {anchor.file}:{anchor.line}:{anchor.column}")
            lines = self.sources.lines(anchor.file)
            if lines is None:
                lost_labels += [a.label for a in annotations if a.label]
                continue
            out.append(s.gutter(f"{pad} |"))
            out += self._snippet(lines, annotations, d.severity, width)
            showed_code = True
        trailer = [("note", label) for label in lost_labels]
        trailer += [("help", d.help)] if d.help else []
        trailer += [("note", note) for note in d.notes]
        if trailer and showed_code:
            out.append(s.gutter(f"{pad} |"))
        for kind, text in trailer:
            out.append(f"{pad} {s.gutter('=')} {s.bold(kind + ':')} {text}")
        return "\n".join(out)

    @staticmethod
    def _attach(snippets: list[tuple[Span, list[_Annotation]]], extra: Label) -> None:
        """Put a secondary label in the snippet of its file, or open a new snippet for it."""
        annotation = _Annotation(extra.span, extra.message, primary=False)
        for anchor, annotations in snippets:
            if anchor.file == extra.span.file:
                annotations.append(annotation)
                return
        snippets.append((extra.span, [annotation]))

    @staticmethod
    def _gutter_width(snippets: list[tuple[Span, list[_Annotation]]]) -> int:
        last_lines = [max(a.span.line, a.span.end_line) for _, annotations in snippets
                      for a in annotations]
        return len(str(max(last_lines, default=1)))

    def _snippet(self, lines: list[str], annotations: list[_Annotation], severity: str,
                 width: int) -> list[str]:
        s = self.style
        by_line: dict[int, list[_Mark]] = {}
        for annotation in annotations:
            for n, mark in _marks_for(annotation, lines).items():
                by_line.setdefault(n, []).append(mark)
        out: list[str] = []
        previous: int | None = None
        for n in sorted(by_line):
            if previous is not None and n - previous == 2:
                out.append(self._code_line(previous + 1, lines, width))
            elif previous is not None and n - previous > 2:
                out.append(s.gutter("..."))
            marks = sorted(by_line[n], key=lambda m: (m.start, not m.annotation.primary))
            offset = _window_start(_line_text(n, lines), marks[0].start)
            out.append(self._code_line(n, lines, width, offset))
            shift = (len(ELLIPSIS) if offset else 0) - offset
            for mark in marks:
                end = min(mark.end, offset + MAX_LINE_WIDTH)
                text = mark.annotation.char * max(end - mark.start, 1)
                text += f" {mark.label}" if mark.label else ""
                painted = s.severity(severity, text) if mark.annotation.primary else s.gutter(text)
                out.append(s.gutter(f"{' ' * width} |") + " " + " " * (mark.start + shift) + painted)
            previous = n
        return out

    def _code_line(self, n: int, lines: list[str], width: int, offset: int = 0) -> str:
        text = _line_text(n, lines)
        if len(text) > MAX_LINE_WIDTH:
            cut = offset + MAX_LINE_WIDTH < len(text)
            text = (ELLIPSIS if offset else "") + text[offset:offset + MAX_LINE_WIDTH] + \
                (ELLIPSIS if cut else "")
        gutter = self.style.gutter(f"{n:>{width}} |")
        return f"{gutter} {text}" if text else gutter


def _line_text(n: int, lines: list[str]) -> str:
    return lines[n - 1].expandtabs(TAB_WIDTH) if 0 < n <= len(lines) else ""


def _window_start(text: str, first_mark: int) -> int:
    """The first display column shown of a line: 0, or for a very long line a little before its
    first mark (a one-megabyte line is not printed whole, twice)."""
    if len(text) <= MAX_LINE_WIDTH:
        return 0
    return max(0, min(first_mark, len(text)) - LINE_CONTEXT)


def render_diagnostic(diagnostic: Diagnostic, sources: Mapping[str, str] | None = None, *,
                      color: bool = False) -> str:
    """One diagnostic as terminal text (no trailing newline)."""
    return _Renderer(sources, color).diagnostic(diagnostic)


def render_terminal(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str] | None = None,
                    *, color: bool = False) -> str:
    """Every diagnostic, in the order given, separated by blank lines (ends with a newline)."""
    renderer = _Renderer(sources, color)
    return "".join(renderer.diagnostic(d) + "\n\n" for d in diagnostics)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(diagnostics: Iterable[Diagnostic], target: str, *, action: str = "check",
                 color: bool = False) -> str | None:
    """The closing line: `error: could not check flights.pipe: 2 errors, 1 warning`.

    None when there is nothing to report; a warnings-only run says so without claiming failure.
    """
    items = list(diagnostics)
    errors = sum(d.is_error for d in items)
    warnings = len(items) - errors
    style = _Style(color)
    if errors:
        counts = _count(errors, "error") + (f", {_count(warnings, 'warning')}" if warnings else "")
        return style.severity("error", "error") + style.bold(f": could not {action} {target}: {counts}")
    if warnings:
        return style.severity("warning", "warning") + style.bold(f": {target}: {_count(warnings, 'warning')}")
    return None


def _position(span: Span | None) -> dict:
    keys = ("file", "line", "column", "end_line", "end_column")
    return {key: getattr(span, key) if span else None for key in keys}


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    """A stable JSON document for tools: a list of diagnostics with fixed keys.

    Lines and columns are 1-based and `end_column` is the column just after the span, as in
    `Span`; a diagnostic without a place has null positions.
    """
    document = [
        {"code": d.code, "severity": d.severity, "message": d.message, **_position(d.span),
         "label": d.label,
         "labels": [{"message": label.message, **_position(label.span)} for label in d.labels],
         "help": d.help, "notes": list(d.notes)}
        for d in diagnostics
    ]
    return json.dumps(document, indent=2, ensure_ascii=False)
