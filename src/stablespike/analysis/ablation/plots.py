"""Plots of the ablation (matplotlib, Agg, imported lazily).

``threshold_sweep.png``: accuracy against the frozen ``Vthr`` per surrogate, one panel per reset
(error bars: std over seeds). ``components.png``: bars of the component and learned-parameter
rows. ``ratio_ag.png``: RatioAG against ``Vthr``.

Example::

    from stablespike.analysis.ablation.plots import save_ablation_plots
    save_ablation_plots(rows, results, "runs/ablation")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..plots import pyplot
from .grid import Row
from .tables import Results, Stat, stat


def _sweep_plot(
    rows: Sequence[Row], results: Results, path: Path, field: str, sub: str | None, ylabel: str,
    scale: float,
) -> Path:  # fmt: skip
    plt = pyplot()
    resets = sorted({r.cell.reset for r in rows if r.group == "threshold"}, reverse=True)
    fig, axes = plt.subplots(1, len(resets), figsize=(5 * len(resets), 3.6), squeeze=False)
    for ax, reset in zip(axes[0], resets, strict=True):
        for label in dict.fromkeys(
            r.label for r in rows if r.group == "threshold" and r.cell.reset == reset
        ):
            pts = [r for r in rows if r.group == "threshold" and r.label == label]
            stats: list[Stat] = [stat(results, r, field, sub) for r in pts]
            xs = [r.column for r, s in zip(pts, stats, strict=True) if s.n]
            ys = [scale * s.mean for s in stats if s.n]
            es = [scale * s.std for s in stats if s.n]
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=label.split(",")[0])
        ax.set_title(f"{reset} reset")
        ax.set_xlabel("frozen Vthr")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _bars(rows: Sequence[Row], results: Results, path: Path) -> Path:
    plt = pyplot()
    groups = [g for g in ("components", "learned") if any(r.group == g for r in rows)]
    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 3.8), squeeze=False)
    for ax, group in zip(axes[0], groups, strict=True):
        mine = [r for r in rows if r.group == group]
        stats = [stat(results, r) for r in mine]
        ax.bar([r.label for r in mine], [s.mean for s in stats], yerr=[s.std for s in stats])
        ok = [s.mean for s in stats if s.n]
        if ok:
            ax.set_ylim(min(ok) - 5, max(ok) + 3)
        ax.set_title(group)
        ax.set_ylabel("test accuracy %")
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save_ablation_plots(rows: Sequence[Row], results: Results, out_dir: str | Path) -> list[Path]:
    """Write the plots that ``rows`` have data for into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    if any(r.group in ("components", "learned") for r in rows):
        paths.append(_bars(rows, results, out / "components.png"))
    if any(r.group == "threshold" for r in rows):
        paths.append(
            _sweep_plot(
                rows, results, out / "threshold_sweep.png", "accuracy", None, "test accuracy %", 1.0
            )
        )
        paths.append(
            _sweep_plot(
                rows, results, out / "ratio_ag.png", "grad_mean", "ratio_ag", "RatioAG %", 100.0
            )
        )
    return paths
