"""SpikingResformer (Shi et al., CVPR 2024): pre-activation blocks with dual spike self-attention.

Structure as in the authors' implementation (``xyshi2000/SpikingResformer``,
``models/spikingresformer.py``), every LIF a :class:`~stablespike.TrLIF` from the neuron factory.
Blocks are pre-activation: the neuron comes before each conv, and residual sums stay real-valued.

* stem: conv3x3 + BN (CIFAR) or conv7x7/2 + BN + 3x3/2 max-pool (ImageNet), non-spiking;
* stages of ``DSSA, GWFFN`` pairs (1, 2, 3 pairs); stages after the first start with a
  downsampling layer ``BN(conv3x3/2(LIF(x)))``;
* global average pool, dropout, linear head (no bias), per timestep.

**DSSA** (dual spike self-attention), per head with ``d`` channels, on ``S = LIF(x)``::

    Y1, Y2 = split(BN(conv_p(S)))             # p x p patches, stride p: N' tokens, 2C channels
    A   = LIF(Y1^T S * s1),   s1 = 1 / sqrt(r_x * d)
    out = BN(conv1x1(LIF(Y2 A * s2))) + x,   s2 = 1 / sqrt(r_A * N')

``r_x`` and ``r_A`` are running averages of the firing rates of ``S`` and ``A`` per head
(buffers ``firing_rate_x``, ``firing_rate_attn`` of shape ``[1, 1, heads, 1, 1]``, saved and
loaded with the model): in training, ``r <- 0.999 r + 0.001 rate`` (set to the first batch's rate
while ``r`` is 0), with the batch rate averaged over all processes under ``torch.distributed``
(as MP-Init's statistic). A rate is the fraction of ``S != 0`` (the spike rate, whatever the
output scale ``Vthr``), so with TrSG the product ``Y1^T S`` carries the factor ``Vthr`` of the
input neuron on top of ``s1`` (a learnable factor of the scale). ``Y1^T S`` sums over S's
channels, so the input neuron must have a per-layer threshold (per-channel raises ``ValueError``
naming it); the attention neuron may be per head. Differences from the original: ``N'`` is read
from the input (the original fixes it from ``img_size`` when built: equal at that size), and
rates are floored at 1e-6 so an untrained (all-zero) buffer gives finite scales.

**GWFFN**: ``x + down(conv(up(x)) + up(x))`` with ``up = BN(conv1x1(LIF .))`` to ``4C``,
``conv = BN(grouped conv3x3(LIF .))`` (groups of 64 channels), ``down = BN(conv1x1(LIF .))``.

==========================  ==============  ============  ===========  =====================
name                        widths          heads         input        parameters (official)
==========================  ==============  ============  ===========  =====================
spikingresformer-cifar      64, 192, 384    1, 3, 6       CIFAR        10,793,152 (10 cl.)
spikingresformer-ti         64, 192, 384    1, 3, 6       ImageNet     11,180,992
spikingresformer-s          64, 256, 512    1, 4, 8       ImageNet     17,813,824
spikingresformer-m          64, 384, 768    1, 6, 12      ImageNet     35,601,472
spikingresformer-l          128, 512, 1024  2, 8, 16      ImageNet     60,375,680
spikingresformer-tiny       16, 32, 64      1, 2, 4       28x28 (CPU)  this project's small one
==========================  ==============  ============  ===========  =====================

Example:
    >>> import torch
    >>> from stablespike.models import build_model
    >>> net = build_model("spikingresformer-tiny", num_classes=10, in_channels=1, timesteps=2)
    >>> net(torch.randn(3, 1, 28, 28)).shape
    torch.Size([2, 3, 10])
    >>> sorted(k for k in net.state_dict() if k.startswith("stages.0.0.firing"))
    ['stages.0.0.firing_rate_attn', 'stages.0.0.firing_rate_x']
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..factory import NeuronFactory
from ..layers import TimeFolded
from ..registry import register_model
from ..stem import InputStem
from .attention import merge_heads, split_heads
from .layers import ConvBN, DropPath, SpikeMatmul, check_per_layer_thresholds

RATE_MOMENTUM = 0.999
"""Weight of the old value in the running firing rates of DSSA (as in the original)."""

RATE_FLOOR = 1e-6
"""Smallest firing rate used in DSSA's scale factors (keeps an all-zero buffer finite)."""


def _all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """The mean of ``t`` over all processes when ``torch.distributed`` runs with several."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return t
    t = t.clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t / dist.get_world_size()


def update_rate_(running: torch.Tensor, spikes: torch.Tensor, momentum: float) -> None:
    """``running <- momentum * running + (1 - momentum) * rate`` (``rate`` if running is 0).

    ``spikes: [T, B, heads, ...]``; the rate per head is the fraction of non-zero entries, averaged
    over all processes. No host synchronisation (``torch.where`` instead of a branch).
    """
    with torch.no_grad():
        rate = (spikes.detach() != 0).to(running.dtype).mean(dim=(0, 1, 3, 4), keepdim=True)
        rate = _all_reduce_mean(rate)
        fresh = torch.all(running == 0)
        running.copy_(torch.where(fresh, rate, running * momentum + rate * (1.0 - momentum)))


class DSSA(nn.Module):
    """Dual spike self-attention with running firing-rate scales (see the module docstring)."""

    PER_LAYER_NEURONS = {"lif_in": "the input spikes' channels are summed inside Y1^T S"}
    firing_rate_x: torch.Tensor
    firing_rate_attn: torch.Tensor

    def __init__(
        self,
        dim: int,
        heads: int,
        patch: int,
        neuron: NeuronFactory,
        *,
        momentum: float = RATE_MOMENTUM,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if heads < 1 or dim % heads:
            raise ValueError(f"dim {dim} must be divisible by the number of heads {heads}")
        self.heads, self.head_dim, self.momentum = heads, dim // heads, float(momentum)
        self.register_buffer("firing_rate_x", torch.zeros(1, 1, heads, 1, 1))
        self.register_buffer("firing_rate_attn", torch.zeros(1, 1, heads, 1, 1))
        self.lif_in = neuron(dim)
        self.w = ConvBN(dim, 2 * dim, patch, stride=patch, padding=0)
        self.matmul1 = SpikeMatmul("y1^T@s")
        self.lif_attn = neuron(heads)  # input [T, B, heads, N', N]
        self.matmul2 = SpikeMatmul("y2@a")
        self.lif_out = neuron(dim)
        self.proj = ConvBN(dim, dim, 1)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.lif_in(x)
        y1, y2 = split_heads(self.w(s), self.heads).chunk(2, dim=3)  # [T, B, h, d, N']
        sh = split_heads(s, self.heads)  # [T, B, h, d, N]
        if self.training:
            update_rate_(self.firing_rate_x, sh, self.momentum)
        scale1 = torch.rsqrt(self.firing_rate_x.clamp(min=RATE_FLOOR) * self.head_dim)
        attn = self.lif_attn(self.matmul1(y1.transpose(-1, -2), sh) * scale1)  # [T, B, h, N', N]
        if self.training:
            update_rate_(self.firing_rate_attn, attn, self.momentum)
        scale2 = torch.rsqrt(self.firing_rate_attn.clamp(min=RATE_FLOOR) * y2.shape[-1])
        out = self.lif_out(merge_heads(self.matmul2(y2, attn) * scale2, x))
        return x + self.drop_path(self.proj(out))

    def extra_repr(self) -> str:
        return f"heads={self.heads}, momentum={self.momentum}"


class GWFFN(nn.Module):
    """Grouped-conv feed-forward block: ``x + down(conv(up(x)) + up(x))``, all pre-activation."""

    def __init__(
        self,
        dim: int,
        neuron: NeuronFactory,
        *,
        ratio: int = 4,
        group_size: int = 64,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        inner = dim * ratio
        if inner % group_size:
            raise ValueError(f"GWFFN width {inner} must be divisible by group_size {group_size}")
        self.up_lif = neuron(dim)
        self.up = ConvBN(dim, inner, 1)
        self.conv_lif = neuron(inner)
        self.conv = ConvBN(inner, inner, 3, groups=inner // group_size)
        self.down_lif = neuron(inner)
        self.down = ConvBN(inner, dim, 1)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.up(self.up_lif(x))
        h = self.conv(self.conv_lif(h)) + h
        return x + self.drop_path(self.down(self.down_lif(h)))


class Downsample(nn.Module):
    """``BN(conv3x3/2(LIF(x)))`` between stages."""

    def __init__(self, in_channels: int, out_channels: int, neuron: NeuronFactory) -> None:
        super().__init__()
        self.lif = neuron(in_channels)
        self.conv = ConvBN(in_channels, out_channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.lif(x))


class SpikingResformer(nn.Module):
    """Stem -> stages of (DSSA, GWFFN) pairs -> global average pool -> dropout -> linear head."""

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int,
        timesteps: int,
        neuron: NeuronFactory,
        dropout: float,
        widths: Sequence[int] = (64, 192, 384),
        heads: Sequence[int] = (1, 3, 6),
        patches: Sequence[int] = (4, 2, 1),
        pairs: Sequence[int] = (1, 2, 3),
        group_size: int = 64,
        imagenet: bool = False,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        n = len(widths)
        if not n or not len(heads) == len(patches) == len(pairs) == n:
            raise ValueError(
                "widths, heads, patches and pairs must have one entry per stage, got "
                f"{widths!r}, {heads!r}, {patches!r}, {pairs!r}"
            )
        if imagenet:
            self.stem = InputStem(in_channels, widths[0], 7, 2, 3, timesteps=timesteps)
            self.stem_pool: nn.Module = TimeFolded(nn.MaxPool2d(3, stride=2, padding=1))
        else:
            self.stem = InputStem(in_channels, widths[0], 3, timesteps=timesteps)
            self.stem_pool = nn.Identity()
        total = sum(2 * p for p in pairs)
        rates = iter([drop_path * i / max(total - 1, 1) for i in range(total)])
        stages = []
        for i in range(n):
            layers: list[nn.Module] = []
            if i:
                layers.append(Downsample(widths[i - 1], widths[i], neuron))
            for _ in range(pairs[i]):
                layers.append(DSSA(widths[i], heads[i], patches[i], neuron, drop_path=next(rates)))
                layers.append(
                    GWFFN(widths[i], neuron, group_size=group_size, drop_path=next(rates))
                )
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(widths[-1], num_classes, bias=False)
        check_per_layer_thresholds(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem_pool(self.stem(x)))
        return self.head(self.dropout(x.mean(dim=(3, 4))))


_VARIANTS: dict[str, dict[str, Any]] = {
    "spikingresformer-cifar": dict(widths=(64, 192, 384), heads=(1, 3, 6)),
    "spikingresformer-ti": dict(widths=(64, 192, 384), heads=(1, 3, 6), imagenet=True),
    "spikingresformer-s": dict(widths=(64, 256, 512), heads=(1, 4, 8), imagenet=True),
    "spikingresformer-m": dict(widths=(64, 384, 768), heads=(1, 6, 12), imagenet=True),
    "spikingresformer-l": dict(widths=(128, 512, 1024), heads=(2, 8, 16), imagenet=True),
    "spikingresformer-tiny": dict(
        widths=(16, 32, 64), heads=(1, 2, 4), pairs=(1, 1, 1), group_size=16
    ),
}
for _name, _opts in _VARIANTS.items():
    register_model(_name)(partial(SpikingResformer, **_opts))
