"""Spikformer (Zhou et al., ICLR 2023): spiking patch splitting + SSA blocks, the common baseline.

Structure as in the authors' implementation (``ZK-Zhou/spikformer``, ``cifar10/model.py`` and
``imagenet/model.py``), with every LIF a :class:`~stablespike.TrLIF` from the neuron factory:

* SPS stem: conv3x3 + BN (the non-spiking :class:`~stablespike.models.InputStem`, ``D/8``
  channels), LIF; conv3x3 + BN ``D/4``, LIF; conv3x3 + BN ``D/2``, LIF; conv3x3 + BN ``D``,
  LIF; 3x3/2 max-pools after the last two LIFs (CIFAR, 32 -> 8x8 tokens) or after all four
  (ImageNet, 224 -> 14x14); then a relative position embedding ``x + LIF(BN(conv3x3(x)))``.
* ``depth`` blocks of SSA (``(Q K^T) V * 0.125``, see :mod:`.attention`) and MLP (ratio 4).
* token mean, dropout, linear head, per timestep.

Token-wise linear layers are 1x1 convolutions on the token map (same parameters). The originals'
blocks also create two LayerNorms that their forward never uses; they are left out here.

================  ======  =====  =====  ===========  ========================================
name              depth   dim    heads  input        parameters (official code, see tests)
================  ======  =====  =====  ===========  ========================================
spikformer-4-384  4       384    12     CIFAR        9,330,874 (9.32 M), incl. 6,144 unused LN
spikformer-2-384  2       384    12     CIFAR        5,768,122, incl. 3,072 unused LN
spikformer-4-256  4       256    8      CIFAR        4,159,274, incl. 4,096 unused LN
spikformer-8-384  8       384    12     ImageNet     16,828,312 (16.81 M), incl. 12,288 LN
spikformer-8-512  8       512    8      ImageNet     29,705,768 (29.68 M), incl. 16,384 LN
spikformer-8-768  8       768    12     ImageNet     66,363,208 (66.34 M), incl. 24,576 LN
spikformer-tiny   1       64     4      28x28 (CPU)  this project's small configuration
================  ======  =====  =====  ===========  ========================================

(CIFAR counts with 10 classes, ImageNet with 1000; the heads of 4-256 are not given by the
authors' configs and do not change the count.) The CIFAR model has biases in Q, K, V; the
ImageNet one has none (``qkv_bias``).

Example:
    >>> import torch
    >>> from stablespike.models import build_model
    >>> net = build_model("spikformer-tiny", num_classes=10, in_channels=1, timesteps=2)
    >>> net(torch.randn(3, 1, 28, 28)).shape
    torch.Size([2, 3, 10])
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from torch import nn

from ..factory import NeuronFactory
from ..layers import TimeFolded
from ..registry import register_model
from ..stem import InputStem
from .attention import SpikingMLP, SpikingSelfAttention, TransformerBlock
from .layers import ConvBN, check_per_layer_thresholds, drop_path_rates


def _maxpool() -> nn.Module:
    return TimeFolded(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))


class SpikingPatchSplitting(nn.Module):
    """SPS after its first conv + BN (the model's input stem): LIFs, 3 conv + BN, pools, RPE."""

    def __init__(self, dim: int, *, neuron: NeuronFactory, pools: Sequence[bool]) -> None:
        super().__init__()
        if len(pools) != 4:
            raise ValueError(f"pools must give 4 flags (one per SPS conv), got {pools!r}")
        widths = (dim // 8, dim // 4, dim // 2, dim)
        self.stem_lif = neuron(widths[0])
        self.pool0 = _maxpool() if pools[0] else nn.Identity()
        convs, lifs, poolers = [], [], []
        for i in range(1, 4):
            convs.append(ConvBN(widths[i - 1], widths[i], 3))
            lifs.append(neuron(widths[i]))
            poolers.append(_maxpool() if pools[i] else nn.Identity())
        self.convs = nn.ModuleList(convs)
        self.lifs = nn.ModuleList(lifs)
        self.pools = nn.ModuleList(poolers)
        self.rpe = ConvBN(dim, dim, 3)
        self.rpe_lif = neuron(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool0(self.stem_lif(x))
        for conv, lif, pool in zip(self.convs, self.lifs, self.pools, strict=True):
            x = pool(lif(conv(x)))
        return x + self.rpe_lif(self.rpe(x))


class Spikformer(nn.Module):
    """SPS stem -> ``depth`` SSA + MLP blocks -> token mean -> dropout -> linear head."""

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int,
        timesteps: int,
        neuron: NeuronFactory,
        dropout: float,
        dim: int = 384,
        depth: int = 4,
        heads: int = 12,
        mlp_ratio: float = 4.0,
        pools: Sequence[bool] = (False, False, True, True),
        qkv_bias: bool = True,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % 8:
            raise ValueError(f"spikformer dim must be divisible by 8, got {dim}")
        self.stem = InputStem(in_channels, dim // 8, 3, timesteps=timesteps)
        self.patch = SpikingPatchSplitting(dim, neuron=neuron, pools=pools)
        hidden = int(dim * mlp_ratio)
        self.blocks = nn.Sequential(
            *(
                TransformerBlock(
                    SpikingSelfAttention(dim, heads, neuron, qkv_bias=qkv_bias, order="qk_v"),
                    SpikingMLP(dim, hidden, neuron),
                    rate,
                )
                for rate in drop_path_rates(drop_path, depth)
            )
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(dim, num_classes)
        check_per_layer_thresholds(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.patch(self.stem(x)))
        return self.head(self.dropout(x.mean(dim=(3, 4))))


_IMAGENET: dict[str, Any] = dict(pools=(True, True, True, True), qkv_bias=False)

_opts: dict[str, Any]
for _name, _opts in {
    "spikformer-4-384": dict(depth=4, dim=384, heads=12),
    "spikformer-2-384": dict(depth=2, dim=384, heads=12),
    "spikformer-4-256": dict(depth=4, dim=256, heads=8),
    "spikformer-8-384": dict(depth=8, dim=384, heads=12, **_IMAGENET),
    "spikformer-8-512": dict(depth=8, dim=512, heads=8, **_IMAGENET),
    "spikformer-8-768": dict(depth=8, dim=768, heads=12, **_IMAGENET),
    "spikformer-tiny": dict(depth=1, dim=64, heads=4),
}.items():
    register_model(_name)(partial(Spikformer, **_opts))
