"""The memory budget the optimizer plans with when none is given. Kept free of the compiler's
imports: an unchanged rerun puts it in its key (backends/local/up_to_date.py) without planning."""
from __future__ import annotations

import os
from pathlib import Path


def default_memory_budget() -> int:
    """A quarter of the physical memory of this machine."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = _meminfo_total() or 8 * 2**30
    return total // 4


def _meminfo_total() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
