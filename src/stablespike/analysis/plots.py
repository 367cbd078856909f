"""PNG plots of an :func:`~stablespike.analysis.analyze_model` result, and lazy matplotlib access.

matplotlib is an optional dependency (``pip install stablespike[plots]``); it is imported only
when a plot is drawn. One file per figure:

``membrane_potential.png`` density of ``H[t]`` per layer, one curve per step;
``tv_distance.png`` TV of each step's ``H`` histogram to the last step's, per layer;
``early_exit.png`` accuracy after ``t`` steps; ``timestep_grad_cosine.png`` the matrix ``C``;
``grad_stability.png`` AbsStr / RatioAG / GradCV per layer; ``firing_rate.png`` per layer and
step; ``neuron_params.png`` learned ``tau``, ``Vthr`` and MP-Init mean per layer.

Example::

    from stablespike.analysis.plots import save_plots
    paths = save_plots(result, "runs/fmnist/analysis")

**pyplot.** :func:`pyplot` gives matplotlib's pyplot with the non-interactive Agg backend.

matplotlib is optional (``pip install stablespike[plots]``): importing stablespike never imports
it; :func:`pyplot` does, on first use, and raises a clear ``ImportError`` when it is missing.

Example::

    from stablespike.analysis.plots import pyplot
    plt = pyplot()
    fig, ax = plt.subplots()
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any


def _mean(v: float | list[float]) -> float:
    return sum(v) / len(v) if isinstance(v, list) else float(v)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path


def plot_membrane_potential(result: dict[str, Any], path: Path) -> Path:
    """Density of ``H[t]`` (probability / bin width) per layer, one line per step."""
    plt = pyplot()
    layers = [lay for lay in result["layers"] if "hist_probs" in lay]
    cols = min(len(layers), 3)
    rows = -(-len(layers) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, layer in zip(axes.flat, layers, strict=False):
        edges = layer["hist_edges"]
        centers = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
        widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
        for t, probs in enumerate(layer["hist_probs"]):
            ax.plot(
                centers, [p / w for p, w in zip(probs, widths, strict=True)], label=f"t={t + 1}"
            )
        ax.axvline(_mean(layer["threshold"]), color="k", ls="--", lw=0.8)
        ax.set_title(f"{layer['layer']}  (dashed: Vthr)")
        ax.set_xlabel("pre-spike potential H")
    for ax in list(axes.flat)[len(layers) :]:
        ax.axis("off")
    axes.flat[0].set_ylabel("density")
    axes.flat[0].legend(fontsize=7)
    return _save(fig, path)


def _per_layer_lines(result: dict[str, Any], key: str, ylabel: str, path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for layer in result["layers"]:
        if key in layer:
            ts = range(1, len(layer[key]) + 1)
            ax.plot(ts, layer[key], marker="o", label=layer["layer"])
    ax.set_xlabel("timestep t")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_early_exit(result: dict[str, Any], path: Path) -> Path:
    """Accuracy (%) when the output is read after ``t`` steps."""
    plt = pyplot()
    acc = [100 * a for a in result["early_exit_accuracy"]]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(range(1, len(acc) + 1), acc, marker="o")
    ax.set_xlabel("output read after t steps")
    ax.set_ylabel("accuracy (%)")
    return _save(fig, path)


def plot_timestep_cosine(result: dict[str, Any], path: Path) -> Path:
    """Heat map of the cosine similarity of the per-step parameter gradients."""
    plt = pyplot()
    c = result["timestep_gradients"]["cosine"]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    im = ax.imshow(c, vmin=-1, vmax=1, cmap="RdBu_r")
    ticks = range(len(c))
    ax.set_xticks(ticks, [str(t + 1) for t in ticks])
    ax.set_yticks(ticks, [str(t + 1) for t in ticks])
    for i, row in enumerate(c):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
    ax.set_xlabel("timestep")
    ax.set_ylabel("timestep")
    fig.colorbar(im, ax=ax)
    return _save(fig, path)


def plot_grad_stability(result: dict[str, Any], path: Path) -> Path:
    """Bars of AbsStr, RatioAG (%) and GradCV per layer."""
    plt = pyplot()
    layers = [lay for lay in result["layers"] if "grad" in lay]
    names = [lay["layer"] for lay in layers]
    metrics = [("abs_str", "AbsStr", 1), ("ratio_ag", "RatioAG (%)", 100), ("grad_cv", "GradCV", 1)]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for ax, (key, label, scale) in zip(axes, metrics, strict=True):
        ax.bar(names, [scale * lay["grad"][key] for lay in layers])
        ax.set_title(label)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    return _save(fig, path)


def plot_neuron_params(result: dict[str, Any], path: Path) -> Path:
    """Learned ``tau``, ``Vthr`` and MP-Init mean per layer (per-channel layers: the mean)."""
    plt = pyplot()
    names = [lay["layer"] for lay in result["layers"]]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for ax, key in zip(axes, ("tau", "threshold", "mp_mean"), strict=True):
        ax.bar(names, [_mean(lay[key]) for lay in result["layers"]])
        ax.set_title(key)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    return _save(fig, path)


def save_plots(result: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write every plot that ``result`` has data for into ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        plot_membrane_potential(result, out / "membrane_potential.png"),
        _per_layer_lines(result, "tv_to_last", "TV distance to last step", out / "tv_distance.png"),
        plot_early_exit(result, out / "early_exit.png"),
        _per_layer_lines(result, "firing_rate", "firing rate", out / "firing_rate.png"),
        plot_neuron_params(result, out / "neuron_params.png"),
    ]
    if "timestep_gradients" in result:
        paths.append(plot_timestep_cosine(result, out / "timestep_grad_cosine.png"))
    if any("grad" in lay for lay in result["layers"]):
        paths.append(plot_grad_stability(result, out / "grad_stability.png"))
    return paths


def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` with the Agg backend selected."""
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plots need matplotlib: pip install 'stablespike[plots]' (or pass --no-plots)"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
