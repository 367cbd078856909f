"""Moved: which tensors of a forward pass carry spikes is decided in
:mod:`stablespike.models.spike_path` (one table for the analysis and the deployment tools);
this module re-exports :class:`SpikeTracker`, :func:`spike_values` and :func:`is_spike_tensor`
for one release. ``PASS_THROUGH`` is deprecated: use
:func:`stablespike.models.spike_path.keeps_spikes`.

Example:
    >>> from stablespike.analysis import spike_tracker
    >>> from stablespike.models import spike_path
    >>> spike_tracker.SpikeTracker is spike_path.SpikeTracker
    True
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
