"""Synaptic operations of a forward pass (AC and MAC) and the energy they cost.

Every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` call is counted from its actual input ``x``:

* spike-driven call (``x`` is spike-derived, see :mod:`~stablespike.models.spike_path`:
  TrLIF outputs, possibly reshaped, locally pooled or dropped out; or every non-zero entry is 1
  or a TrLIF threshold): each non-zero input is added into every output it reaches,
  ``AC = sum over non-zero inputs of their fan-out``. For a linear layer the fan-out is
  ``out_features``; for a convolution the exact count (borders, stride and groups included) is
  ``AC = (C_out / g) * sum(conv(M_g, 1))``, ``M_g`` the number of non-zero inputs per group and
  position, ``1`` an all-ones kernel;
* otherwise (the stem on real-valued images, a head after a global average): dense
  ``MAC = #outputs * C_in / g * prod(kernel)`` (``in_features`` for a linear layer).

Attention products (:class:`~stablespike.models.transformers.SpikeMatmul`, ``left @ right``
with ``left: [..., n, k]``, ``right: [..., k, m]``) are counted from both operands:

* both spike-derived: one accumulate per pair of non-zero entries that meet,
  ``AC = sum_l nnz(left[:, l]) * nnz(right[l, :])`` (a coincidence of two spikes adds 1);
* one operand spike-derived (spikes x real values): each non-zero spike adds one row or column
  of real values, ``AC = nnz(left) * m`` (or ``nnz(right) * n``);
* neither: ``MAC = n * k * m`` per product.

Element-wise masks (QKFormer's ``mask * K``) and multiplications by a constant scale are not
synaptic operations and are not counted. Biases, batch norm (foldable into the weights), pooling
and the neurons' own updates are not counted. Counts are totals over the calls observed; ``summary(images)`` divides by the number of
images. ``kinds={"name": "ac"|"mac"}`` overrides the rule per module.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike.analysis.synops import SynOpsCounter
    >>> model = nn.Linear(4, 3)
    >>> with SynOpsCounter(model) as ops:
    ...     _ = model(torch.tensor([[1.0, 0.0, 1.0, 0.0]]))   # two spikes, fan-out 3
    >>> row = ops.summary(images=1)["layers"][0]
    >>> row["ac"], row["mac"]
    (6.0, 0.0)

**Energy** from the counts (45 nm CMOS figures, docs/METHOD.md §5.3).

A spike-driven synapse performs an accumulate (AC), a real-valued one a multiply-accumulate
(MAC)::

    E = E_AC * #AC + E_MAC * #MAC,      E_AC = 0.9 pJ,  E_MAC = 4.6 pJ

Example:
    >>> from stablespike.analysis.synops import energy_pj
    >>> energy_pj(ac=1000, mac=10)       # 900 + 46 pJ
    946.0
"""

from __future__ import annotations

import math
from typing import Any, Self, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.conv import _ConvNd

from ..models.spike_path import SpikeTracker, is_spike_tensor, spike_values
from ..models.transformers import SpikeMatmul

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
KINDS = ("ac", "mac")


def sample_accumulates(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """AC count per sample (dim 0 of ``x``) of a spike-driven Linear / Conv call (float64).

    Linear: ``nnz(x_n) * out_features``. Conv: the exact count of the module docstring,
    ``(C_out / g) * sum(conv(M_g, 1))`` per sample. Summed over the samples this is
    :func:`accumulates` (the counts are integers, so the sums are exact in float64).
    """
    if isinstance(module, nn.Linear):
        nz = (x.detach() != 0).reshape(x.shape[0], -1).sum(1)
        return nz.to(torch.float64) * module.out_features
    conv = cast(_ConvNd, module)  # the counted modules are Linear or Conv
    groups = conv.groups
    mask = (x.detach() != 0).to(torch.float32)
    per_group = mask.reshape(x.shape[0], groups, -1, *x.shape[2:]).sum(2)  # [N, g, *spatial]
    padding: str | int | tuple[int, ...] = conv.padding
    if conv.padding_mode != "zeros":
        per_group = F.pad(per_group, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
        padding = 0
    ones = torch.ones(groups, 1, *conv.kernel_size, device=x.device)
    reach = _CONV_FN[x.dim() - 2](
        per_group, ones, None, conv.stride, padding, conv.dilation, groups=groups
    )
    return reach.to(torch.float64).reshape(x.shape[0], -1).sum(1) * (conv.out_channels // groups)


def conv_accumulates(conv: _ConvNd, x: torch.Tensor) -> float:
    """Exact AC count of ``conv`` on the non-zero entries of ``x: [N, C_in, *spatial]``."""
    return float(sample_accumulates(conv, x).sum())


def dense_macs(module: nn.Module, x: torch.Tensor, out: torch.Tensor) -> float:
    """MACs of a dense (non-spike) call: ``#outputs * fan-in``."""
    if isinstance(module, nn.Linear):
        return float(out.numel()) * module.in_features
    conv = cast(_ConvNd, module)  # the counted modules are Linear or Conv
    fan_in = conv.in_channels // conv.groups * math.prod(conv.kernel_size)
    return float(out.numel()) * fan_in


def accumulates(module: nn.Module, x: torch.Tensor) -> float:
    """AC count of a spike-driven call of ``module``."""
    return float(sample_accumulates(module, x).sum())


def product_ops(
    left: torch.Tensor, right: torch.Tensor, left_spikes: bool, right_spikes: bool
) -> tuple[float, float]:
    """``(AC, MAC)`` of ``left @ right`` (see the module docstring)."""
    n, k, m = left.shape[-2], left.shape[-1], right.shape[-1]
    if left_spikes and right_spikes:
        cols = (left.detach() != 0).to(torch.float64).sum(-2)  # [..., k]: spikes per column
        rows = (right.detach() != 0).to(torch.float64).sum(-1)  # [..., k]: spikes per row
        return float((cols * rows).sum()), 0.0
    if left_spikes:
        return float((left.detach() != 0).sum()) * m * _broadcast(left, right), 0.0
    if right_spikes:
        return float((right.detach() != 0).sum()) * n * _broadcast(right, left), 0.0
    batch = math.prod(torch.broadcast_shapes(left.shape[:-2], right.shape[:-2]))
    return 0.0, float(batch) * n * k * m


def _broadcast(spikes: torch.Tensor, other: torch.Tensor) -> int:
    """How often each batch entry of ``spikes`` is used when broadcast against ``other``."""
    full = math.prod(torch.broadcast_shapes(spikes.shape[:-2], other.shape[:-2]))
    return full // max(math.prod(spikes.shape[:-2]), 1)


class SynOpsCounter:
    """Counts AC and MAC per ``Linear``/``Conv``/``SpikeMatmul`` of ``model`` over forwards.

    Args:
        model: the network (its TrLIF thresholds define what a spike looks like).
        kinds: optional ``{module name: "ac" | "mac"}`` overriding the spike detection.
    """

    def __init__(self, model: nn.Module, kinds: dict[str, str] | None = None) -> None:
        self.model = model
        self.kinds = dict(kinds or {})
        names = {n for n, _ in model.named_modules()}
        for name, kind in self.kinds.items():
            if kind not in KINDS:
                raise ValueError(f"kind for {name!r} must be one of {KINDS}, got {kind!r}")
            if name not in names:
                raise ValueError(f"kinds names a module {name!r} that the model does not have")
        self.modules = [
            (n, m)
            for n, m in model.named_modules()
            if isinstance(m, (nn.Linear, *_CONV, SpikeMatmul))
        ]
        if not self.modules:
            raise ValueError(f"{type(model).__name__} has no Linear or Conv layer to count")
        self.ac = {n: 0.0 for n, _ in self.modules}
        self.mac = {n: 0.0 for n, _ in self.modules}
        self.seen: dict[str, set[str]] = {n: set() for n, _ in self.modules}
        self.tracker = SpikeTracker(model)
        self._handles: list[Any] = []

    def attach(self) -> Self:
        """Start counting (idempotent)."""
        if not self._handles:
            self.tracker.attach()
            self._handles = [m.register_forward_hook(self._hook(n)) for n, m in self.modules]
        return self

    def detach(self) -> None:
        """Stop counting; the counts are kept."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self.tracker.detach()
        self.tracker.clear()

    def __enter__(self) -> Self:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    def _hook(self, name: str):  # noqa: ANN202 - a forward hook
        def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            if isinstance(module, SpikeMatmul):
                self._count_product(name, *inputs)
                return
            x = inputs[0]
            kind = self.kinds.get(name)
            if kind is None:
                spiking = self.tracker.is_spike_derived(x) or is_spike_tensor(
                    x, spike_values(self.model)
                )
                kind = "ac" if spiking else "mac"
            self.seen[name].add(kind)
            if kind == "ac":
                self.ac[name] += accumulates(module, x)
            else:
                self.mac[name] += dense_macs(module, x, out)

        return count

    def _is_spike(self, x: torch.Tensor) -> bool:
        return self.tracker.is_spike_derived(x) or is_spike_tensor(x, spike_values(self.model))

    def _count_product(self, name: str, left: torch.Tensor, right: torch.Tensor) -> None:
        kind = self.kinds.get(name)
        if kind == "mac":
            spikes = (False, False)
        else:
            spikes = (self._is_spike(left), self._is_spike(right))
            if kind == "ac" and not any(spikes):
                raise ValueError(f"kinds[{name!r}] = 'ac' but neither operand carries spikes")
        ac, mac = product_ops(left, right, *spikes)
        self.seen[name].add("ac" if ac or any(spikes) else "mac")
        self.ac[name] += ac
        self.mac[name] += mac

    def summary(self, images: int) -> dict[str, Any]:
        """Per module and in total, per image: ``ac``, ``mac``, ``energy_pj``; plus ``kind``.

        ``kind`` is ``"ac"``, ``"mac"``, ``"mixed"`` (both were seen) or ``"unused"`` (never
        called).
        """
        if images < 1:
            raise ValueError(f"images must be >= 1, got {images}")
        rows = []
        for name, module in self.modules:
            ac, mac = self.ac[name] / images, self.mac[name] / images
            seen = self.seen[name]
            kind = "mixed" if len(seen) > 1 else next(iter(seen), "unused")
            rows.append(
                {
                    "layer": name,
                    "type": type(module).__name__,
                    "kind": kind,
                    "ac": ac,
                    "mac": mac,
                    "energy_pj": energy_pj(ac, mac),
                }
            )
        ac = sum(r["ac"] for r in rows)
        mac = sum(r["mac"] for r in rows)
        return {
            "layers": rows,
            "total": {"ac": ac, "mac": mac, "energy_pj": energy_pj(ac, mac)},
            "e_ac_pj": E_AC_PJ,
            "e_mac_pj": E_MAC_PJ,
            "images": images,
        }


E_AC_PJ = 0.9
"""Energy of one accumulate, picojoules (45 nm)."""

E_MAC_PJ = 4.6
"""Energy of one multiply-accumulate, picojoules (45 nm)."""


def energy_pj(ac: float, mac: float, *, e_ac: float = E_AC_PJ, e_mac: float = E_MAC_PJ) -> float:
    """``e_ac * ac + e_mac * mac`` in picojoules; counts must be >= 0."""
    if ac < 0 or mac < 0:
        raise ValueError(f"operation counts must be >= 0, got ac={ac}, mac={mac}")
    return e_ac * ac + e_mac * mac
