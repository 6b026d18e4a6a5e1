"""Turning lark positions into `Span`s, also for expressions cut out of a bigger (YAML) file."""
from __future__ import annotations

from functools import cached_property

from pipec.compiler.span import LineIndex, Span


class SpanMaker:
    """Spans for positions in `text`, which starts at character `offset` of a bigger file.

    The `.pipe` parser uses lark's own line/column numbers; the YAML front end passes the line
    index of the whole YAML text as `source` so that lines and columns point into the file the
    user wrote.
    """

    def __init__(self, file: str, text: str, offset: int = 0, source: LineIndex | None = None):
        self.file = file
        self.text = text
        self.offset = offset
        self.source = source

    @cached_property
    def lines(self) -> LineIndex:
        return LineIndex(self.text)

    def range(self, start: int, end: int) -> Span:
        if self.source is not None:
            return self.source.span(self.file, self.offset + start, self.offset + end)
        span = self.lines.span(self.file, start, end)
        return span._replace(start=start + self.offset, end=end + self.offset)

    def of(self, item) -> Span:
        """The span of a lark Token or a tree's `meta` (both carry the same position fields)."""
        if self.source is not None or self.offset:
            return self.range(item.start_pos, item.end_pos)
        return Span(file=self.file, start=item.start_pos, end=item.end_pos, line=item.line,
                    column=item.column, end_line=item.end_line, end_column=item.end_column)

    def end_of_text(self) -> Span:
        end = len(self.text.rstrip())
        return self.range(end, end)
