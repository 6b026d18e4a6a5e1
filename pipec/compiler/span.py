"""Source positions: every AST node and every diagnostic points back into the file the user wrote."""
from __future__ import annotations

from bisect import bisect_right

from pydantic import BaseModel, ConfigDict


class Span(BaseModel):
    """A half-open range of characters in one source file (lines and columns are 1-based)."""

    model_config = ConfigDict(frozen=True)

    file: str
    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int

    def model_post_init(self, context, /) -> None:
        """Every field is always given, so all spans share one fields-set: a set of its own cost
        each span 700 bytes, more than half of it (a large file has millions of spans)."""
        object.__setattr__(self, "__pydantic_fields_set__", _ALL_SPAN_FIELDS)

    def to(self, other: "Span") -> "Span":
        """The smallest span that covers both `self` and `other` (same file)."""
        first, last = (self, other) if self.start <= other.start else (other, self)
        end = max(self, other, key=lambda s: s.end)
        return Span(file=self.file, start=first.start, end=end.end, line=first.line,
                    column=first.column, end_line=end.end_line, end_column=end.end_column)


_ALL_SPAN_FIELDS = set(Span.model_fields)   # never mutated: a frozen model's copies copy it
UNKNOWN_SPAN = Span(file="<unknown>", start=0, end=0, line=1, column=1, end_line=1, end_column=1)


class LineIndex:
    """Where the lines of a text start, so that an offset's line and column cost a binary search.

    Counting the newlines before every offset made the YAML front end quadratic in the file size.
    """

    def __init__(self, text: str):
        starts = [0]
        position = text.find("\n")
        while position != -1:
            starts.append(position + 1)
            position = text.find("\n", position + 1)
        self.starts = starts

    def line_and_column(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1

    def span(self, file: str, start: int, end: int) -> Span:
        line, column = self.line_and_column(start)
        end_line, end_column = self.line_and_column(end)
        return Span(file=file, start=start, end=end, line=line, column=column,
                    end_line=end_line, end_column=end_column)


def span_from_offsets(file: str, text: str, start: int, end: int) -> Span:
    """Build a span from character offsets in `text` (for one span; use a LineIndex for many)."""
    return LineIndex(text).span(file, start, end)
