"""The time-mean read-out of per-timestep logits (``spiking_layers`` lives in
:mod:`stablespike.models.introspect` and is re-exported here).

Example:
    >>> import torch
    >>> from stablespike.models import build_model, spiking_layers, time_mean_logits
    >>> net = build_model("fmnist-cnn", num_classes=10, in_channels=1)
    >>> [name for name, _ in spiking_layers(net)][:2]
    ['stem_lif', 'features.2']
    >>> time_mean_logits(torch.ones(4, 2, 10)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import torch

from .introspect import spiking_layers

__all__ = ["spiking_layers", "time_mean_logits"]


def time_mean_logits(out: torch.Tensor) -> torch.Tensor:
    """Mean over time of per-timestep logits: ``[T, B, classes] -> [B, classes]``."""
    if not isinstance(out, torch.Tensor) or out.dim() != 3:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"expected per-timestep logits [T, B, num_classes], got {shape}")
    return out.mean(0)
