"""Moved: the spiking layers of a model and their learned values live in
:mod:`stablespike.models.introspect`; this module re-exports them for one release.

``neuron_parameters`` is :func:`stablespike.models.introspect.neuron_parameters`;
``neuron_layers(model)`` is ``spiking_layers(model, required=True)`` (deprecated).

Example:
    >>> from torch import nn
    >>> from stablespike import TrLIF
    >>> from stablespike.models.introspect import neuron_parameters, spiking_layers
    >>> model = nn.Sequential(nn.Linear(4, 4), TrLIF())
    >>> [name for name, _ in spiking_layers(model, required=True)]
    ['1']
    >>> neuron_parameters(model)[0]
    {'layer': '1', 'tau': 2.0, 'threshold': 1.0, 'mp_mean': 0.0}
"""

from __future__ import annotations

import warnings

from torch import nn

from ..models.introspect import neuron_parameters, spiking_layers
from ..neurons import TrLIF

__all__ = ["neuron_layers", "neuron_parameters"]


def neuron_layers(model: nn.Module) -> list[tuple[str, TrLIF]]:
    """Deprecated: use ``stablespike.models.spiking_layers(model, required=True)``."""
    warnings.warn(
        "stablespike.analysis.neuron_layers is deprecated; use "
        "stablespike.models.spiking_layers(model, required=True)",
        DeprecationWarning,
        stacklevel=2,
    )
    return spiking_layers(model, required=True)
