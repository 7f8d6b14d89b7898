"""Plain-text tables whose columns never run together, for the statistics CLIs."""

from __future__ import annotations

import math
from collections.abc import Sequence


def aligned(header: Sequence[str], rows: Sequence[Sequence[object]], align: str | None = None,
            indent: str = "  ", gap: int = 2) -> list[str]:
    """Lines of a table: each column padded to its widest cell, ``gap`` spaces apart.

    ``align`` has one letter per column, ``l`` or ``r`` (default: the first column
    left, the others right).
    """
    n = len(header)
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    if any(len(r) != n for r in cells):
        raise ValueError("every row needs one cell per header column")
    how = align or "l" + "r" * (n - 1)
    widths = [max(len(r[i]) for r in cells) for i in range(n)]
    sep = " " * gap
    return [indent + sep.join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, how)).rstrip()
            for r in cells]


def number(x: float, decimals: int = 4) -> str:
    """Fixed decimals for ordinary magnitudes, scientific notation for huge or tiny ones."""
    x = float(x)
    if not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if x != 0 and not 10 ** -decimals <= abs(x) < 1e6:
        return f"{x:.{max(decimals - 1, 1)}e}"
    return f"{x:.{decimals}f}"
