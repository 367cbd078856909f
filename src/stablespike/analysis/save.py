"""Writing an :func:`~stablespike.analysis.analyze_model` result to a directory.

Files: ``analysis.json`` (the whole result), ``report.txt`` (the text report), ``synops.md`` (the
synaptic-operations and energy table) and, unless ``plots=False``, the PNGs of
:mod:`~stablespike.analysis.plots`.

Example::

    from stablespike.analysis import analyze_model, save_analysis
    paths = save_analysis(analyze_model(model, batches), "runs/fmnist/analysis")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..core.fileio import atomic_write_text
from .report import format_report, synops_markdown


def save_analysis(result: dict[str, Any], out_dir: str | Path, *, plots: bool = True) -> list[Path]:
    """Write the result's files into ``out_dir`` (created if needed); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "analysis.json": json.dumps(result, indent=1, allow_nan=True) + "\n",
        "report.txt": format_report(result) + "\n",
        "synops.md": synops_markdown(result["synops"]),
    }
    paths = []
    for name, text in files.items():
        atomic_write_text(out / name, text)
        paths.append(out / name)
    if plots:
        from .plots import save_plots

        paths += save_plots(result, out)
    return paths
