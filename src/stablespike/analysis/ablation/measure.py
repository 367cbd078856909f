"""What is kept of one trained ablation run: accuracy and a compact diagnostic snapshot.

After training, the run's ``best.pt`` is analysed on one test batch (eval mode, loss
``CE(mean_t out_t)``): per spiking layer the learned constants, firing rate, TV(``H[1]``,
``H[T]``) and AbsStr / RatioAG / GradCV of ``dL/dH``; the layer means of the three gradient
metrics; and the energy per image. Everything is plain JSON.

Example::

    snapshot = measure_checkpoint("runs/ablation/runs/<cell>/seed0/best.pt", batch_size=64)
    snapshot["grad_mean"]["ratio_ag"], snapshot["energy_uj"]
"""

from __future__ import annotations

import os
from typing import Any

GRAD_KEYS = ("abs_str", "ratio_ag", "grad_cv")


def compact_layers(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per layer of an :func:`~stablespike.analysis.analyze_model` result: the scalar metrics."""
    rows = []
    for layer in result["layers"]:
        grad = layer.get("grad", {})
        rows.append(
            {
                "layer": layer["layer"],
                "tau": layer["tau"],
                "threshold": layer["threshold"],
                "mp_mean": layer["mp_mean"],
                "firing_rate": layer.get("mean_firing_rate"),
                "tv_first": layer.get("tv_to_last", [None])[0],
                **{k: grad.get(k) for k in GRAD_KEYS},
            }
        )
    return rows


def layer_means(layers: list[dict[str, Any]]) -> dict[str, float | None]:
    """Mean over layers of AbsStr, RatioAG and GradCV (``None`` when not measured)."""
    out: dict[str, float | None] = {}
    for key in GRAD_KEYS:
        values = [lay[key] for lay in layers if lay.get(key) is not None]
        out[key] = sum(values) / len(values) if values else None
    return out


def measure_checkpoint(
    path: str | os.PathLike[str], *, batch_size: int = 64, batches: int = 1
) -> dict[str, Any]:
    """The snapshot of the checkpoint at ``path`` (see the module docs)."""
    from ...train.trained_model import load_trained_model, test_batches
    from ..analyzer import analyze_model

    model, cfg = load_trained_model(path)
    result = analyze_model(
        model,
        test_batches(cfg, batch_size=batch_size),
        max_batches=batches,
        timestep_grads=False,
    )
    layers = compact_layers(result)
    return {
        "layers": layers,
        "grad_mean": layer_means(layers),
        "energy_uj": result["synops"]["total"]["energy_pj"] / 1e6,
        "snapshot_images": result["images"],
    }
