"""Source positions: every AST node and every diagnostic points back into the file the user wrote."""
from __future__ import annotations

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

    def to(self, other: "Span") -> "Span":
        """The smallest span that covers both `self` and `other` (same file)."""
        first, last = (self, other) if self.start <= other.start else (other, self)
        end = max(self, other, key=lambda s: s.end)
        return Span(file=self.file, start=first.start, end=end.end, line=first.line,
                    column=first.column, end_line=end.end_line, end_column=end.end_column)


UNKNOWN_SPAN = Span(file="<unknown>", start=0, end=0, line=1, column=1, end_line=1, end_column=1)


def span_from_offsets(file: str, text: str, start: int, end: int) -> Span:
    """Build a span from character offsets in `text` (used by the YAML front end and tests)."""
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    end_line = text.count("\n", 0, end) + 1
    end_column = end - (text.rfind("\n", 0, end) + 1) + 1
    return Span(file=file, start=start, end=end, line=line, column=column,
                end_line=end_line, end_column=end_column)
