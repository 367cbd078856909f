"""Plain-text tables: GitHub markdown and fixed-width, from the same header and rows.

Example:
    >>> from stablespike.analysis.markdown import markdown_table, text_table
    >>> print(markdown_table(["model", "acc"], [["a", "90.1"], ["bb", "9.5"]]))
    | model | acc |
    |---|---|
    | a | 90.1 |
    | bb | 9.5 |
    >>> print(text_table(["model", "acc"], [["a", "90.1"], ["bb", "9.5"]]))
    model   acc
    a      90.1
    bb      9.5
"""

from __future__ import annotations

from collections.abc import Sequence


def _check(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[list[str]]:
    cells = [[str(c) for c in row] for row in rows]
    for i, row in enumerate(cells):
        if len(row) != len(headers):
            raise ValueError(f"row {i} has {len(row)} cells, the header has {len(headers)}")
    return cells


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table (cells converted with ``str``)."""
    cells = _check(headers, rows)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def text_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A fixed-width table: first column left-aligned, the others right-aligned."""
    cells = [list(headers)] + _check(headers, rows)
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def fmt(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    return "\n".join(fmt(row) for row in cells)
