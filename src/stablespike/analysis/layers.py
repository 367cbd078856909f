"""Finding the spiking layers of a model and reading their learned constants.

Per ``TrLIF`` layer the learned values are ``tau = 1 / sigmoid(a)``, ``Vthr = softplus(b)`` and
the MP-Init running mean ``r`` (the initial potential ``U[0]``), each a scalar, or one value per
channel for a per-channel layer.

Example:
    >>> from torch import nn
    >>> from stablespike import TrLIF
    >>> from stablespike.analysis.layers import neuron_layers, neuron_parameters
    >>> model = nn.Sequential(nn.Linear(4, 4), TrLIF())
    >>> [name for name, _ in neuron_layers(model)]
    ['1']
    >>> neuron_parameters(model)[0]
    {'layer': '1', 'tau': 2.0, 'threshold': 1.0, 'mp_mean': 0.0}
"""

from __future__ import annotations

import torch
from torch import nn

from ..neurons import TrLIF


def neuron_layers(model: nn.Module) -> list[tuple[str, TrLIF]]:
    """``(qualified name, layer)`` of every :class:`~stablespike.TrLIF` in ``model``, in order.

    Raises ``ValueError`` when there is none (the analysis needs at least one).
    """
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, TrLIF)]
    if not layers:
        raise ValueError(f"{type(model).__name__} contains no TrLIF layer to analyse")
    return layers


def _value(t: torch.Tensor) -> float | list[float]:
    t = t.detach().cpu().to(torch.float64)
    return float(t) if t.dim() == 0 else [float(v) for v in t]


def neuron_parameters(model: nn.Module) -> list[dict[str, object]]:
    """One row per spiking layer: ``layer``, ``tau``, ``threshold``, ``mp_mean``."""
    return [
        {
            "layer": name,
            "tau": _value(lif.tau),
            "threshold": _value(lif.threshold),
            "mp_mean": _value(lif.mp_mean),
        }
        for name, lif in neuron_layers(model)
    ]
