"""The neuron implementations ``stablespike bench`` compares, each as a time-major layer.

Every factory returns an ``nn.Module`` mapping ``x: [T, B, ...]`` to spikes of the same shape,
in training mode, with learnable parameters:

* ``fused`` / ``reference`` — :class:`~stablespike.TrLIF` (TrSG, MP-Init, soft reset, learnable
  ``tau`` and ``Vthr``) with that backend;
* ``spikingjelly`` — SpikingJelly's ``ParametricLIFNode`` (learnable ``tau``, soft reset,
  multi-step mode), state reset before every sequence;
* ``snntorch`` — snnTorch's ``Leaky(learn_beta=True, learn_threshold=True)``, stepped over T.

The last two are optional: :func:`make_layer` raises :class:`Unavailable` with the reason when
the package is not installed. ``none`` (:data:`NO_NEURON`, an ``nn.Identity``) is not a neuron:
a network built with it shows the time of everything else, the ceiling of any neuron's speed-up.

Example:
    >>> import torch
    >>> layer = make_layer("reference")
    >>> layer(torch.randn(4, 2, 8)).shape
    torch.Size([4, 2, 8])
"""

from __future__ import annotations

import importlib.util

import torch
from torch import nn

from ..neurons import TrLIF

IMPLEMENTATIONS: tuple[str, ...] = ("fused", "reference", "spikingjelly", "snntorch")
"""Names accepted by :func:`make_layer`, in the order the benchmark reports them."""


NO_NEURON = "none"
"""The stand-in for "no neuron at all" (identity) that :func:`make_layer` also accepts."""


class Unavailable(RuntimeError):
    """An implementation cannot run here (its package is missing)."""


class _SpikingJellyPLIF(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        from spikingjelly.activation_based import neuron

        self.node = neuron.ParametricLIFNode(
            init_tau=2.0, v_threshold=1.0, v_reset=None, detach_reset=False, step_mode="m"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.node.reset()
        return self.node(x)


class _SnnTorchLeaky(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        import snntorch

        self.node = snntorch.Leaky(
            beta=0.5,
            threshold=1.0,
            learn_beta=True,
            learn_threshold=True,
            reset_mechanism="subtract",
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mem = self.node.init_leaky()
        out = []
        for xt in x:
            spk, mem = self.node(xt, mem)
            out.append(spk)
        return torch.stack(out)


_PACKAGES = {"spikingjelly": "spikingjelly", "snntorch": "snntorch"}


def make_layer(name: str) -> nn.Module:
    """A fresh layer of implementation ``name`` (see the module docs)."""
    if name == NO_NEURON:
        return nn.Identity()
    if name not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {name!r}; expected one of {IMPLEMENTATIONS}")
    package = _PACKAGES.get(name)
    if package is not None and importlib.util.find_spec(package) is None:
        raise Unavailable(f"{package} is not installed (pip install {package})")
    if name == "spikingjelly":
        return _SpikingJellyPLIF()
    if name == "snntorch":
        return _SnnTorchLeaky()
    return TrLIF(backend=name)
