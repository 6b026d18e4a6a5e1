"""Did-you-mean suggestions: the closest known name within edit distance 2."""
from __future__ import annotations

from typing import Iterable


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment), case-insensitive."""
    a, b = a.lower(), b.lower()
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def closest(name: str, candidates: Iterable[str], max_distance: int = 2) -> str | None:
    """The candidate nearest to `name`, if one is within `max_distance` edits."""
    best: tuple[int, str] | None = None
    for c in candidates:
        d = edit_distance(name, c)
        if d <= max_distance and d < len(c) and (best is None or d < best[0]):
            best = (d, c)
    return best[1] if best else None


def did_you_mean(name: str, candidates: Iterable[str], what: str = "") -> str | None:
    """A `help:` line proposing the closest candidate, or None."""
    match = closest(name, candidates)
    if match is None:
        return None
    return f"did you mean {what + ' ' if what else ''}`{match}`?"


def listing(names: Iterable[str], limit: int = 30) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")
