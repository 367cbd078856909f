"""Moved: which tensors of a forward pass carry spikes is decided in
:mod:`stablespike.models.spike_path` (one table for the analysis and the deployment tools);
this module re-exports :class:`SpikeTracker`, :func:`spike_values` and :func:`is_spike_tensor`
for one release. ``PASS_THROUGH`` is deprecated: use
:func:`stablespike.models.spike_path.keeps_spikes`.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike import TrLIF
    >>> from stablespike.models.spike_path import SpikeTracker
    >>> lif, pool = TrLIF(mp_init=False), nn.AvgPool1d(2)
    >>> model = nn.Sequential(lif, pool)
    >>> with SpikeTracker(model) as tracker:
    ...     y = model(torch.rand(2, 1, 4) * 3)           # [T, B, features]
    >>> tracker.is_spike_derived(y), tracker.is_spike_derived(y * 2)
    (True, False)
"""

from __future__ import annotations

import warnings
from typing import Any

from torch import nn

from ..models.spike_path import SpikeTracker, is_spike_tensor, keeps_spikes, spike_values

__all__ = ["SpikeTracker", "is_spike_tensor", "keeps_spikes", "spike_values"]


def __getattr__(name: str) -> Any:
    if name == "PASS_THROUGH":
        warnings.warn(
            "stablespike.analysis.spike_tracker.PASS_THROUGH is deprecated; use "
            "stablespike.models.spike_path.keeps_spikes(module)",
            DeprecationWarning,
            stacklevel=2,
        )
        return (
            *(nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d),
            *(nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.Flatten, nn.Identity),
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
