"""The end-of-run report: the ``summary.json`` dict and its printed form (also used by ``eval``).

Example:
    >>> print(format_accuracy(89.5, [85.0, 88.0, 89.0, 89.5]))
    test accuracy 89.50%
    read-out after t steps:  t=1 85.00%  t=2 88.00%  t=3 89.00%  t=4 89.50%
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..models.introspect import neuron_values, spiking_layers
from .distributed import unwrap

__all__ = ["build_summary", "format_accuracy", "format_layers", "format_summary", "layer_report"]


def layer_report(model: nn.Module, firing_rates: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Per spiking layer: learned tau and threshold, MP-Init mean, firing rate."""
    values = neuron_values(spiking_layers(unwrap(model)))
    for name, entry in values.items():
        entry["firing_rate"] = firing_rates.get(name, float("nan"))
    return values


def build_summary(
    *,
    cfg_dict: dict[str, Any],
    run_dir: str,
    final: dict[str, Any],
    best: dict[str, Any],
    layers: dict[str, dict[str, Any]],
    progress: dict[str, Any],
    world_size: int,
    device: str,
) -> dict[str, Any]:
    """The ``summary.json`` content."""
    train_s = progress["train_seconds"]
    return {
        "run_dir": run_dir,
        "dataset": cfg_dict["dataset"],
        "model": cfg_dict["model"],
        "timesteps": cfg_dict["timesteps"],
        "epochs": progress["epoch"],
        "final": final,
        "best": best,
        "layers": layers,
        "wall_time_s": progress["wall_seconds"],
        "train_time_s": train_s,
        "images_per_s": progress["train_images"] / train_s if train_s > 0 else None,
        "train_images": progress["train_images"],
        "skipped_steps": progress["skipped_steps"],
        "world_size": world_size,
        "device": device,
        "config": cfg_dict,
    }


def format_accuracy(accuracy: float, per_timestep: list[float]) -> str:
    """Two lines: the accuracy, and the accuracy when reading out after the first t steps."""
    cells = "  ".join(f"t={t} {a:.2f}%" for t, a in enumerate(per_timestep, 1))
    return f"test accuracy {accuracy:.2f}%\nread-out after t steps:  {cells}"


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return f"[{min(value):.3g}..{max(value):.3g}]" if value else "[]"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def format_layers(layers: dict[str, dict[str, Any]]) -> str:
    """A table of tau / threshold / MP-Init mean / firing rate per spiking layer."""
    width = max([len(n) for n in layers] + [5])
    lines = [f"{'layer':<{width}}  {'tau':>8}  {'Vthr':>8}  {'mp_mean':>8}  {'rate':>7}"]
    for name, v in layers.items():
        rate = v.get("firing_rate", float("nan"))
        lines.append(
            f"{name:<{width}}  {_fmt(v['tau']):>8}  {_fmt(v['threshold']):>8}  "
            f"{_fmt(v['mp_mean']):>8}  {rate:>7.4f}"
        )
    return "\n".join(lines)


def format_summary(summary: dict[str, Any]) -> str:
    """The block printed at the end of ``stablespike train``."""
    final, best = summary["final"], summary["best"]
    ips = summary.get("images_per_s")
    lines = [
        f"== {summary['model']} on {summary['dataset']}, T={summary['timesteps']}, "
        f"{summary['epochs']} epochs ==",
        format_accuracy(final["accuracy"], final["accuracy_per_timestep"]),
        f"best test accuracy {best['accuracy']:.2f}% (epoch {best['epoch']})",
        format_layers(summary["layers"]),
        f"wall time {summary['wall_time_s']:.1f} s, training {summary['train_time_s']:.1f} s"
        + (f", {ips:.0f} images/s" if ips else ""),
        f"run directory: {summary['run_dir']}",
    ]
    return "\n".join(lines)
