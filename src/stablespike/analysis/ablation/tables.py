"""Markdown tables of the ablation: mean +- std over seeds, next to the paper's numbers.

For a cell with per-seed accuracies ``a_1..a_n`` (runs that diverged are counted apart)::

    mean = 1/n sum a_i,    std = sqrt(1/(n-1) sum (a_i - mean)^2)   (sample std; 0 if n = 1)

Example:
    >>> s = Stat.of([80.0, 82.0])
    >>> s.mean, round(s.std, 4), s.text()
    (81.0, 1.4142, '81.00 ± 1.41')
    >>> Stat.of([], diverged=2).text()
    'div (2/2)'

**The paper's numbers** (docs/METHOD.md §5.4, the ``PAPER_*`` tables), printed beside ours.

Top-1 % on CIFAR-100 (ResNet-19, T = 4) unless noted; ``None`` where the paper reports
divergence; thresholds the paper did not list are absent.

Example:
    >>> PAPER_SWEEP[("as", 2.0)], PAPER_SWEEP[("rs", 0.1)]
    (18.09, None)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..report import markdown_table
from .grid import Row

Results = dict[str, list[dict[str, Any]]]
"""Cell key -> the finished per-seed results of that cell."""


@dataclass(frozen=True)
class Stat:
    """Mean and sample std of the finite values, with the count of diverged runs."""

    mean: float
    std: float
    n: int
    diverged: int = 0

    @classmethod
    def of(cls, values: Sequence[float], diverged: int = 0) -> Stat:
        """Summarise ``values`` (``diverged`` more runs produced none)."""
        n = len(values)
        if n == 0:
            return cls(math.nan, math.nan, 0, diverged)
        mean = sum(values) / n
        var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
        return cls(mean, math.sqrt(var), n, diverged)

    def text(self, digits: int = 2, scale: float = 1.0, style: str = "f") -> str:
        """``mean ± std`` (times ``scale``; ``style`` "f" fixed or "e" scientific), ``div (k/N)``,
        or ``—`` when nothing ran."""
        total = self.n + self.diverged
        if total == 0:
            return "—"
        if self.n == 0:
            return f"div ({self.diverged}/{total})"
        body = f"{self.mean * scale:.{digits}{style}} ± {self.std * scale:.{digits}{style}}"
        return body + (f" ({self.diverged}/{total} div)" if self.diverged else "")


def stat(results: Results, row: Row, field: str = "accuracy", sub: str | None = None) -> Stat:
    """:class:`Stat` of ``field`` (or ``field[sub]``) over the seeds of ``row``'s cell."""
    runs = results.get(row.cell.key(), [])
    values = []
    for r in runs:
        if r["status"] != "ok":
            continue
        v = r.get(field)
        v = v.get(sub) if isinstance(v, dict) and sub else v
        if isinstance(v, (int, float)):
            values.append(float(v))
    return Stat.of(values, diverged=sum(r["status"] == "diverged" for r in runs))


def _first_step(results: Results, row: Row) -> Stat:
    runs = [r for r in results.get(row.cell.key(), []) if r["status"] == "ok"]
    return Stat.of([r["accuracy_per_timestep"][0] for r in runs])


def _paper(v: float | None) -> str:
    return "diverges" if v is None else f"{v:.2f}"


def components_table(rows: Sequence[Row], results: Results) -> str:
    """Baseline / +MP-Init / +TrSG / both: accuracy, read-out after 1 step, energy."""
    head = ["configuration", "accuracy %", "after t=1 %", "energy uJ/img"]
    head += ["paper C100 T=4", "paper DVS T=10"]
    body = []
    for row in (r for r in rows if r.group == "components"):
        c100, dvs = PAPER_COMPONENTS[row.label]
        body.append(
            [
                row.label,
                stat(results, row).text(),
                _first_step(results, row).text(),
                stat(results, row, "energy_uj").text(3),
                f"{c100:.2f}",
                f"{dvs:.2f}",
            ]
        )
    return markdown_table(head, body)


def _threshold_span(results: Results, row: Row) -> str:
    runs = [r for r in results.get(row.cell.key(), []) if r["status"] == "ok"]
    if not runs:
        return "—"
    first = Stat.of([r["layers"][0]["threshold"] for r in runs])
    last = Stat.of([r["layers"][-1]["threshold"] for r in runs])
    return f"{first.mean:.2f} → {last.mean:.2f}"


def learned_table(rows: Sequence[Row], results: Results) -> str:
    """Which LIF parameters are learned: accuracy and the learned Vthr (first → last layer)."""
    head = ["learned", "accuracy %", "Vthr first → last layer", "paper C100 T=4"]
    body = [
        [row.label, stat(results, row).text(), _threshold_span(results, row)]
        + [f"{PAPER_LEARNED[row.label]:.2f}"]
        for row in rows
        if row.group == "learned"
    ]
    return markdown_table(head, body)


def _sweep(rows: Sequence[Row]) -> tuple[list[float], dict[str, dict[float, Row]]]:
    grid: dict[str, dict[float, Row]] = {}
    for row in rows:
        if row.group == "threshold" and row.column is not None:
            grid.setdefault(row.label, {})[row.column] = row
    columns = sorted({c for by_col in grid.values() for c in by_col})
    return columns, grid


def threshold_table(rows: Sequence[Row], results: Results) -> str:
    """Frozen-threshold sweep: accuracy per surrogate and reset (rows) and Vthr (columns)."""
    columns, grid = _sweep(rows)
    head = ["surrogate, reset"] + [f"Vthr={v:g}" for v in columns]
    body = [
        [label] + [stat(results, by_col[v]).text() if v in by_col else "—" for v in columns]
        for label, by_col in grid.items()
    ]
    for surrogate, name in (("as", "AS-SG"), ("rs", "RS-SG"), ("trsg", "TrSG")):
        cells = [
            _paper(PAPER_SWEEP[(surrogate, v)]) if (surrogate, v) in PAPER_SWEEP else "—"
            for v in columns
        ]
        body.append([f"*paper C100: {name}, soft*"] + cells)
    return markdown_table(head, body)


def ratio_ag_table(rows: Sequence[Row], results: Results) -> str:
    """RatioAG (%) of ``dL/dH`` (mean over layers) across the threshold sweep."""
    columns, grid = _sweep(rows)
    head = ["surrogate, reset"] + [f"Vthr={v:g}" for v in columns]
    body = [
        [label]
        + [
            stat(results, by_col[v], "grad_mean", "ratio_ag").text(1, 100) if v in by_col else "—"
            for v in columns
        ]
        for label, by_col in grid.items()
    ]
    return markdown_table(head, body)


def gradient_table(rows: Sequence[Row], results: Results, threshold: float = 2.0) -> str:
    """AbsStr / RatioAG / GradCV (mean over layers) at one frozen Vthr, with the paper's."""
    _, grid = _sweep(rows)
    head = [
        "surrogate, reset",
        "AbsStr",
        "RatioAG %",
        "GradCV",
        "paper (soft): AbsStr / RatioAG / GradCV",
    ]
    body = []
    for label, by_col in grid.items():
        row = by_col.get(threshold)
        if row is None:
            continue
        a, r, c = PAPER_GRAD_AT_2[row.cell.surrogate]
        body.append(
            [
                label,
                stat(results, row, "grad_mean", "abs_str").text(2, style="e"),
                stat(results, row, "grad_mean", "ratio_ag").text(2, 100),
                stat(results, row, "grad_mean", "grad_cv").text(3),
                f"{a:.4f} / {100 * r:.2f}% / {c:.3f}" if threshold == 2.0 else "—",
            ]
        )
    return markdown_table(head, body)


def ablation_markdown(rows: Sequence[Row], results: Results, header: str = "") -> str:
    """All tables that ``rows`` have data for, as one markdown document."""
    groups = {r.group for r in rows}
    parts = [header] if header else []
    if "components" in groups:
        parts += [
            "## Components (baseline / +MP-Init / +TrSG / both)",
            components_table(rows, results),
        ]
    if "learned" in groups:
        parts += ["## Learned LIF parameters (MP-Init + TrSG)", learned_table(rows, results)]
    if "threshold" in groups:
        columns, _ = _sweep(rows)
        top = max(columns)
        parts += [
            "## Frozen threshold sweep: test accuracy %", threshold_table(rows, results),
            "## RatioAG % (share of non-zero dL/dH, mean over layers)", ratio_ag_table(rows, results),
            f"## Gradient stability at Vthr = {top:g} (mean over layers)",
            gradient_table(rows, results, top),
        ]  # fmt: skip
    return "\n\n".join(parts) + "\n"


PAPER_COMPONENTS: dict[str, tuple[float, float]] = {
    "baseline (AS-SG, U0=0)": (75.55, 76.60),
    "+MP-Init": (76.09, 77.37),
    "+TrSG": (77.15, 80.83),
    "MP-Init + TrSG": (77.66, 81.43),
}
"""Row label -> (CIFAR-100 T=4, DVS-CIFAR10 T=10)."""

PAPER_LEARNED: dict[str, float] = {
    "neither": 75.56,
    "tau only": 74.61,
    "Vthr only": 76.98,
    "both": 77.22,
}
"""Which LIF parameters are learned -> CIFAR-100 T=4."""

PAPER_SWEEP: dict[tuple[str, float], float | None] = {
    ("as", 0.1): 61.59, ("as", 0.5): 75.96, ("as", 1.5): 69.97, ("as", 2.0): 18.09,
    ("rs", 0.1): None, ("rs", 0.5): 76.12, ("rs", 1.5): 71.43, ("rs", 2.0): 5.43,
    ("trsg", 0.1): 73.99, ("trsg", 0.5): 76.82, ("trsg", 1.5): 71.97, ("trsg", 2.0): 64.27,
}  # fmt: skip
"""(surrogate, frozen Vthr) -> CIFAR-100 accuracy with soft reset (None: diverged)."""

PAPER_GRAD_AT_2: dict[str, tuple[float, float, float]] = {
    "as": (0.0, 0.0, 0.0),
    "rs": (0.0021, 0.0010, 2.247),
    "trsg": (0.0323, 0.0690, 0.731),
}
"""Surrogate -> (AbsStr, RatioAG as a fraction, GradCV) at Vthr = 2.0."""
