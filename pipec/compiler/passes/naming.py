"""How the optimizer names a node to a person: the user's binding, the step, the node id and the
line, so that every record and every line of `explain` points back to the source."""
from __future__ import annotations

from pipec.compiler.ir import IRNode
from pipec.compiler.span import UNKNOWN_SPAN


def line_of(node: IRNode) -> int | None:
    return None if node.span == UNKNOWN_SPAN else node.span.line


def describe(node: IRNode) -> str:
    """`features` (derive n6, line 14), or filter n9 (line 3) for a node without a binding.

    >>> from pipec.compiler.ir import IRNode, LimitArgs, lit
    >>> describe(IRNode(id="n2", step="limit", args=LimitArgs(n=lit(3)), binding="top"))
    '`top` (limit n2)'
    """
    line = line_of(node)
    where = f"{node.step} {node.id}" + (f", line {line}" if line else "")
    return f"`{node.binding}` ({where})" if node.binding else f"{node.step} {node.id}" + (
        f" (line {line})" if line else "")


def human_bytes(n: float) -> str:
    """Sizes as a person reads them, in powers of 1024.

    >>> human_bytes(512), human_bytes(1536), human_bytes(3 * 2**40)
    ('512 B', '1.5 KB', '3.0 TB')
    """
    units = ("B", "KB", "MB", "GB", "TB")
    k = 0
    while abs(n) >= 1024 and k < len(units) - 1:
        n /= 1024
        k += 1
    return f"{n:.0f} B" if k == 0 else f"{n:.1f} {units[k]}"
