"""Source positions: every AST node and every diagnostic points back into the file the user wrote."""
from __future__ import annotations

import dataclasses
from bisect import bisect_right
from typing import NamedTuple

from pydantic_core import core_schema


class Span(NamedTuple):
    """A half-open range of characters in one source file (lines and columns are 1-based).

    A named tuple, not a pydantic model: every AST node has one or more, and a model's dict made
    a span 490 bytes (a 1 MB source has 300,000 spans); as a tuple it is 200. To pydantic it is
    still a model with these fields: it validates from a dict and is written as one.

    pydantic-core writes a span itself, as a dataclass (field by field, see `__dataclass_fields__`
    below), never through a Python serializer function: pydantic loses a KeyboardInterrupt raised
    inside such a function, or turns it into a PydanticSerializationError, so a Ctrl-C landing
    there while the IR was written or fingerprinted was swallowed and the run went on.
    """

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

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler) -> core_schema.CoreSchema:
        fields = [core_schema.dataclass_field(name, core_schema.str_schema() if name == "file" else
                                              core_schema.int_schema())
                  for name in cls._fields]
        return core_schema.no_info_before_validator_function(
            cls._validate, core_schema.dataclass_schema(
                cls, core_schema.dataclass_args_schema(cls.__name__, fields), list(cls._fields)))

    @classmethod
    def _validate(cls, value) -> "Span":
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            return cls(**value)
        raise ValueError(f"a span must be a dict with the fields {', '.join(cls._fields)}")


# The field table of a dataclass with Span's fields: pydantic-core writes a value as a dataclass
# only if it has one, and `dataclasses.fields(span)` / `dataclasses.asdict(span)` then work too.
Span.__dataclass_fields__ = dataclasses.make_dataclass(
    "Span", list(Span.__annotations__.items())).__dataclass_fields__

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
