"""The report of an :func:`analyze_model` result: text, tables and the files it is saved as.

**Report.** The compact text report and the synaptic-operations table.

Example:
    >>> from stablespike.analysis.report import synops_rows
    >>> synops = {"layers": [{"layer": "fc", "type": "Linear", "kind": "ac", "ac": 2e6,
    ...            "mac": 0.0, "energy_pj": 1.8e6}], "total": {"ac": 2e6, "mac": 0.0,
    ...            "energy_pj": 1.8e6}}
    >>> synops_rows(synops)[-1]
    ['total', '', '', '2.000M', '0', '1.800']

**Tables.** GitHub markdown and fixed-width, from the same header and rows.

Example:
    >>> from stablespike.analysis.report import markdown_table, text_table
    >>> print(markdown_table(["model", "acc"], [["a", "90.1"], ["bb", "9.5"]]))
    | model | acc |
    |---|---|
    | a | 90.1 |
    | bb | 9.5 |
    >>> print(text_table(["model", "acc"], [["a", "90.1"], ["bb", "9.5"]]))
    model   acc
    a      90.1
    bb      9.5

**Files.** :func:`save_analysis` writes a result to a directory (each file atomically).

Files: ``analysis.json`` (the whole result), ``report.txt`` (the text report), ``synops.md`` (the
synaptic-operations and energy table) and, unless ``plots=False``, the PNGs of
:mod:`~stablespike.analysis.plots`.

Example::

    from stablespike.analysis import analyze_model, save_analysis
    paths = save_analysis(analyze_model(model, batches), "runs/fmnist/analysis")
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.fileio import atomic_write_text

SYNOPS_HEADER = ["layer", "type", "ops", "AC / image", "MAC / image", "energy uJ / image"]


def _count(n: float) -> str:
    if n == 0:
        return "0"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.3f}{suffix}"
    return f"{n:.1f}"


def _values(v: float | list[float]) -> str:
    if isinstance(v, list):
        return f"{sum(v) / len(v):.3f} (mean of {len(v)})"
    return f"{v:.3f}"


def _series(values: list[float], fmt: str = "{:.3f}") -> str:
    return " ".join(fmt.format(v) for v in values)


def synops_rows(synops: dict[str, Any]) -> list[list[str]]:
    """Rows of :data:`SYNOPS_HEADER`: one per counted layer, then the total (energy in uJ)."""
    rows = [
        [
            r["layer"],
            r["type"],
            r["kind"],
            _count(r["ac"]),
            _count(r["mac"]),
            f"{r['energy_pj'] / 1e6:.3f}",
        ]
        for r in synops["layers"]
    ]
    t = synops["total"]
    rows.append(["total", "", "", _count(t["ac"]), _count(t["mac"]), f"{t['energy_pj'] / 1e6:.3f}"])
    return rows


def synops_markdown(synops: dict[str, Any]) -> str:
    """The synaptic-operations table in markdown, with the energy constants used."""
    note = (
        f"Energy per image with {synops.get('e_ac_pj', 0.9)} pJ per AC and "
        f"{synops.get('e_mac_pj', 4.6)} pJ per MAC (45 nm)."
    )
    return markdown_table(SYNOPS_HEADER, synops_rows(synops)) + "\n\n" + note + "\n"


def layer_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Per spiking layer: learned constants, firing rate, TV(t=1 vs T) and gradient metrics."""
    header = ["layer", "tau", "Vthr", "U0", "rate", "TV(1,T)", "AbsStr", "RatioAG", "GradCV"]
    rows = []
    for layer in result["layers"]:
        grad = layer.get("grad", {})
        rows.append(
            [
                layer["layer"],
                _values(layer["tau"]),
                _values(layer["threshold"]),
                _values(layer["mp_mean"]),
                f"{layer.get('mean_firing_rate', float('nan')):.3f}",
                f"{layer.get('tv_to_last', [float('nan')])[0]:.3f}",
                f"{grad.get('abs_str', float('nan')):.4g}",
                f"{100 * grad.get('ratio_ag', float('nan')):.2f}%",
                f"{grad.get('grad_cv', float('nan')):.3f}",
            ]
        )
    return header, rows


def format_report(result: dict[str, Any]) -> str:
    """A compact multi-section text summary of an :func:`analyze_model` result."""
    t = result["timesteps"]
    lines = [
        f"images {result['images']}, T = {t}, loss {result['loss']:.4f}, "
        f"accuracy {100 * result['accuracy']:.2f}%",
        "accuracy after t steps: "
        + _series([100 * a for a in result["early_exit_accuracy"]], "{:.2f}"),
        "",
        text_table(*layer_rows(result)),
        "",
        "firing rate per step / TV to the last step:",
    ]
    for layer in result["layers"]:
        if "firing_rate" in layer:
            lines.append(
                f"  {layer['layer']}: rate {_series(layer['firing_rate'])} | "
                f"TV {_series(layer['tv_to_last'])}"
            )
    grads = result.get("timestep_gradients")
    if grads:
        lines += [
            "",
            f"cosine of step gradients: C[1,T] = {grads['cosine'][0][-1]:.3f}; "
            f"to the total: {_series(grads['cos_to_total'])}",
        ]
    total = result["synops"]["total"]
    lines += [
        "",
        text_table(SYNOPS_HEADER, synops_rows(result["synops"])),
        f"energy {total['energy_pj'] / 1e9:.4f} mJ per image",
    ]
    return "\n".join(lines)


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
