"""Which tensors of a forward pass carry spikes: ``SpikeTracker``.

A tensor is *spike-derived* when it is the output of a :class:`~stablespike.TrLIF` or was made
from one only by views (``flatten``, ``view``, ``unflatten``, ...) and local, weight-free modules
that keep the operation a sum of spikes: ``nn.AvgPool*d`` / ``nn.MaxPool*d`` (a local average
can be merged into the next layer's kernel), ``nn.Dropout*``, ``nn.Flatten``, ``nn.Identity``.
Global averages (``x.mean(...)``, ``nn.AdaptiveAvgPool*d``) and every layer with weights yield
real values. Tensors are recognised by their storage, so views of a tagged tensor are tagged too;
tagged tensors are kept alive until :meth:`SpikeTracker.clear` (called at the start of every
forward of the root model) so that a freed address cannot be mistaken for a spike tensor.

As a fallback, :func:`is_spike_tensor` recognises a tensor whose non-zero entries all equal 1 or
a TrLIF threshold (``S`` or ``Vthr * S`` made by an untracked op such as ``torch.cat``).

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike import TrLIF
    >>> from stablespike.analysis.spike_tracker import SpikeTracker
    >>> lif, pool = TrLIF(mp_init=False), nn.AvgPool1d(2)
    >>> model = nn.Sequential(lif, pool)
    >>> with SpikeTracker(model) as tracker:
    ...     y = model(torch.rand(2, 1, 4) * 3)           # [T, B, features]
    >>> tracker.is_spike_derived(y), tracker.is_spike_derived(y * 2)
    (True, False)
"""

from __future__ import annotations

from typing import Any, Self

import torch
from torch import nn

from ..neurons import TrLIF

PASS_THROUGH: tuple[type[nn.Module], ...] = (
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.Flatten,
    nn.Identity,
)
"""Modules whose output is spike-derived when their input is."""


def spike_values(model: nn.Module) -> torch.Tensor:
    """The values a spike can take in ``model``: 1 and every TrLIF threshold (float64)."""
    values = [torch.ones(1, dtype=torch.float64)]
    for m in model.modules():
        if isinstance(m, TrLIF):
            values.append(m.threshold.detach().to(torch.float64).reshape(-1).cpu())
    return torch.cat(values)


def is_spike_tensor(x: torch.Tensor, values: torch.Tensor) -> bool:
    """True when ``x`` has non-zero entries and each equals one of ``values`` (in ``x``'s dtype).

    An all-zero tensor is not called a spike tensor: nothing distinguishes it from a silent
    real-valued input (spike tensors are normally recognised by :class:`SpikeTracker`).
    """
    x = x.detach()
    nz = x[x != 0]
    return nz.numel() > 0 and bool(torch.isin(nz, values.to(nz.device, nz.dtype)).all())


def _storage_key(x: torch.Tensor) -> tuple[str, int]:
    return (x.device.type, x.untyped_storage().data_ptr())


class SpikeTracker:
    """Tags the spike-derived tensors of ``model``'s forward passes (see the module docs)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._keys: set[tuple[str, int]] = set()
        self._alive: list[torch.Tensor] = []
        self._handles: list[Any] = []

    def attach(self) -> Self:
        """Start tagging (idempotent)."""
        if self._handles:
            return self
        self._handles.append(self.model.register_forward_pre_hook(lambda *_: self.clear()))
        for m in self.model.modules():
            if isinstance(m, TrLIF):
                self._handles.append(m.register_forward_hook(self._tag_output))
            elif isinstance(m, PASS_THROUGH):
                self._handles.append(m.register_forward_hook(self._propagate))
        return self

    def detach(self) -> None:
        """Stop tagging; the tags of the last forward stay until :meth:`clear`."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> Self:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    def clear(self) -> None:
        """Forget the tags (and release the tensors kept alive for them)."""
        self._keys.clear()
        self._alive.clear()

    def tag(self, x: torch.Tensor) -> None:
        """Mark ``x`` (and every view of its storage) as spike-derived."""
        self._keys.add(_storage_key(x))
        self._alive.append(x)

    def is_spike_derived(self, x: torch.Tensor) -> bool:
        """True when ``x`` shares its storage with a tagged tensor."""
        return _storage_key(x) in self._keys

    def _tag_output(self, module: nn.Module, inputs: tuple[Any, ...], out: torch.Tensor) -> None:
        self.tag(out)

    def _propagate(self, module: nn.Module, inputs: tuple[Any, ...], out: torch.Tensor) -> None:
        if inputs and isinstance(inputs[0], torch.Tensor) and self.is_spike_derived(inputs[0]):
            self.tag(out)
